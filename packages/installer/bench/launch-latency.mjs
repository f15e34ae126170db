/**
 * Start-up cost of the installed plugin: CNI_COMMAND=VERSION (no work, only start-up) through the launcher
 * (sh -> payload's ld.so -> the single executable), next to the same executable run directly, the esbuild
 * bundle on the system node, the unbundled plugin, and `node -e 0` (the floor). Rounds are interleaved so load
 * on the machine hits all alike.
 *   node packages/installer/bench/launch-latency.mjs [rounds]      (after pnpm build)
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCniPlugin, bundlePluginScript } from '../dist/plugin-build.js';
import { installPlugin } from '../dist/install-plugin.js';

const rounds = Number(process.argv[2] ?? 40);
const root = join(import.meta.dirname, '..', '..', '..');
const scratch = await mkdtemp(join(tmpdir(), 'weft-latency-'));
try {
  const entry = join(root, 'packages/cni-shim/bin/weft');
  const bundle = join(scratch, 'weft.cjs');
  await bundlePluginScript(entry, bundle);
  const plugin = join(scratch, 'weft');
  await buildCniPlugin({ entry, outfile: plugin });
  await mkdir(join(scratch, 'bin'));
  await installPlugin({ plugin, cniBinDir: join(scratch, 'bin') });

  const cases = {
    'node -e 0 (floor)': [process.execPath, ['-e', '0']],
    'unbundled bin/weft': [process.execPath, [join(root, 'packages/cni-shim/bin/weft')]],
    'bundle on system node': [process.execPath, [bundle]],
    'single executable': [plugin, []],
    'installed launcher': [join(scratch, 'bin', 'weft'), []],
  };
  const times = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, [command, args]] of Object.entries(cases)) {
      const start = process.hrtime.bigint();
      const result = spawnSync(command, args, { env: { CNI_COMMAND: 'VERSION', PATH: '/usr/bin:/bin' }, input: '{"cniVersion":"1.1.0"}' });
      if (result.status !== 0) throw new Error(`${name}: ${result.stderr}`);
      times[name].push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  }
  const at = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(1);
  for (const [name, list] of Object.entries(times)) {
    list.sort((a, b) => a - b);
    console.log(`${name.padEnd(24)} p50 ${at(list, 0.5).padStart(6)} ms   p90 ${at(list, 0.9).padStart(6)} ms`);
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}
