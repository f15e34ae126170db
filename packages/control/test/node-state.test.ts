import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeStateError, NodeStateFile, PeerLeaseMirror, parseNodeState, readNodeState, type NodeState } from '../src/state/node-state.js';
import type { Lease } from '../src/subnet/types.js';

const lease = (subnet: string, ip: string, mac = '0a:00:00:00:00:02'): Lease => ({
  subnet,
  attrs: { PublicIP: ip, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac } },
});

const STATE: NodeState = {
  version: 1,
  vtep: { name: 'weft.1', mac: '0a:00:00:00:00:01', mtu: 1450, vni: 1, port: 8472, bind: '192.168.1.1', offload: 'auto' },
  publicIp: '192.168.1.1',
  network: {
    network: '10.244.0.0/16',
    subnetLen: 24,
    subnetMin: '10.244.1.0',
    subnetMax: '10.244.255.0',
    backend: { type: 'vxlan', vni: 1, port: 8472 },
  },
  ownLease: lease('10.244.1.0/24', '192.168.1.1', '0a:00:00:00:00:01'),
  peers: [lease('10.244.2.0/24', '192.168.1.2')],
};

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'weft-state-'));
  dirs.push(d);
  return d;
};

describe('node state file', () => {
  it('round-trips through an atomic write, and writes only on change', async () => {
    const dir = tmp();
    const f = NodeStateFile.inRunDir(dir);
    await f.save(STATE);
    await f.save(structuredClone(STATE));
    expect(f.writes).toBe(1);
    expect(readdirSync(dir)).toEqual(['weftd-state.json']); // no temp file left behind
    expect((await readNodeState(f.path))!.state).toEqual(STATE);
    await f.save({ ...STATE, peers: [] });
    expect(f.writes).toBe(2);
  });

  it('absent → undefined; not JSON, wrong version, bad VTEP fields → a NodeStateError naming the field', async () => {
    const dir = tmp();
    expect(await readNodeState(join(dir, 'none.json'))).toBeUndefined();
    writeFileSync(join(dir, 'x.json'), '{"version":1,');
    await expect(readNodeState(join(dir, 'x.json'))).rejects.toThrow(NodeStateError);
    expect(() => parseNodeState(JSON.stringify({ ...STATE, version: 2 }))).toThrow(/version 2/);
    expect(() => parseNodeState(JSON.stringify({ ...STATE, vtep: { ...STATE.vtep, name: 'weft.1; rm -rf /' } }))).toThrow(/vtep\.name/);
    expect(() => parseNodeState(JSON.stringify({ ...STATE, vtep: { ...STATE.vtep, mtu: 70000 } }))).toThrow(/vtep\.mtu/);
    expect(() => parseNodeState(JSON.stringify({ ...STATE, network: { ...STATE.network, backend: { type: 'udp' } } }))).toThrow(/backend/);
    expect(() => parseNodeState('[]')).toThrow(/not an object/);
  });

  it('malformed peers are dropped and counted; the rest is kept', () => {
    const text = JSON.stringify({
      ...STATE,
      peers: [...STATE.peers, { subnet: 'nope', attrs: {} }, 42, { subnet: '10.244.3.0/24', attrs: { PublicIP: 7 } }],
    });
    const r = parseNodeState(text);
    expect(r.droppedPeers).toBe(3);
    expect(r.state.peers).toEqual(STATE.peers);
  });

  it('the peer mirror follows snapshots, adds and removes, keeping first-seen order', () => {
    const m = new PeerLeaseMirror([lease('10.244.2.0/24', '192.168.1.2')]);
    m.apply([{ type: 'added', lease: lease('10.244.3.0/24', '192.168.1.3') }]);
    m.apply([{ type: 'added', lease: lease('10.244.2.0/24', '192.168.1.22') }]);
    expect(m.list().map((l) => [l.subnet, l.attrs.PublicIP])).toEqual([
      ['10.244.2.0/24', '192.168.1.22'],
      ['10.244.3.0/24', '192.168.1.3'],
    ]);
    m.apply([{ type: 'snapshot', leases: [lease('10.244.4.0/24', '192.168.1.4'), lease('10.244.3.0/24', '192.168.1.3')] }]);
    expect(m.list().map((l) => l.subnet)).toEqual(['10.244.3.0/24', '10.244.4.0/24']);
    m.apply([{ type: 'removed', lease: lease('10.244.3.0/24', '192.168.1.3') }]);
    expect(m.list().map((l) => l.subnet)).toEqual(['10.244.4.0/24']);
  });

  it('keeps each lease order the manager gave (lease admission needs it after a restart); a bad stored order is dropped', () => {
    const m = new PeerLeaseMirror();
    m.apply([
      {
        type: 'snapshot',
        leases: [
          { ...lease('10.244.3.0/24', '192.168.1.3'), order: 40 },
          { ...lease('10.244.2.0/24', '192.168.1.2'), order: 7 },
        ],
      },
    ]);
    m.apply([{ type: 'unusable', key: '10.244.9.0-24', reason: 'oversize', detail: '5000 bytes' }]);
    expect(m.list().map((l) => [l.subnet, l.order])).toEqual([
      ['10.244.3.0/24', 40],
      ['10.244.2.0/24', 7],
    ]);
    const peers = [
      { ...lease('10.244.2.0/24', '192.168.1.2'), order: 7 },
      { ...lease('10.244.3.0/24', '192.168.1.3'), order: -1 },
      { ...lease('10.244.4.0/24', '192.168.1.4'), order: 'x' },
    ];
    const r = parseNodeState(JSON.stringify({ ...STATE, peers }));
    expect(r.state.peers.map((l) => l.order)).toEqual([7, undefined, undefined]);
  });

  it('a failed write rejects and the next save tries again', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'file'), '');
    const f = new NodeStateFile(join(dir, 'file', 'weftd-state.json')); // its directory is a file
    await expect(f.save(STATE)).rejects.toThrow();
    const ok = NodeStateFile.inRunDir(dir);
    await ok.save(STATE);
    expect(JSON.parse(readFileSync(ok.path, 'utf8')).version).toBe(1);
  });
});
