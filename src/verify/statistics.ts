// Error statistics of one compared tensor: the figures Polygraphy's comparator logs (max, mean, median,
// a quantile of the absolute and relative error), a histogram of |error| by decade, the gated statistic of
// `--check-error-stat`, and the smallest atol that would have passed. Pure functions over plain arrays.

/**
 * The statistic `--check-error-stat` gates on. Every one is taken over the elementwise ratio
 * r = |a − b| / (atol·max|b| + rtol·|b|) (r ≤ 1 is bnc's elementwise rule), so:
 *   max      every element within its allowance (the default; the plain elementwise rule)
 *   mean     the mean ratio ≤ 1
 *   median   at least half of the elements within their allowance
 *   p<q>     at least q % of the elements within their allowance (p99: at most 1 % may break the rule)
 * Quantiles are nearest-rank: the smallest value with at least q of the elements at or below it (no
 * interpolation, so "p99 ≤ 1" means exactly "at least 99 % of elements pass").
 */
export type ErrorStat = { kind: 'max' } | { kind: 'mean' } | { kind: 'quantile'; q: number; label: string };

export const DEFAULT_ERROR_STAT: ErrorStat = { kind: 'max' };

/** Parse `max`, `mean`, `median` or `p<q>` (0 < q ≤ 100, e.g. p99, p99.9); undefined when malformed. */
export function parseErrorStat(text: string): ErrorStat | undefined {
  const t = text.trim().toLowerCase();
  if (t === 'max' || t === 'elemwise') return { kind: 'max' };
  if (t === 'mean') return { kind: 'mean' };
  if (t === 'median') return { kind: 'quantile', q: 0.5, label: 'median' };
  const m = /^p(\d+(?:\.\d+)?)$/.exec(t);
  if (!m) return undefined;
  const percent = Number(m[1]);
  if (!(percent > 0 && percent <= 100)) return undefined;
  return percent === 100 ? { kind: 'max' } : { kind: 'quantile', q: percent / 100, label: `p${m[1]}` };
}

export function errorStatLabel(stat: ErrorStat): string {
  return stat.kind === 'quantile' ? stat.label : stat.kind;
}

/** Nearest-rank quantile of `sorted` (ascending): the element at rank ceil(q·n), 1-based. NaN when empty. */
export function nearestRank(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil(q * n)));
  return sorted[rank - 1]!;
}

export interface Summary {
  max: number;
  mean: number;
  median: number;
  p90: number;
  p99: number;
  /** Elements summarised. */
  count: number;
}

/** max, mean and nearest-rank median/p90/p99 of the values (sorted in place: pass a copy you own). */
export function summarize(values: Float64Array): Summary {
  values.sort();
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  const n = values.length;
  return {
    max: n ? values[n - 1]! : 0,
    mean: n ? sum / n : 0,
    median: n ? nearestRank(values, 0.5) : 0,
    p90: n ? nearestRank(values, 0.9) : 0,
    p99: n ? nearestRank(values, 0.99) : 0,
    count: n,
  };
}

/** One bar of the |error| histogram: errors in [10^decade, 10^(decade+1)); decade null for exact zeros. */
export interface DecadeBin {
  /** Lower bound as a power of ten; null: the error is exactly 0; 'inf': NaN/infinite error. */
  decade: number | null | 'inf';
  count: number;
}

/**
 * Histogram of |a − b| by decade: a bin for exact zeros, then every decade from the smallest to the
 * largest non-zero error (empty ones included, so the bars line up), then a bin for non-finite errors.
 */
