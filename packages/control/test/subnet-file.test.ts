import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readPreviousSubnet, renderSubnetFile, writeSubnetFile } from '../src/host/subnet-file.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'weft-subnet-file-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const content = { network: '10.244.0.0/16', subnet: '10.244.3.0/24', mtu: 1450, ipMasq: true };

describe('subnet file', () => {
  it("has flannel's four lines, FLANNEL_SUBNET being the first usable address", () => {
    expect(renderSubnetFile(content)).toBe(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    );
  });

  it('is written through a temp file and rename, creating the directory, leaving no temp behind', async () => {
    const dir = join(tmp(), 'run', 'flannel');
    const path = join(dir, 'subnet.env');
    await writeSubnetFile(path, content);
    await writeSubnetFile(path, { ...content, mtu: 1400 });
    expect(readdirSync(dir)).toEqual(['subnet.env']);
    expect(readFileSync(path, 'utf8')).toContain('FLANNEL_MTU=1400');
  });

  it('a failed write names the path and leaves no temp file behind', async () => {
    const dir = tmp();
    const path = join(dir, 'subnet.env');
    mkdirSync(join(path, 'in-the-way'), { recursive: true }); // rename onto a non-empty directory fails, even as root
    await expect(writeSubnetFile(path, content)).rejects.toThrow(`cannot write subnet file ${path}`);
    expect(readdirSync(dir)).toEqual(['subnet.env']);
  });

  it('gives back the previous subnet, or nothing for a missing or broken file', async () => {
    const dir = tmp();
    const path = join(dir, 'subnet.env');
    expect(await readPreviousSubnet(path)).toBeUndefined();
    await writeSubnetFile(path, content);
    expect(await readPreviousSubnet(path)).toBe('10.244.3.0/24');
    writeFileSync(path, '# flannel\nFLANNEL_SUBNET=10.1.17.1/28\n');
    expect(await readPreviousSubnet(path)).toBe('10.1.17.0/28');
    writeFileSync(path, 'FLANNEL_SUBNET=banana\n');
    expect(await readPreviousSubnet(path)).toBeUndefined();
  });
});
