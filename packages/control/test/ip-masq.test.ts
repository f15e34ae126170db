import { describe, expect, it } from 'vitest';
import { forwardChain, masqChain, savedRuleLines, supportsRandomFully } from '../src/host/ip-masq.js';
import { removalPayload, repairPayload } from '../src/host/iptables-chains.js';

describe('ip-masq rules', () => {
  it("render flannel's FLANNEL-POSTRTG semantics in WEFT-POSTRTG", () => {
    expect(savedRuleLines(masqChain('10.244.3.0/24', '10.244.0.0/16', true))).toEqual([
      '-A WEFT-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "weft masq" -j RETURN',
      '-A WEFT-POSTRTG -s 10.244.3.0/24 -d 10.244.0.0/16 -m comment --comment "weft masq" -j RETURN',
      '-A WEFT-POSTRTG -s 10.244.0.0/16 -d 10.244.3.0/24 -m comment --comment "weft masq" -j RETURN',
      '-A WEFT-POSTRTG ! -s 10.244.0.0/16 -d 10.244.3.0/24 -m comment --comment "weft masq" -j RETURN',
      '-A WEFT-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "weft masq" -j MASQUERADE --random-fully',
      '-A WEFT-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "weft masq" -j MASQUERADE --random-fully',
    ]);
    expect(savedRuleLines(masqChain('10.244.3.0/24', '10.244.0.0/16', false)).at(-1)).toMatch(/-j MASQUERADE$/);
  });

  it('forward rules accept the cluster network both ways', () => {
    expect(savedRuleLines(forwardChain('10.244.0.0/16'))).toEqual([
      '-A WEFT-FWD -s 10.244.0.0/16 -m comment --comment "weft forward" -j ACCEPT',
      '-A WEFT-FWD -d 10.244.0.0/16 -m comment --comment "weft forward" -j ACCEPT',
    ]);
  });

  it('--random-fully from iptables 1.6.2 on', () => {
    expect(supportsRandomFully('iptables v1.8.9 (nf_tables)')).toBe(true);
    expect(supportsRandomFully('iptables v1.6.2')).toBe(true);
    expect(supportsRandomFully('iptables v1.6.1')).toBe(false);
    expect(supportsRandomFully('iptables v1.4.21')).toBe(false);
    expect(supportsRandomFully('garbage')).toBe(false);
  });
});

const masq = masqChain('10.244.3.0/24', '10.244.0.0/16', true);
const natHeader = ['*nat', ':PREROUTING ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]'];

describe('iptables chain repair', () => {
  it('writes chain and jump (inserted first) on an empty table', () => {
    expect(repairPayload(masq, [...natHeader, 'COMMIT'].join('\n'))).toBe(
      [
        '*nat',
        ':WEFT-POSTRTG - [0:0]',
        ...savedRuleLines(masq),
        '-I POSTROUTING 1 -m comment --comment "weft masq" -j WEFT-POSTRTG',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('writes nothing when everything is in place', () => {
    const saved = [
      ...natHeader,
      ':WEFT-POSTRTG - [0:0]',
      '-A POSTROUTING -m comment --comment "weft masq" -j WEFT-POSTRTG',
      ...savedRuleLines(masq),
      'COMMIT',
    ];
    expect(repairPayload(masq, saved.join('\n'))).toBe('');
  });

  it('rewrites a chain someone edited and keeps the existing jump', () => {
    const saved = [
      ...natHeader,
      ':WEFT-POSTRTG - [0:0]',
      '-A POSTROUTING -m comment --comment "weft masq" -j WEFT-POSTRTG',
      ...savedRuleLines(masq).slice(1),
      'COMMIT',
    ];
    const p = repairPayload(masq, saved.join('\n'));
    expect(p).toContain(':WEFT-POSTRTG - [0:0]');
    expect(p).not.toContain('POSTROUTING');
  });

  it('removes duplicate jumps', () => {
    const jump = '-A POSTROUTING -m comment --comment "weft masq" -j WEFT-POSTRTG';
    const saved = [...natHeader, ':WEFT-POSTRTG - [0:0]', jump, jump, ...savedRuleLines(masq), 'COMMIT'];
    expect(repairPayload(masq, saved.join('\n'))).toContain('-D POSTROUTING -m comment --comment "weft masq" -j WEFT-POSTRTG');
  });

  it('appends the FORWARD jump last', () => {
    expect(repairPayload(forwardChain('10.244.0.0/16'), '*filter\nCOMMIT')).toContain(
      '-A FORWARD -m comment --comment "weft forward" -j WEFT-FWD',
    );
  });

  it('removal deletes jump, flushes and deletes the chain; nothing when absent', () => {
    const saved = [
      ...natHeader,
      ':WEFT-POSTRTG - [0:0]',
      '-A POSTROUTING -m comment --comment "weft masq" -j WEFT-POSTRTG',
      ...savedRuleLines(masq),
      'COMMIT',
    ];
    expect(removalPayload(masq, saved.join('\n'))).toBe(
      ['*nat', '-D POSTROUTING -m comment --comment "weft masq" -j WEFT-POSTRTG', '-F WEFT-POSTRTG', '-X WEFT-POSTRTG', 'COMMIT', ''].join(
        '\n',
      ),
    );
    expect(removalPayload(masq, [...natHeader, 'COMMIT'].join('\n'))).toBe('');
  });
});
