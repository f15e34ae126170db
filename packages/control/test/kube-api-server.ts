/**
 * A fake Kubernetes API server for nodes, speaking the real wire format over HTTP on loopback, so
 * @kubernetes/client-node runs unmodified against it (no real API server can be installed here):
 *
 *   GET   /api/v1/nodes                      NodeList {metadata.resourceVersion, items}
 *   GET   /api/v1/nodes?watch=true&resourceVersion=N
 *                                             chunked stream of JSON lines {"type":"ADDED"|"MODIFIED"|"DELETED","object":…};
 *                                             N older than the kept history → one {"type":"ERROR","object":Status 410} line
 *   GET   /api/v1/nodes/NAME                 the Node, or a 404 Status
 *   PATCH /api/v1/nodes/NAME[/status]        application/strategic-merge-patch+json (status.conditions merged by
 *                                             `type`, like the real strategy), application/merge-patch+json (RFC 7386),
 *                                             application/json-patch+json (RFC 6902 add/replace/remove); anything else 415.
 *                                             /status keeps the spec, the main resource keeps the status (as the API does).
 *
 * And, for NetworkPolicy, list + watch (same wire format, same 410 rule) of
 *   GET   /api/v1/namespaces, /api/v1/pods, /apis/networking.k8s.io/v1/networkpolicies
 *   GET   /api/v1/namespaces/NS/pods, /apis/networking.k8s.io/v1/namespaces/NS/networkpolicies (lists)
 * which tests create, update and delete with put()/remove() (the API's writes are not served over HTTP).
 *
 * Every write bumps one global resourceVersion. Tests change the cluster with addNode/updateNode/
 * deleteNode, cut the history with compact(), break every open watch with dropWatches(), and read what
 * clients sent in `requests`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

type Json = Record<string, unknown>;
export interface RecordedRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  body: unknown;
}

/** The listable resources besides nodes, by their plural (the URL segment). */
export type KubeResource = 'namespaces' | 'pods' | 'networkpolicies';
const LIST_KIND: Record<KubeResource | 'nodes', [apiVersion: string, kind: string]> = {
  nodes: ['v1', 'NodeList'],
  namespaces: ['v1', 'NamespaceList'],
  pods: ['v1', 'PodList'],
  networkpolicies: ['networking.k8s.io/v1', 'NetworkPolicyList'],
};

interface WatchEvent {
  resource: KubeResource | 'nodes';
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Json;
}

export class FakeKubeApiServer {
  readonly requests: RecordedRequest[] = [];
  private readonly nodes = new Map<string, Json>();
  /** Other resources by plural, keyed "namespace/name" (cluster-scoped: "/name"). */
  private readonly objects: Record<KubeResource, Map<string, Json>> = {
    namespaces: new Map(),
    pods: new Map(),
    networkpolicies: new Map(),
  };
  private readonly streamResource = new Map<ServerResponse, KubeResource | 'nodes'>();
  private history: WatchEvent[] = [];
  private oldestRv = 0;
  private rv = 100;
  private readonly streams = new Set<ServerResponse>();
  private server: Server | undefined;
  private port = 0;

  /** Starts listening on 127.0.0.1 (a free port; or `port` to come back on the same one). */
  async start(port = this.port): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Stops listening and ends every watch (an API server that went away). */
  async stop(): Promise<void> {
    this.dropWatches();
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    // close() waits for every open connection; a client's keep-alive or a watch it just re-opened would hold it
    // forever, so they are cut first (the flake this fixes: an afterEach hook timing out in api.stop()).
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await closed;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A KubeConfig pointing at this server, no auth. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    return kc;
  }

  private created = 0;

  // ---- cluster state knobs ----

  addNode(name: string, podCIDR: string | undefined, annotations: Record<string, string> = {}): Json {
    const node: Json = {
      apiVersion: 'v1',
      kind: 'Node',
      // Whole seconds, as the API server writes them; one second apart so creation order is known.
      metadata: {
        name,
        uid: `uid-${name}`,
        creationTimestamp: new Date(Date.UTC(2026, 0, 1) + this.created++ * 1000).toISOString().replace('.000', ''),
        annotations: { ...annotations },
      },
      spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    };
    return this.write('ADDED', node);
  }

  updateNode(name: string, mutate: (node: Json) => void): Json {
    const node = structuredClone(this.mustGet(name));
    mutate(node);
    return this.write('MODIFIED', node);
  }

