/**
 * Errors the lease keeper reacts to, in a module of their own: the keeper (loaded at weftd's start,
 * before the VTEP opens) must not pull in etcd3 and gRPC just to recognise an error class.
 */

/** Renewal found our lease gone or held by another node: re-acquire. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}
