/**
 * The control plane's channel into the datapath worker: a few fixed commands (flannel's old UDP
 * backend drove its C loop the same way: set route, delete route, stop).
 *
 * The main thread posts a command on a MessagePort, raises a flag in shared memory and writes the
 * worker's eventfd; the worker, which never runs its event loop, sees the flag between batches (or
 * wakes from poll) and drains the port synchronously with receiveMessageOnPort.
 */
import { parseIpv4, parseMac } from '@weft/netbase';
import type { FdbEntry } from './fdb.js';
import type { VtepRuntimeOptions } from './vtep-state.js';

export interface FdbSpec {
  mac: string;
  remote: string;
}

/** An FDB entry as the worker applies it: the MAC as (hi, lo), the underlay IPv4 as a number, parsed once by the sender. */
export interface FdbWireEntry {
  hi: number;
  lo: number;
  remote: number;
}

/** Parses and checks an entry on the control side; throws naming what is wrong. */
export function toWireEntry(mac: string, remote: string): FdbWireEntry {
  const m = parseMac(mac);
  return { hi: m.hi, lo: m.lo, remote: parseIpv4(remote) };
}

export type VtepCommand =
  | { op: 'fdb-set'; entry: FdbWireEntry }
  | { op: 'fdb-del'; hi: number; lo: number }
  | { op: 'fdb-replace'; entries: FdbWireEntry[] }
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
