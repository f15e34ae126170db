/**
 * /readyz and /healthz as decisions over facts weftd gathers: no I/O here, so each rule is unit-tested.
 *
 * Ready: the lease is held, the VTEP device is up, the subnet file is written, the datapath is healthy, and no pod
 * still holds an address of a subnet this node had before (after a lease change; the pods must be re-created).
 * Alive: the datapath watchdog does not hold the datapath failed (a dead or wedged worker).
 */
import type { Liveness, Readiness } from './node-status.js';

export interface ReadinessFacts {
  leaseHeld: boolean;
  deviceUp: boolean;
  subnetFileWritten: boolean;
  datapathHealthy: boolean;
  /** After a subnet change: the old and new subnet, and the pod addresses still on the old one. */
  subnetMove?: { from: string; to: string; podsLeft: readonly string[] };
}

/** Addresses named in the detail at most; the count is always given. */
const DETAIL_ADDRESSES = 5;

export function readinessOf(f: ReadinessFacts): Readiness {
  const left = f.subnetMove?.podsLeft ?? [];
  const checks = {
    leaseHeld: f.leaseHeld,
    deviceUp: f.deviceUp,
    subnetFileWritten: f.subnetFileWritten,
    datapathHealthy: f.datapathHealthy,
    podsOnOurSubnet: left.length === 0,
  };
  const m = f.subnetMove;
  const detail =
    m && left.length > 0
      ? `${left.length} pod address(es) still on ${m.from}, our subnet is now ${m.to}: ${left.slice(0, DETAIL_ADDRESSES).join(', ')}`
      : undefined;
  return { ready: Object.values(checks).every(Boolean), checks, ...(detail ? { detail } : {}) };
}

export function livenessOf(watchdog: { healthy: boolean; cause?: string | undefined } | undefined): Liveness {
  return watchdog && !watchdog.healthy ? { ok: false, ...(watchdog.cause ? { cause: watchdog.cause } : {}) } : { ok: true };
}
