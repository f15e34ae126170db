/**
 * Config validation and the subnet file: defaults, every bad key named with code 7, `ipam` refused
 * with code 2, and subnet files that are missing (code 11) or do not parse (code 7, naming the line).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addressPool, formatIpv4Prefix, parseNetConf, parseSubnetEnv, readSubnetFile } from '../dist/index.js';
import { cniError } from './expect-cni-error.js';

describe('parseNetConf', () => {
  it('applies flannel-style defaults', () => {
    const c = parseNetConf({ cniVersion: '1.0.0', name: 'weft', type: 'weft' });
    expect(c).toMatchObject({
      name: 'weft',
      subnetFile: '/run/flannel/subnet.env',
      dataDir: '/var/lib/cni/networks',
      bridge: 'cni0',
      mtu: undefined,
      hairpinMode: false,
      isDefaultGateway: true,
      prevResult: undefined,
      validAttachments: undefined,
    });
  });

  it.each([
    [{ mtu: 'big' }, '"mtu" must be an integer from 576 to 65535'],
    [{ mtu: 100 }, '"mtu"'],
    [{ hairpinMode: 'yes' }, '"hairpinMode" must be true or false'],
    [{ isDefaultGateway: 1 }, '"isDefaultGateway"'],
    [{ subnetFile: 'run/subnet.env' }, '"subnetFile" must be an absolute path'],
    [{ dataDir: 5 }, '"dataDir" must be a string'],
    [{ bridge: 'br 0' }, '"bridge" "br 0" is not a valid interface name'],
    [{ bridge: 'a-bridge-name-too-long' }, 'longer than 15 bytes'],
    [{ 'cni.dev/valid-attachments': [{ containerID: 'c1' }] }, 'cni.dev/valid-attachments[0]'],
  ])('rejects %j with code 7 naming the key', (extra, msg) => {
    const e = cniError(() => parseNetConf({ cniVersion: '1.0.0', name: 'weft', ...extra }));
    expect(e.code).toBe(7);
    expect(e.message).toContain(msg);
  });

  it('refuses an ipam section with code 2, showing key and value', () => {
    const e = cniError(() => parseNetConf({ name: 'weft', ipam: { type: 'host-local' } }));
    expect(e.code).toBe(2);
    expect(e.message).toContain('"ipam"');
    expect(e.message).toContain('host-local');
  });

  it('merges cni.dev/valid-attachments and the older cni.dev/attachments', () => {
    const c = parseNetConf({
      name: 'weft',
      'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }],
      'cni.dev/attachments': [{ containerID: 'b', ifname: 'eth1' }],
    });
    expect(c.validAttachments).toEqual([
      { containerId: 'a', ifName: 'eth0' },
      { containerId: 'b', ifName: 'eth1' },
    ]);
  });

  it('decodes prevResult', () => {
    const c = parseNetConf({ name: 'weft', prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.244.1.2/24' }] } });
    expect(c.prevResult?.ips).toEqual([{ address: '10.244.1.2/24' }]);
  });
});

describe('subnet file', () => {
  const GOOD = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';
  const dir = mkdtempSync(join(tmpdir(), 'weft-subnet-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("parses flannel's format: the gateway is FLANNEL_SUBNET's address", () => {
    const s = parseSubnetEnv(`# written by weftd\n${GOOD}FLANNEL_IPV6_NETWORK=fc00::/48\n`, 'x');
    expect(formatIpv4Prefix(s.network)).toBe('10.244.0.0/16');
    expect(formatIpv4Prefix(s.gateway)).toBe('10.244.1.1/24');
    expect(s).toMatchObject({ mtu: 1450, ipMasq: true });
    const pool = addressPool(s);
    expect(pool.label).toBe('10.244.1.0/24');
    expect(pool.last - pool.first + 1).toBe(254);
  });

  it('a missing file is code 11, try again later, naming the file and weftd', () => {
    const e = cniError(() => readSubnetFile(join(dir, 'absent.env')));
    expect(e.code).toBe(11);
    expect(e.message).toContain('absent.env');
    expect(e.message).toContain('weftd');
  });

  it.each([
    ['FLANNEL_NETWORK=10.244.0.0/16\n', 'FLANNEL_SUBNET is missing'],
    [GOOD.replace('10.244.1.1/24', '10.244.1.1'), 'FLANNEL_SUBNET "10.244.1.1" (line 2) is not an IPv4 prefix'],
    [GOOD.replace('10.244.1.1/24', '10.245.1.1/24'), 'is not inside FLANNEL_NETWORK 10.244.0.0/16'],
    [GOOD.replace('10.244.1.1/24', '10.244.1.0/24'), 'is a network address'],
    [GOOD.replace('10.244.1.1/24', '10.244.1.1/31'), 'leaves no room for pods'],
    [GOOD.replace('1450', 'jumbo'), 'FLANNEL_MTU "jumbo" (line 3)'],
    [GOOD.replace('IPMASQ=true', 'IPMASQ=yes'), 'FLANNEL_IPMASQ "yes"'],
    ['garbage\n', 'line 1 "garbage" is not KEY=VALUE'],
  ])('%j → code 7 naming the cause', (text, msg) => {
    const path = join(dir, 'subnet.env');
    writeFileSync(path, text);
    const e = cniError(() => readSubnetFile(path));
    expect(e.code).toBe(7);
    expect(e.message).toContain(`subnet file ${path} is invalid`);
    expect(e.message).toContain(msg);
  });
});
