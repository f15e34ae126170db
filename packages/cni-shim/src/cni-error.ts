/**
 * CNI errors: the spec's well-known codes and the error a plugin prints as JSON on stdout
 * (`{cniVersion, code, msg, details}`) before exiting non-zero.
 *
 * Every failure the plugin can foresee is thrown as a CniError with a code a runtime can act on and a
 * message a person can act on (it names the file, field or device and the cause). Anything else that
 * escapes is a bug; the skeleton reports it as code 999 with its message, never a stack trace.
 */

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
