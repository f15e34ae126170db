import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { StatusServer } from '../src/http/status-server.js';
import type { NodeStatus, Readiness, StatusSource } from '../src/http/node-status.js';

const status: NodeStatus = {
  version: '0.1.0',
  startedAt: new Date(0).toISOString(),
  subnetManager: 'test',
  subnetFile: { path: '/run/flannel/subnet.env', written: false },
  ipMasq: false,
  peers: [],
  iptablesRepairs: 0,
  leaseEvents: 0,
};

class Source implements StatusSource {
  ready: Readiness = { ready: false, checks: { leaseHeld: true, deviceUp: false, subnetFileWritten: false } };
  failStatus = false;
  async status(): Promise<NodeStatus> {
    if (this.failStatus) throw new Error('boom');
    return status;
  }
  async readiness(): Promise<Readiness> {
    return this.ready;
  }
  async fdb() {
    return [{ mac: '0a:00:00:00:00:02', remote: '192.168.1.2', kind: 'pinned' }];
  }
}

let server: StatusServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(src: StatusSource): Promise<(path: string, init?: RequestInit) => Promise<Response>> {
  server = await StatusServer.listen(src, '127.0.0.1', 0, pino({ level: 'silent' }));
  return (path, init) => fetch(`http://127.0.0.1:${server!.port}${path}`, init);
}

describe('status server', () => {
  it('/healthz answers while the process runs; /readyz names what is missing', async () => {
    const src = new Source();
    const get = await serve(src);
    expect(await (await get('/healthz')).text()).toBe('ok\n');
    const r = await get('/readyz');
    expect(r.status).toBe(503);
    expect(await r.text()).toBe('not ready: deviceUp, subnetFileWritten\n');
    src.ready = { ready: true, checks: { leaseHeld: true, deviceUp: true, subnetFileWritten: true } };
    expect((await get('/readyz')).status).toBe(200);
  });

  it('/metrics is Prometheus text; /v1/status and /v1/fdb are JSON', async () => {
    const get = await serve(new Source());
    const m = await get('/metrics');
    expect(m.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    expect(await m.text()).toContain('weft_ready 0\n');
    expect(await (await get('/v1/status')).json()).toMatchObject({ subnetManager: 'test', peers: [] });
    expect(await (await get('/v1/fdb')).json()).toEqual([{ mac: '0a:00:00:00:00:02', remote: '192.168.1.2', kind: 'pinned' }]);
  });

  it('unknown paths 404, other methods 405, a failing handler 500 without taking the server down', async () => {
    const src = new Source();
    const get = await serve(src);
    expect((await get('/nope')).status).toBe(404);
    expect((await get('/healthz', { method: 'POST' })).status).toBe(405);
    src.failStatus = true;
    const r = await get('/v1/status');
    expect(r.status).toBe(500);
    expect(await r.text()).toContain('boom');
    expect((await get('/healthz')).status).toBe(200);
  });

  it('a taken port is an error naming the flags', async () => {
    const first = await StatusServer.listen(new Source(), '127.0.0.1', 0, pino({ level: 'silent' }));
    try {
      await expect(StatusServer.listen(new Source(), '127.0.0.1', first.port, pino({ level: 'silent' }))).rejects.toThrow(
        /--healthz-ip\/--healthz-port/,
      );
    } finally {
      await first.close();
    }
  });
});

describe('/healthz and a failed datapath', () => {
  it('503 with the cause while the watchdog holds the datapath failed; 200 once it recovered', async () => {
    const src = new Source() as Source & { liveness: () => { ok: boolean; cause?: string } };
    let failed: string | undefined = 'datapath worker stalled: no loop turn for 1000 ms';
    src.liveness = () => (failed ? { ok: false, cause: failed } : { ok: true });
    src.ready = { ready: false, checks: { leaseHeld: true, deviceUp: true, subnetFileWritten: true, datapathHealthy: false } };
    const get = await serve(src);
    const h = await get('/healthz');
    expect(h.status).toBe(503);
    expect(await h.text()).toBe('datapath failed: datapath worker stalled: no loop turn for 1000 ms\n');
    expect(await (await get('/readyz')).text()).toBe('not ready: datapathHealthy\n');
    failed = undefined;
    expect((await get('/healthz')).status).toBe(200);
  });
});
