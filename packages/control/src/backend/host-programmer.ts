/**
 * What the vxlan backend needs from the node's kernel tables for its device: its one IPv4 address,
 * the routes and neighbours on it, and a way to change many of them at once.
 *
 * A small interface so the backend's ordering and reconcile logic is unit-tested against a fake
 * (test/fake-host-programmer.ts) and runs against `ip -batch` (ip-batch-programmer.ts) in weftd.
 * Changes go in one `apply()` call per programming round, in the order given: the backend relies on
 * that to write a neighbour before the route that needs it and to remove the route first.
 */

/** A route on the device, as read back from the kernel. `dst` always carries a prefix length. */
export interface HostRoute {
  dst: string;
  gateway?: string;
  onlink: boolean;
}

/** An IPv4 neighbour on the device. Only permanent ones are weft's; others are the kernel's. */
export interface HostNeighbour {
  ip: string;
  mac?: string;
  permanent: boolean;
}

export type HostOp =
  | { op: 'neigh-replace'; ip: string; mac: string } // ip neigh replace IP lladdr MAC dev D nud permanent
  | { op: 'neigh-del'; ip: string }
  | { op: 'route-replace'; dst: string; via: string } // ip route replace DST via VIA dev D onlink
  | { op: 'route-del'; dst: string };

export interface HostOpFailure {
  op: HostOp;
  message: string;
}

export interface HostProgrammer {
  readonly dev: string;
  /** Makes `cidr` the device's only IPv4 address (an earlier run's other subnet is removed). */
  setAddress(cidr: string): Promise<void>;
  routes(): Promise<HostRoute[]>;
  neighbours(): Promise<HostNeighbour[]>;
  /** Applies every op, in order, continuing past failures; returns the failures. Deleting what is
   *  already gone is not a failure. */
  apply(ops: readonly HostOp[]): Promise<HostOpFailure[]>;
  /** Administrative state of the device (IFF_UP). */
  isUp(): Promise<boolean>;
}

/** One op as text, for logs and tests. */
export function describeHostOp(o: HostOp): string {
  switch (o.op) {
    case 'neigh-replace':
      return `neigh ${o.ip} lladdr ${o.mac}`;
    case 'neigh-del':
      return `neigh-del ${o.ip}`;
    case 'route-replace':
      return `route ${o.dst} via ${o.via}`;
    case 'route-del':
      return `route-del ${o.dst}`;
  }
}
