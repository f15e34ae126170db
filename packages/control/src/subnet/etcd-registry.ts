/**
 * SubnetRegistry on etcd v3 (the `etcd3` client), with flannel's layout: `<prefix>/config` and
 * `<prefix>/subnets/<a.b.c.d-len>`, values attached to etcd leases.
 *
 * - create: grant a lease, then txn `Version(key) == 0 → Put(key, value, lease)`; the lease is revoked
 *   when the txn loses, so a lost race leaves nothing behind.
 * - update (reuse and renewal): grant a fresh lease and Put, as flannel does; renewals add the guard
 *   `Value(key) == ours` so a lease deleted or retaken meanwhile is reported, never resurrected, and
 *   revoke the lease they replace (flannel leaves those to expire, one per renewal).
 * - watch: one etcd watcher on the subnets prefix from a revision. The client library would resume a
 *   broken stream by itself, but from the revision of the last *response header*, which can skip
 *   events still in flight (and cannot tell a wiped or restored etcd); so on a disconnect this watcher
 *   is cancelled and the caller re-lists (lease-watch.ts). A watch cancelled by the server (compaction) → WatchCompactedError.
 *   The stream can also go quiet without any event (weft sets no gRPC keepalive): subnetsProgress is
 *   the one range read the lease watch checks it against.
 * - values larger than MAX_LEASE_VALUE_BYTES are never turned into strings (boundedValue): the key
 *   and its size go on, so the manager counts and logs it and nothing parses it.
 * - unary calls get a deadline (`callTimeoutMs`), so an unreachable etcd fails a call instead of
 *   hanging it; the watch stream has none.
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { Etcd3, type IKeyValue, type IOptions } from 'etcd3';
import type { Logger } from 'pino';
import type { LeaseGrant, RegistryEvent, RegistryKv, SubnetRegistry, SubnetsProgress } from './subnet-registry.js';
import { WatchCompactedError, boundedValue } from './subnet-registry.js';

export const DEFAULT_ETCD_PREFIX = '/coreos.com/network';
export const DEFAULT_ETCD_ENDPOINTS = ['http://127.0.0.1:2379'];

export interface EtcdTlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface EtcdRegistryOptions {
  endpoints: string[];
  prefix?: string;
  tls?: EtcdTlsFiles;
  logger: Logger;
  /** Deadline of each unary etcd call; default 5 s. */
  callTimeoutMs?: number;
}

export class EtcdRegistry implements SubnetRegistry {
  readonly description: string;
  readonly prefix: string;
  private readonly client: Etcd3;
  private readonly subnetsDir: string;

  constructor(private readonly opts: EtcdRegistryOptions) {
    if (opts.endpoints.length === 0) throw new Error('etcd endpoints: at least one endpoint is needed');
    this.prefix = posix.join('/', opts.prefix ?? DEFAULT_ETCD_PREFIX);
    this.subnetsDir = posix.join(this.prefix, 'subnets') + '/';
    this.description = `etcd ${opts.endpoints.join(',')} prefix ${this.prefix}`;
    const timeout = opts.callTimeoutMs ?? 5_000;
    const options: IOptions = {
      hosts: opts.endpoints,
      // A list of the subnets prefix carries every value, however big (etcd takes values up to its
      // --max-request-bytes, 1.5 MiB by default): with grpc's 4 MiB receive limit three oversized values
      // would make every list fail, and with it allocation and re-listing. The values are dropped unread
      // (boundedValue) as soon as the response is decoded.
      grpcOptions: { 'grpc.max_receive_message_length': -1 },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    };
    const credentials = readTlsFiles(opts.tls);
    if (credentials) options.credentials = credentials;
    this.client = new Etcd3(options);
  }

  async getNetworkConfig(): Promise<string | undefined> {
    const text = await this.client.get(posix.join(this.prefix, 'config')).string();
    return text ?? undefined;
  }

  async listSubnets(): Promise<{ kvs: RegistryKv[]; revision: number; clusterId: string }> {
    const res = await this.client.getAll().prefix(this.subnetsDir).exec();
    const kvs = res.kvs.map((kv) => this.toKv(kv));
    return { kvs, revision: Number(res.header.revision), clusterId: String(res.header.cluster_id) };
  }

  private toKv(kv: IKeyValue): RegistryKv {
    return {
      name: kv.key.toString().slice(this.subnetsDir.length),
      ...boundedValue(kv.value),
      lease: kv.lease || '0',
      modRevision: Number(kv.mod_revision),
      createRevision: Number(kv.create_revision),
    };
  }

  async createSubnet(name: string, value: string, ttlSec: number): Promise<LeaseGrant | undefined> {
    const key = this.keyOf(name);
    const grant = await this.grant(ttlSec);
    try {
      const res = await this.client.if(key, 'Version', '==', 0).then(this.client.put(key).value(value).lease(grant.lease)).commit();
      if (res.succeeded) return grant;
    } catch (e) {
      await this.revoke(grant.lease);
      throw e;
    }
    await this.revoke(grant.lease);
    return undefined;
  }

