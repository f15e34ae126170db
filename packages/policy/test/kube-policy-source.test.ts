import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeKubeApiServer } from '../../control/test/kube-api-server.js';
import { KubePolicySource } from '../src/kube-policy-source.js';
import { PolicyController, type AppliedInfo } from '../src/policy-controller.js';
import type { ApplyResult, RulesetSink } from '../src/nft-applier.js';
import { renderTable, type NftObject } from '../src/policy-compiler.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

class MemorySink implements RulesetSink {
  tables: string[] = [];
  removed = 0;
  async apply(objects: readonly NftObject[]): Promise<ApplyResult> {
    this.tables.push(renderTable(objects));
    return { mode: 'full', commands: objects.length, lostCounts: new Map([['drop_in_10_244_1_2', 3]]) };
  }
  async remove(): Promise<void> {
    this.removed++;
  }
  async readCounters(): Promise<Map<string, number>> {
    return new Map();
  }
}

describe('KubePolicySource + PolicyController against the fake API server', () => {
  const api = new FakeKubeApiServer();
  beforeAll(() => api.start());
  afterAll(() => api.stop());

  it('lists, watches, recomputes on changes and re-lists after the watch breaks', async () => {
    api.put('namespaces', { metadata: { name: 'x', labels: { ns: 'x' } } });
    api.put('pods', { metadata: { name: 'a', namespace: 'x', labels: { pod: 'a' } }, status: { podIP: '10.244.1.2' } });
    const sink = new MemorySink();
    const applied: AppliedInfo[] = [];
    const ac = new AbortController();
    const ctl = new PolicyController(
      new KubePolicySource(api.kubeConfig(), quiet),
      sink,
      { isLocal: () => true, nodeAddrs: () => [] },
      quiet,
      { onApplied: (a) => applied.push(a) },
    );
    const done = ctl.run(ac.signal);
    const until = async (f: () => boolean): Promise<void> => {
      for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 25));
      expect(f()).toBe(true);
    };
    await until(() => applied.length >= 1);
    expect(sink.tables.at(-1)).not.toContain('jump in_10');
    const rv = api.put('networkpolicies', { metadata: { name: 'deny', namespace: 'x' }, spec: { podSelector: {} } });
    await until(() => (applied.at(-1)?.resourceVersion ?? 0) >= Number((rv.metadata as { resourceVersion: string }).resourceVersion));
    expect(sink.tables.at(-1)).toContain('10.244.1.2 : jump in_10_244_1_2');
    expect(ctl.explain('x/a')?.policies.map((p) => p.policy)).toEqual(['x/deny']);
    api.dropWatches();
    api.remove('networkpolicies', 'x', 'deny');
    await until(() => !sink.tables.at(-1)!.includes('jump in_10'));
    expect((await ctl.drops()).find((d) => d.pod === 'x/a')?.packets).toBeGreaterThan(0);
    ac.abort();
    await done;
  });
});
