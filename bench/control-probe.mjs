// Runs inside a node namespace for bench/control-bench.mjs: writes fake flannel leases to etcd with the
// etcd3 client and watches the node's routes with one `ip -o monitor route`, so a lease's write and its
// route's appearance are timed on one clock, in one process, without spawning per lease.
//
//   node control-probe.mjs latency <etcd> <prefix> <count> <first>   → {"samples":[ms...]} (one lease at a time)
//   node control-probe.mjs fill <etcd> <prefix> <count> <first>      → {"ms":...} (all at once, until every route is there)
//   node control-probe.mjs clear <etcd> <prefix> <count> <first>     → {"ms":...} (delete them, until every route is gone)
// Lease n (from <first>) is subnet 10.(1 + n>>8).(n&255).0/24, PublicIP 192.168.200.(n&255), VtepMAC 0e:00:00:00:hi:lo.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Etcd3 } from 'etcd3';

const [mode, endpoint, prefix, countText, firstText] = process.argv.slice(2);
const count = Number(countText);
const first = Number(firstText ?? 0);
const hex = (v) => v.toString(16).padStart(2, '0');

function fakeLease(n) {
  const subnet = `10.${1 + (n >> 8)}.${n & 255}.0/24`;
  const value = {
    PublicIP: `192.168.200.${n & 255}`,
    PublicIPv6: null,
    BackendType: 'vxlan',
    BackendData: { VNI: 1, VtepMAC: `0e:00:00:00:${hex(n >> 8)}:${hex(n & 255)}` },
  };
  return { subnet, key: `${prefix}/subnets/${subnet.replace('/', '-')}`, value: JSON.stringify(value) };
}

/** Route added/deleted events on weft.1, by destination. */
function watchRoutes() {
  const waiters = new Map();
  const mon = spawn('ip', ['-o', '-4', 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'inherit'] });
  createInterface({ input: mon.stdout }).on('line', (line) => {
    const deleted = line.startsWith('Deleted ');
    const dst = (deleted ? line.slice(8) : line).split(' ')[0];
    const w = waiters.get(`${deleted ? '-' : '+'}${dst}`);
    if (w) w();
  });
  const until = (sign, dst) =>
    new Promise((resolve) =>
      waiters.set(`${sign}${dst}`, () => {
        waiters.delete(`${sign}${dst}`);
        resolve();
      }),
    );
  return { until, stop: () => mon.kill() };
}

const etcd = new Etcd3({ hosts: [endpoint] });
const routes = watchRoutes();
await new Promise((r) => setTimeout(r, 300)); // let `ip monitor` subscribe
const leases = Array.from({ length: count }, (_, i) => fakeLease(first + i));

if (mode === 'latency') {
  const samples = [];
  for (const l of leases) {
    const seen = routes.until('+', l.subnet);
    const t0 = performance.now();
    await etcd.put(l.key).value(l.value);
    await seen;
    samples.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 20));
  }
  process.stdout.write(JSON.stringify({ samples }) + '\n');
} else {
  const sign = mode === 'fill' ? '+' : '-';
  const seen = Promise.all(leases.map((l) => routes.until(sign, l.subnet)));
  const t0 = performance.now();
  for (let i = 0; i < leases.length; i += 100) {
    const ops = leases.slice(i, i + 100).map((l) => (mode === 'fill' ? etcd.put(l.key).value(l.value) : etcd.delete().key(l.key)));
    await etcd
      .if(leases[i].key, 'Version', '>', -1)
      .then(...ops)
      .commit();
  }
  await seen;
  process.stdout.write(JSON.stringify({ ms: performance.now() - t0 }) + '\n');
}
routes.stop();
etcd.close();
