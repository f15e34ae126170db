#!/usr/bin/env node
// ADD and DEL latency of the weft CNI plugin, next to the reference bridge + host-local plugins
// (/usr/lib/cni) and a bare `node -e 0`, all measured in the same run, interleaved pod by pod so that
// load from anything else on the machine hits every contender alike. weft runs twice: as the package
// builds it (`bin/weft`: node + 12 CommonJS files) and as it ships (the single executable that
// @weft/installer builds from bin/weft: one bundle with V8's code cache). The last contender is the
// "thin shim" design (bench/cni-socket-shim.mjs forwarding to a long-running process that runs the
// same plugin code), measured to decide whether the plugin should hand its work to weftd.
//
//   sudo node bench/cni-bench.mjs [--pods 100]
//
// Layout: one lab namespace plays the node; the benchmark re-executes itself inside it (--driver) so
// every plugin is spawned from the node's namespace with a runtime-like environment (PATH and CNI_*
// only). Each pod has its own namespace and gets eth0 from weft, eth3 from the shipped weft, eth1
// from the reference, eth2 from the shim (each weft contender with its own bridge and subnet; only
// eth0 takes the default route). Writes bench/results/cni-<date>.json and prints a table.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo, percentile, procTicks, table, writeResult } from './lib.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const SHIPPED = 'weft, shipped (single executable)';
const LOAD_BEFORE = loadavg().map((x) => Math.round(x * 10) / 10);
const WEFT = join(HERE, '../packages/cni-shim/bin/weft');
const SHIM = join(HERE, 'cni-socket-shim.mjs');
const REF_DIR = '/usr/lib/cni';
const ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};

if (argv[0] === '--driver') await driver(JSON.parse(argv[1]));
else if (argv[0] === '--server') await server(argv[1]);
else await main(Number(opt('--pods', '100')));

