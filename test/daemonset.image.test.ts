/**
 * The DaemonSet as shipped, run for real, etcd mode (project `image`: it builds the image, then runs it):
 * deploy/weft-etcd.yml's pod, container by container (image, command, args, env, volumes, securityContext),
 * with podman and runc on two namespace nodes against etcd over TLS; then real runtimes attach pods
 * through what its init containers installed. The lab is test/lib/daemonset-lab.ts, the checks
 * test/lib/daemonset-checks.ts (shared with kube mode).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DaemonSetLab } from './lib/daemonset-lab.js';
import { describeDaemonSet } from './lib/daemonset-checks.js';

let d: DaemonSetLab;
beforeAll(async () => {
  d = await DaemonSetLab.create('etcd');
}, 2_400_000);
afterAll(async () => {
  await d?.destroy();
}, 300_000);

describeDaemonSet(() => d);

it('etcd mode: the leases are in etcd under flannel keys, reached over TLS with the Secret client certificate', async () => {
  const keys = await d.etcdctl(['get', '--prefix', '--keys-only', '/coreos.com/network/subnets/']);
  for (const node of d.nodes) expect(keys).toContain(`/coreos.com/network/subnets/${d.subnetOf(node)}.0-24`);
});
