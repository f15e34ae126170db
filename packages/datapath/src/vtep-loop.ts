/**
 * The worker's loop, apart from the Linux ports it runs on in production (vtep-worker.ts wires those in), so the
 * in-memory pipeline tests drive the same code: commands (FDB set/delete/replace, options, dump, stop), then
 * encap and decap batches, then an idle wait when neither moved a packet.
 *
 *   turn:
 *     commands pending?  -> apply each (a rejected one becomes a `warn` event; the loop goes on)
 *     encap batch (TAP -> UDP), decap batch (UDP -> TAP), heartbeat + 1
 *     both idle?         -> io.idle() (poll on TAP, socket and eventfd in production)
 *     once a second      -> age learned FDB entries, refresh the FDB gauges (`ageEveryMs`)
 *
 * Commands carry MACs and IPv4 addresses already parsed (commands.ts `toWireEntry`): the worker never parses text.
 */
import { CTRL_PENDING, type VtepCommand, type VtepEvent } from './commands.js';
import { C_FDB_ENTRIES, C_FDB_LEARNED, C_FDB_PEERS, C_LOOP_BATCHES, C_LOOP_HEARTBEAT, C_LOOP_POLLS } from './counters.js';
import type { VtepState } from './vtep-state.js';

/** The longest the `debug-stall` test hook may wedge a worker. */
const MAX_DEBUG_STALL_MS = 60_000;

export interface LoopIo {
  /** The next command sent to this worker, or undefined when none waits. */
  nextCommand(): VtepCommand | undefined;
  post(e: VtepEvent): void;
  /** Nothing moved: wait for the TAP, the socket or a command (production: poll with a timeout). */
  idle(): void;
}

export interface LoopRoutines {
  encap: { run(): number };
  decap: { run(): number };
}

/** Applies one command to the worker's state; false for `stop`. Throws for a command it cannot apply. */
export function applyCommand(st: VtepState, cmd: VtepCommand, post: (e: VtepEvent) => void, now: () => number): boolean {
  switch (cmd.op) {
    case 'fdb-set':
      st.fdb.setPinned(cmd.entry.hi, cmd.entry.lo, cmd.entry.remote);
      return true;
    case 'fdb-del':
      st.fdb.delete(cmd.hi, cmd.lo);
      return true;
    case 'fdb-replace':
      st.fdb.clear();
      for (const e of cmd.entries) st.fdb.setPinned(e.hi, e.lo, e.remote);
      return true;
    case 'options':
      st.setOptions(cmd.options);
      return true;
    case 'fdb-dump':
      post({ op: 'fdb', id: cmd.id, entries: st.fdb.entries(now()) });
      return true;
    case 'debug-stall': {
      const until = now() + Math.min(cmd.ms, MAX_DEBUG_STALL_MS);
      while (now() < until);
      return true;
    }
    case 'stop':
      return false;
    default:
      throw new Error(`unknown command ${JSON.stringify((cmd as { op?: unknown }).op)}`);
  }
}

/** The loop's default clock: one function for every loop, so V8's code for `turn` calls the same target in all. */
function monotonicMs(): number {
  return performance.now();
}

export class VtepLoop {
  private running = true;
  private lastAge: number;

  constructor(
    private readonly st: VtepState,
    private readonly r: LoopRoutines,
    /** Shared with the main thread: CTRL_PENDING is raised when commands wait. */
    private readonly ctrl: Int32Array,
    private readonly io: LoopIo,
    private readonly now: () => number = monotonicMs,
    /** How often FDB ageing and the gauges run (the JIT warm-up runs them every turn, to warm them up). */
    private readonly ageEveryMs = 1000,
  ) {
    this.lastAge = now();
  }

  get stopped(): boolean {
    return !this.running;
  }

  /** Applies every waiting command; false once a `stop` came. */
  drainCommands(): boolean {
    Atomics.store(this.ctrl, CTRL_PENDING, 0);
    for (let cmd = this.io.nextCommand(); cmd && this.running; cmd = this.io.nextCommand()) {
      try {
        // assigned only on stop: V8 keeps a field never reassigned as a constant in `turn`'s code, and the
        // first command after ready would otherwise throw that code away (measured with --trace-deopt)
        if (!applyCommand(this.st, cmd, (e) => this.io.post(e), this.now)) this.running = false;
      } catch (e) {
        this.io.post({ op: 'warn', message: `command ${cmd.op} rejected: ${(e as Error).message}` });
      }
    }
    this.updateGauges();
    return this.running;
  }

  /** One turn of the loop; false once stopped. */
  turn(): boolean {
    const { st } = this;
    if (!this.running) return false;
    if (Atomics.load(this.ctrl, CTRL_PENDING) !== 0 && !this.drainCommands()) return false;
    st.now = this.now();
    st.c[C_LOOP_HEARTBEAT]++;
    if (this.r.encap.run() + this.r.decap.run() > 0) st.c[C_LOOP_BATCHES]++;
    else {
      st.c[C_LOOP_POLLS]++;
      this.io.idle();
    }
    if (st.now - this.lastAge >= this.ageEveryMs) {
      this.lastAge = st.now;
      if (st.fdb.learnedCount > 0) st.fdb.age(st.now);
      this.updateGauges();
    }
    return true;
  }

  /** Until `stop`: the worker's whole life after set-up. */
  run(): void {
    while (this.turn());
    this.io.post({ op: 'stopped' });
  }

  private updateGauges(): void {
    const { st } = this;
    st.c[C_FDB_ENTRIES] = st.fdb.size;
    st.c[C_FDB_LEARNED] = st.fdb.learnedCount;
    st.c[C_FDB_PEERS] = st.fdb.peerCount;
  }
}
