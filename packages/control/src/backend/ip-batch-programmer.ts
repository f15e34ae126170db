/**
 * HostProgrammer over iproute2: reads with `ip -j`, writes with one `ip -force -batch -` per round.
 *
 * Why `ip -batch` and not a netlink socket: iproute2 is on every node flannel runs on, one process
 * applies any number of changes (1000 leases = one spawn for 2000 lines, see bench/control-bench.mjs),
 * and `-force` keeps going past a failing line and names it (`Command failed -:N`), so one bad entry
 * never blocks the others. Every token written has been validated (IPv4, MAC, CIDR) before it gets
 * here, so lease data cannot add words to a line.
 */
import { readFile } from 'node:fs/promises';
import {
  formatIpv4,
  neighDelLine,
  neighPermanentLine,
  parseBatchFailures as parseIpBatchFailures,
  routeDelLine,
  routeOnlinkLine,
  parseIpv4Cidr,
} from '@weft/netbase';
import {
  WEFT_ROUTE_PROTO,
  type HostAddress,
  type HostNeighbour,
  type HostOp,
  type HostOpFailure,
  type HostProgrammer,
  type HostRoute,
} from './host-programmer.js';
import { mustRunHostTool, runHostTool } from '../host/host-tool.js';

const IFF_UP = 0x1;
/** Deleting something that is already gone: fine. */
const ALREADY_GONE = /No such (process|file or directory)|Cannot find|does not exist/i;

interface IpRouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
  flags?: string[];
  protocol?: string;
}
interface IpNeighJson {
  dst: string;
  lladdr?: string;
  state?: string[];
}
interface IpAddrJson {
  ifname?: string;
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}

export class IpBatchProgrammer implements HostProgrammer {
  constructor(readonly dev: string) {}

  async setAddress(cidr: string): Promise<void> {
    const out = await mustRunHostTool('ip', ['-j', '-4', 'addr', 'show', 'dev', this.dev]);
    const links = JSON.parse(out || '[]') as IpAddrJson[];
    const have = (links[0]?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
    const lines = have.includes(cidr) ? [] : [`addr add ${cidr} dev ${this.dev}`];
    lines.push(...have.filter((a) => a !== cidr).map((a) => `addr del ${a} dev ${this.dev}`));
    if (lines.length > 0) await mustRunHostTool('ip', ['-batch', '-'], { stdin: lines.join('\n') + '\n' });
  }

  async routes(): Promise<HostRoute[]> {
    const out = await mustRunHostTool('ip', ['-j', '-4', 'route', 'show', 'table', 'main']);
    return (JSON.parse(out || '[]') as IpRouteJson[]).map((r) => toHostRoute(r, this.dev));
  }

  async addresses(): Promise<HostAddress[]> {
    const out = await mustRunHostTool('ip', ['-j', '-4', 'addr', 'show']);
    return (JSON.parse(out || '[]') as IpAddrJson[]).flatMap((l) =>
      (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => ({ dev: l.ifname ?? '', local: a.local, prefixLen: a.prefixlen })),
    );
  }

  async neighbours(): Promise<HostNeighbour[]> {
    const out = await mustRunHostTool('ip', ['-j', '-4', 'neigh', 'show', 'dev', this.dev]);
    return (JSON.parse(out || '[]') as IpNeighJson[]).map((n) => ({
      ip: n.dst,
      ...(n.lladdr ? { mac: n.lladdr } : {}),
      permanent: n.state?.includes('PERMANENT') ?? false,
    }));
  }

  async apply(ops: readonly HostOp[]): Promise<HostOpFailure[]> {
    if (ops.length === 0) return [];
    const lines = ops.map((o) => ipBatchLine(o, this.dev));
    const r = await runHostTool('ip', ['-force', '-batch', '-'], { stdin: lines.join('\n') + '\n', timeoutMs: 120_000 });
    if (r.code === 0) return [];
    const failures = parseBatchFailures(r.stderr, ops);
    if (failures.length === 0) throw new Error(`ip -batch failed (exit ${r.code}): ${r.stderr.trim()}`);
    return failures.filter((f) => !(isDelete(f.op) && ALREADY_GONE.test(f.message)));
  }

  async isUp(): Promise<boolean> {
    try {
      const flags = await readFile(`/sys/class/net/${this.dev}/flags`, 'utf8');
      return (parseInt(flags, 16) & IFF_UP) !== 0;
    } catch {
      return false;
    }
  }
}

export function ipBatchLine(o: HostOp, dev: string): string {
  switch (o.op) {
    case 'neigh-replace':
      return neighPermanentLine(o.ip, o.mac, dev);
    case 'neigh-del':
      return neighDelLine(o.ip, dev);
    case 'route-replace':
      return routeOnlinkLine(o.dst, o.via, dev, WEFT_ROUTE_PROTO);
    case 'route-del':
      return o.legacy ? `route del ${o.dst} via ${gatewayOf(o.dst)} dev ${dev}` : routeDelLine(o.dst, dev, WEFT_ROUTE_PROTO);
  }
}

/** One `ip -j route` entry; `weft` when it carries weft's proto or is a legacy weft route on `dev`. */
export function toHostRoute(r: IpRouteJson, dev: string): HostRoute {
  const dst = r.dst === 'default' ? '0.0.0.0/0' : r.dst.includes('/') ? r.dst : `${r.dst}/32`;
  const onlink = r.flags?.includes('onlink') ?? false;
  const marked = r.protocol === String(WEFT_ROUTE_PROTO);
  const legacy =
    !marked &&
    r.dev === dev &&
    onlink &&
    r.gateway !== undefined &&
    r.gateway === gatewayOf(dst) &&
    (r.protocol === undefined || r.protocol === 'boot');
  return {
    dst,
    ...(r.gateway ? { gateway: r.gateway } : {}),
    onlink,
    ...(r.dev ? { dev: r.dev } : {}),
    weft: marked || legacy,
    ...(legacy ? { legacy } : {}),
  };
}

function gatewayOf(dst: string): string {
  try {
    return formatIpv4(parseIpv4Cidr(dst, { allowHostBits: true }).base);
  } catch {
    return '';
  }
}

/** Maps `ip -force -batch` stderr (messages, then `Command failed -:N`) to the ops that failed. */
export function parseBatchFailures(stderr: string, ops: readonly HostOp[]): HostOpFailure[] {
  return parseIpBatchFailures(stderr).flatMap((f) => {
    const op = ops[f.line - 1];
    return op ? [{ op, message: f.message }] : [];
  });
}

function isDelete(o: HostOp): boolean {
  return o.op === 'neigh-del' || o.op === 'route-del';
}
