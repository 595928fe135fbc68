import { FailureReason, NonFiniteAt, NonFiniteCount, TensorComparison, Tolerance, WorstElement } from './compare.js';
import { DecadeBin, Summary } from './statistics.js';

/**
 * The result of `bnc verify`, and exactly what `--json` prints (one object on stdout): schema
 * "bnc.verify/2". Numbers that are not finite (an Infinity relative error, a NaN at the worst element) are
 * written as the strings "Infinity", "-Infinity" and "NaN", since JSON has no such numbers.
 *
 * Changes from bnc.verify/1 (every /1 field is still there with the same meaning):
 *   - reference: 'model' (modelB is a model) or 'files' (modelB is the --load-outputs folder);
 *   - gate: the pass conditions ({ errorStat, topK, allowNonFinite });
 *   - inputs.matching / inputs.pairs: how A's inputs were paired with B's (name, position, or --input-map);
 *     inputs.tensors[].source may be 'image' or 'range' (generated uniform in [range[0], range[1]]);
 *   - outputs[].metrics: failures, nonFinite, firstNonFinite, topK and statistics (see ComparisonJson);
 *   - outputs[].saturated: why the comparison proves little for this output (or null);
 *   - matching may be 'map' (--output-map); unpaired: outputs left out of the comparison;
 *   - nonFinite: the first tensor holding a NaN/inf in each model (with --all-tensors: over every tensor);
 *   - allTensors.tensors: per compared tensor its depth and error, for the HTML report's plot;
 *   - savedOutputs, htmlReport: folders/files written.
 *
 * Example (abridged):
 * {
 *   "schema": "bnc.verify/2", "modelA": "model.onnx", "modelB": "folded.onnx", "reference": "model",
 *   "verdict": "equivalent", "exitCode": 0,
 *   "passRule": "|a-b| <= atol*max|b| + rtol*|b| elementwise (b = model B; ...)",
 *   "tolerance": { "rtol": 0.0001, "atolRel": 0.00001, "perTensor": {} },
 *   "gate": { "errorStat": "max", "topK": null, "allowNonFinite": false },
 *   "inputs": { "samples": 1, "seeds": [0], "matching": "name", "pairs": [["input", "input"]],
 *               "tensors": [{ "name": "input", "dtype": "float", "shape": [1,3,224,224], "source": "generated" }] },
 *   "matching": "name", "unpaired": { "a": [], "b": [] },
 *   "outputs": [{ "name": "output", "nameB": "output", "dtype": "float", "shape": [1,1000], "pass": true,
 *                 "mismatch": null, "saturated": null,
 *                 "metrics": { "maxAbsError": 1.9e-6, ..., "failures": [],
 *                              "nonFinite": { "a": { "nan": 0, "posInf": 0, "negInf": 0 }, "b": { ... } },
 *                              "statistics": { "abs": { "max": 1.9e-6, "mean": 2e-7, "median": 1e-7, "p90": 5e-7, "p99": 1.2e-6, "count": 1000 },
 *                                              "rel": { ... }, "histogram": [{ "decade": -7, "count": 812 }, ...],
 *                                              "gate": { "stat": "max", "value": 0.21 }, "smallestPassingAtol": 0, "keptEvery": 1 },
 *                              "worst": { "sample": 0, "index": [0,417], ... } } }],
 *   "nonFinite": null, "allTensors": null, "savedInputs": null, "savedOutputs": null, "htmlReport": null, "warnings": []
 * }
 */
export interface VerifyReport {
  schema: 'bnc.verify/2';
  modelA: string;
  /** Model B's file, or with --load-outputs the folder of expected outputs. */
  modelB: string;
  reference: 'model' | 'files';
  /** 'equivalent' iff every output pair passes the rule. Intermediate tensors (--all-tensors) are diagnostics only. */
  verdict: 'equivalent' | 'different';
  /** 0 equivalent, 1 different (2, could not run, is reported as an error object instead). */
  exitCode: 0 | 1;
  passRule: string;
  tolerance: { rtol: number; atolRel: number; perTensor: Record<string, Partial<Tolerance>> };
  /** Pass conditions besides the tolerance: gated statistic, top-K agreement, and whether NaN/inf may appear. */
  gate: { errorStat: string; topK: number | null; allowNonFinite: boolean };
  inputs: InputsReport;
  /** How outputs were paired: by equal names, by position (names differ), or with --output-map. */
  matching: 'name' | 'position' | 'map';
  /** Outputs not compared (only with --output-map, or extra outputs of B). */
  unpaired: { a: string[]; b: string[] };
  outputs: OutputReport[];
  /** The first tensor holding a NaN or infinity in each model (outputs, or every tensor with --all-tensors). */
  nonFinite: { a: NonFiniteTensorReport | null; b: NonFiniteTensorReport | null } | null;
  /** Present with --all-tensors. */
  allTensors: AllTensorsReport | null;
  /** Folder the inputs were written to (--save-inputs). */
  savedInputs: string | null;
  /** Folder the outputs were written to (--save-outputs: a/ and b/ inside). */
  savedOutputs: string | null;
  /** The HTML file written (--report); set by the CLI. */
  htmlReport: string | null;
  warnings: string[];
}

