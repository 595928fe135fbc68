import { TensorComparison, Tolerance, WorstElement } from './compare.js';

/**
 * The result of `bnc verify`, and exactly what `--json` prints (one object on stdout). The shape is
 * stable: fields are only ever added. Numbers that are not finite (an Infinity relative error, a NaN at
 * the worst element) are written as the strings "Infinity", "-Infinity" and "NaN", since JSON has no
 * such numbers.
 *
 * Example (abridged):
 * {
 *   "schema": "bnc.verify/1", "modelA": "model.onnx", "modelB": "folded.onnx",
 *   "verdict": "equivalent", "exitCode": 0,
 *   "passRule": "|a-b| <= atol*max|b| + rtol*|b| elementwise (b = model B)",
 *   "tolerance": { "rtol": 0.0001, "atolRel": 0.00001, "perTensor": {} },
 *   "inputs": { "samples": 1, "seeds": [0], "tensors": [{ "name": "input", "dtype": "float", "shape": [1,3,224,224], "source": "generated" }] },
 *   "matching": "name",
 *   "outputs": [{ "name": "output", "nameB": "output", "dtype": "float", "shape": [1,1000], "pass": true,
 *                 "mismatch": null, "metrics": { "maxAbsError": 1.9e-6, ..., "worst": { "sample": 0, "index": [0,417], ... } } }],
 *   "allTensors": null, "savedInputs": null, "warnings": []
 * }
 */
export interface VerifyReport {
  schema: 'bnc.verify/1';
  modelA: string;
  modelB: string;
  /** 'equivalent' iff every output pair passes the rule. Intermediate tensors (--all-tensors) are diagnostics only. */
  verdict: 'equivalent' | 'different';
  /** 0 equivalent, 1 different (2, could not run, is reported as an error object instead). */
  exitCode: 0 | 1;
  passRule: string;
  tolerance: { rtol: number; atolRel: number; perTensor: Record<string, Partial<Tolerance>> };
  inputs: InputsReport;
  /** How outputs were paired: by equal names, or (names differ) by position. */
  matching: 'name' | 'position';
  outputs: OutputReport[];
  /** Present with --all-tensors. */
  allTensors: AllTensorsReport | null;
  /** Folder the inputs were written to (--save-inputs). */
  savedInputs: string | null;
  warnings: string[];
}

export interface InputsReport {
  samples: number;
  /** Seed of each sample for generated inputs (seed .. seed+K-1); empty when every input came from files. */
  seeds: number[];
  tensors: InputTensorReport[];
}

export interface InputTensorReport {
  name: string;
  dtype: string;
  shape: number[];
  /** generated: from the seed; file: --input name=file (same for every sample); loaded: --load-inputs. */
  source: 'generated' | 'file' | 'loaded';
  /** --input: the file; --load-inputs: the manifest's folder. */
  file?: string;
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
  worst: WorstElementJson | null;
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
    worst: c.worst ? worstJson(c.worst) : null,
  };
}

export const PASS_RULE_TEXT = '|a-b| <= atol*max|b| + rtol*|b| elementwise (b = model B; max over the finite elements of that tensor and sample); NaN in one model only fails';
