/**
 * The host-local compatible store against a temp directory: file format, round-robin order, what is
 * never handed out, release, GC, a full pool and corrupt files (clear errors naming the network and
 * the cause), and parallel writers in separate processes (the flock and O_EXCL guards).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IpamStore, formatIpv4, parseIpv4, type AddressPool } from '../dist/index.js';
import { cniError } from './expect-cni-error.js';

const ip = (s: string): number => parseIpv4(s)!;
/** 10.244.1.0/24 with gateway .1: usable .2 - .254 (the pool runs from .1, the gateway is skipped). */
const POOL: AddressPool = { first: ip('10.244.1.1'), last: ip('10.244.1.254'), gateway: ip('10.244.1.1'), label: '10.244.1.0/24' };
/** A /29: .1 gateway, .2-.6 usable. */
const SMALL: AddressPool = { first: ip('10.9.0.1'), last: ip('10.9.0.6'), gateway: ip('10.9.0.1'), label: '10.9.0.0/29' };

let dataDir: string;
let store: IpamStore;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'weft-ipam-'));
  store = new IpamStore('weft', dataDir);
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

const owner = (n: number, ifName = 'eth0'): { containerId: string; ifName: string } => ({ containerId: `c${n}`, ifName });
const reserve = (n: number, pool = POOL): string => formatIpv4(store.locked(() => store.reserve(owner(n), pool)));

