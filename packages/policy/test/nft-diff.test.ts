import { describe, expect, it } from 'vitest';
import { diffTables } from '../src/nft-applier.js';
import { compile, type NftObject } from '../src/policy-compiler.js';
import type { NetworkPolicy, Pod } from '../src/policy-types.js';

const pods: Pod[] = ['a', 'b', 'c'].map((n, i) => ({
  metadata: { name: n, namespace: 'x', labels: { pod: n } },
  status: { podIP: `10.244.1.${i + 2}` },
}));
const node = { namespaces: [], isLocal: () => true, nodeAddrs: ['10.244.1.1'] };
const table = (policies: NetworkPolicy[]): Map<string, NftObject> =>
  new Map(compile({ policies, pods, ...node }).objects.map((o) => [o.name, o]));
const deny: NetworkPolicy = { metadata: { name: 'deny', namespace: 'x' }, spec: { podSelector: { matchLabels: { pod: 'a' } } } };
const allow: NetworkPolicy = {
  metadata: { name: 'allow', namespace: 'x' },
  spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] },
};

describe('table diff', () => {
  it('an unchanged table needs no command', () => {
    expect(diffTables(table([deny]), table([deny]))?.commands).toEqual([]);
  });

  it('adding a policy adds its chain and set, rewrites the pod chain, touches nothing else', () => {
    const d = diffTables(table([deny]), table([deny, allow]))!;
    expect(d.commands.some((c) => c.startsWith('add chain inet weft p_'))).toBe(true);
    expect(d.commands).toContain('flush chain inet weft in_10_244_1_2');
    expect(d.commands.filter((c) => /ingress_pods|egress_pods|node_addrs|_hook/.test(c))).toEqual([]);
    expect(d.deletedCounters).toEqual([]);
  });

  it('removing isolation deletes chains only after the map stops naming them, counters last', () => {
    const d = diffTables(table([deny, allow]), table([]))!;
    const i = (re: RegExp): number => d.commands.findIndex((c) => re.test(c));
    expect(i(/^add element inet weft ingress_pods|^flush map inet weft ingress_pods/)).toBeLessThan(
      i(/^delete chain inet weft in_10_244_1_2/),
    );
    expect(i(/^flush chain inet weft in_10_244_1_2/)).toBeLessThan(i(/^delete chain/));
    expect(i(/^delete chain/)).toBeLessThan(i(/^delete counter inet weft drop_in_10_244_1_2/));
    expect(d.deletedCounters).toEqual(['drop_in_10_244_1_2']);
  });

  it('a changed base chain or set type needs a full replace', () => {
    const a = table([]);
    const b = new Map(a);
    b.set('ingress_hook', { ...a.get('ingress_hook')!, header: 'type filter hook forward priority 7; policy accept;' });
    expect(diffTables(a, b)).toBeUndefined();
  });
});
