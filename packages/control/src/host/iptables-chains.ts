/**
 * Keeps weftd's own iptables chains (ip-masq.ts) in place: creates them, checks them every
 * `resyncMs` (someone may flush or delete them: a firewall reload, an admin), restores them when they
 * differ, and removes them on shutdown.
 *
 * One `iptables-save -t <table>` per table and check (rules compared in iptables-save's canonical
 * form), and one `iptables-restore --noflush` only when something must change: declaring the chain
 * flushes and rewrites it atomically, and the jump is inserted in the same transaction when missing.
 * Other chains and rules are never touched. `-w` waits for the xtables lock instead of failing.
 */
import type { Logger } from 'pino';
import { type OwnedChain, saveWords, savedJumpLine, savedRuleLines, jumpSpec } from './ip-masq.js';
import { mustRunHostTool } from './host-tool.js';

export interface IptablesRunner {
  save(table: string): Promise<string>;
  restore(payload: string): Promise<void>;
}

export const hostIptables: IptablesRunner = {
  save: (table) => mustRunHostTool('iptables-save', ['-t', table]),
  restore: async (payload) => {
    await mustRunHostTool('iptables-restore', ['-w', '5', '--noflush'], { stdin: payload });
  },
};

/** What must be written for `c` to match the iptables-save text of its table ('' when it matches). */
export function repairPayload(c: OwnedChain, saved: string): string {
  const lines = saved.split('\n');
  const have = lines.filter((l) => l.startsWith(`-A ${c.chain} `));
  const want = savedRuleLines(c);
  const chainOk = have.length === want.length && have.every((l, i) => l === want[i]);
  const jumps = lines.filter((l) => l === savedJumpLine(c)).length;
  if (chainOk && jumps === 1) return '';
  const out = [`*${c.table}`, `:${c.chain} - [0:0]`, ...want];
  // Extra copies of the jump go, a missing one is inserted (first or last, as the chain wants).
  for (let i = 1; i < jumps; i++) out.push(`-D ${c.hook.chain} ${saveWords(jumpSpec(c))}`);
  if (jumps === 0) {
    const verb = c.hook.position === 'first' ? `-I ${c.hook.chain} 1` : `-A ${c.hook.chain}`;
    out.push(`${verb} ${saveWords(jumpSpec(c))}`);
  }
  out.push('COMMIT', '');
  return out.join('\n');
}

/** What removes `c` entirely, given its table's iptables-save text ('' when nothing is there). */
export function removalPayload(c: OwnedChain, saved: string): string {
  const lines = saved.split('\n');
  const jumps = lines.filter((l) => l === savedJumpLine(c)).length;
  const chainExists = lines.some((l) => l === `:${c.chain} - [0:0]` || l.startsWith(`:${c.chain} `));
  if (!chainExists && jumps === 0) return '';
  const out = [`*${c.table}`];
  for (let i = 0; i < jumps; i++) out.push(`-D ${c.hook.chain} ${saveWords(jumpSpec(c))}`);
  if (chainExists) out.push(`-F ${c.chain}`, `-X ${c.chain}`);
  out.push('COMMIT', '');
  return out.join('\n');
}

export class IptablesChains {
  private chains: OwnedChain[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  repairs = 0;

  constructor(
    private readonly log: Logger,
    private readonly ipt: IptablesRunner = hostIptables,
  ) {}

  /** Sets the chains to keep (again after a lease change) and writes them now. */
  async set(chains: OwnedChain[]): Promise<void> {
    const gone = this.chains.filter((old) => !chains.some((c) => c.chain === old.chain));
    this.chains = chains;
    await this.serial(async () => {
      for (const c of gone) await this.removeOne(c);
      await this.ensure(false);
    });
  }

  /** Checks every `resyncMs` (flannel's --iptables-resync, default 5 s). */
  start(resyncMs: number): void {
    this.timer = setInterval(() => {
      void this.serial(() => this.ensure(true)).catch((e: unknown) =>
        this.log.warn({ err: e }, 'iptables check failed; next try in one period'),
      );
    }, resyncMs);
    this.timer.unref();
  }

  /** Stops checking; the chains stay (a hand-over: the next weftd keeps them). */
  pause(): void {
    clearInterval(this.timer);
  }

  /** Stops checking and removes every chain weftd made (and the jumps to them). */
  async removeAll(): Promise<void> {
    clearInterval(this.timer);
    const chains = this.chains;
    this.chains = [];
    await this.serial(async () => {
      for (const c of chains) await this.removeOne(c);
    });
  }

  private async ensure(periodic: boolean): Promise<void> {
    for (const c of this.chains) {
      const payload = repairPayload(c, await this.ipt.save(c.table));
      if (!payload) continue;
      await this.ipt.restore(payload);
      if (periodic) {
        this.repairs++;
        this.log.warn({ table: c.table, chain: c.chain }, 'iptables rules were changed by someone else; restored');
      } else {
        this.log.info({ table: c.table, chain: c.chain, rules: c.rules.length }, 'iptables chain written');
      }
    }
  }

  private async removeOne(c: OwnedChain): Promise<void> {
    const payload = removalPayload(c, await this.ipt.save(c.table));
    if (!payload) return;
    await this.ipt.restore(payload);
    this.log.info({ table: c.table, chain: c.chain }, 'iptables chain removed');
  }

  private serial(f: () => Promise<void>): Promise<void> {
    const next = this.running.then(f);
    this.running = next.catch(() => undefined);
    return next;
  }
}