export interface NonFiniteTensorReport {
  tensor: string;
  /** The node that computes it ("graph output" when only outputs were looked at and no node is known). */
  producer: string;
  sample: number;
  index: number[];
  value: JsonNumber;
}

export interface InputsReport {
  samples: number;
  /** How A's inputs were paired with B's: same names, by position (one input each), or --input-map. */
  matching: 'name' | 'position' | 'map';
  /** [A's input, B's input] (B's is the same name with --load-outputs). */
  pairs: [string, string][];
  /** Seed of each sample for generated inputs (seed .. seed+K-1); empty when every input came from files. */
  seeds: number[];
  tensors: InputTensorReport[];
}

export interface InputTensorReport {
  name: string;
  dtype: string;
  shape: number[];
  /** generated: N(0,1) from the seed; range: uniform from the seed; file: --input name=file (same for every
   * sample); image: --image (same for every sample); loaded: --load-inputs. */
  source: 'generated' | 'range' | 'file' | 'image' | 'loaded';
  /** --input / --image: the file; --load-inputs: the manifest's folder. */
  file?: string;
  /** --input-range: [low, high]. */
  range?: [number, number];
  /** --image: the preprocessing applied, e.g. "resize 224x224, BGR, (x - mean) * 0.017, NCHW". */
  preprocessing?: string;
  /** Dims that were symbolic in the model: name → the size used (1 unless --input-shape). */
  symbolicDims?: { dim: number; name: string; size: number }[];
}

export interface OutputReport {
  /** Model A's output name. */
  name: string;
  /** Model B's output name paired with it (equal to name when matching is 'name'). */
  nameB: string;
  dtype: string;
  shape: number[];
  pass: boolean;
  /** Why the pair could not be compared elementwise (different shape or element type); pass is then false. */
  mismatch: string | null;
  /** Why passing proves little for this output: 'constant' (B's values do not vary) or 'one-hot' (every
   * row a one-hot to 1e-6, a saturated softmax); null when neither. */
  saturated: 'constant' | 'one-hot' | null;
  metrics: ComparisonJson | null;
}

export interface AllTensorsReport {
  /** Tensors both models compute under the same name with the same shape (graph inputs excluded). */
  compared: number;
  /** Of those, within tolerance in every sample. */
  equal: number;
  /** Of those, beyond tolerance in some sample. */
  diverged: number;
  /** Names A computes that B does not, and the other way round (not compared). */
  onlyInA: number;
  onlyInB: number;
  /** Same name, different shape or element type (not compared; listed in shapeDiffers). */
  shapeDiffers: string[];
  /** The first diverging tensor in model A's topological order: where the two models part ways. */
  firstDiverging: DivergingTensorReport | null;
  /** Every diverging tensor name, in A's order. */
  divergingNames: string[];
  /** Every compared tensor in A's order: its depth (longest path from a graph input, in nodes), the worst
   * element's error over its allowance, and max abs error. For the HTML report's plot. */
  tensors: { name: string; depth: number; ratio: JsonNumber; maxAbsError: JsonNumber; pass: boolean }[];
}

export interface DivergingTensorReport {
  name: string;
  /** The node of model A that computes it, e.g. "Conv node 'conv1'". */
  producer: string;
  /** Position of the tensor in A's order of computed values (0-based). */
  position: number;
  shape: number[];
  metrics: ComparisonJson;
}

/** A number, or "Infinity" / "-Infinity" / "NaN" for the values JSON cannot hold. */
export type JsonNumber = number | 'Infinity' | '-Infinity' | 'NaN';

export interface WorstElementJson {
  sample: number;
  index: number[];
  a: JsonNumber;
  b: JsonNumber;
  absError: JsonNumber;
  allowed: JsonNumber;
  ratio: JsonNumber;
}

