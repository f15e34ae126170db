/**
 * The DaemonSet as shipped, run for real, Kubernetes mode (project `image`: it builds the image, then runs
 * it): deploy/weft.yml's pod with podman and runc on two namespace nodes, weftd an in-cluster client
 * (service account directory, KUBERNETES_SERVICE_HOST/PORT, TLS) of the in-test API server; then real
 * runtimes attach pods through what its init containers installed. The lab is test/lib/daemonset-lab.ts,
 * the checks test/lib/daemonset-checks.ts (shared with etcd mode).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DaemonSetLab } from './lib/daemonset-lab.js';
import { describeDaemonSet } from './lib/daemonset-checks.js';

let d: DaemonSetLab;
beforeAll(async () => {
  d = await DaemonSetLab.create('kube');
}, 2_400_000);
afterAll(async () => {
  await d?.destroy();
}, 300_000);

describeDaemonSet(() => d);

it("kube mode: each node's subnet is its podCIDR, and weftd publishes flannel's annotations", async () => {
  for (const node of d.nodes) {
    expect(d.subnetOf(node)).toBe(`10.244.${10 + node.cluster.index}`);
    const n = d.api!.getNode(node.cluster.name) as { metadata: { annotations: Record<string, string> } };
    expect(n.metadata.annotations['flannel.alpha.coreos.com/public-ip']).toBe(node.cluster.ip);
    expect(n.metadata.annotations['flannel.alpha.coreos.com/backend-type']).toBe('vxlan');
  }
});
