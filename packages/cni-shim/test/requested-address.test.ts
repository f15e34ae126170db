/**
 * A requested pod address (CNI_ARGS IP=, runtimeConfig.ips, args.cni.ips): parsed from each source,
 * checked against the node subnet, reserved exactly in the store, and every refusal a CNI error
 * with a code and a message that names the address, its source and the cause.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IpamStore, checkRequestInSubnet, formatIpv4, parseIpv4, requestedAddress, type AddressPool } from '../dist/index.js';
import { cniError } from './expect-cni-error.js';

const ip = (s: string): number => parseIpv4(s)!;
const GATEWAY = { addr: ip('10.244.1.1'), len: 24 };
const POOL: AddressPool = { first: ip('10.244.1.1'), last: ip('10.244.1.254'), gateway: ip('10.244.1.1'), label: '10.244.1.0/24' };
const asked = (cniArgs: string, config: Record<string, unknown> = {}): string | undefined => {
  const r = requestedAddress(cniArgs, config);
  return r && `${formatIpv4(r.addr)}${r.len === undefined ? '' : `/${r.len}`} ${r.source}`;
};

describe('requestedAddress', () => {
  it('reads nothing when nothing is asked, ignoring the keys runtimes add', () => {
    expect(asked('')).toBeUndefined();
    expect(asked('IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web', { runtimeConfig: { portMappings: [] } })).toBeUndefined();
  });

  it('reads CNI_ARGS IP= with and without a prefix length, among other keys', () => {
    expect(asked('IgnoreUnknown=1;IP=10.244.1.7;K8S_POD_NAME=web')).toBe('10.244.1.7 CNI_ARGS IP');
    expect(asked('IP=10.244.1.7/24')).toBe('10.244.1.7/24 CNI_ARGS IP');
  });

  it('reads the ips capability (runtimeConfig.ips) and args.cni.ips', () => {
    expect(asked('', { runtimeConfig: { ips: ['10.244.1.8/24'] } })).toBe('10.244.1.8/24 runtimeConfig.ips');
    expect(asked('', { args: { cni: { ips: ['10.244.1.9'] } } })).toBe('10.244.1.9 args.cni.ips');
  });

  it('accepts the same address from several sources', () => {
    expect(asked('IP=10.244.1.7', { runtimeConfig: { ips: ['10.244.1.7/24'] } })).toBe('10.244.1.7 CNI_ARGS IP');
  });

  it('refuses two different addresses (code 7), naming both and their sources', () => {
    const e = cniError(() => requestedAddress('IP=10.244.1.7', { runtimeConfig: { ips: ['10.244.1.8'] } }));
    expect(e.code).toBe(7);
    expect(e.message).toBe('two different pod addresses requested: 10.244.1.7 (CNI_ARGS IP) and 10.244.1.8 (runtimeConfig.ips)');
  });

  it.each(['IP=10.244.1', 'IP=10.244.1.300', 'IP=10.244.1.7/33', 'IP=', 'IP=fd00::7'])('refuses CNI_ARGS %s with code 4', (args) => {
    const e = cniError(() => requestedAddress(args, {}));
    expect(e.code).toBe(4);
    expect(e.message).toContain('is not an IPv4 address');
  });

  it.each([
    [{ runtimeConfig: { ips: '10.244.1.7' } }, '"runtimeConfig.ips" must be a list'],
    [{ runtimeConfig: { ips: [7] } }, '"runtimeConfig.ips[0]" must be an IPv4 address'],
    [{ args: { cni: { ips: ['fd00::7/64'] } } }, '"args.cni.ips[0]" must be an IPv4 address'],
  ])('refuses config %j with code 7', (config, msg) => {
    const e = cniError(() => requestedAddress('', config));
    expect(e.code).toBe(7);
    expect(e.message).toContain(msg);
  });
});

describe('checkRequestInSubnet', () => {
  const check = (cniArgs: string): void => checkRequestInSubnet(requestedAddress(cniArgs, {})!, GATEWAY);

  it('passes a pod address of the node subnet, with or without its prefix length', () => {
    check('IP=10.244.1.2');
    check('IP=10.244.1.254/24');
  });

  it.each([
    ['IP=10.244.2.7', "is outside this node's subnet 10.244.1.0/24"],
    ['IP=10.244.1.7/16', "has prefix length /16, the node's subnet 10.244.1.0/24 has /24"],
    ['IP=10.244.1.1', 'is the gateway of 10.244.1.0/24'],
    ['IP=10.244.1.0', 'is the network or broadcast address'],
    ['IP=10.244.1.255', 'is the network or broadcast address'],
  ])('refuses %s with code 7: %s', (args, cause) => {
    const e = cniError(() => check(args));
    expect(e.code).toBe(7);
    expect(e.message).toContain(`requested address ${args.slice(3).split('/')[0]} (CNI_ARGS IP) ${cause}`);
  });
});

describe('IpamStore.reserveAddress', () => {
  let dataDir: string;
  let store: IpamStore;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'weft-ipam-req-'));
    store = new IpamStore('weft', dataDir);
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('reserves exactly the requested address, and the round-robin search continues after it', () => {
    store.locked(() => store.reserveAddress({ containerId: 'a', ifName: 'eth0' }, ip('10.244.1.50'), POOL));
    expect(store.reservations().map((r) => [formatIpv4(r.ip), r.containerId, r.ifName])).toEqual([['10.244.1.50', 'a', 'eth0']]);
    expect(formatIpv4(store.locked(() => store.reserve({ containerId: 'b', ifName: 'eth0' }, POOL)))).toBe('10.244.1.51');
  });

  it('refuses an address already allocated (code 11), naming the holder; the holder keeps it', () => {
    store.locked(() => store.reserveAddress({ containerId: 'a', ifName: 'eth0' }, ip('10.244.1.50'), POOL));
    const e = cniError(() => store.locked(() => store.reserveAddress({ containerId: 'b', ifName: 'eth0' }, ip('10.244.1.50'), POOL)));
    expect(e.code).toBe(11);
    expect(e.message).toContain('requested address 10.244.1.50 is already allocated to container a interface eth0');
    expect(store.reservations().map((r) => r.containerId)).toEqual(['a']);
  });

  it('refuses the gateway and addresses outside the pool (code 7)', () => {
    for (const a of ['10.244.1.1', '10.244.2.5', '10.244.1.255']) {
      const e = cniError(() => store.locked(() => store.reserveAddress({ containerId: 'a', ifName: 'eth0' }, ip(a), POOL)));
      expect(e.code).toBe(7);
      expect(e.message).toContain(`requested address ${a} is not a pod address of 10.244.1.0/24`);
    }
    expect(store.reservations()).toEqual([]);
  });
});
