/**
 * Loads compiled tables into the kernel, one `nft -f -` transaction per change. nft commits a file as
 * one netlink batch: packets see the old table or the new one, never a mix, and an error leaves the old
 * one in force. Only `inet weft` is ever named; other tables (iptables-nft's, the admin's) are untouched.
 *
 * The first table (and the one after any failure) replaces whatever is there:
 *
 *   table inet weft  /  delete table inet weft  /  table inet weft { ... }
 *
 * After that, a change is a diff against the last applied generation, object by object (names are stable:
 * pods by IP, policies by a hash of namespace/name): new sets, maps, counters and chains are added;
 * changed ones are flushed and refilled; gone chains are emptied, then deleted, after every rule and map
 * element that jumped to them has been rewritten; gone sets and counters go last. A one-policy change at 1000 pods is then a few lines
 * instead of the whole table, and the
 * drop counters of pods that stay isolated keep counting. Counters about to disappear (a full replace, a
 * pod leaving isolation) are read first and handed back so the caller can carry their counts.
 */
import { spawn } from 'node:child_process';
import { TABLE, renderTable, type NftObject } from './policy-compiler.js';

export interface ApplyResult {
  mode: 'full' | 'diff' | 'unchanged';
  /** nft commands sent (full: objects). */
  commands: number;
  /** Packet counts of counters this transaction deleted (read just before it). */
  lostCounts: Map<string, number>;
}

export interface RulesetSink {
  /** Makes weft's table equal to `objects`. */
  apply(objects: readonly NftObject[]): Promise<ApplyResult>;
  /** Deletes weft's table if it exists. */
  remove(): Promise<void>;
  /** Packet counts of the table's named counters (empty when there is no table). */
  readCounters(): Promise<Map<string, number>>;
}

const T = `inet ${TABLE}`;

export class NftApplier implements RulesetSink {
  private current: Map<string, NftObject> | undefined;

  constructor(private readonly nftBin = 'nft') {}

  async apply(objects: readonly NftObject[]): Promise<ApplyResult> {
    const next = new Map(objects.map((o) => [o.name, o]));
    const old = this.current;
    this.current = undefined; // until this transaction is known to have committed
    const diff = old ? diffTables(old, next) : undefined;
    const lost = new Map<string, number>();
    const gone = diff ? diff.deletedCounters : [...(old?.values() ?? [])].filter((o) => o.kind === 'counter').map((o) => o.name);
    if (!diff || gone.length > 0) {
      const live = await this.readCounters();
      for (const name of diff ? gone : [...live.keys()]) if (live.get(name)) lost.set(name, live.get(name)!);
    }
    if (diff && diff.commands.length === 0) {
      this.current = next;
      return { mode: 'unchanged', commands: 0, lostCounts: lost };
    }
    const script = diff ? diff.commands.join('\n') + '\n' : `table ${T}\ndelete table ${T}\n${renderTable(objects)}`;
    await this.run(['-f', '-'], script);
    this.current = next;
    return { mode: diff ? 'diff' : 'full', commands: diff ? diff.commands.length : objects.length, lostCounts: lost };
  }

  async remove(): Promise<void> {
    this.current = undefined;
    await this.run(['-f', '-'], `table ${T}\ndelete table ${T}\n`);
  }

  async readCounters(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    let json: string;
    try {
      json = await this.run(['-j', 'list', 'counters', 'table', 'inet', TABLE], '');
    } catch {
      return out; // no table yet
    }
    const parsed = JSON.parse(json) as { nftables?: Array<{ counter?: { name?: string; packets?: number } }> };
    for (const o of parsed.nftables ?? []) if (o.counter?.name) out.set(o.counter.name, o.counter.packets ?? 0);
    return out;
  }

  private run(args: string[], stdin: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const p = spawn(this.nftBin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      p.on('error', reject);
      p.on('close', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`nft ${args.join(' ')} failed (${code}): ${err.trim().slice(0, 2000)}`)),
      );
      p.stdin.on('error', () => undefined);
      p.stdin.end(stdin);
    });
  }
}

/**
 * The nft commands that turn table `old` into `next`, or undefined when only a full replace can (a base
 * chain's hook or a set's type changed).
 */
export function diffTables(
  old: ReadonlyMap<string, NftObject>,
  next: ReadonlyMap<string, NftObject>,
): { commands: string[]; deletedCounters: string[] } | undefined {
  const add: string[] = [];
  const refill: string[] = [];
  const rewrite: string[] = [];
  const unhook: string[] = [];
  const del: string[] = [];
  const delLast: string[] = [];
  const deletedCounters: string[] = [];
  for (const [name, o] of next) {
    const was = old.get(name);
    if (was && (was.kind !== o.kind || was.header !== o.header)) return undefined;
    const same = was !== undefined && was.items.length === o.items.length && was.items.every((x, i) => x === o.items[i]);
    if (same) continue;
    if (o.kind === 'chain') {
      if (!was) add.push(`add chain ${T} ${name}`);
      else rewrite.push(`flush chain ${T} ${name}`);
      for (const r of o.items) rewrite.push(`add rule ${T} ${name} ${r}`);
    } else if (o.kind === 'counter') {
      add.push(`add counter ${T} ${name}`);
    } else {
      if (!was) add.push(`add ${o.kind} ${T} ${name} { ${o.header} }`);
      else refill.push(`flush ${o.kind} ${T} ${name}`);
      if (o.items.length > 0) refill.push(`add element ${T} ${name} { ${o.items.join(', ')} }`);
    }
  }
  for (const [name, o] of old) {
    if (next.has(name)) continue;
    if (o.kind === 'chain') {
      unhook.push(`flush chain ${T} ${name}`);
      del.push(`delete chain ${T} ${name}`);
    } else {
      delLast.push(`delete ${o.kind} ${T} ${name}`);
      if (o.kind === 'counter') deletedCounters.push(name);
    }
  }
  // Maps are refilled after the chains they jump to exist and before the chains they no longer name go; a
  // chain still jumped to cannot be deleted, so every doomed chain is emptied before any is deleted.
  return { commands: [...add, ...rewrite, ...refill, ...unhook, ...del, ...delLast], deletedCounters };
}
