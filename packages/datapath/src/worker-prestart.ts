/**
 * Starting the datapath worker thread ahead of its VTEP. A worker boots a Node environment and loads the
 * datapath's modules (koffi, the routines, the WebAssembly checksum), and on a restart all of that time the
 * node's pods cannot reach anything (measured: packages/control/README.md, "Restarts, crashes, upgrades").
 * weftd's entry starts the worker first, so that boot overlaps weftd's own start-up; `Vtep.open` takes
 * the waiting worker (and hands it its descriptors in its first message) instead of starting one. This
 * module imports nothing heavy: it is loaded before anything else.
 */
import { Worker } from 'node:worker_threads';

const WORKER_URL = new URL('./vtep-worker.js', import.meta.url);
let waiting: Worker | undefined;
let booted: Promise<void> = Promise.resolve();

/** Starts a worker that waits for its VtepWorkerData; a later Vtep.open uses it. */
export function prestartVtepWorker(): void {
  if (waiting) return;
  const w = new Worker(WORKER_URL);
  waiting = w;
  w.on('error', () => undefined); // an early death is seen as threadId -1 by whoever takes it
  w.unref(); // never keeps a process alive that has no VTEP (--help, a failed start)
  booted = new Promise((resolve) => {
    w.once('message', () => resolve()); // its first message: modules loaded, waiting for data
    w.once('exit', () => resolve());
  });
}

/**
 * Resolves once a prestarted worker has loaded its modules (at most `timeoutMs`). Exit the process only
 * after this: terminating a thread while it loads koffi's native addon aborts the whole process.
 */
export function prestartSettled(timeoutMs = 3000): Promise<void> {
  return Promise.race([booted, new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]);
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
