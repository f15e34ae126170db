/**
 * `pnpm demo`: weft's main job on an embedded default — a local cluster in network namespaces.
 *
 *   1. preflight (root, tools, build) and removal of what a previous, killed demo left behind
 *   2. underlay bridge + etcd in a namespace on it + net-conf.json in etcd
 *   3. N nodes (default 3), weftd in each; wait until every node has programmed the others
 *   4. pods (default 2 per node) through the real CNI path: deploy/10-weft.conflist (weft, then portmap)
 *   5. a pod-to-pod ping matrix across all nodes
 *   6. iperf3 between pods on two nodes over weft, then the same pods over kernel vxlan
 *   7. teardown (also on Ctrl-C), or with --keep: leave it up and say how to look at it
 *
 * Every namespace is named `wdemo-…`; the next run (or `--down`) removes a previous cluster first.
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Lab, WEFTCTL_BIN, WeftCluster, type ClusterPod, run } from '@weft/netlab';
import { KernelPath } from './kernel-path.js';
import { iperfTcp, pingMatrix, renderMatrix, type IperfResult } from './connectivity.js';
import { preflight } from './preflight.js';
import { Progress, StepError, bold, dim, green, red } from './progress.js';

const DEFAULT_PREFIX = 'wdemo-';
let PREFIX = DEFAULT_PREFIX;
let STATE_DIR = '/run/weft-demo';

const HELP = `pnpm demo [options]: a local weft cluster in network namespaces, with its own etcd.

  --nodes N     node namespaces, each running weftd (default 3)
  --pods N      pods per node, attached through the weft CNI plugin (default 2)
  --seconds S   length of each iperf3 run (default 5; 0 skips iperf3)
  --keep        leave the cluster up when done (remove it with --down or the next run)
  --down        remove a cluster left up by --keep (or by a killed run) and exit
  --prefix P    namespace prefix (default ${DEFAULT_PREFIX}; tests use their own so they never touch yours)
  -h, --help    this text

Needs root. Everything lives in namespaces named ${DEFAULT_PREFIX}*; nothing is configured in the root namespace.`;

interface Options {
  nodes: number;
  pods: number;
  seconds: number;
  keep: boolean;
  down: boolean;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string', default: '3' },
      pods: { type: 'string', default: '2' },
      seconds: { type: 'string', default: '5' },
      keep: { type: 'boolean', default: false },
      down: { type: 'boolean', default: false },
      prefix: { type: 'string', default: DEFAULT_PREFIX },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const int = (name: string, v: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} ${v}: want a whole number from ${min} to ${max}`);
    return n;
  };
  if (!/^[a-z][a-z0-9]{0,7}-$/.test(values.prefix))
    throw new Error(`--prefix ${values.prefix}: want 1-8 lowercase letters/digits and a trailing dash`);
  PREFIX = values.prefix;
  STATE_DIR = PREFIX === DEFAULT_PREFIX ? STATE_DIR : `/run/weft-demo-${PREFIX.slice(0, -1)}`;
  return {
    nodes: int('nodes', values.nodes, 1, 50),
    pods: int('pods', values.pods, 1, 20),
    seconds: int('seconds', values.seconds, 0, 600),
    keep: values.keep,
    down: values.down,
  };
}

/** Removes a previous demo: its recorded lab (processes by pid, namespaces) and any stray wdemo- namespace. */
async function cleanPrevious(): Promise<number> {
  await Lab.sweep([PREFIX]);
  let stray = 0;
  const { stdout } = await run('ip', ['netns', 'list']);
  for (const line of stdout.split('\n')) {
    const ns = line.split(' ')[0];
    if (ns?.startsWith(PREFIX)) {
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
      stray++;
    }
  }
  rmSync(STATE_DIR, { recursive: true, force: true });
  return stray;
}

