/**
 * The control plane's channel into the datapath worker: a few fixed commands (flannel's old UDP
 * backend drove its C loop the same way: set route, delete route, stop).
 *
 * The main thread posts a command on a MessagePort, raises a flag in shared memory and writes the
 * worker's eventfd; the worker, which never runs its event loop, sees the flag between batches (or
 * wakes from poll) and drains the port synchronously with receiveMessageOnPort.
 */
import type { FdbEntry } from './fdb.js';
import type { VtepRuntimeOptions } from './vtep-state.js';

export interface FdbSpec {
  mac: string;
  remote: string;
}

export type VtepCommand =
  | { op: 'fdb-set'; mac: string; remote: string }
  | { op: 'fdb-del'; mac: string }
  | { op: 'fdb-replace'; entries: FdbSpec[] }
  | { op: 'options'; options: VtepRuntimeOptions }
  | { op: 'fdb-dump'; id: number }
  /** Test hook: the worker busy-waits this long without a heartbeat (a wedged datapath, for the watchdog's test). */
  | { op: 'debug-stall'; ms: number }
  | { op: 'stop' };

export type VtepEvent =
  { op: 'booted' } | { op: 'ready' } | { op: 'fdb'; id: number; entries: FdbEntry[] } | { op: 'warn'; message: string } | { op: 'stopped' };

/** Index of the "commands pending" flag in the control Int32Array. */
export const CTRL_PENDING = 0;
export const CTRL_SLOTS = 4;
