// Prints the netpol suite's per-case results (written by test/netpol.netns.test.ts) and the closing line.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let results = [];
try {
  results = JSON.parse(readFileSync(join(tmpdir(), 'weft-netpol-results.json'), 'utf8'));
} catch {
  console.log('netpol: no results (the suite did not run; it needs root)');
}
const cases = results.filter((r) => !r.name.startsWith('new-pod gap'));
for (const r of results) console.log(`${r.pass ? 'PASS' : 'FAIL'}  ${r.name}${r.seconds ? ` (${r.seconds.toFixed(1)} s)` : ''}${r.pass ? '' : `\n      ${String(r.detail ?? '').split('\n').slice(0, 6).join('\n      ')}`}`);
console.log(`netpol: ${cases.filter((r) => r.pass).length}/${cases.length} cases pass`);
