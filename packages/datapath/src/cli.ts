/**
 * weft-vtep: one userspace VTEP as a standalone process, for tests, benchmarks and debugging without
 * weftd. Static FDB entries come from flags; more can be typed on stdin:
 *
 *   fdb <mac> <ip>      set a pinned entry          counters      print counters as one JSON line
 *   fdb-del <mac>       delete an entry             fdb           print the FDB as one JSON line
 *
 * Prints `ready dev=<name> mac=<mac> offload=<tso,gso,gro|off>` once forwarding; SIGTERM/SIGINT print
 * final counters and exit.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { describeFeatures, parseOffloadSetting } from './offload-features.js';
import { Vtep } from './vtep.js';

const HELP = `weft-vtep: run one weft userspace VXLAN endpoint (TAP <-> VXLAN/UDP) in this network namespace.

Usage: weft-vtep --dev NAME --mtu N [options]

  --dev NAME         TAP device to create or attach to (e.g. weft.1)
  --mtu N            TAP MTU: underlay MTU - 50 (e.g. 1450)
  --vni N            VXLAN network identifier (default 1)
  --port N           VXLAN UDP port, local and remote (default 8472)
  --mac MAC          VTEP MAC address (default: the kernel's random one)
  --local-ip IP      underlay address to bind (default: all)
  --fdb MAC=IP       pinned FDB entry (repeatable)
  --no-peer-check    accept VXLAN from any source (default: only FDB underlay addresses)
  --learning         learn source MACs from known peers
  --flood            flood broadcast/multicast to every peer (default: drop and count)
  --batch N          packets per batch (default 128)
  --socket-buffer N  send/receive buffer of each UDP socket in bytes, forced (default 4194304)
  --tap-queue N      the TAP's txqueuelen: frames the host may queue for this process (default 1000)
  --gro-flows N      offload mode: TCP flows coalesced at once per receive batch (default 64; 0 = only
                     consecutive segments of one flow, for A/B benchmarks)
  --source-ports N   flow entropy: send from N sockets on distinct source ports, one per inner flow
                     hash (default 8; 0 = every datagram from the VXLAN port)
  --offload MODE     on | off | auto (default auto): virtio_net_hdr + TSO on the TAP, UDP GSO/GRO on
                     the socket; auto uses what the kernel supports, on fails without all of them
  --no-jit-warmup    skip the start-up warm-up of the hot path (see jit-warmup.ts)
  --persist          keep the TAP after exit
  -h, --help         this text
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dev: { type: 'string' },
      mtu: { type: 'string' },
      vni: { type: 'string' },
      port: { type: 'string' },
      mac: { type: 'string' },
      'local-ip': { type: 'string' },
      fdb: { type: 'string', multiple: true },
      'no-peer-check': { type: 'boolean' },
      learning: { type: 'boolean' },
      flood: { type: 'boolean' },
      batch: { type: 'string' },
      'socket-buffer': { type: 'string' },
      'tap-queue': { type: 'string' },
      'gro-flows': { type: 'string' },
      'source-ports': { type: 'string' },
      'no-jit-warmup': { type: 'boolean' },
      offload: { type: 'string' },
      persist: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (!values.dev || !values.mtu) throw new Error('--dev and --mtu are required (see --help)');
  const vtep = await Vtep.open({
    name: values.dev,
    mtu: Number(values.mtu),
    ...(values.vni ? { vni: Number(values.vni) } : {}),
    ...(values.port ? { port: Number(values.port) } : {}),
    ...(values.mac ? { mac: values.mac } : {}),
    ...(values['local-ip'] ? { localIp: values['local-ip'] } : {}),
    ...(values.batch ? { batchSize: Number(values.batch) } : {}),
    ...(values['socket-buffer'] ? { socketBuffer: Number(values['socket-buffer']) } : {}),
    ...(values['tap-queue'] ? { tapQueueLength: Number(values['tap-queue']) } : {}),
    ...(values['gro-flows'] ? { groFlows: Number(values['gro-flows']) } : {}),
    ...(values['no-jit-warmup'] ? { jitWarmup: false } : {}),
    ...(values['source-ports'] ? { sourcePorts: Number(values['source-ports']) } : {}),
    ...(values.persist ? { persist: true } : {}),
    offload: parseOffloadSetting(values.offload),
    peerCheck: !values['no-peer-check'],
    learning: values.learning ?? false,
    flood: values.flood ?? false,
    onWarning: (m) => process.stderr.write(`warning: ${m}\n`),
  });
  for (const spec of values.fdb ?? []) {
    const [mac, ip] = spec.split('=');
    if (!mac || !ip) throw new Error(`--fdb ${spec}: want MAC=IP`);
    vtep.setFdb(mac, ip);
  }
  const printCounters = (): void => void process.stdout.write(JSON.stringify(vtep.counters()) + '\n');
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd, a, b] = line.trim().split(/\s+/);
    try {
      if (cmd === 'fdb' && a && b) vtep.setFdb(a, b);
      else if (cmd === 'fdb-del' && a) vtep.deleteFdb(a);
      else if (cmd === 'counters') printCounters();
      else if (cmd === 'fdb') void vtep.fdbEntries().then((e) => process.stdout.write(JSON.stringify(e) + '\n'));
      else if (cmd) process.stderr.write(`unknown command: ${line}\n`);
    } catch (e) {
      process.stderr.write(`error: ${(e as Error).message}\n`);
    }
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    rl.close();
    printCounters();
    void vtep.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGUSR1', printCounters);
  process.stdout.write(`ready dev=${vtep.name} mac=${vtep.mac} offload=${describeFeatures(vtep.features)}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`weft-vtep: ${e.message}\n`);
  process.exit(1);
});
