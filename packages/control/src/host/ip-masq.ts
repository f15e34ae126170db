/**
 * The iptables rules weftd owns, rendered as data: `--ip-masq` (nat WEFT-POSTRTG) and the forward
 * accept rules (filter WEFT-FWD). Same semantics as flannel's FLANNEL-POSTRTG / FLANNEL-FWD:
 *
 *   WEFT-POSTRTG (jumped to first thing in nat POSTROUTING)
 *     -m mark --mark 0x4000/0x4000          RETURN      kube-proxy marked it: it masquerades itself (no double NAT)
 *     -s <pod subnet> -d <cluster>          RETURN      pod to pod: never NAT inside the overlay
 *     -s <cluster> -d <pod subnet>          RETURN      pod to our pods: keep the source
 *     ! -s <cluster> -d <pod subnet>        RETURN      outside traffic already DNATed to our pod: keep the client
 *     -s <cluster> ! -d 224.0.0.0/4         MASQUERADE  pod leaving the cluster network (not multicast)
 *     ! -s <cluster> -d <cluster>           MASQUERADE  host to a remote pod: reply must come back via the overlay
 *   WEFT-FWD (appended to filter FORWARD)
 *     -s <cluster> ACCEPT;  -d <cluster> ACCEPT
 *
 * MASQUERADE gets `--random-fully` when iptables supports it (≥ 1.6.2): source ports are picked
 * randomly, avoiding the conntrack insert races that drop the first SYNs of parallel connections.
 * Rendered as argv arrays (for `iptables -D ...`) and as iptables-save lines (for iptables-restore).
 */

export const KUBE_PROXY_MARK = '0x4000/0x4000';
export const MULTICAST_NET = '224.0.0.0/4';

/** A chain weftd owns in full, and the one rule in a built-in chain that jumps to it. */
export interface OwnedChain {
  table: 'nat' | 'filter';
  chain: string;
  /** The built-in chain holding the jump, and whether the jump goes first (-I 1) or last (-A). */
  hook: { chain: 'POSTROUTING' | 'FORWARD'; position: 'first' | 'last' };
  comment: string;
  /** Rule specs (what follows `-A <chain>`). */
  rules: string[][];
}

export function masqChain(podSubnet: string, network: string, randomFully: boolean): OwnedChain {
  const comment = 'weft masq';
  const c = ['-m', 'comment', '--comment', comment];
  const masq = ['-j', 'MASQUERADE', ...(randomFully ? ['--random-fully'] : [])];
  return {
    table: 'nat',
    chain: 'WEFT-POSTRTG',
    hook: { chain: 'POSTROUTING', position: 'first' },
    comment,
    rules: [
      ['-m', 'mark', '--mark', KUBE_PROXY_MARK, ...c, '-j', 'RETURN'],
      ['-s', podSubnet, '-d', network, ...c, '-j', 'RETURN'],
      ['-s', network, '-d', podSubnet, ...c, '-j', 'RETURN'],
      ['!', '-s', network, '-d', podSubnet, ...c, '-j', 'RETURN'],
      ['-s', network, '!', '-d', MULTICAST_NET, ...c, ...masq],
      ['!', '-s', network, '-d', network, ...c, ...masq],
    ],
  };
}

export function forwardChain(network: string): OwnedChain {
  const comment = 'weft forward';
  const c = ['-m', 'comment', '--comment', comment];
  return {
    table: 'filter',
    chain: 'WEFT-FWD',
    hook: { chain: 'FORWARD', position: 'last' },
    comment,
    rules: [
      ['-s', network, ...c, '-j', 'ACCEPT'],
      ['-d', network, ...c, '-j', 'ACCEPT'],
    ],
  };
}

/** The jump rule spec, e.g. `-m comment --comment "weft masq" -j WEFT-POSTRTG`. */
export function jumpSpec(c: OwnedChain): string[] {
  return ['-m', 'comment', '--comment', c.comment, '-j', c.chain];
}

/** argv words to one iptables-save line word sequence (quoting what has spaces, as iptables-save does). */
export function saveWords(words: readonly string[]): string {
  return words.map((w) => (/[\s"]/.test(w) ? `"${w.replace(/(["\\])/g, '\\$1')}"` : w)).join(' ');
}

/** The chain's rules as iptables-save prints them: `-A WEFT-POSTRTG -s ... -j RETURN`. */
export function savedRuleLines(c: OwnedChain): string[] {
  return c.rules.map((r) => `-A ${c.chain} ${saveWords(r)}`);
}

/** The jump as iptables-save prints it. */
export function savedJumpLine(c: OwnedChain): string {
  return `-A ${c.hook.chain} ${saveWords(jumpSpec(c))}`;
}

/** iptables ≥ 1.6.2 knows MASQUERADE --random-fully (flannel's check, via go-iptables). */
export function supportsRandomFully(versionOutput: string): boolean {
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(versionOutput);
  if (!m) return false;
  const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return a > 1 || (a === 1 && (b > 6 || (b === 6 && c >= 2)));
}
