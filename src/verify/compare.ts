import { BncError } from '../ir/index.js';
import {
  DEFAULT_ERROR_STAT,
  DecadeBin,
  ErrorSamples,
  ErrorStat,
  Summary,
  decadeHistogram,
  errorStatLabel,
  gatedValue,
  smallestPassingAtol,
  summarize,
} from './statistics.js';

/**
 * Tolerances for comparing one tensor of model A (`a`) with the same tensor of model B (`b`, the
 * reference, as in numpy.allclose(a, b)).
 *
 * The pass rule: an element fails iff  |a − b| > atolRel · max|b| + rtol · |b|
 * (max over the finite elements of this tensor in this sample). It is the rule of the shared reference
 * models' README (`|got − ref| ≤ atol_rel · max|ref| + rtol · |ref|`).
 *
 * Why the absolute term is scaled by the tensor's magnitude: a correct BatchNorm fold changes the order
 * and rounding of float32 operations (w·s is rounded once, then summed), so every element moves by a few
 * ulps *of the values that were summed*, not of the result. Elements that come out near zero through
 * cancellation therefore carry errors of the size of the tensor's typical values: on a correctly folded
 * random-weight ResNet-50 the largest elementwise relative error is ~1.5e-3 (on near-zero logits) while the
 * cosine similarity is 1 − 1e-12. Plain allclose(rtol=1e-4, atol=1e-5) rejects that fold, and any fixed
 * absolute atol is wrong for some tensor (logits of scale 10 and activations of scale 1e-3 need different
 * ones). Scaling atol by max|b| makes the rule unit-free: "every element is within 1e-5 of the tensor's
 * range, plus 1e-4 of its own size".
 *
 * Defaults: rtol 1e-4 (about 840 float32 ulps — room for reassociation across a deep net, while a real
 * bug such as one channel scaled by 1.01 is 100× over it); atolRel 1e-5 (float32's own forward error on
 * a deep net is ~3.6e-5 of the output scale for ResNet-50 per the shared README, which is why that README
 * uses 1e-4 for deep nets; raise it with --atol when comparing across runtimes rather than across a fold).
 */
export interface Tolerance {
  rtol: number;
  /** Absolute term as a fraction of the reference tensor's largest magnitude (atol_eff = atolRel · max|b|). */
  atolRel: number;
}

export const DEFAULT_TOLERANCE: Readonly<Tolerance> = { rtol: 1e-4, atolRel: 1e-5 };

/** Tolerance that only accepts identical values (integer and bool tensors). */
export const EXACT_TOLERANCE: Readonly<Tolerance> = { rtol: 0, atolRel: 0 };

/** Numeric element arrays the comparison reads (int64 tensors are converted to Float64Array first). */
export type NumericArray = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array | Uint32Array;

/** The element that came closest to (or went furthest over) its allowance. */
export interface WorstElement {
  /** Sample (0-based) the element is in. */
  sample: number;
  /** Multi-index into the tensor's dims. */
  index: number[];
  a: number;
  b: number;
  absError: number;
  /** atol_eff + rtol·|b| at this element. */
  allowed: number;
  /** absError / allowed: ≤ 1 passes; Infinity for a NaN mismatch or an error where nothing is allowed. */
  ratio: number;
}

