/**
 * The Kubernetes subnet manager against FakeKubeApiServer: real @kubernetes/client-node, real HTTP on
 * loopback, the API's wire format (NodeList, watch JSON lines, PATCH content types). No real API
 * server can run here; see packages/control/README.md.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { KubeSubnetManager } from '../src/subnet/kube-subnet-manager.js';
import { leaseAnnotations } from '../src/subnet/kube-node-lease.js';
import type { LeaseAttrs } from '../src/subnet/types.js';
import { FakeKubeApiServer } from './kube-api-server.js';
import { ANNOTATION_PREFIX, cleanupList, netConfFixture, published } from './kube-test-support.js';
import { collectLeaseEvents, until } from './lease-watch-support.js';

const silent = pino({ level: 'silent' });
const P = ANNOTATION_PREFIX;
const ME: LeaseAttrs = {
  PublicIP: '192.168.1.1',
  PublicIPv6: null,
  BackendType: 'vxlan',
  BackendData: { VNI: 1, VtepMAC: '0a:00:00:00:00:01' },
};

const conf = netConfFixture();
const cleanups = cleanupList();

async function cluster() {
  const api = new FakeKubeApiServer();
  await api.start();
  cleanups.push(() => api.stop());
  const manager = (o: { nodeName?: string; netConfPath?: string; prefix?: string } = {}) => {
    const m = new KubeSubnetManager({
      nodeName: o.nodeName ?? 'n1',
      netConfPath: o.netConfPath ?? conf.path(),
      kubeConfig: api.kubeConfig(),
      logger: silent,
      nodeWaitMs: 300,
      retryMs: 100,
      ...(o.prefix ? { annotationPrefix: o.prefix } : {}),
    });
    cleanups.push(() => m.close());
    return m;
  };
  return { api, manager };
}

const watch = (m: KubeSubnetManager) => collectLeaseEvents(m, (stop) => cleanups.push(stop));

describe('KubeSubnetManager: acquire', () => {
  it("takes podCIDR as the subnet and publishes flannel's annotations with a strategic merge patch on nodes/status", async () => {
    const { api, manager } = await cluster();
    api.addNode('n1', '10.244.3.0/24');
    const lease = await manager().acquireLease(ME);
    expect(lease).toEqual({ subnet: '10.244.3.0/24', attrs: ME });
    const patch = api.requests.find((r) => r.method === 'PATCH')!;
    expect(patch.path).toBe('/api/v1/nodes/n1/status');
    expect(patch.contentType).toBe('application/strategic-merge-patch+json');
    expect(api.getNode('n1')!.metadata).toMatchObject({ annotations: published('192.168.1.1', '0a:00:00:00:00:01') });
    expect((api.getNode('n1')!.metadata as { annotations: Record<string, string> }).annotations[`${P}backend-data`]).toBe(
      '{"VNI":1,"VtepMAC":"0a:00:00:00:00:01"}',
    );
  });

  it('does not patch when the node already publishes our lease', async () => {
    const { api, manager } = await cluster();
    api.addNode('n1', '10.244.3.0/24', published('192.168.1.1', '0a:00:00:00:00:01'));
    await manager().acquireLease(ME);
    expect(api.requests.filter((r) => r.method === 'PATCH')).toHaveLength(0);
  });

  it('a podCIDR outside Network, a missing podCIDR, a missing node: clear errors', async () => {
    const { api, manager } = await cluster();
    api.addNode('n1', '10.99.3.0/24');
    await expect(manager().acquireLease(ME)).rejects.toThrow(
      /node n1 podCIDR 10\.99\.3\.0\/24 is not inside the network 10\.244\.0\.0\/16/,
    );
    api.addNode('n2', undefined);
    await expect(manager({ nodeName: 'n2' }).acquireLease(ME)).rejects.toThrow(/node n2 has no podCIDR assigned.*allocate-node-cidrs/);
    await expect(manager({ nodeName: 'ghost' }).acquireLease(ME)).rejects.toThrow(
      /read node ghost .* failed 3 times: HTTP 404: nodes "ghost" not found/,
    );
  });

  it('reads net-conf.json from the file; errors name the file', async () => {
    const { manager } = await cluster();
    expect((await manager().getNetworkConfig()).network).toBe('10.244.0.0/16');
    await expect(manager({ netConfPath: join(conf.dir(), 'nope.json') }).getNetworkConfig()).rejects.toThrow(
      /cannot read the network config .*nope\.json/,
    );
    const bad = join(conf.dir(), 'bad.json');
    writeFileSync(bad, '{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard"}}');
    await expect(manager({ netConfPath: bad }).getNetworkConfig()).rejects.toThrow(/bad\.json: Backend\.Type "wireguard" is not supported/);
  });

  it('uses a configured annotation prefix', async () => {
    const { api, manager } = await cluster();
    api.addNode('n1', '10.244.3.0/24');
    await manager({ prefix: 'weft.example.com' }).acquireLease(ME);
    expect(Object.keys((api.getNode('n1')!.metadata as { annotations: object }).annotations).sort()).toEqual([
      'weft.example.com/backend-data',
      'weft.example.com/backend-type',
      'weft.example.com/kube-subnet-manager',
      'weft.example.com/public-ip',
    ]);
  });
});

describe('annotation prefixes follow flannel', () => {
  it('normalizes and validates', () => {
    expect(leaseAnnotations().publicIp).toBe('flannel.alpha.coreos.com/public-ip');
    expect(leaseAnnotations('flannel.alpha.coreos.com/').publicIp).toBe('flannel.alpha.coreos.com/public-ip');
    expect(leaseAnnotations('example.com/weft').publicIp).toBe('example.com/weft-public-ip');
    expect(() => leaseAnnotations('a/b/c')).toThrow(/at most one "\/"/);
    expect(() => leaseAnnotations('NoDots')).toThrow(/must look like fqdn/);
  });
});

describe('KubeSubnetManager: watch', () => {
  it('snapshot of publishing nodes, then added/removed as nodes change; sets NetworkUnavailable=False', async () => {
    const { api, manager } = await cluster();
    api.addNode('n1', '10.244.1.0/24', published('192.168.1.1', '0a:00:00:00:00:01'));
    api.addNode('n2', '10.244.2.0/24', published('192.168.1.2', '0a:00:00:00:00:02'));
    api.addNode('bare', '10.244.9.0/24'); // no annotations: not a lease yet
    api.addNode('hostgw', '10.244.8.0/24', published('192.168.1.8', '0a:00:00:00:00:08', { type: 'host-gw' }));
    const w = watch(manager());
    await until(() => w.events.length === 1);
    expect(w.events[0]).toEqual({
      type: 'snapshot',
      leases: [
        // order: the Node's creation time (ms), lease order for admission
        { subnet: '10.244.1.0/24', attrs: ME, order: Date.UTC(2026, 0, 1) },
        {
          subnet: '10.244.2.0/24',
          attrs: { ...ME, PublicIP: '192.168.1.2', BackendData: { VNI: 1, VtepMAC: '0a:00:00:00:00:02' } },
          order: Date.UTC(2026, 0, 1) + 1000,
        },
      ],
    });
    await until(() => (api.getNode('n1')!.status as { conditions: unknown[] }).conditions.length === 2);
    const conditions = (api.getNode('n1')!.status as { conditions: Record<string, string>[] }).conditions;
    expect(conditions[0]).toMatchObject({ type: 'Ready', status: 'True' });
    expect(conditions[1]).toMatchObject({ type: 'NetworkUnavailable', status: 'False', reason: 'WeftIsUp' });
    expect(
      api.requests.some(
        (r) => r.method === 'PATCH' && r.path === '/api/v1/nodes/n1/status' && r.contentType === 'application/strategic-merge-patch+json',
      ),
    ).toBe(true);

    api.addNode('n3', '10.244.3.0/24', published('192.168.1.3', '0a:00:00:00:00:03'));
    api.updateNode('n2', (n) => ((n.metadata as { labels: object }).labels = { role: 'x' })); // no lease change
    api.updateNode(
      'n2',
      (n) =>
        ((n.metadata as { annotations: Record<string, string> }).annotations[`${P}backend-data`] =
          '{"VNI":1,"VtepMAC":"0a:00:00:00:00:22"}'),
    );
    api.updateNode('bare', (n) => ((n.metadata as { annotations: object }).annotations = published('192.168.1.9', '0a:00:00:00:00:09')));
    api.updateNode('n3', (n) => ((n.metadata as { annotations: Record<string, string> }).annotations[`${P}backend-data`] = '{not json'));
    api.deleteNode('n1');
    await until(() => w.events.length >= 7);
    await new Promise((r) => setTimeout(r, 100));
    expect(w.text()).toEqual([
      'snapshot 10.244.1.0/24,10.244.2.0/24',
      'added 10.244.3.0/24',
      'added 10.244.2.0/24',
      'added 10.244.9.0/24',
      'unusable node n3 malformed', // its lease turned malformed: logged once, counted, and no longer delivered
      'removed 10.244.3.0/24',
      'removed 10.244.1.0/24',
    ]);
    const n2 = w.events[2] as { lease: { attrs: LeaseAttrs } };
    expect(n2.lease.attrs.BackendData).toEqual({ VNI: 1, VtepMAC: '0a:00:00:00:00:22' });
  });

  it('a podCIDR change is removed + added', async () => {
    const { api, manager } = await cluster();
    api.addNode('n2', '10.244.2.0/24', published('192.168.1.2', '0a:00:00:00:00:02'));
    const w = watch(manager());
    await until(() => w.events.length === 1);
    api.updateNode('n2', (n) => (n.spec = { podCIDR: '10.244.20.0/24', podCIDRs: ['10.244.20.0/24'] }));
    await until(() => w.events.length === 3);
    expect(w.text()).toEqual(['snapshot 10.244.2.0/24', 'removed 10.244.2.0/24', 'added 10.244.20.0/24']);
  });

  it('a dropped watch resumes from its resourceVersion; after 410 Gone it re-lists and delivers the difference', async () => {
    const { api, manager } = await cluster();
    api.addNode('n1', '10.244.1.0/24', published('192.168.1.1', '0a:00:00:00:00:01'));
    api.addNode('n2', '10.244.2.0/24', published('192.168.1.2', '0a:00:00:00:00:02'));
    const w = watch(manager());
    await until(() => w.events.length === 1 && api.watchCount === 1);
    api.dropWatches();
    api.addNode('n3', '10.244.3.0/24', published('192.168.1.3', '0a:00:00:00:00:03'));
    await until(() => w.events.length === 2);
    expect(w.text()[1]).toBe('added 10.244.3.0/24');
    const lists = () => api.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/nodes').length;
    expect(lists()).toBe(1);

    await until(() => api.watchCount === 1);
    await api.stop(); // the API server goes away; meanwhile history is compacted
    await new Promise((r) => setTimeout(r, 200));
    api.deleteNode('n2');
    api.addNode('n4', '10.244.4.0/24', published('192.168.1.4', '0a:00:00:00:00:04'));
    api.compact();
    await api.start();
    await until(() => w.events.length === 4, 8000);
    expect(w.text().slice(2).sort()).toEqual(['added 10.244.4.0/24', 'removed 10.244.2.0/24']);
    expect(lists()).toBe(2);
  });
});
