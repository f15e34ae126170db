/**
 * Picks weftd's subnet manager from its flags: flannel's etcd manager by default, the Kubernetes one
 * with `--kube-subnet-mgr`. The only place that knows both constructors.
 */
import type { Logger } from 'pino';
import type { WeftdConfig } from './cli/weftd-flags.js';
import { ConfigError } from './cli/weftd-flags.js';
import { EtcdSubnetManager } from './subnet/etcd-subnet-manager.js';
import type { SubnetManager } from './subnet/types.js';

export interface SubnetManagerContext {
  /** The subnet of an existing subnet file ("10.244.3.0/24"), preferred when free. */
  previousSubnet: string | undefined;
  publicIp: string;
  logger: Logger;
}

export async function createSubnetManager(c: WeftdConfig, ctx: SubnetManagerContext): Promise<SubnetManager> {
  if (c.kubeSubnetMgr) {
    throw new ConfigError('--kube-subnet-mgr: the Kubernetes subnet manager is not wired into weftd yet');
  }
  const tls = {
    ...(c.etcdCaFile ? { caFile: c.etcdCaFile } : {}),
    ...(c.etcdCertFile ? { certFile: c.etcdCertFile } : {}),
    ...(c.etcdKeyFile ? { keyFile: c.etcdKeyFile } : {}),
  };
  return new EtcdSubnetManager({
    endpoints: c.etcdEndpoints,
    prefix: c.etcdPrefix,
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
    ...(ctx.previousSubnet ? { previousSubnet: ctx.previousSubnet } : {}),
    leaseTtlSec: c.subnetLeaseTtl,
    logger: ctx.logger,
  });
}