describe('IpamStore: host-local layout', () => {
  it('writes one file per address holding "<id>\\r\\n<ifname>", the lock and last_reserved_ip.0', () => {
    expect(reserve(1)).toBe('10.244.1.2');
    const dir = join(dataDir, 'weft');
    expect(readFileSync(join(dir, '10.244.1.2'), 'utf8')).toBe('c1\r\neth0');
    expect(readFileSync(join(dir, 'last_reserved_ip.0'), 'utf8')).toBe('10.244.1.2');
    expect(existsSync(join(dir, 'lock'))).toBe(true);
  });

  it('hands out round-robin after the last reservation, skipping the gateway, never network or broadcast', () => {
    const got = [1, 2, 3, 4, 5].map((n) => reserve(n, SMALL));
    expect(got).toEqual(['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
    store.locked(() => store.release(owner(2)));
    expect(reserve(6, SMALL)).toBe('10.9.0.3');
  });

  it('resumes after last_reserved_ip.0 and wraps', () => {
    reserve(1, SMALL);
    writeFileSync(join(dataDir, 'weft', 'last_reserved_ip.0'), '10.9.0.6');
    expect(reserve(2, SMALL)).toBe('10.9.0.3');
  });

  it('reads only the directory listing to reserve (a second ADD of an attachment is refused by the link layer)', () => {
    reserve(1);
    writeFileSync(join(dataDir, 'weft', '10.244.1.3'), 'garbage that is never read here');
    expect(reserve(1)).toBe('10.244.1.4');
  });

  it('releases by container and ifname only, idempotently', () => {
    reserve(1);
    store.locked(() => store.reserve(owner(1, 'net1'), POOL));
    expect(store.locked(() => store.release(owner(1))).map((r) => formatIpv4(r.ip))).toEqual(['10.244.1.2']);
    expect(store.locked(() => store.release(owner(1)))).toEqual([]);
    expect(store.reservations().map((r) => r.ifName)).toEqual(['net1']);
  });

  it("releases host-local's old id-only files of the container", () => {
    mkdirSync(join(dataDir, 'weft'), { recursive: true });
    writeFileSync(join(dataDir, 'weft', '10.244.1.9'), 'c7');
    expect(store.locked(() => store.release(owner(7))).map((r) => formatIpv4(r.ip))).toEqual(['10.244.1.9']);
  });

  it('rollback releases an address only while the owner still holds it', () => {
    const a = store.locked(() => store.reserve(owner(1), POOL));
    store.locked(() => store.releaseAddress(a, owner(2)));
    expect(store.reservations()).toHaveLength(1);
    store.locked(() => store.releaseAddress(a, owner(1)));
    expect(store.reservations()).toHaveLength(0);
  });

  it('GC frees everything not in the valid attachments, corrupt files included', () => {
    reserve(1);
    reserve(2);
    reserve(3);
    writeFileSync(join(dataDir, 'weft', '10.244.1.99'), '');
    const stale = store.locked(() => store.collect([owner(2)]));
    expect(stale.map((r) => formatIpv4(r.ip)).sort()).toEqual(['10.244.1.2', '10.244.1.4', '10.244.1.99']);
    expect(store.reservations().map((r) => r.containerId)).toEqual(['c2']);
  });

  it('counts free addresses for STATUS', () => {
    reserve(1, SMALL);
    expect(store.freeCount(SMALL)).toBe(4);
  });
});

describe('IpamStore: clear errors', () => {
  it('a full pool names the network, the subnet and the range', () => {
    for (let n = 1; n <= 5; n++) reserve(n, SMALL);
    const e = cniError(() => reserve(9, SMALL));
    expect(e.message).toContain('IPAM store of network "weft"');
    expect(e.message).toContain('no free address in 10.9.0.0/29');
    expect(e.message).toContain('from 10.9.0.1 to 10.9.0.6');
    expect(store.freeCount(SMALL)).toBe(0);
  });

  it('a corrupt reservation file keeps its address, and is named when the pool runs out', () => {
    mkdirSync(join(dataDir, 'weft'), { recursive: true });
    writeFileSync(join(dataDir, 'weft', '10.9.0.2'), 'not a container id\nat all\nreally');
    expect(reserve(1, SMALL)).toBe('10.9.0.3');
    const corrupt = store.reservations().find((r) => r.corrupt);
    expect(corrupt?.corrupt).toContain('is not "<containerID>\\r\\n<ifname>"');
    for (let n = 2; n <= 4; n++) reserve(n, SMALL);
    const e = cniError(() => reserve(9, SMALL));
    expect(e.message).toContain('network "weft"');
    expect(e.message).toContain('1 of them by corrupt files (GC releases them)');
    expect(e.message).toContain(join(dataDir, 'weft', '10.9.0.2'));
  });

  it('a corrupt last_reserved_ip.0 only restarts the search', () => {
    mkdirSync(join(dataDir, 'weft'), { recursive: true });
    writeFileSync(join(dataDir, 'weft', 'last_reserved_ip.0'), '\u0000garbage');
    expect(reserve(1)).toBe('10.244.1.2');
  });

  it('a store path that is a file names the network, the path and the cause', () => {
    writeFileSync(join(dataDir, 'weft'), 'oops');
    const e = cniError(() => reserve(1));
    expect(e.code).toBe(5);
    expect(e.message).toContain('IPAM store of network "weft"');
    expect(e.message).toContain(join(dataDir, 'weft'));
  });

  it('other files in the directory are ignored', () => {
    mkdirSync(join(dataDir, 'weft'), { recursive: true });
    writeFileSync(join(dataDir, 'weft', 'README'), 'x');
    writeFileSync(join(dataDir, 'weft', 'fd00::5'), 'c9\r\neth0');
    expect(store.reservations()).toEqual([]);
  });
});

describe('IpamStore: parallel processes', () => {
  it('16 processes reserving at once get 16 distinct addresses', async () => {
    const dist = fileURLToPath(new URL('../dist/ipam-store.js', import.meta.url));
    const script = `
      const { IpamStore } = require(${JSON.stringify(dist)});
      const s = new IpamStore('weft', process.argv[1]);
      const pool = ${JSON.stringify(POOL)};
      process.stdout.write(String(s.locked(() => s.reserve({ containerId: 'p' + process.argv[2], ifName: 'eth0' }, pool))));`;
    const run = promisify(execFile);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    const outs = await Promise.all(
      Array.from({ length: 16 }, (_, i) => run(process.execPath, ['-e', script, dataDir, String(i)], { env })),
    );
    const ips = outs.map((o) => Number(o.stdout));
    expect(new Set(ips).size).toBe(16);
    expect(readdirSync(join(dataDir, 'weft')).filter((f) => f.startsWith('10.'))).toHaveLength(16);
  });
});
