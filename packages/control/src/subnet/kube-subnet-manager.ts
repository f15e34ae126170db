/**
 * Kubernetes mode (--kube-subnet-mgr), flannel's kube subnet manager on @kubernetes/client-node:
 * the API server is the lease store, a node's lease is its podCIDR plus flannel's annotations.
 *
 * - getNetworkConfig: net-conf.json from a file (the kube-flannel ConfigMap mounted in the pod).
 * - acquireLease: read our node (retrying while the API is unreachable or the node not yet there),
 *   take its podCIDR (must lie in Network), publish backend-type/backend-data/public-ip annotations
 *   when they differ. The patch goes to nodes/status as a strategic merge patch, as flannel sends it:
 *   kube-flannel's ClusterRole grants `nodes/status patch`, not `nodes patch`.
 * - NetworkUnavailable=False on our node once the watch starts (flannel sets it in CompleteLease, after
 *   the backend device exists; weftd starts watching after that too), or earlier by calling
 *   markNetworkAvailable(). Reason "WeftIsUp": the condition tells an operator who set it, and in a
 *   mixed cluster "FlannelIsUp" would send them looking for a flannel pod that is not there;
 *   Kubernetes itself reads only the status.
 * - watchLeases: a node informer (list, then watch from the list's resourceVersion; the client re-lists
 *   on 410 Gone); first a `snapshot` of the nodes that publish a lease, then added/removed as nodes
 *   change. The client's informer stops on errors, so it is restarted with backoff 100 ms..5 s.
 * - Leases never expire here: renewLease returns the lease as it is.
 */
import { readFile } from 'node:fs/promises';
import {
  CoreV1Api,
  KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type Informer,
  type ObjectCache,
  type V1Node,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Lease, LeaseAttrs, LeaseEvent, NetworkConfig, SubnetManager } from './types.js';
import {
  LeaseTooBigError,
  annotationsForLease,
  leaseAnnotations,
  nodeToLease,
  ownPodCidr,
  type LeaseAnnotations,
} from './kube-node-lease.js';
import { sameLeaseAttrs } from './lease-codec.js';
import { parseNetConf } from '../config/net-conf.js';
import { formatIpv4Cidr, parseIpv4Cidr, type Ipv4Cidr } from '@weft/netbase';
import { RetryBackoff, sleep } from '../retry-backoff.js';

export const NETWORK_CONDITION_REASON = 'WeftIsUp';

export interface KubeSubnetManagerOptions {
  /** This node (kube-flannel.yml passes NODE_NAME from spec.nodeName). */
  nodeName: string;
  /** net-conf.json path (--net-config-path, default /etc/kube-flannel/net-conf.json). */
  netConfPath: string;
  /** Default: KubeConfig.loadFromDefault() (in-cluster service account, else $KUBECONFIG/~/.kube/config). */
  kubeConfig?: KubeConfig;
  /** Annotation prefix (--kube-annotation-prefix); default flannel.alpha.coreos.com. */
  annotationPrefix?: string;
  /** Set NetworkUnavailable=False on our node; default true. */
  setNodeNetworkUnavailable?: boolean;
  logger: Logger;
  /** How long acquireLease waits for our node to be readable; default 30 s (flannel's). */
  nodeWaitMs?: number;
  /** Pause between failed API calls during acquire / condition; default 3 s (flannel's). */
  retryMs?: number;
}

export class KubeSubnetManager implements SubnetManager {
  readonly name: string;
  readonly endpoints: readonly string[];
  private readonly api: CoreV1Api;
  private readonly kc: KubeConfig;
  private readonly names: LeaseAnnotations;
  private readonly log: Logger;
  private config: NetworkConfig | undefined;
  private conditionSet = false;
  private readonly closing = new AbortController();

  constructor(private readonly opts: KubeSubnetManagerOptions) {
    this.kc = opts.kubeConfig ?? loadDefaultKubeConfig();
    this.api = this.kc.makeApiClient(CoreV1Api);
    this.names = leaseAnnotations(opts.annotationPrefix);
    this.log = opts.logger;
    this.name = `kubernetes node ${opts.nodeName} (${this.kc.getCurrentCluster()?.server ?? 'no cluster'})`;
    this.endpoints = this.kc.getCurrentCluster()?.server ? [this.kc.getCurrentCluster()!.server] : [];
  }

  async getNetworkConfig(): Promise<NetworkConfig> {
    if (this.config) return this.config;
    let text: string;
    try {
      text = await readFile(this.opts.netConfPath, 'utf8');
    } catch (e) {
      throw new Error(`cannot read the network config ${this.opts.netConfPath}: ${(e as Error).message}`);
    }
    const { config, notes } = parseNetConf(text, this.opts.netConfPath);
    for (const note of notes) this.log.warn({ source: this.opts.netConfPath }, `net-conf: ${note}`);
    this.config = config;
    return config;
  }

