/**
 * Three test projects:
 * - unit: no privileges, no devices, fast; runs everywhere.
 * - netns: root only; real network namespaces, TAP devices, etcd, iperf3. One file at a time: the
 *   machine has two cores and these tests move real traffic.
 * - image: root only; builds the weft image with buildah (`pnpm image`, minutes from nothing) and runs it with
 *   podman (`*.image.test.ts`).
 * `pnpm test` runs all three. When not root, netns and image are skipped with a loud banner, never silently.
 */
import { defineConfig } from 'vitest/config';
import SummaryReporter from './test/summary-reporter.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot) {
  const bar = '!'.repeat(78);
  console.warn(
    `\n${bar}\n!! netns and image tests SKIPPED: they need root (namespaces, TAP devices, etcd; buildah, podman).\n!! Only the unit project runs. Run \`sudo pnpm test\` for the full suite.\n${bar}\n`,
  );
}

export default defineConfig({
  test: {
    reporters: ['default', new SummaryReporter({ netnsSkipped: !isRoot })],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.netns.test.ts', '**/*.image.test.ts', '**/node_modules/**'],
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
            {
              test: {
                name: 'image',
                include: ['test/**/*.image.test.ts'],
                exclude: ['**/node_modules/**'],
                fileParallelism: false,
                testTimeout: 600_000,
                hookTimeout: 2_400_000,
              },
            },
          ]
        : []),
    ],
  },
});
