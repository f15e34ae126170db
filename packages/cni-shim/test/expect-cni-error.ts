/** The CniError `fn` throws; fails the test when it throws something else or nothing. */
import { CniError } from '../dist/index.js';

export function cniError(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    if (e instanceof CniError) return e;
    throw e;
  }
  throw new Error('expected a CniError');
}
