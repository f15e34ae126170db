/**
 * The cluster as the policy compiler needs it: three @kubernetes/client-node informers (list, then
 * watch from the list's resourceVersion; 410 Gone → re-list) over NetworkPolicies, Pods and Namespaces
 * of all namespaces. Each informer restarts on its own after an error (backoff 100 ms → 5 s) and keeps
 * its last cache meanwhile, so a flapping API server leaves the last enforced policy in force.
 * `onChange` fires on every add/update/delete once all three have listed; the controller debounces.
 */
import {
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  makeInformer,
  type Informer,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Namespace, NetworkPolicy, Pod } from './policy-types.js';
import type { PolicyLogger } from './policy-controller.js';

export interface ClusterSnapshot {
  policies: NetworkPolicy[];
  pods: Pod[];
  namespaces: Namespace[];
  /** Highest resourceVersion seen in any event or list (the API's write clock), 0 before the lists. */
  resourceVersion: number;
}

export interface PolicySource {
  /** Lists and watches until `signal`; `onChange` after the initial lists and after every change. */
  run(onChange: () => void, signal: AbortSignal): Promise<void>;
  snapshot(): ClusterSnapshot;
}

type Cached<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

export class KubePolicySource implements PolicySource {
  private policies: Cached<KubernetesObject> | undefined;
  private pods: Cached<KubernetesObject> | undefined;
  private namespaces: Cached<KubernetesObject> | undefined;
  private rv = 0;

  constructor(
    private readonly kc: KubeConfig,
    private readonly log: PolicyLogger,
  ) {}

  async run(onChange: () => void, signal: AbortSignal): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    const net = this.kc.makeApiClient(NetworkingV1Api);
    this.policies = makeInformer(
      this.kc,
      '/apis/networking.k8s.io/v1/networkpolicies',
      () => net.listNetworkPolicyForAllNamespaces() as never,
    );
    this.pods = makeInformer(this.kc, '/api/v1/pods', () => core.listPodForAllNamespaces() as never);
    this.namespaces = makeInformer(this.kc, '/api/v1/namespaces', () => core.listNamespace() as never);
    let listed = 0;
    const all = [
      ['networkpolicies', this.policies],
      ['pods', this.pods],
      ['namespaces', this.namespaces],
    ] as const;
    const changed = (o: KubernetesObject): void => {
      const rv = Number(o?.metadata?.resourceVersion);
      if (rv > this.rv) this.rv = rv;
      if (listed === all.length) onChange();
    };
    await Promise.all(
      all.map(async ([what, inf]) => {
        for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, changed);
        await this.keepRunning(what, inf, signal, () => {
          if (++listed === all.length) onChange();
        });
      }),
    );
  }

  /** Runs one informer until abort, restarting it after errors; `firstListed` once after its first start. */
  private async keepRunning(what: string, inf: Cached<KubernetesObject>, signal: AbortSignal, firstListed: () => void): Promise<void> {
    let backoff = 100;
    let wake = (): void => undefined;
    let failed: unknown;
    let first = true;
    inf.on('error', (e: unknown) => {
      failed = e ?? new Error('informer stopped');
      wake();
    });
    const onAbort = (): void => wake();
    signal.addEventListener('abort', onAbort);
    const aborted = new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    try {
      while (!signal.aborted) {
        failed = undefined;
        await Promise.race([inf.start().catch((e: unknown) => (failed = e)), aborted]);
        if (signal.aborted) break;
        if (failed === undefined) {
          backoff = 100;
          if (first) {
            first = false;
            firstListed();
          }
          await new Promise<void>((r) => (wake = r));
          if (signal.aborted) break;
        }
        this.log.warn({ resource: what, err: failed }, 'policy watch failed: restarting');
        await new Promise<void>((r) => {
          const t = setTimeout(r, backoff);
          signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
        });
        backoff = Math.min(backoff * 2, 5000);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      await inf.stop();
    }
  }

  snapshot(): ClusterSnapshot {
    return {
      policies: (this.policies?.list() ?? []) as NetworkPolicy[],
      pods: (this.pods?.list() ?? []) as Pod[],
      namespaces: (this.namespaces?.list() ?? []) as Namespace[],
      resourceVersion: this.rv,
    };
  }
}
