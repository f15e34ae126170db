import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEMP_PREFIX, removeStaleTemps, writeFileAtomic } from '../dist/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-atomic-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('replaces a file by rename: a reader holding the old one still reads it whole', async () => {
    const path = join(dir, 'weft');
    await writeFile(path, 'old contents\n');
    const before = await stat(path);
    const reader = await open(path, 'r');
    try {
      expect(await writeFileAtomic(path, 'new\n', 0o755)).toBe(true);
      expect((await reader.readFile()).toString()).toBe('old contents\n');
    } finally {
      await reader.close();
    }
    const after = await stat(path);
    expect(after.ino).not.toBe(before.ino);
    expect(after.mode & 0o777).toBe(0o755);
    expect(await readFile(path, 'utf8')).toBe('new\n');
    expect(await readdir(dir)).toEqual(['weft']);
  });

  it('leaves a file that already holds the bytes and mode alone', async () => {
    const path = join(dir, 'conf');
    await writeFileAtomic(path, '{}', 0o644);
    const first = await stat(path);
    expect(await writeFileAtomic(path, '{}', 0o644)).toBe(false);
    expect((await stat(path)).ino).toBe(first.ino);
    expect(await writeFileAtomic(path, '{}', 0o600)).toBe(true); // a mode change is a change
  });

  it('names the path when the directory is missing, and leaves no temp file', async () => {
    await expect(writeFileAtomic(join(dir, 'nope', 'f'), 'x', 0o644)).rejects.toThrow(/cannot write .*nope\/f/);
  });
});

describe('removeStaleTemps', () => {
  it("removes only a crashed run's temp files and directories", async () => {
    await writeFile(join(dir, `${TEMP_PREFIX}weft-1234`), 'half');
    await mkdir(join(dir, `${TEMP_PREFIX}abc-99`, 'lib'), { recursive: true });
    await writeFile(join(dir, 'portmap'), '');
    expect((await removeStaleTemps(dir)).sort()).toEqual([`${TEMP_PREFIX}abc-99`, `${TEMP_PREFIX}weft-1234`]);
    expect(await readdir(dir)).toEqual(['portmap']);
  });
});