  deleteNode(name: string): void {
    const node = this.mustGet(name);
    this.nodes.delete(name);
    this.record('DELETED', { ...node, metadata: { ...(node.metadata as Json), resourceVersion: String(++this.rv) } });
  }

  getNode(name: string): Json | undefined {
    const n = this.nodes.get(name);
    return n && structuredClone(n);
  }

  /** Forgets the watch history: watches from an older resourceVersion get 410 Gone. */
  compact(): void {
    this.history = [];
    this.oldestRv = this.rv;
  }

  /** Ends every open watch stream (clients reconnect from their last resourceVersion). */
  dropWatches(): void {
    for (const res of this.streams) res.end();
    this.streams.clear();
  }

  get watchCount(): number {
    return this.streams.size;
  }

  /** Creates or replaces a namespace, pod or network policy (ADDED or MODIFIED on its watch). */
  put(resource: KubeResource, obj: Json): Json {
    const o = structuredClone(obj);
    const meta = (o.metadata ??= {}) as Json;
    const key = `${resource === 'namespaces' ? '' : String(meta.namespace ?? 'default')}/${String(meta.name)}`;
    if (resource !== 'namespaces') meta.namespace ??= 'default';
    meta.uid ??= `uid-${resource}-${key}`;
    meta.resourceVersion = String(++this.rv);
    const type = this.objects[resource].has(key) ? 'MODIFIED' : 'ADDED';
    this.objects[resource].set(key, o);
    this.record(type, o, resource);
    return structuredClone(o);
  }

  /** Deletes a namespace (namespace undefined), pod or network policy; false when there was none. */
  remove(resource: KubeResource, namespace: string | undefined, name: string): boolean {
    const key = `${namespace ?? ''}/${name}`;
    const o = this.objects[resource].get(key);
    if (!o) return false;
    this.objects[resource].delete(key);
    this.record('DELETED', { ...o, metadata: { ...(o.metadata as Json), resourceVersion: String(++this.rv) } }, resource);
    return true;
  }

  get(resource: KubeResource, namespace: string | undefined, name: string): Json | undefined {
    const o = this.objects[resource].get(`${namespace ?? ''}/${name}`);
    return o && structuredClone(o);
  }

