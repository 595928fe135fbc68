import * as os from 'node:os';
import { BncError } from '../ir/index.js';

/** Help text of --threads on `bnc run` and `bnc verify`. */
export const THREADS_HELP = 'threads for large Conv/Gemm nodes (default: min(2, available cores); 1 = no worker threads)';

/** --threads value: a whole number >= 1; absent → min(2, available cores). */
export function parseThreads(text: string | undefined): number {
  if (text === undefined) return Math.min(2, os.availableParallelism());
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new BncError(`--threads ${JSON.stringify(text)}: expected a whole number >= 1`, { code: 'USAGE' });
  }
  return n;
}