  async acquireLease(attrs: LeaseAttrs, signal?: AbortSignal): Promise<Lease> {
    const config = await this.getNetworkConfig();
    const node = await this.readOwnNode(signal);
    const subnet = formatIpv4Cidr(ownPodCidr(node, config.network));
    const want = annotationsForLease(this.names, attrs);
    const have = node.metadata?.annotations ?? {};
    if (Object.entries(want).some(([k, v]) => have[k] !== v)) {
      await this.withRetry('publish lease annotations', signal, () => this.patchStatus({ metadata: { annotations: want } }));
      this.log.info({ node: this.opts.nodeName, subnet, annotations: want }, 'published our lease on the node');
    } else {
      this.log.info({ node: this.opts.nodeName, subnet }, 'node already publishes our lease');
    }
    return { subnet, attrs };
  }

  async renewLease(lease: Lease): Promise<Lease> {
    return lease;
  }

  /** Sets NetworkUnavailable=False (reason WeftIsUp) on our node; idempotent, retries until done or closed. */
  async markNetworkAvailable(): Promise<void> {
    if (this.conditionSet || this.opts.setNodeNetworkUnavailable === false) return;
    const now = new Date().toISOString();
    const condition = {
      type: 'NetworkUnavailable',
      status: 'False',
      reason: NETWORK_CONDITION_REASON,
      message: 'weft is running on this node',
      lastTransitionTime: now,
      lastHeartbeatTime: now,
    };
    await this.withRetry(
      'set NetworkUnavailable=False',
      this.closing.signal,
      () => this.patchStatus({ status: { conditions: [condition] } }),
      Infinity,
    );
    this.conditionSet = true;
    this.log.info({ node: this.opts.nodeName, reason: NETWORK_CONDITION_REASON }, 'node condition NetworkUnavailable=False set');
  }

  watchLeases(onEvents: (events: LeaseEvent[]) => void, signal: AbortSignal): Promise<void> {
    void this.markNetworkAvailable().catch((e) => this.log.error({ err: e }, 'could not set the node condition'));
    return new NodeLeaseWatch(this.api, this.kc, this.names, this.log).run(
      this.getNetworkConfig(),
      onEvents,
      AbortSignal.any([signal, this.closing.signal]),
    );
  }

  async close(): Promise<void> {
    this.closing.abort();
  }

  private async readOwnNode(signal?: AbortSignal): Promise<V1Node> {
    const waitMs = this.opts.nodeWaitMs ?? 30_000;
    const tries = Math.max(1, Math.ceil(waitMs / (this.opts.retryMs ?? 3_000)));
    return this.withRetry(`read node ${this.opts.nodeName}`, signal, () => this.api.readNode({ name: this.opts.nodeName }), tries);
  }

  private patchStatus(body: object): Promise<V1Node> {
    return this.api.patchNodeStatus(
      { name: this.opts.nodeName, body },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
  }

  /** flannel's PollUntilContextTimeout: try, wait retryMs, up to `tries` times; the last error names the step. */
  private async withRetry<T>(what: string, signal: AbortSignal | undefined, fn: () => Promise<T>, tries = 10): Promise<T> {
    for (let i = 1; ; i++) {
      signal?.throwIfAborted();
      try {
        return await fn();
      } catch (e) {
        const msg = apiErrorMessage(e);
        if (i >= tries) throw new Error(`${what} on ${this.name} failed ${i} times: ${msg}`);
        this.log.warn({ err: msg, attempt: i }, `${what} failed: retrying`);
        await sleep(this.opts.retryMs ?? 3_000, signal);
      }
    }
  }
}

/**
 * The informer side: turns node add/update/delete into lease events, remembering what it delivered
 * per node so an update that changes the lease is `added` (or `removed` + `added` when the podCIDR
 * moved) and one that does not is nothing.
 */
class NodeLeaseWatch {
  private readonly delivered = new Map<string, Lease>();
  /** Nodes whose published lease is unusable, with what was reported (one log line and event per change). */
  private readonly unusable = new Map<string, { reason: 'malformed' | 'oversize'; detail: string }>();
  private onEvents: (events: LeaseEvent[]) => void = () => undefined;
  private snapshotSent = false;

  constructor(
    private readonly api: CoreV1Api,
    private readonly kc: KubeConfig,
    private readonly names: LeaseAnnotations,
    private readonly log: Logger,
  ) {}

