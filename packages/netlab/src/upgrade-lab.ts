/**
 * UpgradeLab: two weft nodes, etcd and one pod per node, and the node events whose cost issue 14 is
 * about, each measured with measureOutage (pod on n2 → pod on n1 while n1's weftd is the one hit):
 *
 *   kill      SIGKILL weftd on n1, start it again at once
 *   term      SIGTERM (graceful stop), start again at once
 *   etcdDown  etcd frozen (SIGSTOP), SIGKILL weftd and start it again; etcd thawed afterwards
 *   surge     a second weftd on n1 while the first runs: hand-over, the first exits
 *
 * Shared by test/upgrade.netns.test.ts and bench/upgrade-bench.mjs, so the test's scenarios and the
 * bench's numbers are the same code. weftd runs with WEFTD_DEBUG_HOOKS=1 (the watchdog test hooks).
 */
import type { Lab, LabProcess } from './lab.js';
import { measureOutage, type OutageResult } from './outage-probe.js';
import { HEALTHZ_PORT, WEFTD_BIN, WeftCluster, type ClusterNode, type ClusterPod } from './weft-cluster.js';

export type UpgradeEvent = 'kill' | 'term' | 'etcdDown' | 'surge';

export const FORWARDING_RE = /"msg":"datapath forwarding from the state file"/;
export const UP_RE = /"msg":"weftd is up"/;

export class UpgradeLab {
  readonly cluster: WeftCluster;
  n1!: ClusterNode;
  n2!: ClusterNode;
  p1!: ClusterPod;
  p2!: ClusterPod;
  /** Every weftd started on n1, oldest first (for logs). */
  readonly history: LabProcess[] = [];

  constructor(
    readonly lab: Lab,
    dir: string,
    /** Extra weftd flags (e.g. --vtep-offload=off). */
    readonly weftdFlags: string[] = [],
  ) {
    this.cluster = new WeftCluster(lab, dir);
  }

  async setup(): Promise<void> {
    const c = this.cluster;
    await c.buildUnderlay();
    this.n1 = await c.addNode(1);
    this.n2 = await c.addNode(2);
    await Promise.all([this.start(this.n1), this.start(this.n2)]);
    for (const n of [this.n1, this.n2]) await this.waitFor(async () => (await c.status(n)).peers.length === 1, 'a peer programmed', 20_000);
    this.p1 = await c.addPod(this.n1, 1);
    this.p2 = await c.addPod(this.n2, 1);
    await this.waitFor(
      async () => await this.lab.exec(this.p2.ns, 'ping', ['-c', '1', '-W', '1', this.p1.ip]).then(() => true),
      'pods to reach each other',
      20_000,
    );
  }

  /** Starts weftd on a node the way the lab does, with the debug hooks on; resolves when up. */
  async start(node: ClusterNode, waitFor: RegExp = UP_RE, env: Record<string, string> = {}): Promise<LabProcess> {
    const c = this.cluster;
    const args = [
      WEFTD_BIN,
      `--etcd-endpoints=${c.etcdEndpoint}`,
      '--etcd-prefix=/coreos.com/network',
      '--iface=eth0',
      `--subnet-file=${node.subnetFile}`,
      '--healthz-ip=127.0.0.1',
      `--healthz-port=${HEALTHZ_PORT}`,
      ...this.weftdFlags,
    ];
    const p = this.lab.spawn(node.ns, `weftd ${node.name}`, process.execPath, args, { ...process.env, WEFTD_DEBUG_HOOKS: '1', ...env });
    node.weftd = p;
    if (node === this.n1) this.history.push(p);
    await p.waitFor(waitFor, 60_000);
    return p;
  }

  async waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
    const t0 = Date.now();
    while (!(await check().catch(() => false))) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Ping (and a TCP stream) from the pod on n2 to the pod on n1 around `event`. */
  measure(event: () => Promise<void>, opts: { windowMs?: number; tcp?: boolean } = {}): Promise<OutageResult> {
    return measureOutage(
      {
        lab: this.lab,
        fromNs: this.p2.ns,
        toIp: this.p1.ip,
        ...(opts.tcp === false ? {} : { toNs: this.p1.ns }),
        windowMs: opts.windowMs ?? 6000,
        eventAtMs: 1500,
      },
      event,
    );
  }

  /** Runs one event on n1 and measures it; leaves n1 with one weftd up. */
  async run(event: UpgradeEvent, opts: { tcp?: boolean } = {}): Promise<OutageResult> {
    switch (event) {
      case 'kill':
        return this.measure(async () => {
          this.n1.weftd!.child.kill('SIGKILL');
          await this.n1.weftd!.exited;
          await this.start(this.n1, FORWARDING_RE);
        }, opts);
      case 'term':
        return this.measure(async () => {
          await this.n1.weftd!.stop(10_000);
          await this.start(this.n1, FORWARDING_RE);
        }, opts);
      case 'etcdDown': {
        const etcd = this.cluster.etcd!.process.child;
        etcd.kill('SIGSTOP');
        try {
          return await this.measure(async () => {
            this.n1.weftd!.child.kill('SIGKILL');
            await this.n1.weftd!.exited;
            await this.start(this.n1, FORWARDING_RE);
          }, opts);
        } finally {
          etcd.kill('SIGCONT');
          await this.n1.weftd!.waitFor(UP_RE, 60_000);
        }
      }
      case 'surge': {
        const old = this.n1.weftd!;
        const r = await this.measure(async () => {
          await this.start(this.n1, /"msg":"host lock taken/);
        }, opts);
        await Promise.race([old.exited, new Promise((r2) => setTimeout(r2, 20_000))]);
        return r;
      }
    }
  }

  /** Settles n1 after an event: one weftd up and ready. */
  async settle(): Promise<void> {
    await this.n1.weftd!.waitFor(UP_RE, 60_000);
    await this.waitFor(async () => (await this.cluster.http(this.n1, '/readyz')) === 'ok\n', 'n1 ready', 30_000);
  }
}