/** Metrics for one tensor pair, over all samples compared. */
export interface TensorComparison {
  dims: number[];
  samples: number;
  /** Elements per sample. */
  elements: number;
  tolerance: Tolerance;
  /** atolRel · max|b| in the tensor's own units (the largest over samples). */
  atolEffective: number;
  /** No failure reason: within tolerance by the gated statistic, no NaN mismatch, and the options' extra gates. */
  pass: boolean;
  /** Why it fails (empty when it passes). */
  failures: FailureReason[];
  /** Elements that break the pass rule, over all samples (NaN mismatches included). */
  violations: number;
  /** Elements that are NaN in one model and not in the other (each one fails). */
  nanMismatches: number;
  /** Every element equal (NaN where the other is NaN too). */
  identical: boolean;
  maxAbsError: number;
  /** max |a − b| / |b|; Infinity where b is 0 and a is not. */
  maxRelError: number;
  meanAbsError: number;
  /** a·b / (|a|·|b|) over the elements finite in both, float64; the lowest over samples. */
  cosineSimilarity: number;
  /** Class-score outputs only: fraction of rows (over all samples) whose arg-max agrees. */
  top1Agreement?: number;
  /** Class-score outputs with more than 5 classes: fraction of rows whose top-5 class sets are equal. */
  top5Agreement?: number;
  /** Rows the top-k agreement counts (N per sample, summed). */
  topKRows?: number;
  /** With ComparatorOptions.topK: agreement of the top-K class sets (equal as sets), and whether it gates. */
  topK?: { k: number; agreement: number; gated: boolean };
  /** NaN and infinities in each model's tensor, over all samples. */
  nonFinite: { a: NonFiniteCount; b: NonFiniteCount };
  /** Where each model's tensor first holds a non-finite value; absent when neither does. */
  firstNonFinite?: { a?: NonFiniteAt; b?: NonFiniteAt };
  /** With ComparatorOptions.statistics. */
  statistics?: ErrorStatistics;
  /** The element with the largest absError / allowed; absent when every element is identical. */
  worst?: WorstElement;
}

/**
 * tolerance: the gated error statistic is over 1; nan-mismatch: NaN in one model where the other has a
 * number; non-finite: a NaN or infinity in either model (only with failOnNonFinite); top-k: a row's
 * top-K classes differ (only with gateTopK).
 */
export type FailureReason = 'tolerance' | 'nan-mismatch' | 'non-finite' | 'top-k';

/**
 * Whether a tensor of these dims is read as class scores: 2-D [N, C] with C ≥ 2, or [N, C, 1, 1] (a
 * classifier written as a 1×1 convolution). Only these get top-1/top-5 agreement.
 */
export function isClassScoreShape(dims: readonly number[]): boolean {
  if (dims.length === 2) return dims[1]! >= 2;
  if (dims.length === 4) return dims[1]! >= 2 && dims[2] === 1 && dims[3] === 1;
  return false;
}

/** Flat C-order index → multi-index. */
export function unravelIndex(flat: number, dims: readonly number[]): number[] {
  const index = new Array<number>(dims.length).fill(0);
  for (let axis = dims.length - 1; axis >= 0; axis--) {
    const d = dims[axis]!;
    if (d > 0) {
      index[axis] = flat % d;
      flat = Math.floor(flat / d);
    }
  }
  return index;
}

const TOP_K = 5;

/**
 * Indices of the k largest values of row[start, start+count) into `out` (descending; ties keep the lower
 * index first; NaN ranks below everything). Insertion into a k-slot list: C is large, k is 5.
 */
function topIndices(row: NumericArray, start: number, count: number, k: number, out: Int32Array): number {
  let filled = 0;
  for (let c = 0; c < count; c++) {
    const v = row[start + c]!;
    if (v !== v) continue;
    if (filled === k && !(v > row[start + out[k - 1]!]!)) continue;
    let pos = filled < k ? filled++ : k - 1;
    while (pos > 0 && v > row[start + out[pos - 1]!]!) {
      out[pos] = out[pos - 1]!;
      pos--;
    }
    out[pos] = c;
  }
  return filled;
}

function sameIndexSet(x: Int32Array, y: Int32Array, n: number): boolean {
  for (let i = 0; i < n; i++) {
    let found = false;
    for (let j = 0; j < n; j++) if (x[i] === y[j]) found = true;
    if (!found) return false;
  }
  return true;
}

/** Counts of non-finite values in one model's tensor, over all samples. */
export interface NonFiniteCount {
  nan: number;
  posInf: number;
  negInf: number;
}

/** Where a model's tensor first holds a non-finite value (sample, then C-order index). */
export interface NonFiniteAt {
  sample: number;
  index: number[];
  value: number;
}

