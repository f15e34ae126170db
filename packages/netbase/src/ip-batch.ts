/**
 * `ip -batch` lines and what `ip` says when one fails. weftd (routes, neighbours on weft.<VNI>), the CNI plugin (veth,
 * bridge, addresses) and the test labs all drive iproute2 this way: one process for a whole step, stdin only, never a
 * shell. Every token must have been validated (address, MAC, prefix, interface name) before it reaches a line:
 * the batch parser splits on whitespace and treats `#` as a comment, so lease data could otherwise add words.
 *
 * Failures: `ip` prints its messages, then `Command failed -:N` for line N. Without `-force` it stops at the first
 * failure; with `-force` it goes on and reports each. `parseBatchFailures` reads both forms.
 */

/** flannel's per-peer neighbour: the peer subnet's network address answers with the peer's VTEP MAC, forever. */
export function neighPermanentLine(ip: string, mac: string, dev: string): string {
  return `neigh replace ${ip} lladdr ${mac} dev ${dev} nud permanent`;
}

export function neighDelLine(ip: string, dev: string): string {
  return `neigh del ${ip} dev ${dev}`;
}

/** flannel's per-peer route: the peer's subnet via its network address, on-link on the VTEP device. */
export function routeOnlinkLine(dst: string, via: string, dev: string, proto?: number): string {
  return `route replace ${dst} via ${via} dev ${dev} onlink${proto !== undefined ? ` proto ${proto}` : ''}`;
}

export function routeDelLine(dst: string, dev: string, proto?: number): string {
  return `route del ${dst} dev ${dev}${proto !== undefined ? ` proto ${proto}` : ''}`;
}

export interface BatchFailure {
  /** 1-based number of the line that failed. */
  line: number;
  /** ip's own words for it ("RTNETLINK answers: File exists"), `failed` when it said nothing. */
  message: string;
}

/** Each `Command failed -:N` in ip's stderr with the messages printed before it. */
export function parseBatchFailures(stderr: string): BatchFailure[] {
  const failures: BatchFailure[] = [];
  let message: string[] = [];
  for (const raw of stderr.split('\n')) {
    const line = raw.trim();
    const m = /^Command failed -:(\d+)$/.exec(line);
    if (!m) {
      if (line) message.push(line);
      continue;
    }
    failures.push({ line: Number(m[1]), message: message.join('; ') || 'failed' });
    message = [];
  }
  return failures;
}

/** ip's words when it failed outside any batch line (a bad option, a missing namespace), or its trailing message. */
export function batchErrorText(stderr: string): string {
  return (
    stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('Command failed'))
      .join('; ') || 'no message'
  );
}
