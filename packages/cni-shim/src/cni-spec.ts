/**
 * The CNI specification's fixed vocabulary: the versions weft speaks and the error codes.
 *
 * Versions: results change shape at two points: 0.3.0 introduced the `interfaces`/`ips` result (with
 * `ips[].version` until 0.4.0), 1.0.0 dropped `ips[].version`, 1.1.0 added interface `mtu`,
 * `socketPath`, `pciID`, route attributes, and the GC and STATUS verbs.
 *
 * Errors: a plugin prints `{cniVersion, code, msg, details}` on stdout and exits non-zero. Every
 * failure the plugin can foresee is thrown as a CniError with a code a runtime can act on and a
 * message a person can act on (it names the file, field or device and the cause). Anything else that
 * escapes is a bug; the skeleton reports it as code 999 with its message, never a stack trace.
 */

/** What `bin/weft` prints (with the versions) when run without CNI_COMMAND. */
export const ABOUT = 'weft CNI plugin: pods on the node bridge, addresses from the node lease weftd writes to the subnet file';

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

export const CNI_ERR = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodingFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  notAvailable: 50,
  limitedConnectivity: 51,
  internal: 999,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details = '',
  ) {
    super(msg);
    this.name = 'CniError';
  }

  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return this.details
      ? { cniVersion, code: this.code, msg: this.message, details: this.details }
      : { cniVersion, code: this.code, msg: this.message };
  }
}

/** A CniError as is; any other thrown value as code 999 with its message. */
export function asCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new CniError(CNI_ERR.internal, msg);
}
