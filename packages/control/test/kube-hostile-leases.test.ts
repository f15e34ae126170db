/**
 * Kubernetes mode gets the same lease admission as etcd mode: hostile podCIDRs and annotations on Node
 * objects (from the in-test API server, through the real @kubernetes/client-node informer) reach the
 * vxlan backend (fake host) and are rejected by the same rules; lease order is the Node's creation time.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { KubeSubnetManager } from '../src/subnet/kube-subnet-manager.js';
import { VxlanNetwork } from '../src/backend/vxlan-network.js';
import { FakeHostProgrammer, LoggingFakeVtep } from './fake-host-programmer.js';
import { FakeKubeApiServer } from './kube-api-server.js';
import { cleanupList, netConfFixture, published } from './kube-test-support.js';
import { until } from './lease-watch-support.js';

const silent = pino({ level: 'silent' });
const MY_MAC = '0a:00:00:00:00:01';

const conf = netConfFixture();
const cleanups = cleanupList();

describe('Kubernetes mode: hostile node annotations and podCIDRs', () => {
  it('are rejected by the same rules; when the winner goes the next valid lease is programmed', async () => {
    const api = new FakeKubeApiServer();
    await api.start();
    cleanups.push(() => api.stop());
    api.addNode('n1', '10.244.1.0/24', published('192.168.1.1', MY_MAC));
    api.addNode('n2', '10.244.2.0/24', published('192.168.1.2', '0a:00:00:00:00:02'));
    api.addNode('wide', '128.0.0.0/1', published('192.168.1.3', '0a:00:00:00:00:03'));
    api.addNode('overlap', '10.244.2.0/25', published('192.168.1.4', '0a:00:00:00:00:04'));
    api.addNode('macthief', '10.244.5.0/24', published('192.168.1.5', '0a:00:00:00:00:02'));
    api.addNode('inside', '10.244.6.0/24', published('10.244.9.9', '0a:00:00:00:00:06'));
    api.addNode('mine', '10.244.7.0/24', published('192.168.1.1', '0a:00:00:00:00:07'));
    api.addNode('ownmac', '10.244.8.0/24', published('192.168.1.8', MY_MAC));
    api.addNode('bcast', '10.244.10.0/24', published('192.168.1.10', 'ff:ff:ff:ff:ff:ff'));
    api.addNode(
      'huge',
      '10.244.11.0/24',
      published('192.168.1.11', '', { data: JSON.stringify({ VNI: 1, VtepMAC: '0a:00:00:00:00:11', Pad: 'x'.repeat(5000) }) }),
    );
    api.addNode('junk', '10.244.12.0/24', published('192.168.1.12', '', { data: '{not json' }));

    const manager = new KubeSubnetManager({
      nodeName: 'n1',
      netConfPath: conf.path(),
      kubeConfig: api.kubeConfig(),
      logger: silent,
      nodeWaitMs: 300,
      retryMs: 100,
    });
    cleanups.push(() => manager.close());
    const host = new FakeHostProgrammer();
    const vtep = new LoggingFakeVtep([], MY_MAC);
    const net = new VxlanNetwork({ vtep, host, logger: silent, publicIp: '192.168.1.1', network: '10.244.0.0/16' });
    await net.setOwnLease(
      await manager.acquireLease({
        PublicIP: '192.168.1.1',
        PublicIPv6: null,
        BackendType: 'vxlan',
        BackendData: { VNI: 1, VtepMAC: MY_MAC },
      }),
    );
    const ac = new AbortController();
    const done = manager.watchLeases((events) => net.handleEvents(events), ac.signal);
    cleanups.push(async () => {
      ac.abort();
      await done;
      await net.close();
    });

    const verdicts = (): Record<string, string> =>
      Object.fromEntries(net.leaseStatuses().map((s) => [s.key, s.status === 'rejected' ? s.reason! : s.status]));
    await until(() => Object.keys(verdicts()).length === 11);
    await net.settled();
    expect(verdicts()).toEqual({
      '10.244.1.0-24': 'own',
      '10.244.2.0-24': 'accepted',
      '128.0.0.0-1': 'outside-network',
      '10.244.2.0-25': 'overlaps-earlier-lease',
      '10.244.5.0-24': 'duplicate-vtep-mac',
      '10.244.6.0-24': 'public-ip-in-network',
      '10.244.7.0-24': 'own-public-ip',
      '10.244.8.0-24': 'own-vtep-mac',
      '10.244.10.0-24': 'invalid-vtep-mac',
      'node huge': 'oversize',
      'node junk': 'malformed',
    });
    expect([...host.routeTable.keys()]).toEqual(['10.244.2.0/24']);
    expect([...vtep.fdb.entries()]).toEqual([['0a:00:00:00:00:02', '192.168.1.2']]);

    // The winner goes: the /25 and the MAC's next user are programmed at once (no resync).
    api.deleteNode('n2');
    await until(() => host.routeTable.size === 2);
    await net.settled();
    expect([...host.routeTable.keys()].sort()).toEqual(['10.244.2.0/25', '10.244.5.0/24']);
    expect(vtep.fdb.get('0a:00:00:00:00:02')).toBe('192.168.1.5');
    expect(net.stats.rejected).toMatchObject({
      'outside-network': 1,
      'overlaps-earlier-lease': 1,
      'duplicate-vtep-mac': 1,
      oversize: 1,
      malformed: 1,
    });
  });
});
