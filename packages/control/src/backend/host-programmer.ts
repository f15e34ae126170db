/**
 * What the vxlan backend needs from the node's kernel tables for its device: its one IPv4 address,
 * the routes and neighbours on it, and a way to change many of them at once.
 *
 * A small interface so the backend's ordering and reconcile logic is unit-tested against a fake
 * (test/fake-host-programmer.ts) and runs against `ip -batch` (ip-batch-programmer.ts) in weftd.
 * Changes go in one `apply()` call per programming round, in the order given: the backend relies on
 * that to write a neighbour before the route that needs it and to remove the route first.
 */

/**
 * The `proto` number weft's routes carry (as routing daemons mark theirs: bird 12, babel 42). weft
 * replaces or deletes only routes with this mark; 87 is unassigned in iproute2's rt_protos.
 */
export const WEFT_ROUTE_PROTO = 87;

/** A route of the main table, as read back from the kernel. `dst` always carries a prefix length. */
export interface HostRoute {
  dst: string;
  gateway?: string;
  onlink: boolean;
  dev?: string;
  /** weft's: it carries WEFT_ROUTE_PROTO, or it is a `legacy` one. */
  weft: boolean;
  /** On weft's device in exactly the shape weft writes (`<net>/len via <net> onlink`) but without the
   *  mark: written by a weft from before the mark; adopted as weft's (re-marked or removed). */
  legacy?: boolean;
}

/** An IPv4 address of the node on some interface. */
export interface HostAddress {
  dev: string;
  local: string;
  prefixLen: number;
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
  | { op: 'route-del'; dst: string; legacy?: boolean }; // ... proto 87 (legacy: without the proto match)

export interface HostOpFailure {
  op: HostOp;
  message: string;
}

export interface HostProgrammer {
  readonly dev: string;
  /** Makes `cidr` the device's only IPv4 address: the new one is added before the others are removed
   *  (make-before-break: a device left without an address loses every route and neighbour on it). */
  setAddress(cidr: string): Promise<void>;
  /** Every IPv4 route of the main table, whatever its device (route-conflict checks need them all). */
  routes(): Promise<HostRoute[]>;
  /** Every IPv4 address of the node, on every interface. */
  addresses(): Promise<HostAddress[]>;
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
