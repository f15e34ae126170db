/**
 * CNI specification versions: which ones weft speaks and how they compare.
 *
 * Results change shape at two points: 0.3.0 introduced the `interfaces`/`ips` result (with
 * `ips[].version` until 0.4.0), 1.0.0 dropped `ips[].version`, 1.1.0 added interface `mtu`,
 * `socketPath`, `pciID` and route attributes (and the GC and STATUS verbs).
 */

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const CURRENT_VERSION = '1.1.0';

/** A config without `cniVersion` is, by the spec's rules, version 0.1.0. */
export const IMPLICIT_VERSION = '0.1.0';

export function isSupportedVersion(v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Numeric compare of "major.minor.patch" strings (missing parts count as 0). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function versionAtLeast(v: string, min: string): boolean {
  return compareVersions(v, min) >= 0;
}
