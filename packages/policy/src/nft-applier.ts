/**
 * Loads a compiled table into the kernel with one `nft -f -` transaction per change:
 *
 *   table inet weft        (so the delete below cannot fail on a first run)
 *   delete table inet weft
 *   table inet weft { ... }
 *
 * nft commits a file as one netlink batch: packets see the old table or the new one, never a mix, and a
 * syntax or kernel error leaves the old one in force. Only `inet weft` is ever named: other tables
 * (iptables-nft's, the admin's) are not touched. Replacing the table resets its named counters, so the
 * drop counts are read just before each replace and carried forward by the caller.
 */
import { spawn } from 'node:child_process';
import { TABLE } from './policy-compiler.js';

export interface RulesetSink {
  /** Replaces weft's table with `table` (nft text of `table inet weft { ... }`). */
  apply(table: string): Promise<void>;
  /** Deletes weft's table if it exists. */
  remove(): Promise<void>;
  /** Packet counts of the table's named counters (empty when there is no table). */
  readCounters(): Promise<Map<string, number>>;
}

export class NftApplier implements RulesetSink {
  constructor(private readonly nftBin = 'nft') {}

  apply(table: string): Promise<void> {
    return this.run(['-f', '-'], `table inet ${TABLE}\ndelete table inet ${TABLE}\n${table}`).then(() => undefined);
  }

  remove(): Promise<void> {
    return this.run(['-f', '-'], `table inet ${TABLE}\ndelete table inet ${TABLE}\n`).then(() => undefined);
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
      p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`nft ${args.join(' ')} failed (${code}): ${err.trim().slice(0, 2000)}`))));
      p.stdin.on('error', () => undefined);
      p.stdin.end(stdin);
    });
  }
}