  async updateSubnet(
    name: string,
    value: string,
    ttlSec: number,
    opts: { ifValue?: string; previousLease?: string } = {},
  ): Promise<LeaseGrant | undefined> {
    const key = this.keyOf(name);
    const grant = ttlSec > 0 ? await this.grant(ttlSec) : { lease: '0', expiration: new Date(0) };
    const put = this.client.put(key).value(value);
    if (grant.lease !== '0') put.lease(grant.lease);
    let ok = true;
    try {
      if (opts.ifValue === undefined) await put.exec();
      else ok = (await this.client.if(key, 'Value', '==', opts.ifValue).then(put).commit()).succeeded;
    } catch (e) {
      await this.revoke(grant.lease);
      throw e;
    }
    if (!ok) {
      await this.revoke(grant.lease);
      return undefined;
    }
    if (opts.previousLease) await this.revoke(opts.previousLease);
    return grant;
  }

  async deleteSubnet(name: string): Promise<void> {
    await this.client.delete().key(this.keyOf(name)).exec();
  }

  watchSubnets(fromRevision: number, onEvents: (events: RegistryEvent[], revision: number) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return resolve();
      const watcher = this.client.watch().prefix(this.subnetsDir).startRevision(String(fromRevision)).watcher();
      let done = false;
      const finish = (err?: Error, cancelledByServer = false): void => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
        if (cancelledByServer) return; // the client already dropped it
        try {
          watcher.cancel().catch(() => undefined);
        } catch {
          // the client throws synchronously when its stream is already torn down: nothing left to cancel
        }
      };
      const onAbort = (): void => finish();
      signal.addEventListener('abort', onAbort);
      watcher.on('data', (res) => {
        if (done) return;
        const events = res.events.map((ev): RegistryEvent => {
          const name = ev.kv.key.toString().slice(this.subnetsDir.length);
          if (ev.type === 'Delete') return { type: 'delete', name };
          return { type: 'put', kv: this.toKv(ev.kv) };
        });
        if (events.length > 0) onEvents(events, Number(res.header.revision));
      });
      watcher.on('disconnected', (err) => finish(new Error(`etcd watch disconnected: ${err.message}`)));
      watcher.on('error', (err) =>
        finish(new WatchCompactedError(`etcd cancelled the watch from revision ${fromRevision} (${err.message})`), true),
      );
    });
  }

  async subnetsProgress(): Promise<SubnetsProgress> {
    const res = await this.client.kv.range({
      key: Buffer.from(this.subnetsDir),
      range_end: prefixEnd(this.subnetsDir),
      limit: 1,
      sort_target: 'Mod',
      sort_order: 'Descend',
      keys_only: true,
    });
    return { count: Number(res.count), newestModRevision: Number(res.kvs[0]?.mod_revision ?? 0) };
  }

  async close(): Promise<void> {
    this.client.close();
  }

  private keyOf(name: string): string {
    return this.subnetsDir + name;
  }

  private async grant(ttlSec: number): Promise<LeaseGrant> {
    const res = await this.client.leaseClient.leaseGrant({ TTL: ttlSec, ID: 0 });
    return { lease: res.ID, expiration: new Date(Date.now() + Number(res.TTL) * 1000) };
  }

  /** Best effort: a lease we fail to revoke only lives on until its TTL. */
  private async revoke(lease: string): Promise<void> {
    if (lease === '0') return;
    try {
      await this.client.leaseClient.leaseRevoke({ ID: lease });
    } catch (e) {
      this.opts.logger.debug({ lease, err: e }, 'etcd lease revoke failed (it expires by itself)');
    }
  }
}

/** The end of etcd's range of every key starting with `prefix`: its last byte plus one ("…/subnets/" → "…/subnets0"). */
function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  const last = end.length - 1;
  end[last] = end[last] + 1;
  return end;
}

function readTlsFiles(tls: EtcdTlsFiles | undefined): IOptions['credentials'] | undefined {
  if (!tls || (!tls.caFile && !tls.certFile && !tls.keyFile)) return undefined;
  if (Boolean(tls.certFile) !== Boolean(tls.keyFile)) {
    throw new Error('etcd TLS: --etcd-certfile and --etcd-keyfile go together (a client certificate needs its key)');
  }
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new Error(`etcd TLS: cannot read ${what} ${path}: ${(e as Error).message}`);
    }
  };
  const creds: Record<string, Buffer> = {};
  if (tls.caFile) creds.rootCertificate = read('CA file', tls.caFile);
  if (tls.certFile) creds.certChain = read('certificate file', tls.certFile);
  if (tls.keyFile) creds.privateKey = read('key file', tls.keyFile);
  // Without a CA file grpc uses the system roots (rootCertificate undefined).
  return creds as unknown as IOptions['credentials'];
}
