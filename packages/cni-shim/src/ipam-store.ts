/**
 * The pod address store, laid out exactly as host-local's disk store so existing tools (and an
 * operator's `ls`) understand it, and a node moved from flannel+host-local keeps its reservations:
 *
 *   <dataDir>/<network>/10.244.1.5          one file per reserved address: "<containerID>\r\n<ifname>"
 *   <dataDir>/<network>/last_reserved_ip.0  where the round-robin search resumes
 *
 *   <dataDir>/<network>/lock                flock(2)ed while the store changes
 *
 * Two guards make parallel ADDs safe (50 at once get 50 distinct addresses), the same two host-local
 * uses, so weft and host-local can even share a store:
 * - Every change happens under an exclusive flock on `lock`. Node has no flock(); util-linux
 *   `flock -x -w T 3` takes it on a descriptor we open and hand over as fd 3. flock locks belong to
 *   the open file description, which the child shares with us, so the lock stays held through our
 *   descriptor after the child exits, until we close it or die (even by SIGKILL: no stale locks).
 *   Cost: one small child (measured in the cni-shim README; a native addon would cost more in start-up).
 * - An address file is created with O_EXCL: no writer that skipped the lock can take it twice.
 *
 * The search starts after the last reserved address and wraps, so a just-released address is the last
 * to be reused. The network and broadcast addresses and the gateway are never handed out.
 *
 * A reservation file that does not parse (empty after a crash, garbage) still blocks its address for
 * ADD, is reported by name when the pool runs out, and is released by GC, which frees everything not
 * in the runtime's list of valid attachments.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { CNI_ERR, CniError } from './cni-spec.js';
import { runTool } from './ip-batch.js';
import { formatIpv4, parseIpv4 } from './ipv4.js';

export interface Owner {
  containerId: string;
  ifName: string;
}

export interface Reservation {
  ip: number;
  path: string;
  /** Empty strings when the file is corrupt. `ifName` is empty for host-local's old id-only files. */
  containerId: string;
  ifName: string;
  /** Why the file does not parse, when it does not. */
  corrupt?: string;
}

/** The addresses a node may hand out: first..last inclusive, minus the gateway. */
export interface AddressPool {
  first: number;
  last: number;
  gateway: number;
  /** For messages: "10.244.1.0/24". */
  label: string;
}

