/** What the lease tests share: polling for a condition, and lease events as one line each. */
import type { LeaseEvent, SubnetManager } from '../src/subnet/types.js';

/** Resolves once `cond()` holds; rejects after `ms`. Polls every `pollMs` (the events arrive asynchronously). */
export async function until(cond: () => boolean, ms = 5000, pollMs = 10): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
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