/** What makes a comparison fail, beyond the statistic gate. */
export interface ComparatorOptions {
  /** Keep per-element errors and report ErrorStatistics (outputs; costs 24 bytes per kept element). */
  statistics?: boolean;
  /** The statistic the pass rule gates on (default max: every element within its allowance). */
  errorStat?: ErrorStat;
  /** K of the top-K agreement reported on class-score tensors (default 5). */
  topK?: number;
  /** Make top-K agreement on every row a pass condition (class-score tensors only). */
  gateTopK?: boolean;
  /** A non-finite value in either tensor fails the comparison (NaN against NaN included). */
  failOnNonFinite?: boolean;
  /** Samples that will be added (sizes the statistics buffers; default 1). */
  expectedSamples?: number;
}

/** Error statistics of one tensor over all samples (see src/verify/statistics.ts). */
export interface ErrorStatistics {
  /** |a − b| over every compared element (non-finite mismatches count as Infinity). */
  abs: Summary;
  /** |a − b| / |b| over the elements where b ≠ 0. */
  rel: Summary;
  /** |a − b| by decade. */
  histogram: DecadeBin[];
  /** The gated statistic: its name and its value over the ratios |a−b| / allowance (pass: ≤ 1). */
  gate: { stat: string; value: number };
  /** Smallest atol (fraction of max|b|) that passes the gate at this rtol; Infinity when none can. */
  smallestPassingAtol: number;
  /** 1 when every element was kept; k when only every k-th was (tensors above MAX_STATISTICS_ELEMENTS). */
  keptEvery: number;
}

/** Elements whose errors the statistics keep per tensor (over all samples); beyond it, every k-th. */
export const MAX_STATISTICS_ELEMENTS = 2 ** 22;

/**
 * Compares one tensor pair over several samples (each sample judged with its own max|b|) and keeps the
 * aggregate: largest errors, lowest cosine, summed violations, non-finite counts, the single worst
 * element and (with options.statistics) every element's error for the statistics.
 */
export class TensorComparator {
  private samples = 0;
  private atolEffective = 0;
  private violations = 0;
  private differing = 0;
  private nanMismatches = 0;
  private maxAbsError = 0;
  private maxRelError = 0;
  private sumAbsError = 0;
  private minCosine = 1;
  private top1Agree = 0;
  private top5Agree = 0;
  private topKAgree = 0;
  private topKRows = 0;
  private worst: WorstElement | undefined;
  private readonly nonFiniteA: NonFiniteCount = { nan: 0, posInf: 0, negInf: 0 };
  private readonly nonFiniteB: NonFiniteCount = { nan: 0, posInf: 0, negInf: 0 };
  private firstNonFiniteA: NonFiniteAt | undefined;
  private firstNonFiniteB: NonFiniteAt | undefined;
  private readonly elements: number;
  private readonly classScores: boolean;
  private readonly topK: number;
  private kept: { abs: Float64Array; absB: Float64Array; scale: Float64Array; length: number; every: number } | undefined;

  constructor(
    readonly dims: readonly number[],
    readonly tolerance: Tolerance = DEFAULT_TOLERANCE,
    readonly options: ComparatorOptions = {},
  ) {
    this.elements = dims.reduce((n, d) => n * d, 1);
    this.classScores = isClassScoreShape(dims);
    this.topK = Math.max(1, Math.floor(options.topK ?? TOP_K));
    if (options.statistics) {
      const total = this.elements * Math.max(1, options.expectedSamples ?? 1);
      const every = Math.max(1, Math.ceil(total / MAX_STATISTICS_ELEMENTS));
      const cap = Math.ceil(total / every) + 1;
      this.kept = { abs: new Float64Array(cap), absB: new Float64Array(cap), scale: new Float64Array(cap), length: 0, every };
    }
  }

