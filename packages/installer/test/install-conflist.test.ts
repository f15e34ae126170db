import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installConflist, parseConflist } from '../src/install-conflist.js';

const CONFLIST = JSON.stringify({
  cniVersion: '1.0.0',
  name: 'weft',
  plugins: [{ type: 'weft' }, { type: 'portmap', capabilities: { portMappings: true } }],
});

describe('parseConflist', () => {
  it('accepts a chain and returns it', () => {
    expect(parseConflist(CONFLIST, 'cni-conf.json').plugins.map((p) => p.type)).toEqual(['weft', 'portmap']);
  });

  it.each([
    ['{', /cni-conf.json: not JSON/],
    ['[]', /must be a JSON object/],
    ['{"cniVersion":"2.0.0","name":"weft","plugins":[{"type":"weft"}]}', /cniVersion "2.0.0" is not one of/],
    ['{"cniVersion":"1.0.0","name":"-weft","plugins":[{"type":"weft"}]}', /name "-weft" must match/],
    ['{"cniVersion":"1.0.0","name":"weft","plugins":[]}', /plugins must be a non-empty list/],
    ['{"cniVersion":"1.0.0","name":"weft","plugins":[{"type":"weft"},{}]}', /plugins\[1\] needs a string "type"/],
    ['{"cniVersion":"1.0.0","name":"weft","disableCheck":"yes","plugins":[{"type":"weft"}]}', /disableCheck must be/],
  ])('rejects %s', (text, message) => {
    expect(() => parseConflist(text, 'cni-conf.json')).toThrow(message);
  });
});

describe('installConflist', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'weft-conflist-'));
    await mkdir(join(root, 'bin'));
    await writeFile(join(root, 'source.json'), CONFLIST);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const options = () => ({
    source: join(root, 'source.json'),
    confDir: join(root, 'net.d'),
    fileName: '10-weft.conflist',
    cniBinDir: join(root, 'bin'),
  });

  it('writes once, then leaves it, and reports missing plugins and configs that win over ours', async () => {
    await writeFile(join(root, 'bin', 'weft'), '');
    await chmod(join(root, 'bin', 'weft'), 0o755);
    await mkdir(join(root, 'net.d'));
    await writeFile(join(root, 'net.d', '10-flannel.conflist'), '{}');
    const first = await installConflist(options());
    expect(first).toMatchObject({ written: true, network: 'weft', missingPlugins: ['portmap'], shadowedBy: ['10-flannel.conflist'] });
    expect(await readFile(first.path, 'utf8')).toBe(CONFLIST);
    expect((await installConflist(options())).written).toBe(false);
  });

  it('refuses a broken conflist and leaves the conf dir as it was', async () => {
    await writeFile(join(root, 'source.json'), '{"cniVersion":"1.0.0"}');
    await mkdir(join(root, 'net.d'));
    await expect(installConflist(options())).rejects.toThrow(/source.json: name undefined must match/);
    expect(await readdir(join(root, 'net.d'))).toEqual([]);
  });

  it('names the missing ConfigMap file', async () => {
    await expect(installConflist({ ...options(), source: join(root, 'absent.json') })).rejects.toThrow(/absent.json \(ENOENT\)/);
  });
});
