/**
 * The manifest-to-podman translation the DaemonSet netns test relies on: what each securityContext,
 * env and volume field becomes, and that anything it does not know fails loudly instead of being dropped.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifests } from './lib/kube-manifests.js';
import { podmanRunArgs, securityArgs, type NodeView, type PodSpec } from './lib/pod-to-podman.js';

const ROOT = join(import.meta.dirname, '..');
const pod = (
  (await loadManifests(join(ROOT, 'deploy/weft-etcd.yml'))).find((o) => o.kind === 'DaemonSet') as unknown as {
    spec: { template: { spec: PodSpec } };
  }
).spec.template.spec;
const view: NodeView = {
  nodeName: 'n1',
  nodeIp: '192.168.71.1',
  podName: 'kube-weft-ds-n1',
  namespace: 'kube-weft',
  image: () => 'localhost/weft:dev',
  configMap: () => ({ 'etcd-endpoints': 'https://192.168.71.100:2379' }),
  volumeSource: (v) => (v.hostPath ? v.hostPath.path : `/vol/${v.name}`),
};

describe('pod-to-podman', () => {
  it('runs the weft container with exactly its securityContext, env and volumes', () => {
    const weft = pod.containers.find((c) => c.name === 'weft')!;
    const args = podmanRunArgs(pod, weft, view, 'w');
    expect(args).toEqual(
      expect.arrayContaining([
        '--network=host',
        '--cap-drop=all',
        '--cap-add=NET_ADMIN',
        '--cap-add=NET_RAW',
        '--security-opt=no-new-privileges',
        '--read-only',
        '--read-only-tmpfs=false',
      ]),
    );
    expect(args).not.toContain('--privileged');
    expect(args).toEqual(
      expect.arrayContaining([
        'NODE_NAME=n1',
        'POD_NAME=kube-weft-ds-n1',
        'POD_NAMESPACE=kube-weft',
        'WEFTD_ETCD_ENDPOINTS=https://192.168.71.100:2379',
      ]),
    );
    expect(args).toEqual(
      expect.arrayContaining(['/run/flannel:/run/flannel', '/dev/net/tun:/dev/net/tun', '/vol/etcd-tls:/etc/weft/etcd:ro']),
    );
    expect(args).toContain('--entrypoint=["weftd"]');
    expect(args.slice(args.indexOf('localhost/weft:dev') + 1)).toEqual(weft.args);
  });

  it('translates seccomp profiles it knows and refuses the others', () => {
    expect(securityArgs({ seccompProfile: { type: 'RuntimeDefault' } })).toEqual([]);
    expect(securityArgs({}, { type: 'Unconfined' })).toEqual(['--security-opt=seccomp=unconfined']);
    expect(() => securityArgs({ seccompProfile: { type: 'Localhost' } })).toThrow('seccompProfile Localhost is not translated');
  });

  it('fails on a fieldRef or a volume it cannot fill', () => {
    const c = { name: 'x', image: 'i', env: [{ name: 'E', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } }] };
    expect(() => podmanRunArgs(pod, c, view, 'x')).toThrow('fieldRef spec.serviceAccountName is not translated');
    expect(() => podmanRunArgs(pod, { name: 'y', image: 'i', volumeMounts: [{ name: 'nope', mountPath: '/x' }] }, view, 'y')).toThrow(
      'mounts volume nope',
    );
  });
});