  private keep(err: number, absB: number, scale: number): void {
    const k = this.kept!;
    if (k.length === k.abs.length) {
      // More samples than announced: grow.
      const grow = (x: Float64Array) => {
        const y = new Float64Array(x.length * 2 + 16);
        y.set(x);
        return y;
      };
      k.abs = grow(k.abs);
      k.absB = grow(k.absB);
      k.scale = grow(k.scale);
    }
    k.abs[k.length] = err;
    k.absB[k.length] = absB;
    k.scale[k.length] = scale;
    k.length++;
  }

  private countNonFinite(v: number, count: NonFiniteCount, sample: number, i: number, first: 'firstNonFiniteA' | 'firstNonFiniteB'): void {
    if (v !== v) count.nan++;
    else if (v > 0) count.posInf++;
    else count.negInf++;
    if (!this[first]) this[first] = { sample, index: unravelIndex(i, this.dims), value: v };
  }

  addSample(a: NumericArray, b: NumericArray): void {
    const n = this.elements;
    if (a.length !== n || b.length !== n) {
      throw new Error(`compare: arrays of ${a.length} and ${b.length} elements for dims [${this.dims.join(', ')}]`);
    }
    const sample = this.samples++;
    let maxAbsRef = 0;
    for (let i = 0; i < n; i++) {
      const m = Math.abs(b[i]!);
      // Infinity would make every error allowed; NaN fails the comparison by itself.
      if (m > maxAbsRef && m !== Infinity) maxAbsRef = m;
    }
    const { rtol, atolRel } = this.tolerance;
    const atolEff = atolRel * maxAbsRef;
    if (atolEff > this.atolEffective) this.atolEffective = atolEff;
    const kept = this.kept;
    const every = kept?.every ?? 0;
    // Element indices kept continue across samples, so a stride > 1 samples every sample alike.
    let nextKept = kept ? (every - ((sample * n) % every)) % every : -1;

    let dot = 0;
    let normA = 0;
    let normB = 0;
    let sumAbs = 0;
    let maxAbs = this.maxAbsError;
    let maxRel = this.maxRelError;
    let worstRatio = this.worst?.ratio ?? 0;
    let worstIndex = -1;
    let violations = 0;
    let nanMismatches = 0;
    let differing = 0;
    for (let i = 0; i < n; i++) {
      const av = a[i]!;
      const bv = b[i]!;
      const keepThis = i === nextKept;
      if (keepThis) nextKept += every;
      if (av - av !== 0 || bv - bv !== 0) {
        // NaN or an infinity on either side.
        if (av - av !== 0) this.countNonFinite(av, this.nonFiniteA, sample, i, 'firstNonFiniteA');
        if (bv - bv !== 0) this.countNonFinite(bv, this.nonFiniteB, sample, i, 'firstNonFiniteB');
        const bothNaN = av !== av && bv !== bv;
        if (bothNaN || av === bv) {
          if (keepThis) this.keep(0, 0, maxAbsRef);
          continue;
        }
        differing++;
        if (av !== av || bv !== bv) nanMismatches++;
        else {
          // An infinity against anything else (including the opposite infinity) fails outright.
          violations++;
          sumAbs = Infinity;
          maxAbs = maxRel = Infinity;
        }
        if (keepThis) this.keep(Infinity, Math.abs(bv), maxAbsRef);
        if (worstRatio !== Infinity) {
          worstRatio = Infinity;
          worstIndex = i;
        }
        continue;
      }
      dot += av * bv;
      normA += av * av;
      normB += bv * bv;
      const absB = Math.abs(bv);
      if (av === bv) {
        if (keepThis) this.keep(0, absB, maxAbsRef);
        continue;
      }
      differing++;
      const err = Math.abs(av - bv);
      if (keepThis) this.keep(err, absB, maxAbsRef);
      sumAbs += err;
      if (err > maxAbs) maxAbs = err;
      const rel = absB === 0 ? Infinity : err / absB;
      if (rel > maxRel) maxRel = rel;
      const allowed = atolEff + rtol * absB;
      if (err > allowed) violations++;
      const ratio = allowed === 0 ? Infinity : err / allowed;
      if (ratio > worstRatio) {
        worstRatio = ratio;
        worstIndex = i;
      }
    }
    this.violations += violations + nanMismatches;
    this.nanMismatches += nanMismatches;
    this.differing += differing;
    this.maxAbsError = maxAbs;
    this.maxRelError = maxRel;
    this.sumAbsError += sumAbs;
    const cosine = normA === 0 && normB === 0 ? 1 : normA === 0 || normB === 0 ? 0 : Math.max(-1, Math.min(1, dot / Math.sqrt(normA * normB)));
    if (cosine < this.minCosine) this.minCosine = cosine;
    if (worstIndex >= 0) {
      const av = a[worstIndex]!;
      const bv = b[worstIndex]!;
      const absError = Math.abs(av - bv);
      this.worst = {
        sample,
        index: unravelIndex(worstIndex, this.dims),
        a: av,
        b: bv,
        absError,
        allowed: atolEff + rtol * Math.abs(bv),
        ratio: worstRatio,
      };
    }
    if (this.classScores) this.addTopK(a, b);
  }

