/**
 * Hand-over between two weftd processes on one node (a surge upgrade), over the unix socket
 * `<run dir>/weftd.sock`, one JSON line per message:
 *
 *   new → old   {"op":"handover","pid":N}   the new one already forwards (own TAP queue, own socket)
 *   old → new   {"op":"released"}           old stopped renewing and programming, closed its HTTP
 *                                           port and released the host lock
 *   new → old   {"op":"took-over"}          new holds the lock: old detaches its queue and leaves
 *
 * Crash rules (each side treats a closed connection as the other's death):
 * - old dies at any point: the kernel drops its lock, the new one takes it and goes on.
 * - new dies before "took-over": old takes the lock back and resumes (onAborted).
 * Only the lock holder listens; a stale socket file is replaced by the next holder.
 */
import { unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type HandoverMessage = { op: 'handover'; pid: number } | { op: 'released' } | { op: 'took-over' };

/** Reads newline-separated JSON messages from a socket; ignores anything that is not one. */
function onMessages(sock: Socket, f: (m: HandoverMessage) => void): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > 4096) {
      sock.destroy();
      return;
    }
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const m = JSON.parse(line) as HandoverMessage;
        if (m && (m.op === 'handover' || m.op === 'released' || m.op === 'took-over')) f(m);
      } catch {
        // not a message: ignored
      }
    }
  });
}

const send = (sock: Socket, m: HandoverMessage): void => void sock.write(JSON.stringify(m) + '\n');

export interface HandoverHooks {
  /** Stop being the host programmer and release the lock; resolves when done. */
  release(pid: number): Promise<void>;
  /** The new process holds the lock: detach and leave. */
  takenOver(): void;
  /** The new process went away before taking over: take the lock back and resume. */
  aborted(): void;
}

/** The lock holder's end: accepts one hand-over at a time. */
export class HandoverListener {
  private busy = false;

  private constructor(private readonly server: Server) {}

  static async listen(path: string, hooks: HandoverHooks): Promise<HandoverListener> {
    try {
      unlinkSync(path);
    } catch {
      // absent: fine
    }
    const bound: { listener?: HandoverListener } = {}; // connections are served once listen() has answered
    const server = createServer((sock) => bound.listener!.serve(sock, hooks));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    bound.listener = new HandoverListener(server);
    return bound.listener;
  }

  private serve(sock: Socket, hooks: HandoverHooks): void {
    sock.on('error', () => undefined);
    let state: 'idle' | 'releasing' | 'released' | 'done' = 'idle';
    onMessages(sock, (m) => {
      if (m.op === 'handover' && state === 'idle' && !this.busy) {
        this.busy = true;
        state = 'releasing';
        hooks.release(m.pid).then(
          () => {
            state = 'released';
            if (sock.destroyed) {
              state = 'done';
              hooks.aborted();
            } else send(sock, { op: 'released' });
          },
          () => sock.destroy(),
        );
      } else if (m.op === 'took-over' && state === 'released') {
        state = 'done';
        hooks.takenOver();
        sock.end();
      }
    });
    sock.on('close', () => {
      if (state === 'released') {
        state = 'done';
        this.busy = false;
        hooks.aborted();
      }
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export type HandoverRequest =
  /** Nobody listens: no other weftd (or a dead one); just take the lock. */
  | { result: 'no-peer' }
  /** The old one released; `confirm()` after taking the lock tells it to leave; `abandon()` makes it take the node back. */
  | { result: 'released'; confirm: () => void; abandon: () => void }
  /** The connection closed before "released" (the old one died or refused): take the lock when free. */
  | { result: 'closed' };

/** The new process's end: asks the lock holder to hand over. */
export function requestHandover(path: string, timeoutMs = 10_000): Promise<HandoverRequest> {
  return new Promise((resolve) => {
    const sock = createConnection(path);
    let settled = false;
    const done = (r: HandoverRequest): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (r.result !== 'released') sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ result: 'closed' }), timeoutMs);
    sock.on('error', (e: NodeJS.ErrnoException) =>
      done(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? { result: 'no-peer' } : { result: 'closed' }),
    );
    sock.on('close', () => done({ result: 'closed' }));
    sock.on('connect', () => send(sock, { op: 'handover', pid: process.pid }));
    onMessages(sock, (m) => {
      if (m.op !== 'released') return;
      done({
        result: 'released',
        confirm: () => {
          send(sock, { op: 'took-over' });
          sock.end();
        },
        abandon: () => sock.destroy(),
      });
    });
  });
}