  /** The global resourceVersion of the last write. */
  get resourceVersion(): number {
    return this.rv;
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const raw = await readBody(req);
    const contentType = req.headers['content-type']?.split(';')[0];
    let body: unknown = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      /* keep raw */
    }
    this.requests.push({ method: req.method ?? '', path: url.pathname + url.search, contentType, body });
    const other = /^\/(?:api\/v1|apis\/networking\.k8s\.io\/v1)(?:\/namespaces\/([^/]+))?\/(namespaces|pods|networkpolicies)$/.exec(
      url.pathname,
    );
    if (other && req.method === 'GET') return this.serveList(res, other[2] as KubeResource, other[1], url);
    const m = /^\/api\/v1\/nodes(?:\/([^/]+))?(\/status)?$/.exec(url.pathname);
    if (!m) return sendStatus(res, 404, 'NotFound', `the server could not find the requested resource ${url.pathname}`);
    const [, name, status] = m;
    if (req.method === 'GET' && !name && url.searchParams.get('watch') === 'true')
      return this.watch(res, Number(url.searchParams.get('resourceVersion') ?? 0));
    if (req.method === 'GET' && !name) return sendJson(res, 200, this.list());
    if (req.method === 'GET' && name && !status)
      return this.nodes.has(name) ? sendJson(res, 200, this.nodes.get(name)) : notFound(res, name);
    if (req.method === 'PATCH' && name) return this.patch(res, name, Boolean(status), contentType, body);
    sendStatus(res, 405, 'MethodNotAllowed', `${req.method} is not supported on ${url.pathname}`);
  }

  private serveList(res: ServerResponse, resource: KubeResource, namespace: string | undefined, url: URL): void {
    const coreGroup = resource !== 'networkpolicies';
    if (coreGroup !== url.pathname.startsWith('/api/v1/') || (resource === 'namespaces' && namespace))
      return sendStatus(res, 404, 'NotFound', `no such resource ${url.pathname}`);
    if (url.searchParams.get('watch') === 'true') return this.watch(res, Number(url.searchParams.get('resourceVersion') ?? 0), resource);
    const items = [...this.objects[resource].values()].filter((o) => !namespace || (o.metadata as Json).namespace === namespace);
    const [apiVersion, kind] = LIST_KIND[resource];
    sendJson(res, 200, { kind, apiVersion, metadata: { resourceVersion: String(this.rv) }, items });
  }

  private list(): Json {
    return { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items: [...this.nodes.values()] };
  }

  private watch(res: ServerResponse, from: number, resource: KubeResource | 'nodes' = 'nodes'): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders(); // the API server answers a watch at once, events follow
    if (from < this.oldestRv) {
      const gone = {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'Expired',
        code: 410,
        message: `too old resource version: ${from} (${this.oldestRv})`,
      };
      res.end(JSON.stringify({ type: 'ERROR', object: gone }) + '\n');
      return;
    }
    this.streams.add(res);
    this.streamResource.set(res, resource);
    res.on('close', () => (this.streams.delete(res), this.streamResource.delete(res)));
    for (const ev of this.history)
      if (ev.rv > from && ev.resource === resource) res.write(JSON.stringify({ type: ev.type, object: ev.object }) + '\n');
  }

  private patch(res: ServerResponse, name: string, status: boolean, contentType: string | undefined, body: unknown): void {
    const node = this.nodes.get(name);
    if (!node) return notFound(res, name);
    let patched: Json;
    try {
      patched = applyPatch(structuredClone(node), contentType, body);
    } catch (e) {
      return sendStatus(res, (e as { code?: number }).code ?? 422, 'Invalid', (e as Error).message);
    }
    if (status)
      patched.spec = node.spec; // the status subresource ignores spec changes
    else patched.status = node.status; // the main resource ignores status changes
    sendJson(res, 200, this.write('MODIFIED', patched));
  }

  private write(type: 'ADDED' | 'MODIFIED', node: Json): Json {
    const meta = node.metadata as Json;
    meta.resourceVersion = String(++this.rv);
    this.nodes.set(meta.name as string, node);
    this.record(type, node);
    return structuredClone(node);
  }

  private record(type: WatchEvent['type'], object: Json, resource: WatchEvent['resource'] = 'nodes'): void {
    const ev = { resource, rv: this.rv, type, object: structuredClone(object) };
    this.history.push(ev);
    for (const res of this.streams)
      if (this.streamResource.get(res) === resource) res.write(JSON.stringify({ type, object: ev.object }) + '\n');
  }

  private mustGet(name: string): Json {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`fake API: no node ${name}`);
    return n;
  }
}

function applyPatch(node: Json, contentType: string | undefined, body: unknown): Json {
  switch (contentType) {
    case 'application/strategic-merge-patch+json':
      return strategicMerge(node, body as Json);
    case 'application/merge-patch+json':
      return mergePatch(node, body) as Json;
    case 'application/json-patch+json':
      return jsonPatch(node, body as JsonPatchOp[]);
    default:
      throw Object.assign(
        new Error(
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got ${contentType})`,
        ),
        { code: 415 },
      );
  }
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Json = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [k, v] of Object.entries(patch as Json)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Merge patch, except that status.conditions is a list merged by its `type` key (patchMergeKey). */
function strategicMerge(node: Json, patch: Json): Json {
  const conditions = (patch.status as Json | undefined)?.conditions as Json[] | undefined;
  const rest = structuredClone(patch);
  if (conditions) delete (rest.status as Json).conditions;
  const out = mergePatch(node, rest) as Json;
  if (conditions) {
    const status = (out.status ??= {}) as Json;
    const merged = [...((status.conditions as Json[] | undefined) ?? [])];
    for (const c of conditions) {
      const i = merged.findIndex((x) => x.type === c.type);
      if (i >= 0) merged[i] = { ...merged[i], ...c };
      else merged.push(c);
    }
    status.conditions = merged;
  }
  return out;
}

interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

function jsonPatch(node: Json, ops: JsonPatchOp[]): Json {
  for (const op of ops) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop()!;
    let cur: Json = node;
    for (const p of parts) cur = (cur[p] ??= {}) as Json;
    if (op.op === 'remove') delete cur[last];
    else cur[last] = op.value;
  }
  return node;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (s += d));
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  sendJson(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

function notFound(res: ServerResponse, name: string): void {
  sendStatus(res, 404, 'NotFound', `nodes "${name}" not found`);
}