  private addTopK(a: NumericArray, b: NumericArray): void {
    const rows = this.dims[0]!;
    const classes = this.dims[1]!;
    const k5 = Math.min(TOP_K, classes);
    const kk = Math.min(this.topK, classes);
    const width = Math.max(k5, kk);
    const topA = new Int32Array(width);
    const topB = new Int32Array(width);
    for (let r = 0; r < rows; r++) {
      const filledA = topIndices(a, r * classes, classes, width, topA);
      const filledB = topIndices(b, r * classes, classes, width, topB);
      if (filledA > 0 && filledB > 0 && topA[0] === topB[0]) this.top1Agree++;
      // The first k of a descending top-`width` list are the top k.
      if (filledA >= k5 && filledB >= k5 && sameIndexSet(topA, topB, k5)) this.top5Agree++;
      if (filledA >= kk && filledB >= kk && sameIndexSet(topA, topB, kk)) this.topKAgree++;
    }
    this.topKRows += rows;
  }

  private statistics(): ErrorStatistics | undefined {
    const k = this.kept;
    if (!k) return undefined;
    const e: ErrorSamples = { abs: k.abs.subarray(0, k.length), absB: k.absB.subarray(0, k.length), scale: k.scale.subarray(0, k.length) };
    const rel: number[] = [];
    for (let i = 0; i < e.abs.length; i++) if (e.absB[i]! > 0) rel.push(e.abs[i]! / e.absB[i]!);
    const stat = this.options.errorStat ?? DEFAULT_ERROR_STAT;
    const { rtol, atolRel } = this.tolerance;
    return {
      abs: summarize(Float64Array.from(e.abs)),
      rel: summarize(Float64Array.from(rel)),
      histogram: decadeHistogram(e.abs),
      gate: { stat: errorStatLabel(stat), value: gatedValue(e, rtol, atolRel, stat) },
      smallestPassingAtol: smallestPassingAtol(e, rtol, stat),
      keptEvery: k.every,
    };
  }

