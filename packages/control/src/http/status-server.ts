/**
 * weftd's HTTP endpoint (`--healthz-ip`/`--healthz-port`, as flannel's):
 *
 *   GET /healthz     200 "ok" while the process serves requests and its datapath worker is alive and
 *                    moving packets; 503 with the cause while the watchdog holds it failed (liveness)
 *   GET /readyz      200 when the lease is held, the VTEP device is up and the subnet file is written;
 *                    503 otherwise, with the failing checks in the body (readiness)
 *   GET /metrics     Prometheus text format
 *   GET /v1/status   JSON NodeStatus: lease, VTEP, MTU, peers, leases with verdicts, counters (weftctl)
 *   GET /v1/fdb      JSON list of the datapath's FDB entries
 *   GET /v1/policy?pod=NS/NAME  JSON: the NetworkPolicies selecting a pod and what they allow (--network-policy)
 *
 * Exposure: /healthz, /readyz and /metrics answer anyone who reaches --healthz-ip:--healthz-port (flannel's
 * flag semantics: kubelet probes and Prometheus come from elsewhere). /v1/* lists every node's PublicIP
 * and VTEP MAC, so it answers only requests from this host (a loopback source, or a source equal to
 * the address the request reached); others get 403. weftctl runs on the node and asks 127.0.0.1.
 * Read-only; a handler that fails answers 500 with the error and never takes the daemon down.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { StatusSource } from './node-status.js';
import { PROMETHEUS_CONTENT_TYPE, renderExposition } from './prometheus-text.js';
import { weftdMetrics } from './weftd-metrics.js';

type Route = (src: StatusSource, url: URL) => Promise<{ status: number; type: string; body: string }>;

const json = (status: number, v: unknown): { status: number; type: string; body: string } => ({
  status,
  type: 'application/json',
  body: JSON.stringify(v, null, 2) + '\n',
});

const ROUTES = new Map<string, Route>(
  Object.entries({
    '/healthz': async (src) => {
      const l = src.liveness?.() ?? { ok: true };
      return { status: l.ok ? 200 : 503, type: 'text/plain', body: l.ok ? 'ok\n' : `datapath failed: ${l.cause ?? 'unknown'}\n` };
    },
    '/readyz': async (src) => {
      const r = await src.readiness();
      const failing = Object.entries(r.checks)
        .filter(([, ok]) => ok === false)
        .map(([k]) => k);
      const detail = r.detail ? ` (${r.detail})` : '';
      return { status: r.ready ? 200 : 503, type: 'text/plain', body: r.ready ? 'ok\n' : `not ready: ${failing.join(', ')}${detail}\n` };
    },
    '/metrics': async (src) => {
      const [s, r] = await Promise.all([src.status(), src.readiness()]);
      return { status: 200, type: PROMETHEUS_CONTENT_TYPE, body: renderExposition(weftdMetrics(s, r, process.memoryUsage.rss())) };
    },
    '/v1/status': async (src) => json(200, await src.status()),
    '/v1/fdb': async (src) => json(200, await src.fdb()),
    '/v1/policy': async (src, url) => {
      if (!src.policy) return json(404, { error: 'network policy is off (weftd --network-policy)' });
      const report = await src.policy(url.searchParams.get('pod') ?? '');
      return report ? json(200, report) : json(404, { error: `no pod ${url.searchParams.get('pod')} with an IP is known` });
    },
  } satisfies Record<string, Route>),
);

export class StatusServer {
  private constructor(
    private readonly server: Server,
    readonly address: string,
    readonly port: number,
  ) {}

  static async listen(src: StatusSource, host: string, port: number, log: Logger): Promise<StatusServer> {
    const server = createServer((req, res) => void handle(src, req, res, log));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new Error(`cannot listen on ${host}:${port} (--healthz-ip/--healthz-port): ${e.message}`)));
      server.listen(port, host, () => resolve());
    });
    const a = server.address() as AddressInfo;
    log.info({ address: a.address, port: a.port }, 'serving /healthz /readyz /metrics /v1/status /v1/fdb');
    return new StatusServer(server, a.address, a.port);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function handle(src: StatusSource, req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const route = ROUTES.get(path);
  if (route && path.startsWith('/v1/') && !fromThisHost(req)) {
    res
      .writeHead(403, { 'content-type': 'text/plain' })
      .end('forbidden: /v1/ answers only requests from this host (weftctl on the node)\n');
    return;
  }
  if (!route || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(route ? 405 : 404, { 'content-type': 'text/plain' }).end(route ? 'method not allowed\n' : 'not found\n');
    return;
  }
  try {
    const r = await route(src, new URL(req.url ?? '/', 'http://weftd'));
    res.writeHead(r.status, { 'content-type': r.type }).end(req.method === 'HEAD' ? undefined : r.body);
  } catch (e) {
    log.warn({ err: e, path }, 'HTTP handler failed');
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`error: ${(e as Error).message}\n`);
  }
}

/** A loopback source, or a source that is the very address the request reached (a local process). */
export function fromThisHost(req: IncomingMessage): boolean {
  const remote = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const local = (req.socket.localAddress ?? '').replace(/^::ffff:/, '');
  return remote.startsWith('127.') || remote === '::1' || (remote !== '' && remote === local);
}
