/**
 * Two test projects:
 * - unit: no privileges, no devices, fast; runs everywhere.
 * - netns: root only; real network namespaces, TAP devices, etcd, iperf3. One file at a time: the
 *   machine has two cores and these tests move real traffic.
 * `pnpm test` runs both. When not root, the netns project is skipped with a loud banner, never silently.
 */
import { defineConfig } from 'vitest/config';
import SummaryReporter from './test/summary-reporter.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot) {
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!! netns tests SKIPPED: they need root (namespaces, TAP devices, etcd).\n!! Only the unit project runs. Run \`sudo pnpm test\` for the full suite.\n${bar}\n`);
}

export default defineConfig({
  test: {
    reporters: ['default', new SummaryReporter({ netnsSkipped: !isRoot })],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.netns.test.ts', '**/node_modules/**'],
          testTimeout: 20_000,
        },
      },
      ...(isRoot
        ? [
            {
              test: {
                name: 'netns',
                include: ['packages/*/test/**/*.netns.test.ts', 'test/**/*.netns.test.ts'],
                exclude: ['**/node_modules/**'],
                fileParallelism: false,
                testTimeout: 240_000,
                hookTimeout: 120_000,
              },
            },
          ]
        : []),
    ],
  },
});