async function measure(p: Progress, lab: Lab, cluster: WeftCluster, a: ClusterPod, b: ClusterPod, seconds: number): Promise<void> {
  const kernel = new KernelPath(
    lab,
    { node: a.node, subnet: cluster.subnetOf(a.node) },
    { node: b.node, subnet: cluster.subnetOf(b.node) },
  );
  const label = `${a.name} → ${b.name}`;
  // Both VTEPs under both underlay conditions, so every ratio compares like with like: with the veth's
  // offloads on, GSO packets (the kernel's, and weft's UDP GSO datagrams) cross it unsegmented.
  const conditions = [
    { key: 'on', title: 'veth offloads on', txOn: true },
    { key: 'off', title: 'tx offload off (NIC-like)', txOn: false },
  ] as const;
  const weft: Record<string, IperfResult> = {};
  const kern: Record<string, IperfResult> = {};
  try {
    for (const c of conditions) {
      await kernel.txOffload(c.txOn);
      weft[c.key] = await p.step(`iperf3 ${label} over weft, ${c.title}`, () => iperfTcp(lab, b, a, seconds), fmt);
      await p.step('  switch the same pods to kernel vxlan (kvx.2, VNI 2, port 4789)', () => kernel.enable());
      kern[c.key] = await p.step(`iperf3 ${label} over kernel vxlan, ${c.title}`, () => iperfTcp(lab, b, a, seconds), fmt);
      await kernel.restore('weft.1');
    }
  } finally {
    await kernel.restore('weft.1');
    await kernel.txOffload(true).catch(() => undefined);
  }
  const cell = (r: IperfResult | undefined): string =>
    r ? `${r.gbps.toFixed(2).padStart(6)} Gbit/s ${String(r.retransmits).padStart(5)} retr` : '';
  const ratio = (k: string): string => `${(weft[k].gbps / kern[k].gbps).toFixed(2)}×`;
  p.info(`\n${bold(`TCP, one stream, ${label} across nodes`)} ${dim(`(${seconds} s each; same pods, same underlay)`)}`);
  p.info(`  ${''.padEnd(32)} ${conditions.map((c) => c.title.padEnd(28)).join(' ')}`);
  p.info(`  ${'weft (userspace VTEP, weft.1)'.padEnd(32)} ${conditions.map((c) => cell(weft[c.key]).padEnd(28)).join(' ')}`);
  p.info(`  ${'kernel vxlan (kvx.2)'.padEnd(32)} ${conditions.map((c) => cell(kern[c.key]).padEnd(28)).join(' ')}`);
  p.info(`  ${'weft / kernel'.padEnd(32)} ${conditions.map((c) => ratio(c.key).padEnd(28)).join(' ')}`);
  p.info(
    dim(
      '  With veth offloads on, 64 KB GSO packets cross the veth unsegmented, a shortcut no NIC path has;\n' +
        "  tx off makes both VTEPs' packets be segmented and checksummed, the condition bench/ reports against.",
    ),
  );
}

