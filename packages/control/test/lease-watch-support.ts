/** What the lease tests share: polling for a condition, and lease events as one line each. */
import type { LeaseEvent, SubnetManager } from '../src/subnet/types.js';

/**
 * Resolves once `cond()` holds; rejects after `ms`, with `explain()` in the message when given (what the
 * test saw). Polls every `pollMs` (the events arrive asynchronously).
 */
export async function until(cond: () => boolean, ms = 5000, pollMs = 10, explain?: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms${explain ? `: ${explain()}` : ''}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** "snapshot 10.244.1.0/24,10.244.2.0/24" (sorted), "added 10.244.3.0/24", "removed …". */
export function leaseEventLines(events: LeaseEvent[]): string[] {
  return events.map((e) => {
    if (e.type === 'snapshot')
      return `snapshot ${e.leases
        .map((l) => l.subnet)
        .sort()
        .join(',')}`;
    if (e.type === 'unusable') return `unusable ${e.key} ${e.reason}`;
    if (e.type === 'usable') return `usable ${e.key}`;
    return `${e.type} ${e.lease.subnet}`;
  });
}

/**
 * The subnets a consumer of these events knows now: the last snapshot plus the changes after it. A lease
 * written while the watch is re-listing arrives in the new snapshot, not as `added`.
 */
export function knownSubnets(events: LeaseEvent[]): Set<string> {
  const known = new Set<string>();
  for (const e of events) {
    if (e.type === 'snapshot') {
      known.clear();
      for (const l of e.leases) known.add(l.subnet);
    } else if (e.type === 'added') known.add(e.lease.subnet);
    else if (e.type === 'removed') known.delete(e.lease.subnet);
  }
  return known;
}

/** Runs `manager.watchLeases` into an array until the cleanup registered with `onCleanup` runs. */
export function collectLeaseEvents(
  manager: SubnetManager,
  onCleanup: (stop: () => Promise<void>) => void,
): { events: LeaseEvent[]; text: () => string[] } {
  const events: LeaseEvent[] = [];
  const ac = new AbortController();
  const done = manager.watchLeases((b) => events.push(...b), ac.signal);
  onCleanup(async () => {
    ac.abort();
    await done;
  });
  return { events, text: () => leaseEventLines(events) };
}
