#!/usr/bin/env node
// pnpm bench: every weft benchmark in turn (datapath vs kernel vxlan and the floor relay, RTT, control plane, CNI plugin),
// then the combined report (bench/report.mjs). One failing benchmark does not stop the others; the
// exit code says whether all ran.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeReport } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const BENCHES = [
  ['datapath', 'datapath-bench.mjs', process.argv.slice(2)],
  ['rtt', 'rtt-bench.mjs', []],
  ['control', 'control-bench.mjs', []],
  ['cni', 'cni-bench.mjs', []],
];

let failed = 0;
for (const [name, file, args] of BENCHES) {
  console.error(`\n=== bench: ${name}`);
  const r = spawnSync(process.execPath, [join(here, file), ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.error(`=== bench ${name} failed (exit ${r.status}); the report uses its previous results if any`);
  }
}
console.log(`\nreport: ${await writeReport()}`);
process.exit(failed > 0 ? 1 : 0);
