import { Command } from 'commander';
import { BncError } from '../ir/index.js';
import { ToleranceSpec, parseToleranceOptions } from '../verify/compare.js';
import { ErrorStat, parseErrorStat } from '../verify/statistics.js';
import { collect } from './inputFlags.js';

// The pass rule of a comparison (--rtol, --atol, --check-error-stat, --allow-nonfinite), shared by
// `verify` and by the --verify of `fold-bn` and `convert`: a deep net whose fold drifts by float32
// rounding needs the same knobs there as in `bnc verify`.

export interface VerifyGateOptions {
  rtol?: string[];
  atol?: string[];
  checkErrorStat: string;
  allowNonfinite?: boolean;
}

/** Add the pass-rule flags; `when` is appended to each help text (e.g. ' (with --verify)'). */
export function addVerifyGateOptions(cmd: Command, when = ''): Command {
  return cmd
    .option('--rtol <[name:]r>', `relative tolerance (default 1e-4); name:r for one output (repeatable)${when}`, collect)
    .option('--atol <[name:]a>', `absolute tolerance as a fraction of max|b| (default 1e-5); name:a for one output (repeatable)${when}`, collect)
    .option('--check-error-stat <stat>', `what must be <= 1 of |a-b|/allowance: max (every element), mean, median or p<q> such as p99${when}`, 'max')
    .option('--allow-nonfinite', `let NaN/inf appear where both models have them (NaN in one model only still fails)${when}`);
}

/** The parsed pass rule; errors are usage errors naming the flag. */
export function parseVerifyGate(opts: VerifyGateOptions): { tolerance: ToleranceSpec; errorStat: ErrorStat; allowNonFinite: boolean } {
  const tolerance = parseToleranceOptions(opts.rtol ?? [], opts.atol ?? []);
  const errorStat = parseErrorStat(opts.checkErrorStat);
  if (!errorStat) throw new BncError(`--check-error-stat ${JSON.stringify(opts.checkErrorStat)}: expected max, mean, median or p<q> (e.g. p99)`, { code: 'USAGE' });
  return { tolerance, errorStat, allowNonFinite: !!opts.allowNonfinite };
}