export function decadeHistogram(absErrors: ArrayLike<number>): DecadeBin[] {
  let zeros = 0;
  let nonFinite = 0;
  const counts = new Map<number, number>();
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < absErrors.length; i++) {
    const e = absErrors[i]!;
    if (e === 0) zeros++;
    else if (!Number.isFinite(e)) nonFinite++;
    else {
      let d = Math.floor(Math.log10(e));
      // log10 rounds: 1e-3 can come out as -3.0000000000000004.
      if (10 ** (d + 1) <= e) d++;
      else if (10 ** d > e) d--;
      counts.set(d, (counts.get(d) ?? 0) + 1);
      if (d < lo) lo = d;
      if (d > hi) hi = d;
    }
  }
  const bins: DecadeBin[] = [];
  if (zeros) bins.push({ decade: null, count: zeros });
  for (let d = lo; d <= hi; d++) bins.push({ decade: d, count: counts.get(d) ?? 0 });
  if (nonFinite) bins.push({ decade: 'inf', count: nonFinite });
  return bins;
}

/**
 * Errors kept for the statistics of one tensor over all samples: per element |a − b| and |b|, and per
 * sample max|b| (the scale of the atol term). Mismatched non-finite elements hold |a − b| = Infinity;
 * elements equal in both models (NaN with NaN, inf with the same inf) hold 0.
 */
export interface ErrorSamples {
  abs: Float64Array;
  absB: Float64Array;
  /** max|b| of the sample each element belongs to (same length as abs). */
  scale: Float64Array;
}

/** The gated statistic of the ratios |a−b| / (atolRel·scale + rtol·|b|); 0/0 counts as 0. */
export function gatedValue(e: ErrorSamples, rtol: number, atolRel: number, stat: ErrorStat): number {
  const n = e.abs.length;
  if (n === 0) return 0;
  const ratios = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const err = e.abs[i]!;
    const allowed = atolRel * e.scale[i]! + rtol * e.absB[i]!;
    ratios[i] = err === 0 ? 0 : allowed === 0 ? Infinity : err / allowed;
  }
  if (stat.kind === 'mean') {
    let s = 0;
    for (let i = 0; i < n; i++) s += ratios[i]!;
    return s / n;
  }
  let max = 0;
  if (stat.kind === 'max') {
    for (let i = 0; i < n; i++) if (ratios[i]! > max) max = ratios[i]!;
    return max;
  }
  ratios.sort();
  return nearestRank(ratios, stat.q);
}

/**
 * The smallest atol (as a fraction of max|b|, bnc's unit) that, at this rtol, makes the gated statistic
 * ≤ 1. For max and quantiles it is exact: element i passes iff atolRel ≥ (|a−b| − rtol·|b|) / max|b|, so
 * the answer is that quantity's max or nearest-rank quantile. For the mean it is found by bisection (the
 * mean ratio falls as atol grows) to 1e-3 relative. Infinity when no atol can pass (a NaN mismatch, or the
 * rtol term alone cannot cover an error where max|b| is 0).
 */
export function smallestPassingAtol(e: ErrorSamples, rtol: number, stat: ErrorStat): number {
  const n = e.abs.length;
  if (n === 0) return 0;
  const need = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const excess = e.abs[i]! - rtol * e.absB[i]!;
    const scale = e.scale[i]!;
    need[i] = !(excess > 0) ? 0 : scale > 0 ? excess / scale : Infinity;
  }
  if (stat.kind === 'max') {
    let m = 0;
    for (let i = 0; i < n; i++) if (need[i]! > m || need[i] !== need[i]) m = need[i]!;
    return m;
  }
  if (stat.kind === 'quantile') {
    need.sort();
    return nearestRank(need, stat.q);
  }
  if (gatedValue(e, rtol, 0, stat) <= 1) return 0;
  let hi = 1e-12;
  while (gatedValue(e, rtol, hi, stat) > 1) {
    hi *= 10;
    if (hi > 1e30) return Infinity;
  }
  let lo = hi / 10;
  while ((hi - lo) / hi > 1e-3) {
    const mid = (lo + hi) / 2;
    if (gatedValue(e, rtol, mid, stat) > 1) lo = mid;
    else hi = mid;
  }
  return hi;
}