  result(): TensorComparison {
    const total = this.elements * this.samples;
    const statistics = this.statistics();
    const stat = this.options.errorStat ?? DEFAULT_ERROR_STAT;
    const failures: FailureReason[] = [];
    // Elementwise (max) gate: exact violation count; other gates: the statistic over the kept ratios.
    const withinTolerance = stat.kind === 'max' || !statistics ? this.violations - this.nanMismatches === 0 : statistics.gate.value <= 1;
    if (!withinTolerance) failures.push('tolerance');
    if (this.nanMismatches) failures.push('nan-mismatch');
    const nonFinite = (c: NonFiniteCount) => c.nan + c.posInf + c.negInf;
    if (this.options.failOnNonFinite && nonFinite(this.nonFiniteA) + nonFinite(this.nonFiniteB) > 0) failures.push('non-finite');
    const result: TensorComparison = {
      dims: [...this.dims],
      samples: this.samples,
      elements: this.elements,
      tolerance: { ...this.tolerance },
      atolEffective: this.atolEffective,
      pass: false,
      failures,
      violations: this.violations,
      nanMismatches: this.nanMismatches,
      identical: this.differing === 0,
      maxAbsError: this.maxAbsError,
      maxRelError: this.maxRelError,
      meanAbsError: total ? this.sumAbsError / total : 0,
      cosineSimilarity: this.minCosine,
      nonFinite: { a: { ...this.nonFiniteA }, b: { ...this.nonFiniteB } },
    };
    if (this.firstNonFiniteA || this.firstNonFiniteB) {
      result.firstNonFinite = { ...(this.firstNonFiniteA ? { a: this.firstNonFiniteA } : {}), ...(this.firstNonFiniteB ? { b: this.firstNonFiniteB } : {}) };
    }
    if (this.classScores && this.topKRows > 0) {
      result.topKRows = this.topKRows;
      result.top1Agreement = this.top1Agree / this.topKRows;
      if (this.dims[1]! > TOP_K) result.top5Agreement = this.top5Agree / this.topKRows;
      if (this.options.topK !== undefined) {
        result.topK = { k: Math.min(this.topK, this.dims[1]!), agreement: this.topKAgree / this.topKRows, gated: !!this.options.gateTopK };
        if (this.options.gateTopK && this.topKAgree < this.topKRows) failures.push('top-k');
      }
    }
    if (statistics) result.statistics = statistics;
    if (this.worst) result.worst = this.worst;
    result.pass = failures.length === 0;
    return result;
  }
}

/** Compare one pair of arrays (one sample). */
export function compareTensors(
  a: NumericArray,
  b: NumericArray,
  dims: readonly number[],
  tolerance: Tolerance = DEFAULT_TOLERANCE,
  options: ComparatorOptions = {},
): TensorComparison {
  const comparator = new TensorComparator(dims, tolerance, options);
  comparator.addSample(a, b);
  return comparator.result();
}

// ---- Tolerance options: `--rtol 1e-3` (default for all) and `--rtol name:1e-3` (one tensor) ----

/** Default tolerance plus per-tensor overrides (by output name; for --all-tensors any value name). */
export interface ToleranceSpec {
  default: Tolerance;
  perTensor: Map<string, Partial<Tolerance>>;
}

function parseTolerance(text: string, option: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) {
    throw new BncError(`${option} ${JSON.stringify(text)}: expected a non-negative number, or name:number for one output`, { code: 'USAGE' });
  }
  return value;
}

/**
 * Build the tolerance spec from repeated --rtol/--atol values. Each is a number (the default for every
 * tensor) or `name:number`; the name is everything before the LAST ':' (ONNX names may contain ':').
 */
export function parseToleranceOptions(rtol: readonly string[], atol: readonly string[]): ToleranceSpec {
  const spec: ToleranceSpec = { default: { ...DEFAULT_TOLERANCE }, perTensor: new Map() };
  const apply = (values: readonly string[], key: keyof Tolerance, option: string) => {
    for (const v of values) {
      const colon = v.lastIndexOf(':');
      if (colon < 0) {
        spec.default[key] = parseTolerance(v, option);
        continue;
      }
      const name = v.slice(0, colon);
      if (!name) throw new BncError(`${option} ${JSON.stringify(v)}: the tensor name before ':' is empty`, { code: 'USAGE' });
      const entry = spec.perTensor.get(name) ?? {};
      entry[key] = parseTolerance(v.slice(colon + 1), option);
      spec.perTensor.set(name, entry);
    }
  };
  apply(rtol, 'rtol', '--rtol');
  apply(atol, 'atolRel', '--atol');
  return spec;
}

/** The tolerance for a tensor: its own overrides (looked up by each of `names`) over the default. */
export function toleranceFor(spec: ToleranceSpec, ...names: string[]): Tolerance {
  for (const name of names) {
    const own = spec.perTensor.get(name);
    if (own) return { ...spec.default, ...own };
  }
  return { ...spec.default };
}