  async run(configP: Promise<NetworkConfig>, onEvents: (events: LeaseEvent[]) => void, signal: AbortSignal): Promise<void> {
    const network = parseIpv4Cidr((await configP).network);
    this.onEvents = onEvents;
    const informer = makeInformer<V1Node>(this.kc, '/api/v1/nodes', () => this.api.listNode());
    informer.on('add', (n) => this.snapshotSent && this.update(n, network));
    informer.on('update', (n) => this.snapshotSent && this.update(n, network));
    informer.on('delete', (n) => this.snapshotSent && this.remove(n));
    const backoff = new RetryBackoff(100, 5_000);
    let failed: unknown;
    let wake = (): void => undefined;
    informer.on('error', (e: unknown) => {
      failed = e ?? new Error('informer stopped');
      wake();
    });
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    const onAbort = (): void => wake();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        failed = undefined;
        await Promise.race([informer.start(), aborted]); // a hung list/watch request must not hold up close()
        if (signal.aborted) break;
        if (failed === undefined) backoff.reset();
        if (failed === undefined && !this.snapshotSent) this.sendSnapshot(informer, network);
        if (failed === undefined) await new Promise<void>((resolve) => (wake = resolve)); // until an error or abort
        if (signal.aborted) break;
        this.log.warn({ err: apiErrorMessage(failed) }, 'node watch failed: restarting');
        await sleep(backoff.next(), signal);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      await informer.stop();
    }
  }

  private sendSnapshot(informer: Informer<V1Node> & ObjectCache<V1Node>, network: Ipv4Cidr): void {
    const unusable: Array<{ key: string; reason: 'malformed' | 'oversize'; detail: string }> = [];
    for (const node of informer.list()) {
      const lease = this.toLease(node, network);
      if (lease) this.delivered.set(node.metadata?.name ?? '', lease);
      const bad = this.unusable.get(node.metadata?.name ?? '');
      if (bad) unusable.push({ key: `node ${node.metadata?.name}`, ...bad });
    }
    this.snapshotSent = true;
    this.log.info({ leases: this.delivered.size, unusable: unusable.length }, 'node lease snapshot');
    this.onEvents([{ type: 'snapshot', leases: [...this.delivered.values()], ...(unusable.length ? { unusable } : {}) }]);
  }

  private update(node: V1Node, network: Ipv4Cidr): void {
    const name = node.metadata?.name ?? '';
    const old = this.delivered.get(name);
    const said = this.unusable.get(name);
    const lease = this.toLease(node, network);
    const events: LeaseEvent[] = [];
    const now = this.unusable.get(name);
    if (now?.detail !== said?.detail)
      events.push(now ? { type: 'unusable', key: `node ${name}`, ...now } : { type: 'usable', key: `node ${name}` });
    if (old && (!lease || lease.subnet !== old.subnet)) events.push({ type: 'removed', lease: old });
    if (lease && !(old && old.subnet === lease.subnet && sameLeaseAttrs(old.attrs, lease.attrs))) events.push({ type: 'added', lease });
    if (lease) this.delivered.set(name, lease);
    else this.delivered.delete(name);
    if (events.length > 0) this.onEvents(events);
  }

  private remove(node: V1Node): void {
    const name = node.metadata?.name ?? '';
    const old = this.delivered.get(name);
    if (this.unusable.delete(name)) this.onEvents([{ type: 'usable', key: `node ${name}` }]);
    if (!old) return;
    this.delivered.delete(name);
    this.onEvents([{ type: 'removed', lease: old }]);
  }

  private toLease(node: V1Node, network: Ipv4Cidr): Lease | undefined {
    const name = node.metadata?.name ?? '';
    try {
      const r = nodeToLease(node, this.names, network);
      this.unusable.delete(name);
      if (r.lease && r.lease.attrs.BackendType !== 'vxlan') return undefined;
      return r.lease;
    } catch (e) {
      const bad = { reason: e instanceof LeaseTooBigError ? ('oversize' as const) : ('malformed' as const), detail: (e as Error).message };
      if (this.unusable.get(name)?.detail !== bad.detail)
        this.log.warn({ node: name, reason: bad.reason, err: bad.detail }, 'lease rejected: node publishes an unusable lease');
      this.unusable.set(name, bad);
      return undefined;
    }
  }
}

function loadDefaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

/** The API's Status message when there is one ("nodes \"n1\" not found"), else the error's. */
function apiErrorMessage(e: unknown): string {
  if (e && typeof e === 'object') {
    const o = e as { code?: number; body?: unknown; message?: string };
    if (typeof o.body === 'string') {
      try {
        const status = JSON.parse(o.body) as { message?: string };
        if (status.message) return `HTTP ${o.code}: ${status.message}`;
      } catch {
        /* not a Status */
      }
    }
    if (o.message) return o.message;
  }
  return String(e);
}
