/**
 * A HostProgrammer that keeps the device's routes and neighbours in maps and writes every op to a
 * shared log (the test's FakeVtep writes FDB calls to the same log, so order across the two is seen).
 * `failNext(pattern)` makes the next matching op fail once.
 */
import type { HostAddress, HostNeighbour, HostOp, HostOpFailure, HostProgrammer, HostRoute } from '../src/backend/host-programmer.js';
import { describeHostOp } from '../src/backend/host-programmer.js';
import { FakeVtep } from '@weft/datapath/testing';

export class FakeHostProgrammer implements HostProgrammer {
  readonly dev = 'weft.1';
  readonly routeTable = new Map<string, HostRoute>();
  /** Routes weft did not create (other devices, other protos): never touched by weft. */
  readonly foreignRoutes: HostRoute[] = [];
  /** The node's addresses on other interfaces. */
  readonly nodeAddresses: HostAddress[] = [];
  readonly neighTable = new Map<string, HostNeighbour>();
  address: string | undefined;
  applyCalls = 0;
  private readonly failures: RegExp[] = [];

  constructor(readonly log: string[] = []) {}

  failNext(pattern: RegExp): void {
    this.failures.push(pattern);
  }

  async setAddress(cidr: string): Promise<void> {
    this.address = cidr;
    this.log.push(`addr ${cidr}`);
  }
  async routes(): Promise<HostRoute[]> {
    return [...this.routeTable.values(), ...this.foreignRoutes];
  }
  async addresses(): Promise<HostAddress[]> {
    return [...this.nodeAddresses];
  }
  async neighbours(): Promise<HostNeighbour[]> {
    return [...this.neighTable.values()];
  }
  async isUp(): Promise<boolean> {
    return true;
  }

  async apply(ops: readonly HostOp[]): Promise<HostOpFailure[]> {
    if (ops.length > 0) this.applyCalls++;
    const failed: HostOpFailure[] = [];
    for (const o of ops) {
      const text = describeHostOp(o);
      const i = this.failures.findIndex((re) => re.test(text));
      if (i >= 0) {
        this.failures.splice(i, 1);
        failed.push({ op: o, message: 'injected failure' });
        continue;
      }
      this.log.push(text);
      if (o.op === 'neigh-replace') this.neighTable.set(o.ip, { ip: o.ip, mac: o.mac, permanent: true });
      else if (o.op === 'neigh-del') this.neighTable.delete(o.ip);
      else if (o.op === 'route-replace') {
        if (this.foreignRoutes.some((r) => r.dst === o.dst)) throw new Error(`weft replaced a foreign route ${o.dst}`);
        this.routeTable.set(o.dst, { dst: o.dst, gateway: o.via, onlink: true, dev: this.dev, weft: true });
      } else this.routeTable.delete(o.dst);
    }
    return failed;
  }
}

/** A FakeVtep whose FDB calls go to the shared log too. */
export class LoggingFakeVtep extends FakeVtep {
  constructor(
    private readonly log: string[],
    mac = '02:00:00:00:00:01',
  ) {
    super('weft.1', mac);
  }
  override setFdb(mac: string, remote: string): void {
    super.setFdb(mac, remote);
    this.log.push(`fdb ${mac} ${remote}`);
  }
  override deleteFdb(mac: string): void {
    super.deleteFdb(mac);
    this.log.push(`fdb-del ${mac}`);
  }
  override replaceFdb(entries: ReadonlyArray<{ mac: string; remote: string }>): void {
    super.replaceFdb(entries);
    this.log.push(`fdb-replace ${entries.length}`);
  }
}
