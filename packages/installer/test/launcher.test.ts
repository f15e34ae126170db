import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launcherPayloadId, renderLauncher } from '../src/launcher.js';

const run = promisify(execFile);

describe('renderLauncher', () => {
  it('names its payload so the next install can keep it', () => {
    const text = renderLauncher({ id: '0123456789abcdef', loaderName: 'ld-linux-x86-64.so.2' });
    expect(text.startsWith('#!/bin/sh\n')).toBe(true);
    expect(launcherPayloadId(text)).toBe('0123456789abcdef');
    expect(launcherPayloadId('#!/bin/sh\nexec /usr/bin/flannel\n')).toBeUndefined();
  });
});

// The launcher's shell logic, run for real with a stand-in "loader" that prints what it was given.
describe('the launcher finds its payload from $0', () => {
  let root: string;
  const id = 'feedfacecafebeef';
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'weft-launcher-'));
    const lib = join(root, 'bin', 'weft.d', id, 'lib');
    await mkdir(lib, { recursive: true });
    await writeFile(join(lib, 'ld-fake.so.1'), '#!/bin/sh\nprintf "%s|" "$@"; printf "%s" "${NODE_OPTIONS-unset}"\n');
    await chmod(join(lib, 'ld-fake.so.1'), 0o755);
    await writeFile(join(root, 'bin', 'weft'), renderLauncher({ id, loaderName: 'ld-fake.so.1' }), { mode: 0o755 });
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  const expected = (dir: string) => `--library-path|${dir}/weft.d/${id}/lib|${dir}/weft.d/${id}/weft|a b|unset`;

  it('by absolute path, passing arguments through and dropping NODE_OPTIONS', async () => {
    const { stdout } = await run(join(root, 'bin', 'weft'), ['a b'], { env: { NODE_OPTIONS: '--inspect' } });
    expect(stdout).toBe(expected(join(root, 'bin')));
  });

  it('by relative path', async () => {
    const { stdout } = await run('./weft', ['a b'], { cwd: join(root, 'bin') });
    expect(stdout).toBe(expected('.'));
  });

  it('through PATH', async () => {
    const { stdout } = await run('sh', ['-c', 'weft "a b"'], { env: { PATH: `${join(root, 'bin')}:/usr/bin:/bin` } });
    expect(stdout).toBe(expected(join(root, 'bin')));
  });

  it('as `sh weft`, where $0 has no directory', async () => {
    const env = { PATH: `${join(root, 'bin')}:/usr/bin:/bin` };
    const { stdout } = await run('sh', ['weft', 'a b'], { cwd: join(root, 'bin'), env });
    expect(stdout).toBe(expected(join(root, 'bin')));
  });
});
