import { describe, expect, it } from 'vitest';
import { PolicyController } from '../src/policy-controller.js';
import type { ApplyResult, RulesetSink } from '../src/nft-applier.js';
import type { ClusterSnapshot, PolicySource } from '../src/kube-policy-source.js';
import type { NftObject } from '../src/policy-compiler.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A source whose lists arrive when the test says so. */
class ManualSource implements PolicySource {
  snap: ClusterSnapshot = {
    policies: [],
    pods: [{ metadata: { name: 'a', namespace: 'x' }, status: { podIP: '10.244.1.2' } }],
    namespaces: [],
    resourceVersion: 1,
  };
  fire: () => void = () => undefined;
  async run(onChange: () => void, signal: AbortSignal): Promise<void> {
    this.fire = onChange;
    await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
  }
  snapshot(): ClusterSnapshot {
    return this.snap;
  }
}

class FlakySink implements RulesetSink {
  calls = 0;
  failures = 1;
  applied: NftObject[][] = [];
  async apply(objects: readonly NftObject[]): Promise<ApplyResult> {
    this.calls++;
    if (this.failures-- > 0) throw new Error('nft: netlink: Error: Could not process rule');
    this.applied.push([...objects]);
    return { mode: 'full', commands: objects.length, lostCounts: new Map() };
  }
  async remove(): Promise<void> {}
  async readCounters(): Promise<Map<string, number>> {
    return new Map();
  }
}

const until = async (f: () => boolean, ms = 15_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!f() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  expect(f()).toBe(true);
};

describe('PolicyController', () => {
  it('applies nothing before the lists; a failed transaction keeps the old table and is retried', async () => {
    const source = new ManualSource();
    const sink = new FlakySink();
    const ctl = new PolicyController(source, sink, { isLocal: () => true, nodeAddrs: () => [] }, quiet, { debounceMs: 1 });
    const ac = new AbortController();
    const done = ctl.run(ac.signal);
    await new Promise((r) => setTimeout(r, 100));
    expect(sink.calls).toBe(0); // not listed yet: whatever table is in the kernel stays
    source.snap = {
      ...source.snap,
      policies: [{ metadata: { name: 'deny', namespace: 'x' }, spec: { podSelector: {} } }],
      resourceVersion: 2,
    };
    source.fire();
    await until(() => sink.calls === 1);
    expect(ctl.stats.applyFailures).toBe(1);
    await until(() => sink.applied.length === 1); // the 5 s retry, no new event needed
    expect(ctl.stats).toMatchObject({ applies: 1, resourceVersion: 2 });
    ac.abort();
    await done;
  });
});