const LINE_BREAK = '\r\n';
const LAST_RESERVED = 'last_reserved_ip.0';
const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export class IpamStore {
  readonly dir: string;

  constructor(
    readonly network: string,
    dataDir: string,
  ) {
    this.dir = `${dataDir}/${network}`;
  }

  /** Creates the store directory when missing; runs `fn` while holding the store's lock. */
  locked<T>(fn: () => T, timeoutMs = 30_000): T {
    this.ensureDir();
    const fd = this.lock(timeoutMs);
    try {
      return fn();
    } finally {
      closeSync(fd);
    }
  }

  /** Every address file in the store, read (other files are ignored). */
  reservations(): Reservation[] {
    return this.addressFiles().map((name) => this.readReservation(parseIpv4(name)!, `${this.dir}/${name}`));
  }

  /** The names of the address files ("10.244.1.5"). */
  private addressFiles(): string[] {
    try {
      return readdirSync(this.dir).filter((name) => parseIpv4(name) !== undefined);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw this.error(`cannot list ${this.dir}: ${(e as Error).message}`, CNI_ERR.ioFailure);
    }
  }

  /**
   * Reserves the next free address of `pool` for `owner` (call under `locked`). Only the directory
   * listing is read: which addresses are taken is in the file names, and O_EXCL settles the rest.
   * (host-local also reads every file to refuse a second ADD of the same attachment; weft's second
   * ADD fails on the existing host veth instead, and its rollback releases the second address.)
   */
  reserve(owner: Owner, pool: AddressPool): number {
    const taken = new Set(this.addressFiles().map((name) => parseIpv4(name)));
    const size = pool.last - pool.first + 1;
    const last = this.lastReserved();
    const start = last !== undefined && last >= pool.first && last < pool.last ? last + 1 : pool.first;
    for (let n = 0; n < size; n++) {
      const ip = pool.first + ((start - pool.first + n) % size);
      if (ip === pool.gateway || taken.has(ip)) continue;
      if (this.createReservation(ip, owner)) return ip;
    }
    throw this.exhausted(pool, this.reservations());
  }

  /**
   * Reserves exactly `ip` for `owner` (call under `locked`): a runtime asked for it. Outside the pool or
   * the gateway is code 7; held by anyone, this owner included, is code 11 naming the holder.
   */
  reserveAddress(owner: Owner, ip: number, pool: AddressPool): void {
    if (ip < pool.first || ip > pool.last || ip === pool.gateway) {
      throw this.error(`requested address ${formatIpv4(ip)} is not a pod address of ${pool.label}`, CNI_ERR.invalidConfig);
    }
    if (this.createReservation(ip, owner)) return;
    const holder = this.readReservation(ip, `${this.dir}/${formatIpv4(ip)}`);
    const by = holder.corrupt
      ? `a corrupt reservation file (${holder.corrupt})`
      : `container ${holder.containerId} interface ${holder.ifName || '(any)'}`;
    throw new CniError(
      CNI_ERR.tryAgainLater,
      `IPAM store of network "${this.network}" (${this.dir}): requested address ${formatIpv4(ip)} is already allocated to ${by}`,
      'it becomes free when that attachment is deleted (DEL) or collected (GC)',
    );
  }

  /** Releases every address `owner` holds (and host-local's old id-only files of that container). */
  release(owner: Owner): Reservation[] {
    const all = this.reservations();
    let gone = all.filter((r) => holds(r, owner));
    if (gone.length === 0) gone = all.filter((r) => !r.corrupt && r.ifName === '' && r.containerId === owner.containerId);
    for (const r of gone) this.remove(r);
    return gone;
  }

  /** Releases `ip` only if `owner` still holds it (ADD's rollback). */
  releaseAddress(ip: number, owner: Owner): void {
    const r = this.readReservation(ip, `${this.dir}/${formatIpv4(ip)}`);
    if (holds(r, owner)) this.remove(r);
  }

  /** Releases every reservation whose attachment is not in `valid`, corrupt ones included. */
  collect(valid: readonly Owner[]): Reservation[] {
    const keys = new Set(valid.map((o) => `${o.containerId}\n${o.ifName}`));
    const ids = new Set(valid.map((o) => o.containerId));
    const stale = this.reservations().filter((r) => {
      if (r.corrupt) return true;
      return r.ifName === '' ? !ids.has(r.containerId) : !keys.has(`${r.containerId}\n${r.ifName}`);
    });
    for (const r of stale) this.remove(r);
    return stale;
  }

  /** How many addresses of `pool` are still free (for STATUS). */
  freeCount(pool: AddressPool): number {
    const taken = this.addressFiles()
      .map((name) => parseIpv4(name)!)
      .filter((ip) => ip >= pool.first && ip <= pool.last && ip !== pool.gateway).length;
    const gatewayInPool = pool.gateway >= pool.first && pool.gateway <= pool.last ? 1 : 0;
    return pool.last - pool.first + 1 - gatewayInPool - taken;
  }

  /** An error that names this store's network and directory. */
  error(cause: string, code: number): CniError {
    return new CniError(code, `IPAM store of network "${this.network}" (${this.dir}): ${cause}`);
  }

  /** flock(2) on `<dir>/lock` through util-linux flock on our descriptor; returns the descriptor. */
  private lock(timeoutMs: number): number {
    const path = `${this.dir}/lock`;
    let fd: number;
    try {
      fd = openSync(path, 'a', 0o644);
    } catch (e) {
      throw this.error(`cannot open lock file ${path}: ${(e as Error).message}`, CNI_ERR.ioFailure);
    }
    const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
    let code: number;
    let stderr: string;
    try {
      ({ code, stderr } = runTool('flock', ['-x', '-w', seconds, '3'], '', [fd]));
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    if (code !== 0) {
      closeSync(fd);
      const why = code === 1 ? `timed out after ${seconds} s (another plugin holds it)` : `flock exited ${code}: ${stderr.trim()}`;
      throw this.error(`cannot lock ${path}: ${why}`, CNI_ERR.tryAgainLater);
    }
    return fd;
  }

  private ensureDir(): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o755 });
      if (!statSync(this.dir).isDirectory()) throw new Error('it is not a directory');
    } catch (e) {
      throw this.error(`cannot use ${this.dir} as the store directory: ${(e as Error).message}`, CNI_ERR.ioFailure);
    }
  }

  private readReservation(ip: number, path: string): Reservation {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      return { ip, path, containerId: '', ifName: '', corrupt: `unreadable: ${(e as Error).message}` };
    }
    const lines = text.trim().split(LINE_BREAK);
    const [id = '', ifName = ''] = lines;
    if (lines.length > 2 || !ID_RE.test(id) || /\s/.test(ifName)) {
      return {
        ip,
        path,
        containerId: '',
        ifName: '',
        corrupt: `content ${JSON.stringify(text.slice(0, 80))} is not "<containerID>\\r\\n<ifname>"`,
      };
    }
    return { ip, path, containerId: id, ifName };
  }

  /** O_EXCL create: false when the file appeared meanwhile (a writer that ignored the lock). */
  private createReservation(ip: number, owner: Owner): boolean {
    const path = `${this.dir}/${formatIpv4(ip)}`;
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw this.error(`cannot create ${path}: ${(e as Error).message}`, CNI_ERR.ioFailure);
    }
    try {
      writeSync(fd, owner.containerId + LINE_BREAK + owner.ifName);
      closeSync(fd);
      writeFileSync(`${this.dir}/${LAST_RESERVED}`, formatIpv4(ip), { mode: 0o600 });
    } catch (e) {
      try {
        unlinkSync(path);
      } catch {
        // nothing more to undo
      }
      throw this.error(`cannot write ${path}: ${(e as Error).message}`, CNI_ERR.ioFailure);
    }
    return true;
  }

  private lastReserved(): number | undefined {
    try {
      return parseIpv4(readFileSync(`${this.dir}/${LAST_RESERVED}`, 'utf8').trim());
    } catch {
      return undefined; // only a hint: a missing or corrupt file restarts the search at the pool's start
    }
  }

  private remove(r: Reservation): void {
    try {
      unlinkSync(r.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        throw this.error(`cannot release ${r.path}: ${(e as Error).message}`, CNI_ERR.ioFailure);
    }
  }

  private exhausted(pool: AddressPool, all: Reservation[]): CniError {
    const corrupt = all.filter((r) => r.corrupt);
    const cause =
      `no free address in ${pool.label}: all ${pool.last - pool.first} addresses from ${formatIpv4(pool.first)} to ` +
      `${formatIpv4(pool.last)} other than the gateway are reserved`;
    const err = this.error(cause, CNI_ERR.internal);
    if (corrupt.length === 0) return err;
    const list = corrupt
      .slice(0, 5)
      .map((r) => `${r.path}: ${r.corrupt}`)
      .join('; ');
    return new CniError(err.code, `${err.message}; ${corrupt.length} of them by corrupt files (GC releases them): ${list}`);
  }
}

function holds(r: Reservation, owner: Owner): boolean {
  return !r.corrupt && r.containerId === owner.containerId && r.ifName === owner.ifName;
}
