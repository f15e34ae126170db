/**
 * Picks weftd's subnet manager from its flags: flannel's etcd manager by default, the Kubernetes one
 * with `--kube-subnet-mgr`. The only place that knows both constructors.
 *
 * Each manager is imported only when chosen: @kubernetes/client-node is most of a Kubernetes-mode weftd's
 * memory, which an etcd-mode node should not carry, and etcd3 with its gRPC stack is dead weight in
 * Kubernetes mode (the measured sizes are in packages/control/README.md).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { WeftdConfig } from './cli/weftd-flags.js';
import { ConfigError } from './cli/weftd-flags.js';
import type { SubnetManager } from './subnet/types.js';

export interface SubnetManagerContext {
  /** The subnet of an existing subnet file ("10.244.3.0/24"), preferred when free. */
  previousSubnet: string | undefined;
  logger: Logger;
}

export async function createSubnetManager(c: WeftdConfig, ctx: SubnetManagerContext): Promise<SubnetManager> {
  if (c.kubeSubnetMgr) {
    const [{ KubeConfig }, { KubeSubnetManager }] = await Promise.all([
      import('@kubernetes/client-node'),
      import('./subnet/kube-subnet-manager.js'),
    ]);
    const kubeConfig = kubeConfigFor(c, KubeConfig);
    return new KubeSubnetManager({
      nodeName: c.nodeName!, // checked with the flags
      netConfPath: c.netConfigPath,
      annotationPrefix: c.kubeAnnotationPrefix,
      logger: ctx.logger,
      ...(kubeConfig ? { kubeConfig } : {}),
    });
  }
  const tls = {
    ...(c.etcdCaFile ? { caFile: c.etcdCaFile } : {}),
    ...(c.etcdCertFile ? { certFile: c.etcdCertFile } : {}),
    ...(c.etcdKeyFile ? { keyFile: c.etcdKeyFile } : {}),
  };
  const { EtcdSubnetManager } = await import('./subnet/etcd-subnet-manager.js');
  return new EtcdSubnetManager({
    endpoints: c.etcdEndpoints,
    prefix: c.etcdPrefix,
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
    ...(ctx.previousSubnet ? { previousSubnet: ctx.previousSubnet } : {}),
    leaseTtlSec: c.subnetLeaseTtl,
    logger: ctx.logger,
  });
}

/**
 * flannel's precedence: --kubeconfig-file, with --kube-api-url overriding its server; --kube-api-url
 * alone means an unauthenticated endpoint (kubectl proxy, tests); neither → in-cluster/default.
 */
export function kubeConfigFor(c: WeftdConfig, KubeConfigClass: new () => KubeConfig): KubeConfig | undefined {
  if (!c.kubeconfigFile && !c.kubeApiUrl) return undefined;
  const kc = new KubeConfigClass();
  if (c.kubeconfigFile) {
    try {
      kc.loadFromFile(c.kubeconfigFile);
    } catch (e) {
      throw new ConfigError(`--kubeconfig-file: cannot load ${c.kubeconfigFile}: ${(e as Error).message}`);
    }
    if (!c.kubeApiUrl) return kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new ConfigError(`--kubeconfig-file: ${c.kubeconfigFile} has no current cluster`);
    kc.clusters = kc.clusters.map((cl) => (cl.name === cluster.name ? { ...cl, server: c.kubeApiUrl! } : cl));
    return kc;
  }
  kc.loadFromOptions({
    // The client refuses plain http unless TLS verification is "skipped": there is no TLS to verify.
    clusters: [{ name: 'weftd', server: c.kubeApiUrl!, skipTLSVerify: c.kubeApiUrl!.startsWith('http:') }],
    users: [{ name: 'weftd' }],
    contexts: [{ name: 'weftd', cluster: 'weftd', user: 'weftd' }],
    currentContext: 'weftd',
  });
  return kc;
}
