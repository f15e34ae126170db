/**
 * The node's policy loop: cluster changes (PolicySource) → debounce → compile → one nft transaction
 * (RulesetSink, which sends only the difference to the last table). One recompute at a time; changes
 * arriving meanwhile collapse into the next one. The whole table is recomputed in JS per change, so it
 * cannot drift from the cluster (cost: bench/policy-bench.mjs). A failed apply keeps the previous table
 * and is retried (as a full replace) with the next change or after 5 s.
 *
 * Nothing is applied before all three resources have listed once, so a restarting weftd leaves the
 * table of its previous run in force instead of opening every pod for a moment.
 */
import { compile, type CompiledRuleset, type DropCounter } from './policy-compiler.js';
import type { PolicySource } from './kube-policy-source.js';
import type { ApplyResult, RulesetSink } from './nft-applier.js';
import { explainPod, type PodPolicyReport } from './policy-explain.js';

export interface PolicyLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface PolicyNode {
  isLocal(ip: string): boolean;
  /** This node's IPv4 addresses, asked at every recompute (cni0 appears with the first pod). */
  nodeAddrs(): string[];
}

export interface AppliedInfo {
  generation: number;
  /** Highest API resourceVersion reflected in the applied table. */
  resourceVersion: number;
  compileMs: number;
  applyMs: number;
  /** full: the whole table replaced; diff: only what changed; unchanged: nothing sent. */
  mode: ApplyResult['mode'];
  commands: number;
  stats: CompiledRuleset['stats'];
}

export interface PolicyStats {
  applies: number;
  applyFailures: number;
  lastApplyMs: number;
  lastCompileMs: number;
  resourceVersion: number;
  table?: CompiledRuleset['stats'];
  warnings: string[];
}

export interface PolicyDrop extends DropCounter {
  packets: number;
}

export class PolicyController {
  readonly stats: PolicyStats = { applies: 0, applyFailures: 0, lastApplyMs: 0, lastCompileMs: 0, resourceVersion: 0, warnings: [] };
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private ready = false;
  private counters = new Map<string, DropCounter>();
  /** Drops counted by tables that have since been replaced, by "pod|direction". */
  private readonly carried = new Map<string, number>();

  constructor(
    private readonly source: PolicySource,
    private readonly sink: RulesetSink,
    private readonly node: PolicyNode,
    private readonly log: PolicyLogger,
    private readonly opts: { debounceMs?: number; onApplied?: (a: AppliedInfo) => void } = {},
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const retry = setInterval(() => this.dirty && this.schedule(), 5000).unref();
    try {
      await this.source.run(() => {
        this.ready = true;
        this.schedule();
      }, signal);
    } finally {
      clearInterval(retry);
      clearTimeout(this.timer);
      await this.running;
    }
  }

  private schedule(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.running.then(() => this.recompute());
    }, this.opts.debounceMs ?? 20);
  }

  private async recompute(): Promise<void> {
    if (!this.dirty || !this.ready) return;
    this.dirty = false;
    const t0 = performance.now();
    const snap = this.source.snapshot();
    let compiled: CompiledRuleset;
    let result: ApplyResult;
    let t1 = t0;
    try {
      compiled = compile({ ...snap, isLocal: (ip) => this.node.isLocal(ip), nodeAddrs: this.node.nodeAddrs() });
      t1 = performance.now();
      result = await this.sink.apply(compiled.objects);
    } catch (e) {
      this.stats.applyFailures++;
      this.dirty = true;
      this.log.error({ err: e }, 'applying the policy table failed; the previous one stays in force');
      return;
    }
    const t2 = performance.now();
    this.carry(result.lostCounts);
    this.counters = compiled.dropCounters;
    if (compiled.warnings.join() !== this.stats.warnings.join())
      for (const w of compiled.warnings) this.log.warn({ warning: w }, 'policy field skipped');
    const [compileMs, applyMs, resourceVersion] = [t1 - t0, t2 - t1, snap.resourceVersion];
    Object.assign(this.stats, {
      applies: this.stats.applies + 1,
      lastCompileMs: compileMs,
      lastApplyMs: applyMs,
      resourceVersion,
      table: compiled.stats,
      warnings: compiled.warnings,
    });
    const info: AppliedInfo = {
      generation: this.stats.applies,
      resourceVersion,
      compileMs,
      applyMs,
      mode: result.mode,
      commands: result.commands,
      stats: compiled.stats,
    };
    this.log.info({ ...info }, 'policy table applied');
    this.opts.onApplied?.(info);
  }

  /** Adds the counts of counters a transaction deleted to the carried totals. */
  private carry(lost: Map<string, number>): void {
    for (const [name, packets] of lost) {
      const c = this.counters.get(name);
      if (!c || packets === 0) continue;
      const key = `${c.pod}|${c.direction}`;
      this.carried.set(key, (this.carried.get(key) ?? 0) + packets);
    }
  }

  /** Drops by pod and direction since weftd started (carried totals + the live table). */
  async drops(): Promise<PolicyDrop[]> {
    await this.running;
    const totals = new Map(this.carried);
    const live = await this.sink.readCounters();
    for (const [name, c] of this.counters) {
      const key = `${c.pod}|${c.direction}`;
      totals.set(key, (totals.get(key) ?? 0) + (live.get(name) ?? 0));
    }
    return [...totals].map(([key, packets]) => {
      const [pod, direction] = key.split('|') as [string, DropCounter['direction']];
      return { pod, direction, packets };
    });
  }

  /** What selects `pod` ("namespace/name", a name, or an IP) and what those policies allow. */
  explain(pod: string): PodPolicyReport | undefined {
    const snap = this.source.snapshot();
    return explainPod(snap, pod);
  }
}
