import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGzip, unpackPlugin } from '../src/plugin-unpack.js';

describe('unpackPlugin (the image ships the plugin gzip-compressed)', () => {
  let dir: string;
  const program = randomBytes(64 * 1024); // incompressible: a cut gzip stream is surely incomplete
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-unpack-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('unpacks a gzip file into a temp file beside the payloads and removes it on release', async () => {
    await writeFile(join(dir, 'weft.gz'), gzipSync(program));
    expect(await isGzip(join(dir, 'weft.gz'))).toBe(true);
    const unpacked = await unpackPlugin(join(dir, 'weft.gz'), dir);
    expect(unpacked.path.startsWith(join(dir, '.weft-tmp-'))).toBe(true);
    expect((await readFile(unpacked.path)).equals(program)).toBe(true);
    expect((await stat(unpacked.path)).mode & 0o777).toBe(0o700);
    await unpacked.release();
    expect(await readdir(dir)).toEqual(['weft.gz']);
  });

  it('takes an uncompressed executable as it is', async () => {
    await writeFile(join(dir, 'weft'), program);
    const unpacked = await unpackPlugin(join(dir, 'weft'), dir);
    expect(unpacked.path).toBe(join(dir, 'weft'));
    await unpacked.release();
    expect(await readdir(dir)).toEqual(['weft']);
  });

  it('a damaged gzip file is a clear error and leaves nothing behind', async () => {
    await writeFile(join(dir, 'weft.gz'), gzipSync(program).subarray(0, 4096));
    await expect(unpackPlugin(join(dir, 'weft.gz'), dir)).rejects.toThrow(/cannot unpack the plugin .*weft\.gz \(gzip\)/);
    expect(await readdir(dir)).toEqual(['weft.gz']);
  });
});
