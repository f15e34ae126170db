/**
 * Starting the datapath worker thread ahead of its VTEP. A worker boots a Node environment and loads the
 * datapath's modules (koffi, the routines, the WebAssembly checksum): 50-80 ms on a quiet 2-core machine,
 * several hundred under load, and on a restart all of it is time the node's pods cannot reach anything.
 * weftd's entry starts the worker first, so that boot overlaps weftd's own start-up; `Vtep.open` takes
 * the waiting worker (and hands it its descriptors in its first message) instead of starting one. This
 * module imports nothing heavy: it is loaded before anything else.
 */
import { Worker } from 'node:worker_threads';

const WORKER_URL = new URL('./vtep-worker.js', import.meta.url);
let waiting: Worker | undefined;

/** Starts a worker that waits for its VtepWorkerData; a later Vtep.open uses it. */
export function prestartVtepWorker(): void {
  if (waiting) return;
  waiting = new Worker(WORKER_URL);
  waiting.on('error', () => undefined); // an early death is seen as threadId -1 by whoever takes it
  waiting.unref(); // never keeps a process alive that has no VTEP (--help, a failed start)
}

/** The prestarted worker, if there is a live one; it is handed out once. */
export function takePrestartedWorker(): Worker | undefined {
  const w = waiting;
  waiting = undefined;
  if (!w || w.threadId < 0) return undefined;
  w.ref();
  return w;
}

export function newVtepWorker(data: unknown, transferList: Array<import('node:worker_threads').MessagePort>): Worker {
  return new Worker(WORKER_URL, { workerData: data, transferList });
}