const fmt = (r: IperfResult): string => `${r.gbps.toFixed(2)} Gbit/s, ${r.retransmits} retransmits`;

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const p = new Progress();
  if (o.down) {
    const n = await p.step('removing the demo cluster', cleanPrevious);
    p.info(n > 0 ? `removed ${n} stray namespaces` : 'done');
    return;
  }
  const problems = preflight();
  if (problems.length > 0) {
    console.error(`${red('weft demo cannot start:')}\n${problems.map((x) => `  - ${x}`).join('\n')}`);
    process.exit(1);
  }
  p.info(bold(`weft demo: ${o.nodes} nodes × ${o.pods} pods, etcd, weftd, the weft CNI plugin, all in namespaces ${PREFIX}*`));
  await p.step('removing what a previous demo left behind', cleanPrevious);

  const lab = Lab.create('', PREFIX);
  const cluster = new WeftCluster(lab, STATE_DIR, { detached: o.keep });
  // One teardown, whoever asks first (a signal, a failed step, the end of the run); all wait for it.
  let tornDown: Promise<void> | undefined;
  const teardown = (): Promise<void> =>
    (tornDown ??= (async () => {
      await cluster.removePods().catch(() => undefined);
      await lab.destroy();
      rmSync(STATE_DIR, { recursive: true, force: true });
    })());
  // A terminal's Ctrl-C reaches both pnpm and us, and pnpm may forward it again: every signal after
  // the first only waits for the same teardown.
  const onSignal = (sig: string) => () => {
    if (tornDown) return;
    process.stdout.write(`\n${sig}: tearing the cluster down ...\n`);
    void teardown().then(() => {
      process.stdout.write('cluster removed.\n');
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal('SIGINT'));
  process.on('SIGTERM', onSignal('SIGTERM'));

  try {
    await p.step(
      'underlay bridge, etcd in a namespace on it, net-conf.json in etcd',
      () => cluster.buildUnderlay(),
      () => `etcd at 192.168.60.100:2379`,
    );
    for (let i = 1; i <= o.nodes; i++) await cluster.addNode(i);
    await p.step(`weftd on ${o.nodes} nodes`, () => Promise.all(cluster.nodes.map((n) => cluster.startWeftd(n))));
    await p.step('every node programs every other node (FDB, neighbour, route)', () => waitForPeers(cluster, o.nodes - 1));
    for (const n of cluster.nodes) p.info(dim(`        ${n.name}  ${n.ip}  subnet ${cluster.subnetOf(n)}`));
    await p.step(`${o.nodes * o.pods} pods through deploy/10-weft.conflist (weft, then portmap)`, () =>
      Promise.all(
        cluster.nodes.map(async (n) => {
          for (let k = 1; k <= o.pods; k++) await cluster.addPod(n, k);
        }),
      ),
    );
    const pods = [...cluster.pods].sort((x, y) => x.name.localeCompare(y.name));
    const cells = await p.step(
      `ping matrix, ${pods.length * (pods.length - 1)} pairs`,
      () => pingMatrix(lab, pods),
      (c) => `${c.filter((x) => x.ok).length}/${c.length} answered`,
    );
    p.info(`\n${renderMatrix(pods, cells, green('✓'), red('✗'))}\n`);
    const failed = cells.filter((c) => !c.ok);
    if (failed.length > 0)
      throw new StepError(
        'ping matrix',
        new Error(`${failed.length} pairs did not answer: ${failed.map((c) => `${c.from}→${c.to}`).join(', ')}`),
      );
    const a = pods.find((x) => x.node.index === 1)!;
    const b = pods.find((x) => x.node.index === 2);
    if (o.seconds > 0 && b) await measure(p, lab, cluster, a, b, o.seconds);
    if (o.keep) {
      lab.detach();
      keepInstructions(p, cluster);
      return;
    }
    await p.step('teardown: CNI DEL for every pod, stop weftd and etcd, delete namespaces', teardown);
  } catch (e) {
    const interrupted = tornDown !== undefined;
    await teardown().catch(() => undefined);
    if (interrupted) await new Promise(() => undefined); // the signal handler reports and exits
    throw e;
  }
}

async function waitForPeers(cluster: WeftCluster, want: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const counts = await Promise.all(
      cluster.nodes.map((n) =>
        cluster.status(n).then(
          (s) => s.peers.length,
          () => -1,
        ),
      ),
    );
    if (counts.every((c) => c === want)) return Date.now() - t0;
    if (Date.now() - t0 > 30_000) throw new Error(`after 30 s, peers per node: ${counts.join(', ')} (want ${want} each)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function keepInstructions(p: Progress, cluster: WeftCluster): void {
  const n1 = cluster.nodes[0];
  const pod = cluster.pods[0];
  const other = cluster.pods.find((x) => x.node !== pod.node) ?? pod;
  p.info(`\n${bold('The cluster stays up.')} Logs and state: ${STATE_DIR}/`);
  p.info(`  enter a pod:        ip netns exec ${pod.ns} bash`);
  p.info(`  ping across nodes:  ip netns exec ${pod.ns} ping ${other.ip}`);
  p.info(`  weftctl on ${n1.name}:     ip netns exec ${n1.ns} ${WEFTCTL_BIN} status`);
  p.info(`  leases in etcd:     ip netns exec ${n1.ns} ${WEFTCTL_BIN} leases --etcd-endpoints=http://192.168.60.100:2379`);
  p.info(`  namespaces:         ip netns list | grep ${PREFIX}`);
  p.info(`  remove it:          pnpm demo --down${PREFIX === DEFAULT_PREFIX ? '' : ` --prefix ${PREFIX}`}`);
}

main().catch((e: unknown) => {
  const msg =
    e instanceof StepError
      ? `step "${e.step}" failed: ${e.cause instanceof Error ? e.cause.message : String(e.cause)}`
      : e instanceof Error
        ? e.message
        : String(e);
  console.error(`\n${red('weft demo failed')} — ${msg}`);
  process.exit(1);
});
