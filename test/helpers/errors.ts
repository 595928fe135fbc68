import { BncError } from '../../src/ir/index.js';

/** The BncError `fn` throws; any other error is rethrown, and not throwing at all fails the test. */
export function bncErrorOf(fn: () => unknown): BncError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BncError) return e;
    throw e;
  }
  throw new Error('expected a BncError');
}