/** TensorComparison (src/verify/compare.ts documents each field) with JSON-safe numbers; absent values are null. */
export interface ComparisonJson {
  samples: number;
  elements: number;
  rtol: number;
  atolRel: number;
  atolEffective: JsonNumber;
  violations: number;
  nanMismatches: number;
  identical: boolean;
  maxAbsError: JsonNumber;
  maxRelError: JsonNumber;
  meanAbsError: JsonNumber;
  cosineSimilarity: JsonNumber;
  top1Agreement: number | null;
  top5Agreement: number | null;
  topKRows: number | null;
  /** --top-k: agreement of the top-K class sets, and whether it gates. */
  topK: { k: number; agreement: number; gated: boolean } | null;
  /** Why the pair fails: 'tolerance', 'nan-mismatch', 'non-finite', 'top-k' (empty when it passes). */
  failures: FailureReason[];
  nonFinite: { a: NonFiniteCount; b: NonFiniteCount };
  firstNonFinite: { a: NonFiniteAtJson | null; b: NonFiniteAtJson | null } | null;
  statistics: StatisticsJson | null;
  worst: WorstElementJson | null;
}

export interface NonFiniteAtJson {
  sample: number;
  index: number[];
  value: JsonNumber;
}

export interface SummaryJson {
  max: JsonNumber;
  mean: JsonNumber;
  median: JsonNumber;
  p90: JsonNumber;
  p99: JsonNumber;
  count: number;
}

/** ErrorStatistics (src/verify/compare.ts) in JSON; histogram decades are powers of ten (null: exact zero, "inf"). */
export interface StatisticsJson {
  abs: SummaryJson;
  rel: SummaryJson;
  histogram: DecadeBin[];
  gate: { stat: string; value: JsonNumber };
  smallestPassingAtol: JsonNumber;
  keptEvery: number;
}

export function jsonNumber(x: number): JsonNumber {
  if (Number.isFinite(x)) return x;
  return Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
}

function worstJson(w: WorstElement): WorstElementJson {
  return {
    sample: w.sample,
    index: w.index,
    a: jsonNumber(w.a),
    b: jsonNumber(w.b),
    absError: jsonNumber(w.absError),
    allowed: jsonNumber(w.allowed),
    ratio: jsonNumber(w.ratio),
  };
}

export function comparisonJson(c: TensorComparison): ComparisonJson {
  return {
    samples: c.samples,
    elements: c.elements,
    rtol: c.tolerance.rtol,
    atolRel: c.tolerance.atolRel,
    atolEffective: jsonNumber(c.atolEffective),
    violations: c.violations,
    nanMismatches: c.nanMismatches,
    identical: c.identical,
    maxAbsError: jsonNumber(c.maxAbsError),
    maxRelError: jsonNumber(c.maxRelError),
    meanAbsError: jsonNumber(c.meanAbsError),
    cosineSimilarity: jsonNumber(c.cosineSimilarity),
    top1Agreement: c.top1Agreement ?? null,
    top5Agreement: c.top5Agreement ?? null,
    topKRows: c.topKRows ?? null,
    topK: c.topK ?? null,
    failures: c.failures,
    nonFinite: c.nonFinite,
    firstNonFinite: c.firstNonFinite ? { a: nonFiniteAtJson(c.firstNonFinite.a), b: nonFiniteAtJson(c.firstNonFinite.b) } : null,
    statistics: c.statistics
      ? {
          abs: summaryJson(c.statistics.abs),
          rel: summaryJson(c.statistics.rel),
          histogram: c.statistics.histogram,
          gate: { stat: c.statistics.gate.stat, value: jsonNumber(c.statistics.gate.value) },
          smallestPassingAtol: jsonNumber(c.statistics.smallestPassingAtol),
          keptEvery: c.statistics.keptEvery,
        }
      : null,
    worst: c.worst ? worstJson(c.worst) : null,
  };
}

function nonFiniteAtJson(x: NonFiniteAt | undefined): NonFiniteAtJson | null {
  return x ? { sample: x.sample, index: x.index, value: jsonNumber(x.value) } : null;
}

function summaryJson(s: Summary): SummaryJson {
  return { max: jsonNumber(s.max), mean: jsonNumber(s.mean), median: jsonNumber(s.median), p90: jsonNumber(s.p90), p99: jsonNumber(s.p99), count: s.count };
}

export const PASS_RULE_TEXT = '|a-b| <= atol*max|b| + rtol*|b| elementwise (b = model B; max over the finite elements of that tensor and sample); NaN in one model only fails';