async function main(pods) {
  if (process.getuid?.() !== 0) throw new Error('cni-bench needs root (network namespaces)');
  const { Lab } = await import('@weft/netlab');
  await Lab.sweep();
  const lab = Lab.create('cnib');
  const dir = mkdtempSync(join(tmpdir(), 'weft-cni-bench-'));
  try {
    const node = await lab.addNetns('node');
    const podNs = [];
    for (let i = 0; i < pods; i++) podNs.push(await lab.addNetns(`p${i}`));
    writeFileSync(
      join(dir, 'subnet.env'),
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    );
    writeFileSync(
      join(dir, 'subnet-sea.env'),
      'FLANNEL_NETWORK=10.246.0.0/16\nFLANNEL_SUBNET=10.246.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    );
    const { buildCniPlugin } = await import('@weft/installer/build');
    await buildCniPlugin({ entry: WEFT, outfile: join(dir, 'weft-sea') });
    writeFileSync(
      join(dir, 'subnet-sock.env'),
      'FLANNEL_NETWORK=10.245.0.0/16\nFLANNEL_SUBNET=10.245.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    );
    const socket = join(dir, 'cni.sock');
    const srv = lab.spawn(node, 'cni-socket-server', process.execPath, [fileURLToPath(import.meta.url), '--server', socket], ENV);
    await srv.waitFor(/listening/);
    const params = { dir, socket, serverPid: srv.pid, pods: podNs.map((n) => `/var/run/netns/${n}`) };
    const out = await lab.exec(node, process.execPath, [fileURLToPath(import.meta.url), '--driver', JSON.stringify(params)], 30 * 60_000);
    report(JSON.parse(out.stdout), pods);
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(samples, pods) {
  const stats = (xs) => ({
    p50: round(percentile(xs, 50)),
    p95: round(percentile(xs, 95)),
    mean: round(xs.reduce((a, b) => a + b, 0) / xs.length),
    n: xs.length,
  });
  const rows = {};
  const tickMs = 1000 / 100; // USER_HZ
  for (const [name, s] of Object.entries(samples)) {
    rows[name] = {
      add: { ...stats(s.add), cpuMs: round((s.addCpuTicks * tickMs) / s.add.length) },
      del: { ...stats(s.del), cpuMs: round((s.delCpuTicks * tickMs) / s.del.length) },
    };
  }
  const floor = rows['node -e 0'].add.p50;
  const data = {
    bench: 'cni',
    date: new Date().toISOString(),
    machine: machineInfo(),
    pods,
    method:
      'sequential, interleaved per pod (floor, weft, shipped weft, reference, shim in rotating order); each plugin spawned from the node namespace with env PATH + CNI_*; p50/p95 of wall time spawn→exit in ms; cpuMs = mean user+sys CPU per call of the plugin and its children (and of the socket server for the shim)',
    rows,
    weftOverFloorMs: { add: round(rows.weft.add.p50 - floor), del: round(rows.weft.del.p50 - rows['node -e 0'].del.p50) },
    shippedOverFloorMs: { add: round(rows[SHIPPED].add.p50 - floor), del: round(rows[SHIPPED].del.p50 - rows['node -e 0'].del.p50) },
    loadAverage: { before: LOAD_BEFORE, after: loadavg().map(round) },
  };
  const file = writeResult('cni', data);
  const lines = [['contender', 'ADD p50', 'ADD p95', 'ADD cpu', 'DEL p50', 'DEL p95', 'DEL cpu']];
  for (const [name, r] of Object.entries(rows)) lines.push([name, r.add.p50, r.add.p95, r.add.cpuMs, r.del.p50, r.del.p95, r.del.cpuMs]);
  console.log(
    `\nCNI ADD/DEL latency (wall p50/p95) and mean CPU per call, ms, ${pods} pods (${data.machine.cpus} cpus, node ${data.machine.node})\n`,
  );
  console.log(table(lines));
  console.log(
    `\nover node -e 0 (p50): weft ADD +${data.weftOverFloorMs.add} ms, DEL +${data.weftOverFloorMs.del} ms; shipped ADD +${data.shippedOverFloorMs.add} ms, DEL +${data.shippedOverFloorMs.del} ms`,
  );
  console.log(`load average before ${data.loadAverage.before.join(' ')}, after ${data.loadAverage.after.join(' ')}`);
  console.log(`written to ${file}`);
}

function round(x) {
  return Math.round(x * 10) / 10;
}

// ---- inside the node namespace -------------------------------------------------------------

async function driver({ dir, socket, serverPid, pods }) {
  const weftConf = {
    cniVersion: '1.0.0',
    name: 'weft',
    type: 'weft',
    subnetFile: join(dir, 'subnet.env'),
    dataDir: join(dir, 'ipam'),
    hairpinMode: true,
  };
  // One pod namespace serves all three, so only weft installs the default route; the others route their own network.
  const sockConf = { ...weftConf, name: 'weft-sock', bridge: 'cni1', subnetFile: join(dir, 'subnet-sock.env'), isDefaultGateway: false };
  const seaConf = { ...weftConf, name: 'weft-sea', bridge: 'cni3', subnetFile: join(dir, 'subnet-sea.env'), isDefaultGateway: false };
  const refConf = {
    cniVersion: '1.0.0',
    name: 'refnet',
    type: 'bridge',
    bridge: 'refbr0',
    isGateway: true,
    ipMasq: false,
    hairpinMode: true,
    mtu: 1450,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.88.0.0/24' }]], routes: [{ dst: '10.88.0.0/16' }], dataDir: join(dir, 'ref-ipam') },
  };
  const contenders = {
    'node -e 0': { file: process.execPath, args: ['-e', '0'], conf: {}, ifname: 'none', env: {} },
    weft: { file: WEFT, args: [], conf: weftConf, ifname: 'eth0', env: {} },
    'weft, shipped (single executable)': { file: join(dir, 'weft-sea'), args: [], conf: seaConf, ifname: 'eth3', env: {} },
    'bridge+host-local (reference)': { file: join(REF_DIR, 'bridge'), args: [], conf: refConf, ifname: 'eth1', env: { CNI_PATH: REF_DIR } },
    'weft shim over a socket (prototype)': {
      file: process.execPath,
      args: [SHIM],
      conf: sockConf,
      ifname: 'eth2',
      env: { WEFT_CNI_SOCKET: socket },
    },
  };
  const names = Object.keys(contenders);
  const samples = Object.fromEntries(names.map((n) => [n, { add: [], del: [], addCpuTicks: 0, delCpuTicks: 0 }]));
  for (const command of ['ADD', 'DEL']) {
    for (let i = 0; i < pods.length; i++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(i + k) % names.length];
        const c = contenders[name];
        // CPU of the invocation: children reaped by this process (the plugin and its own children), plus
        // the socket server's for the shim, in clock ticks; summed over all pods for a mean per call.
        const cpu0 = childTicks() + (c.args[0] === SHIM ? procTicks(serverPid) : 0);
        const ms = await timed(c, command, `pod${i}`, pods[i]);
        const cpu = childTicks() + (c.args[0] === SHIM ? procTicks(serverPid) : 0) - cpu0;
        const key = command === 'ADD' ? 'add' : 'del';
        samples[name][key].push(ms);
        samples[name][`${key}CpuTicks`] += cpu;
      }
    }
  }
  process.stdout.write(JSON.stringify(samples));
}

/** cutime + cstime of this process: CPU of the children it has waited for (clock ticks). */
function childTicks() {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[13]) + Number(rest[14]);
}

function timed(c, command, containerId, netns) {
  const env = { ...ENV, ...c.env, CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: netns, CNI_IFNAME: c.ifname };
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(c.file, c.args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`${c.file} ${command} ${containerId} exited ${code}: ${out}`));
      else resolve(ms);
    });
    child.stdin.end(JSON.stringify(c.conf));
  });
}

// The long-running side of the shim prototype: runs the plugin's own code in-process per request.
async function server(socketPath) {
  const { pluginMain, weftPlugin, ABOUT, setLogSink } = await import('@weft/cni-shim');
  setLogSink(() => undefined, 'silent');
  const srv = createServer({ allowHalfOpen: true }, (conn) => {
    let req = '';
    conn.setEncoding('utf8').on('data', (d) => (req += d));
    conn.on('end', async () => {
      const { env, stdin } = JSON.parse(req);
      let stdout = '';
      let stderr = '';
      const io = { env, readStdin: () => stdin, writeStdout: (t) => (stdout += t), writeStderr: (t) => (stderr += t) };
      const code = await pluginMain(weftPlugin, io, ABOUT);
      conn.end(JSON.stringify({ code, stdout, stderr }));
    });
  });
  srv.listen(socketPath, () => console.log('listening'));
  process.on('SIGTERM', () => srv.close(() => process.exit(0)));
}
