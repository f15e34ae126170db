/**
 * weftd's `--network-policy` switch, kept out of weftd.ts: on, it points bridged traffic on cni0 at the
 * netfilter hooks (br_netfilter's net.bridge.bridge-nf-call-iptables=1, per network namespace on this
 * kernel, so only the node's namespace changes) and runs @weft/policy's controller against the API;
 * off, it deletes nftables table `inet weft` so a node that had policy on is open again.
 *
 * The API client: Kubernetes mode's (same flags); in etcd mode --kubeconfig-file / --kube-api-url, else
 * the pod's in-cluster service account. @weft/policy (and @kubernetes/client-node) are imported only
 * when policy is on.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { WeftdConfig } from '../cli/weftd-flags.js';
import { ConfigError } from '../cli/weftd-flags.js';
import type { PolicyStatus } from '../http/node-status.js';
import { kubeConfigFor } from '../subnet-manager-factory.js';
import { runHostTool } from './host-tool.js';

const BRIDGE_NF = '/proc/sys/net/bridge/bridge-nf-call-iptables';

export interface NetworkPolicyHandle {
  status(): Promise<PolicyStatus>;
  explain(pod: string): unknown;
  /** Resolves when the controller has stopped (after the signal). */
  done: Promise<void>;
}

/** Deletes `table inet weft` (policy off); a missing nft or table is fine. nft directly: no client-node import. */
export async function removePolicyTable(log: Logger): Promise<void> {
  const r = await runHostTool('nft', ['-f', '-'], { stdin: 'table inet weft\ndelete table inet weft\n' }).catch((e: Error) => ({
    code: -1,
    stderr: e.message,
  }));
  if (r.code !== 0) log.debug({ err: r.stderr.trim() }, 'could not remove a policy table (none, or no nft)');
}

export async function startNetworkPolicy(
  c: WeftdConfig,
  isLocal: (ip: string) => boolean,
  log: Logger,
  signal: AbortSignal,
): Promise<NetworkPolicyHandle> {
  const [{ KubeConfig }, policy] = await Promise.all([import('@kubernetes/client-node'), import('@weft/policy')]);
  let kc = kubeConfigFor(c, KubeConfig);
  if (!kc) {
    if (!c.kubeSubnetMgr && !process.env.KUBERNETES_SERVICE_HOST) {
      throw new ConfigError(
        '--network-policy needs the Kubernetes API: in etcd mode give --kubeconfig-file or --kube-api-url, or run in a pod with a ' +
          'service account',
      );
    }
    kc = new KubeConfig();
    kc.loadFromDefault();
  }
  await enableBridgeNetfilter(log);
  const applier = new policy.NftApplier();
  const node = { isLocal, nodeAddrs: ipv4Addrs };
  const controller = new policy.PolicyController(new policy.KubePolicySource(kc, log), applier, node, log);
  const done = controller.run(signal).catch((e: unknown) => log.error({ err: e }, 'network policy controller stopped'));
  log.info('network policy on: enforcing NetworkPolicy in nftables table inet weft');
  return {
    done,
    explain: (pod) => controller.explain(pod),
    status: async () => {
      const s = controller.stats;
      return {
        applies: s.applies,
        applyFailures: s.applyFailures,
        lastApplyMs: s.lastApplyMs,
        lastCompileMs: s.lastCompileMs,
        resourceVersion: s.resourceVersion,
        ...(s.table ? { table: s.table } : {}),
        warnings: s.warnings,
        drops: await controller.drops().catch(() => []),
      };
    },
  };
}

/** Same-node pod↔pod traffic is bridged on cni0: without this the forward hook never sees it. */
async function enableBridgeNetfilter(log: Logger): Promise<void> {
  const now = await readFile(BRIDGE_NF, 'utf8').catch(() => undefined);
  if (now === undefined) {
    log.warn(`${BRIDGE_NF} is missing (no br_netfilter): policy applies between nodes but not between pods of the same node`);
    return;
  }
  if (now.trim() === '1') return;
  // A container without privileges sees /proc/sys read-only: then the host must set it (kubeadm requires it anyway).
  await writeFile(BRIDGE_NF, '1\n').catch((e: Error) =>
    log.warn(
      { err: e.message },
      `cannot set ${BRIDGE_NF} to 1: policy applies between nodes but not between pods of the same node until the host sets ` +
        `net.bridge.bridge-nf-call-iptables=1`,
    ),
  );
}

function ipv4Addrs(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4')
    .map((a) => a!.address);
}
