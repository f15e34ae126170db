/** bin/weftctl as a process: --version and --help, which need no weftd and no etcd. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/weftctl', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('weftctl command line', () => {
  it('--version prints the package version and exits 0', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, '--version'], { timeout: 15_000 });
    expect(stdout).toBe(`weftctl ${VERSION}\n`);
  });

  it('--help lists --version', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, '--help'], { timeout: 15_000 });
    expect(stdout).toMatch(/^\s+--version\s+print the version$/m);
  });
});
