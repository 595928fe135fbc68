import { BncError } from '../ir/index.js';
import { Pass, PassOptions, PassReport } from './pass.js';
import { batchNormEval } from './batchNormEval.js';
import { mergeBatchNormScale } from './mergeBatchNormScale.js';
import { foldBatchNormIntoConv } from './foldBatchNormIntoConv.js';
import { batchNormToAffine } from './batchNormToAffine.js';
import { cleanup } from './cleanup.js';
import { foldConstants } from './foldConstants.js';

export type { Pass, PassOptions, PassReport } from './pass.js';
export { analyzeBatchNormFolding } from './bnFoldability.js';
export { DEFAULT_FOLD_MAX_ELEMENTS } from './foldConstants.js';

/** Every pass by its command-line name, in the order `fold-bn` runs them. One line per pass. */
export const PASSES: Record<string, Pass> = {
  'bn-eval': batchNormEval,
  'fold-constants': foldConstants,
  'merge-bn-scale': mergeBatchNormScale,
  'fold-bn': foldBatchNormIntoConv,
  'bn-to-affine': batchNormToAffine,
  cleanup: cleanup,
};

/**
 * What `bnc fold-bn` runs, in order. fold-constants comes before merge-bn-scale so that Scale constants
 * reached through Unsqueeze/Reshape/Cast chains (Caffe2-era exports) are plain initializers by then.
 */
export const FOLD_BN_PIPELINE = ['bn-eval', 'fold-constants', 'merge-bn-scale', 'fold-bn', 'bn-to-affine', 'cleanup'];

export function parsePassList(list: string): string[] {
  if (list.trim() === 'none' || list.trim() === '') return [];
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(n in PASSES));
  if (unknown.length) {
    throw new BncError(
      `unknown pass${unknown.length > 1 ? 'es' : ''} ${unknown.map((u) => `'${u}'`).join(', ')}; available: ${Object.keys(PASSES).join(', ') || '(none yet)'}, or 'none'`,
      { code: 'USAGE' },
    );
  }
  return names;
}

export function runPasses(model: import('../ir/index.js').Model, names: string[], options: PassOptions = {}): PassReport[] {
  return names.map((n) => PASSES[n]!(model, options));
}
