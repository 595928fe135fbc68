import * as fs from 'node:fs';
import * as path from 'node:path';
import { BncError, DataType, Model, ValueInfo, describeNode, dtypeName, isFloatType, producerOf, shapeOf, topologicalOrder } from '../ir/index.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { NpyArray, NpyData, NpyDtype, encodeNpy, npyDtypeOf, npyFileName, npyToTensor, readNpy } from '../io/npy.js';
import { RtTensor } from '../runtime/kernel.js';
import { RunOptions, RunResult, checkInput, checkSupported, modelInputs } from '../runtime/engine.js';
import { InputOverrides, concreteDims, generateInputs, openDims, symbolicDimsHint } from '../runtime/inputs.js';
import { checkGeneratedInputSizes, runModelOf } from './limits.js';
import { releaseModelTensors } from './outline.js';
import { collectSharedGarbage } from '../runtime/sharedGarbage.js';
import { collectGarbageInWorkers } from '../runtime/parallel.js';
import { ComparatorOptions, EXACT_TOLERANCE, NumericArray, TensorComparator, ToleranceSpec, isClassScoreShape, toleranceFor, unravelIndex } from './compare.js';
import { DEFAULT_ERROR_STAT, ErrorStat, errorStatLabel } from './statistics.js';
import {
  AllTensorsReport,
  InputTensorReport,
  NonFiniteTensorReport,
  OutputReport,
  PASS_RULE_TEXT,
  VerifyReport,
  comparisonJson,
  jsonNumber,
} from './report.js';

/** Everything `bnc verify` needs besides the two models. File names are for messages and the report. */
export interface VerifyOptions {
  fileA: string;
  fileB: string;
  /** --input name=file.npy: these inputs come from files (the same in every sample). */
  inputFiles?: Map<string, string>;
  /** Inputs given as tensors (--image, decoded and preprocessed by the CLI; the same in every sample). */
  inputTensors?: Map<string, GivenInput>;
  /** --input-shape and --input-range for generated inputs. */
  overrides?: InputOverrides;
  /** --input-map A_NAME=B_NAME: which input of B takes A's input (unlisted ones: same name, or by position). */
  inputMap?: Map<string, string>;
  /** --output-map A_NAME=B_NAME: which output of B (or which file of --load-outputs) is compared with A's. */
  outputMap?: Map<string, string>;
  /** The gated error statistic (default max: the elementwise rule). */
  errorStat?: ErrorStat;
  /** --top-k K: top-K agreement on class-score outputs must be 100 %. */
  topK?: number;
  /** Let NaN/inf appear in outputs (in both models at the same places); otherwise any fails. */
  allowNonFinite?: boolean;
  /** Write each model's outputs to <dir>/a and <dir>/b (.npy per output; sample<k>_ prefix with several samples). */
  saveOutputsDir?: string;
  /** Seed of the first sample; sample k uses seed + k. */
  seed?: number;
  samples?: number;
  tolerance: ToleranceSpec;
  /** Write the inputs used (one .npy per input and sample, plus inputs.json) to this folder. */
  saveInputsDir?: string;
  /** Replace existing files in saveInputsDir. */
  force?: boolean;
  /** Replay inputs written by --save-inputs (or any folder with such an inputs.json). */
  loadInputsDir?: string;
  /** Also compare every intermediate tensor both models compute under the same name. */
  allTensors?: boolean;
  /** Called after each sample has run in both models. */
  onProgress?: (done: number, total: number) => void;
  /**
   * With a DeferredModel B: once A has run on every sample, replace A's graph by its outline (see
   * releaseModelTensors) so its weights can be freed before B is loaded. A cannot run afterwards.
   */
  releaseA?: boolean;
}

/** Name of the manifest --save-inputs writes: {"<sample>": {"<input name>": "<file.npy>"}}. */
export const INPUTS_MANIFEST = 'inputs.json';

export type InputSample = Map<string, RtTensor>;

/** An input tensor the caller prepared (an image), and how, for the report. */
export interface GivenInput {
  tensor: RtTensor;
  file: string;
  preprocessing: string;
}

/** Model B replaced by saved outputs: `.npy` files named after the outputs (bnc run --save-outputs writes these). */
export interface SavedOutputs {
  outputsDir: string;
}

/**
 * Model B opened only once model A has run on every sample (see verifyModels): with `releaseA`, A's
 * weights are gone by then, so the two models' weights are never in memory together.
 */
export interface DeferredModel {
  load(): Model;
}

// ---- Inputs ----

function formatShape(dims: readonly (number | string | null)[]): string {
  return `[${dims.map((d) => d ?? '?').join(', ')}]`;
}

function declaredType(vi: ValueInfo): DataType {
  return vi.type?.tensor?.elemType ?? DataType.FLOAT;
}

/** How A's inputs are paired with B's. */
export interface InputPairing {
  matching: 'name' | 'position' | 'map';
  /** [A's input, B's input name], in A's order. */
  pairs: [ValueInfo, string][];
}

/** Parse repeated NAME_A=NAME_B values (--input-map, --output-map); the name is split at the first '='. */
export function parseNameMap(values: readonly string[], option: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0 || eq === v.length - 1) throw new BncError(`${option} ${JSON.stringify(v)}: expected A_NAME=B_NAME`, { code: 'USAGE' });
    const from = v.slice(0, eq);
    if (map.has(from)) throw new BncError(`${option} ${from} is given twice`, { code: 'USAGE' });
    map.set(from, v.slice(eq + 1));
  }
  return map;
}

/**
 * Pair A's inputs with B's: --input-map first, then equal names; when both models have exactly one input
 * (and no map), that one pair whatever the names. Every input of each model must be paired, with the same
 * element type, rank and fixed dims (a symbolic or unknown dim matches anything).
 */
export function pairInputs(a: Model, b: Model, fileA: string, fileB: string, inputMap: ReadonlyMap<string, string> = new Map()): InputPairing {
  const inA = modelInputs(a);
  const inB = modelInputs(b);
  const namesA = inA.map((v) => v.name);
  const namesB = inB.map((v) => v.name);
  for (const [na, nb] of inputMap) {
    if (!namesA.includes(na)) throw new BncError(`--input-map ${na}=${nb}: ${fileA} has no input '${na}' (inputs: ${namesA.join(', ')})`, { code: 'USAGE' });
    if (!namesB.includes(nb)) throw new BncError(`--input-map ${na}=${nb}: ${fileB} has no input '${nb}' (inputs: ${namesB.join(', ')})`, { code: 'USAGE' });
  }
  let matching: InputPairing['matching'] = inputMap.size ? 'map' : 'name';
  let pairs: [ValueInfo, string][];
  const sameNames = namesA.length === namesB.length && namesA.every((n) => namesB.includes(n));
  if (!inputMap.size && !sameNames && inA.length === 1 && inB.length === 1) {
    matching = 'position';
    pairs = [[inA[0]!, namesB[0]!]];
  } else {
    const takenB = new Set(inputMap.values());
    pairs = [];
    const unpairedA: string[] = [];
    for (const va of inA) {
      const nb = inputMap.get(va.name) ?? (namesB.includes(va.name) && !takenB.has(va.name) ? va.name : undefined);
      if (nb === undefined) unpairedA.push(va.name);
      else pairs.push([va, nb]);
    }
    const pairedB = new Set(pairs.map(([, nb]) => nb));
    const unpairedB = namesB.filter((n) => !pairedB.has(n));
    if (unpairedA.length || unpairedB.length) {
      throw new BncError(
        `the models read different inputs: ${fileA} has [${namesA.join(', ')}], ${fileB} has [${namesB.join(', ')}]; ` +
          `pair them with --input-map ${unpairedA[0] ?? namesA[0]}=${unpairedB[0] ?? namesB[0]} (repeatable)`,
        { code: 'INPUT_MISMATCH' },
      );
    }
  }
  for (const [va, nb] of pairs) {
    const vb = inB.find((v) => v.name === nb)!;
    const label = va.name === nb ? `input '${va.name}'` : `input '${va.name}' (B: '${nb}')`;
    const ta = declaredType(va);
    const tb = declaredType(vb);
    if (ta !== tb) {
      throw new BncError(`${label} is ${dtypeName(ta)} in ${fileA} but ${dtypeName(tb)} in ${fileB}`, { code: 'INPUT_MISMATCH' });
    }
    const sa = shapeOf(va);
    const sb = shapeOf(vb);
    if (!sa || !sb) continue;
    const fixedDiffer = sa.length === sb.length && sa.some((d, i) => typeof d === 'number' && typeof sb[i] === 'number' && d !== sb[i]);
    if (sa.length !== sb.length || fixedDiffer) {
      throw new BncError(`${label} has shape ${formatShape(sa)} in ${fileA} but ${formatShape(sb)} in ${fileB}`, { code: 'INPUT_MISMATCH' });
    }
  }
  return { matching, pairs };
}

/** An .npy file as the runtime tensor for a model input, checked against the input's type and shape. */
function npyAsInput(array: NpyArray, input: ValueInfo, file: string): RtTensor {
  const tensor: RtTensor = npyToTensor(array, declaredType(input));
  try {
    checkInput(input, tensor);
  } catch (e) {
    if (e instanceof BncError) {
      e.message = `${file}: ${e.message}${tensor.dtype === DataType.DOUBLE ? ' (save the array with .astype(np.float32))' : ''}`;
      e.file ??= file;
    }
    throw e;
  }
  return tensor;
}

interface PreparedInputs {
  samples: InputSample[];
  seeds: number[];
  tensors: InputTensorReport[];
}

function loadInputsFromManifest(dir: string, inputs: ValueInfo[]): PreparedInputs {
  const manifestPath = path.join(dir, INPUTS_MANIFEST);
  let manifest: unknown;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new BncError(
      `${manifestPath}: ${missing ? 'not found; --load-inputs wants a folder written by --save-inputs' : `not valid JSON (${(e as Error).message})`}`,
      { file: manifestPath, code: missing ? 'NOT_FOUND' : 'BAD_INPUT' },
    );
  }
  if (!manifest || typeof manifest !== 'object' || Array.isArray(manifest)) {
    throw new BncError(`${manifestPath}: expected an object {"<sample>": {"<input>": "<file.npy>"}}`, { file: manifestPath });
  }
  const keys = Object.keys(manifest).sort((x, y) => Number(x) - Number(y));
  if (keys.length === 0) throw new BncError(`${manifestPath}: lists no samples`, { file: manifestPath });
  const samples: InputSample[] = [];
  for (const key of keys) {
    const files = (manifest as Record<string, unknown>)[key];
    if (!files || typeof files !== 'object') {
      throw new BncError(`${manifestPath}: sample "${key}" must map input names to .npy files`, { file: manifestPath });
    }
    const sample: InputSample = new Map();
    for (const input of inputs) {
      const file = (files as Record<string, unknown>)[input.name];
      if (typeof file !== 'string') {
        throw new BncError(`${manifestPath}: sample "${key}" has no file for input '${input.name}'`, { file: manifestPath });
      }
      const full = path.resolve(dir, file);
      sample.set(input.name, npyAsInput(readNpy(full), input, full));
    }
    const extra = Object.keys(files).filter((n) => !inputs.some((i) => i.name === n));
    if (extra.length) {
      throw new BncError(`${manifestPath}: sample "${key}" names inputs the models do not have: ${extra.join(', ')}`, { file: manifestPath });
    }
    samples.push(sample);
  }
  const tensors = inputs.map((input): InputTensorReport => {
    const t = samples[0]!.get(input.name)!;
    return { name: input.name, dtype: dtypeName(t.dtype), shape: t.dims, source: 'loaded', file: dir };
  });
  return { samples, seeds: [], tensors };
}

/**
 * The input samples: replayed from a folder (--load-inputs), or per sample: --input files and given tensors
 * (--image) as they are, the rest generated from seed + k with the --input-shape/--input-range overrides.
 * The report lists each input's source and the sizes used for its symbolic dims.
 */
export function prepareInputs(inputs: ValueInfo[], options: Omit<VerifyOptions, 'fileB' | 'tolerance'> & { fileB?: string }): PreparedInputs {
  const inputFiles = options.inputFiles ?? new Map<string, string>();
  const given = options.inputTensors ?? new Map<string, GivenInput>();
  const overrides = options.overrides ?? {};
  const names = inputs.map((i) => i.name).join(', ') || 'none';
  const checkNames = (keys: Iterable<string>, option: string) => {
    for (const name of keys) {
      if (!inputs.some((i) => i.name === name)) {
        throw new BncError(`${option} ${name}=...: the model${options.fileB === undefined ? ' has' : 's have'} no input '${name}' (inputs: ${names})`, {
          code: 'USAGE',
        });
      }
    }
  };
  checkNames(inputFiles.keys(), '--input');
  checkNames(given.keys(), '--image');
  checkNames(overrides.shapes?.keys() ?? [], '--input-shape');
  checkNames(overrides.ranges?.keys() ?? [], '--input-range');
  for (const name of given.keys()) {
    if (inputFiles.has(name)) throw new BncError(`input '${name}' is given by both --input and --image; choose one`, { code: 'USAGE' });
  }
  if (options.loadInputsDir) {
    if (inputFiles.size || given.size) throw new BncError('--input/--image and --load-inputs cannot be used together', { code: 'USAGE' });
    return loadInputsFromManifest(options.loadInputsDir, inputs);
  }
  const fixed = new Map<string, RtTensor>();
  for (const [name, file] of inputFiles) fixed.set(name, npyAsInput(readNpy(file), inputs.find((i) => i.name === name)!, file));
  for (const [name, g] of given) {
    const vi = inputs.find((i) => i.name === name)!;
    try {
      checkInput(vi, g.tensor);
    } catch (e) {
      if (e instanceof BncError) e.message = `--image ${name}=${g.file}: ${e.message} (set the size with --resize H,W and the layout with --layout)`;
      throw e;
    }
    fixed.set(name, g.tensor);
  }
  for (const name of fixed.keys()) {
    if (overrides.shapes?.has(name) || overrides.ranges?.has(name)) {
      throw new BncError(`input '${name}' comes from a file; --input-shape and --input-range apply to generated inputs only`, { code: 'USAGE' });
    }
  }
  const seed = options.seed ?? 0;
  const count = options.samples ?? 1;
  const toGenerate = inputs.filter((i) => !fixed.has(i.name));
  checkGeneratedInputSizes(toGenerate, options.fileA, overrides.shapes);
  const seeds = toGenerate.length === 0 ? [] : Array.from({ length: count }, (_, k) => seed + k);
  const samples: InputSample[] = [];
  for (let k = 0; k < count; k++) {
    const generated = toGenerate.length ? generateInputs(toGenerate, seed + k, overrides) : new Map<string, RtTensor>();
    const sample: InputSample = new Map();
    for (const input of inputs) sample.set(input.name, fixed.get(input.name) ?? generated.get(input.name)!);
    samples.push(sample);
  }
  const tensors = inputs.map((input): InputTensorReport => {
    const t = samples[0]!.get(input.name)!;
    const base = { name: input.name, dtype: dtypeName(t.dtype), shape: t.dims };
    const file = inputFiles.get(input.name);
    if (file) return { ...base, source: 'file', file };
    const g = given.get(input.name);
    if (g) return { ...base, source: 'image', file: g.file, preprocessing: g.preprocessing };
    const open = openDims(input, t.dims);
    const range = overrides.ranges?.get(input.name);
    return {
      ...base,
      source: range ? 'range' : 'generated',
      ...(range ? { range: [range[0], range[1]] as [number, number] } : {}),
      ...(open.length ? { symbolicDims: open } : {}),
    };
  });
  return { samples, seeds, tensors };
}

/**
 * runModelOf, with a hint added to its errors when generated inputs had symbolic dims taken as 1 (the
 * usual reason a window or kernel does not fit): which input and dim, and the --input-shape to pass.
 */
export function runWithShapeHint(
  file: string,
  model: Model,
  sample: InputSample,
  generated: readonly ValueInfo[],
  overridden: ReadonlySet<string>,
  options: RunOptions = {},
): RunResult {
  try {
    return runModelOf(file, model, sample, options);
  } catch (e) {
    if (e instanceof BncError) {
      const hint = symbolicDimsHint(generated, overridden);
      if (hint && !e.message.includes('--input-shape')) e.message = `${e.message} (${hint})`;
    }
    throw e;
  }
}

/** The .npy element array for a runtime tensor (bool is stored as uint8). */
function npyData(t: RtTensor, label: string): { data: NpyData; dtype: NpyDtype } {
  const dtype = npyDtypeOf(t.dtype);
  if (!dtype) throw new BncError(`${label} is ${dtypeName(t.dtype)}, which .npy saving does not support`, { code: 'UNSUPPORTED' });
  return { data: t.data, dtype };
}

/**
 * Write the samples as sample<k>_<input>.npy files plus inputs.json ({"<k>": {"<input>": "<file>"}}), so
 * --load-inputs (or any tool) can replay them. The manifest is written last: a folder with a manifest is
 * complete.
 */
export function saveInputs(dir: string, samples: InputSample[], force = false): void {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new BncError(`--save-inputs ${dir}: exists and is not a folder`, { file: dir });
  }
  fs.mkdirSync(dir, { recursive: true });
  const manifest: Record<string, Record<string, string>> = {};
  samples.forEach((sample, k) => {
    const files: Record<string, string> = {};
    for (const [name, t] of sample) {
      const file = npyFileName(name, `sample${k}_`);
      writeFileAtomic(path.join(dir, file), () => {
        const { data, dtype } = npyData(t, `input '${name}'`);
        return encodeNpy(t.dims, data, dtype);
      }, { force });
      files[name] = file;
    }
    manifest[String(k)] = files;
  });
  writeFileAtomic(path.join(dir, INPUTS_MANIFEST), () => JSON.stringify(manifest, null, 2) + '\n', { force });
}

// ---- Outputs ----

export interface OutputPairing {
  matching: 'name' | 'position' | 'map';
  pairs: [nameA: string, nameB: string][];
  /** Outputs left out (with --output-map: those neither mapped nor sharing a name). */
  unpaired: { a: string[]; b: string[] };
}

/**
 * Pair the outputs. With --output-map: the mapped pairs plus outputs of equal name; the rest are reported
 * as not compared. Without: by name when both models have the same output names, else by position.
 */
export function pairOutputs(a: Model, b: Model, fileA: string, fileB: string, outputMap: ReadonlyMap<string, string> = new Map()): OutputPairing {
  const outA = a.graph.outputs.map((o) => o.name);
  const outB = b.graph.outputs.map((o) => o.name);
  if (outputMap.size) {
    for (const [na, nb] of outputMap) {
      if (!outA.includes(na)) throw new BncError(`--output-map ${na}=${nb}: ${fileA} has no output '${na}' (outputs: ${outA.join(', ')})`, { code: 'USAGE' });
      if (!outB.includes(nb)) throw new BncError(`--output-map ${na}=${nb}: ${fileB} has no output '${nb}' (outputs: ${outB.join(', ')})`, { code: 'USAGE' });
    }
    const mappedB = new Set(outputMap.values());
    const pairs: [string, string][] = [];
    for (const na of outA) {
      const nb = outputMap.get(na) ?? (outB.includes(na) && !mappedB.has(na) ? na : undefined);
      if (nb !== undefined) pairs.push([na, nb]);
    }
    const pairedB = new Set(pairs.map(([, nb]) => nb));
    return { matching: 'map', pairs, unpaired: { a: outA.filter((n) => !pairs.some(([x]) => x === n)), b: outB.filter((n) => !pairedB.has(n)) } };
  }
  const none = { a: [], b: [] };
  const sameNames = outA.length === outB.length && outA.every((n) => outB.includes(n));
  if (sameNames) return { matching: 'name', pairs: outA.map((n) => [n, n]), unpaired: none };
  if (outA.length === outB.length) return { matching: 'position', pairs: outA.map((n, i) => [n, outB[i]!]), unpaired: none };
  throw new BncError(
    `cannot pair the outputs: ${fileA} has ${outA.length} (${outA.join(', ')}), ${fileB} has ${outB.length} (${outB.join(', ')}); ` +
      `pair them with --output-map ${outA[0] ?? 'A_NAME'}=${outB[0] ?? 'B_NAME'} (repeatable)`,
    { code: 'OUTPUT_MISMATCH' },
  );
}

/** Elements as an array the comparison reads: int64 becomes float64 (exact up to 2^53). */
function numericData(t: RtTensor): NumericArray {
  const d = t.data;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float64Array.from(d, (v) => Number(v));
  return d;
}

function sameDims(x: readonly number[], y: readonly number[]): boolean {
  return x.length === y.length && x.every((d, i) => d === y[i]);
}

/** Why two tensors cannot be compared elementwise, or undefined when they can. */
function incomparable(a: RtTensor, b: RtTensor, anyFloats: boolean): string | undefined {
  const floats = anyFloats && isFloatType(a.dtype) && isFloatType(b.dtype);
  if (a.dtype !== b.dtype && !floats) return `element type ${dtypeName(a.dtype)} vs ${dtypeName(b.dtype)}`;
  if (!sameDims(a.dims, b.dims)) return `shape ${formatShape(a.dims)} vs ${formatShape(b.dims)}`;
  return undefined;
}

/** Closest classes to 1 and 0 in a one-hot row may sit: a softmax saturated to float32's resolution. */
const ONE_HOT_SLACK = 1e-6;

/** 'constant' when every element of b is equal; 'one-hot' when every class-score row is one-hot to 1e-6. */
function saturation(b: RtTensor): 'constant' | 'one-hot' | null {
  const d = numericData(b);
  if (d.length < 2) return null;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min === max) return 'constant';
  if (!isClassScoreShape(b.dims) || min < -ONE_HOT_SLACK || max > 1 + ONE_HOT_SLACK) return null;
  const rows = b.dims[0]!;
  const classes = d.length / rows;
  for (let r = 0; r < rows; r++) {
    let high = 0;
    for (let c = 0; c < classes; c++) {
      const v = d[r * classes + c]!;
      if (v >= 1 - ONE_HOT_SLACK) high++;
      else if (v > ONE_HOT_SLACK) return null;
    }
    if (high !== 1) return null;
  }
  return 'one-hot';
}

/** Compares one named tensor across samples; stops comparing (and fails) once the two cannot be paired. */
class PairTracker {
  comparator: TensorComparator | undefined;
  mismatch: string | undefined;
  dtype = DataType.UNDEFINED;
  dims: number[] = [];
  /** Saturation of B in every sample so far (null once a sample is not saturated). */
  saturated: 'constant' | 'one-hot' | null | undefined;

  constructor(
    private readonly tolerance: ReturnType<typeof toleranceFor>,
    private readonly options: ComparatorOptions = {},
    private readonly anyFloats = false,
    private readonly watchSaturation = false,
  ) {}

  add(a: RtTensor, b: RtTensor): void {
    if (this.mismatch) return;
    const why = incomparable(a, b, this.anyFloats) ?? (this.comparator && !sameDims(this.dims, a.dims) ? `shape changes between samples` : undefined);
    if (why) {
      this.mismatch = why;
      this.dtype = a.dtype;
      this.dims = a.dims;
      return;
    }
    if (!this.comparator) {
      this.dtype = a.dtype;
      this.dims = [...a.dims];
      // Integer and bool tensors (indices, masks, shapes) must match exactly.
      const float = isFloatType(a.dtype);
      this.comparator = new TensorComparator(a.dims, float ? this.tolerance : EXACT_TOLERANCE, float ? this.options : { ...this.options, errorStat: DEFAULT_ERROR_STAT });
    }
    this.comparator.addSample(numericData(a), numericData(b));
    if (this.watchSaturation && this.saturated !== null) {
      const s = saturation(b);
      this.saturated = this.saturated === undefined || this.saturated === s ? s : null;
    }
  }
}

/** Reject per-tensor tolerances that name nothing verify compares (a typo would silently do nothing). */
function checkToleranceNames(spec: ToleranceSpec, a: Model, b: Model | undefined, allTensors: boolean, outputNamesB: readonly string[]): void {
  const known = new Set<string>([...a.graph.outputs.map((o) => o.name), ...outputNamesB]);
  if (allTensors) for (const m of b ? [a, b] : [a]) for (const n of m.graph.nodes) n.outputs.forEach((o) => known.add(o));
  for (const name of spec.perTensor.keys()) {
    if (!known.has(name)) {
      const outputs = a.graph.outputs.map((o) => o.name).join(', ');
      throw new BncError(
        `--rtol/--atol ${name}:...: no output named '${name}' (outputs: ${outputs}${allTensors ? '; nor a tensor of either model' : ''})`,
        { code: 'USAGE' },
      );
    }
  }
}

/** Expected outputs of sample k from a --load-outputs folder: <name>.npy, or sample<k>_<name>.npy with several samples. */
function loadOutputs(dir: string, names: readonly string[], sample: number, samples: number): Map<string, RtTensor> {
  const out = new Map<string, RtTensor>();
  for (const name of names) {
    const file = path.join(dir, npyFileName(name, samples > 1 ? `sample${sample}_` : ''));
    if (!fs.existsSync(file)) {
      throw new BncError(
        `--load-outputs ${dir}: no ${path.basename(file)} for output '${name}' ` +
          `(write them with bnc run MODEL --save-outputs ${dir}${samples > 1 ? ' per sample' : ''}, or name another file with --output-map ${name}=FILE_STEM)`,
        { file, code: 'NOT_FOUND' },
      );
    }
    const array: NpyArray = readNpy(file);
    out.set(name, npyToTensor(array));
  }
  return out;
}

/** Write one model's outputs for one sample as .npy files into dir. */
function saveOutputs(dir: string, outputs: Map<string, RtTensor>, sample: number, samples: number, force: boolean): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, t] of outputs) {
    const file = path.join(dir, npyFileName(name, samples > 1 ? `sample${sample}_` : ''));
    const { data, dtype } = npyData(t, `output '${name}'`);
    writeFileAtomic(file, () => encodeNpy(t.dims, data, dtype), { force });
  }
}


/** Longest path (in nodes) from a graph input or constant to each value computed by the graph. */
function valueDepths(model: Model): Map<string, number> {
  const depth = new Map<string, number>();
  for (const node of topologicalOrder(model.graph)) {
    let d = 0;
    for (const v of node.inputs) if (v) d = Math.max(d, depth.get(v) ?? 0);
    for (const o of node.outputs) if (o) depth.set(o, d + 1);
  }
  return depth;
}

/** The first tensor (in run order) holding a NaN or infinity, or null. */
function firstNonFiniteTensor(model: Model, run: RunResult, names: readonly string[], sample: number): NonFiniteTensorReport | null {
  const values = new Map([...(run.intermediates ?? []), ...run.outputs]);
  for (const name of names) {
    const t = values.get(name);
    if (!t || !isFloatType(t.dtype)) continue;
    const d = t.data as NumericArray;
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (v - v !== 0) {
        const producer = producerOf(model.graph, name);
        return { tensor: name, producer: producer ? describeNode(model.graph, producer) : 'graph input', sample, index: unravelIndex(i, t.dims), value: jsonNumber(v) };
      }
    }
  }
  return null;
}

function hasNonFinite(t: RtTensor): number {
  if (!isFloatType(t.dtype)) return 0;
  const d = t.data as NumericArray;
  let n = 0;
  for (let i = 0; i < d.length; i++) if (d[i]! - d[i]! !== 0) n++;
  return n;
}

/**
 * Run model A and model B (or read B's saved outputs) on the same inputs and compare every paired output.
 * The pass rule per output: the gated error statistic ≤ 1 (default: every element within
 * atol·max|b| + rtol·|b|), no NaN where the other model has a number, no NaN/inf at all unless
 * allowNonFinite, and with topK every row's top-K classes equal. Throws BncError when the models cannot be
 * run or paired.
 */
function checkSupportedIn(model: Model, file: string): void {
  try {
    checkSupported(model);
  } catch (e) {
    if (e instanceof BncError && !e.message.startsWith(file)) {
      e.message = `${file}: ${e.message}`;
      e.file ??= file;
    }
    throw e;
  }
}

export function verifyModels(a: Model, b: Model | SavedOutputs | DeferredModel, options: VerifyOptions): VerifyReport {
  const { fileA, fileB } = options;
  const deferred = 'load' in b ? b : undefined;
  let modelB = 'graph' in b ? b : undefined;
  const outputsDir = 'outputsDir' in b ? b.outputsDir : undefined;
  checkSupportedIn(a, fileA);
  if (modelB) checkSupportedIn(modelB, fileB);
  if (outputsDir && options.allTensors) throw new BncError('--all-tensors needs two models; it cannot be used with --load-outputs', { code: 'USAGE' });
  if (outputsDir && options.inputMap?.size) throw new BncError('--input-map needs two models; it cannot be used with --load-outputs', { code: 'USAGE' });
  // Pairing reads both models' inputs and outputs; a deferred B is paired once it is loaded. Every input
  // of A takes part in a successful pairing, in A's order, so A's inputs are the ones to prepare.
  let inputPairing: InputPairing = { matching: 'name', pairs: modelInputs(a).map((v) => [v, v.name]) };
  let pairing: OutputPairing | undefined;
  const pairWithB = (modelB: Model) => {
    inputPairing = pairInputs(a, modelB, fileA, fileB, options.inputMap);
    pairing = pairOutputs(a, modelB, fileA, fileB, options.outputMap);
  };
  if (modelB) pairWithB(modelB);
  else if (outputsDir) {
    const outA = a.graph.outputs.map((o) => o.name);
    for (const na of options.outputMap?.keys() ?? []) {
      if (!outA.includes(na)) throw new BncError(`--output-map ${na}=...: ${fileA} has no output '${na}' (outputs: ${outA.join(', ')})`, { code: 'USAGE' });
    }
    pairing = { matching: options.outputMap?.size ? 'map' : 'name', pairs: outA.map((n) => [n, options.outputMap?.get(n) ?? n]), unpaired: { a: [], b: [] } };
  }
  const checkPairing = (pairing: OutputPairing) => {
    if (pairing.pairs.length === 0) throw new BncError('no outputs to compare: --output-map pairs none and no names are shared', { code: 'OUTPUT_MISMATCH' });
    checkToleranceNames(options.tolerance, a, modelB, !!options.allTensors, pairing.pairs.map(([, nb]) => nb));
  };
  if (pairing) checkPairing(pairing);
  const inputs = inputPairing.pairs.map(([va]) => va);
  const samples = options.samples ?? 1;
  if (!Number.isSafeInteger(samples) || samples < 1) throw new BncError(`--samples ${samples}: expected a whole number >= 1`, { code: 'USAGE' });
  if (options.topK !== undefined && !(Number.isSafeInteger(options.topK) && options.topK >= 1)) {
    throw new BncError(`--top-k ${options.topK}: expected a whole number >= 1`, { code: 'USAGE' });
  }

  const prepared = prepareInputs(inputs, options);
  const warnings: string[] = [];
  if (!options.loadInputsDir && prepared.seeds.length === 0 && samples > 1) {
    warnings.push(`every input comes from a file, so the ${samples} samples would be identical; ran 1`);
    prepared.samples.length = 1;
  }
  const sampleCount = prepared.samples.length;
  if (options.saveInputsDir) saveInputs(options.saveInputsDir, prepared.samples, options.force);
  for (const t of prepared.tensors) {
    const bad = hasNonFinite(prepared.samples[0]!.get(t.name)!);
    if (bad) warnings.push(`input '${t.name}' holds ${bad} NaN/inf value${bad === 1 ? '' : 's'}; outputs computed from it will too`);
  }
  if (outputsDir && prepared.tensors.some((t) => t.source === 'generated' || t.source === 'range')) {
    warnings.push(
      `the expected outputs in ${outputsDir} must come from these same inputs: generated ones are what ` +
        `bnc run --seed ${options.seed ?? 0} feeds; otherwise pass the inputs they were made from with --input or --load-inputs`,
    );
  }

  const errorStat = options.errorStat ?? DEFAULT_ERROR_STAT;
  const comparatorOptions: ComparatorOptions = {
    statistics: true,
    errorStat,
    ...(options.topK !== undefined ? { topK: options.topK, gateTopK: true } : {}),
    failOnNonFinite: !options.allowNonFinite,
    expectedSamples: sampleCount,
  };
  let outputTrackers: PairTracker[] = [];
  const tensorTrackers = new Map<string, PairTracker>();
  const tensorOptions: ComparatorOptions = { failOnNonFinite: !options.allowNonFinite };
  let orderA: string[] = [];
  const inB = new Set<string>();
  const inA = new Set<string>();
  const inputNames = new Set(inputs.map((i) => i.name));
  const generated = inputs.filter((i) => prepared.tensors.find((t) => t.name === i.name)!.source.match(/generated|range/));
  const overridden = new Set(options.overrides?.shapes?.keys() ?? []);
  let generatedB: ValueInfo[] = [];
  let firstNonFiniteA: NonFiniteTensorReport | null = null;
  let firstNonFiniteB: NonFiniteTensorReport | null = null;
  let outputNamesB: string[] = [];
  const keepAll = !!options.allTensors;
  // Set up the comparison once B's side is known (at once, or when a deferred B has loaded).
  const startComparing = (pairing: OutputPairing) => {
    outputTrackers = pairing.pairs.map(([na, nb]) => new PairTracker(toleranceFor(options.tolerance, na, nb), comparatorOptions, !!outputsDir, true));
    generatedB = modelB ? generated.map((vi) => modelInputs(modelB!).find((v) => v.name === inputPairing.pairs.find(([va]) => va.name === vi.name)![1])!) : [];
    outputNamesB = pairing.pairs.map(([, nb]) => nb);
  };
  const runSampleA = (sample: InputSample, k: number): RunResult => {
    return runWithShapeHint(fileA, a, sample, generated, overridden, { keepAll });
  };
  const compareSample = (sample: InputSample, k: number, runA: RunResult, pairing: OutputPairing) => {
    let outputsB: Map<string, RtTensor>;
    let runB: RunResult | undefined;
    if (modelB) {
      const sampleB: InputSample = new Map(inputPairing.pairs.map(([va, nb]) => [nb, sample.get(va.name)!]));
      runB = runWithShapeHint(fileB, modelB, sampleB, generatedB, new Set([...overridden].map((n) => inputPairing.pairs.find(([va]) => va.name === n)?.[1] ?? n)), { keepAll });
      outputsB = runB.outputs;
    } else outputsB = loadOutputs(outputsDir!, outputNamesB, k, sampleCount);
    pairing.pairs.forEach(([na, nb], i) => {
      const ta = runA.outputs.get(na);
      const tb = outputsB.get(nb);
      if (!ta || !tb) throw new Error(`engine returned no value for output '${ta ? nb : na}'`);
      outputTrackers[i]!.add(ta, tb);
    });
    if (options.saveOutputsDir) {
      saveOutputs(path.join(options.saveOutputsDir, 'a'), runA.outputs, k, sampleCount, !!options.force);
      if (runB) saveOutputs(path.join(options.saveOutputsDir, 'b'), runB.outputs, k, sampleCount, !!options.force);
    }
    if (options.allTensors && runB) {
      const valuesA = new Map([...(runA.intermediates ?? []), ...runA.outputs]);
      const valuesB = new Map([...(runB.intermediates ?? []), ...runB.outputs]);
      if (k === 0) {
        orderA = runA.order.filter((n) => valuesA.has(n) && !inputNames.has(n));
        orderA.forEach((n) => inA.add(n));
        for (const n of valuesB.keys()) if (!inputNames.has(n)) inB.add(n);
      }
      for (const name of orderA) {
        const tb = valuesB.get(name);
        const ta = valuesA.get(name);
        if (!ta || !tb) continue;
        let tracker = tensorTrackers.get(name);
        if (!tracker) tensorTrackers.set(name, (tracker = new PairTracker(toleranceFor(options.tolerance, name), tensorOptions)));
        tracker.add(ta, tb);
      }
    }
    // Where NaN/inf first appear: over every tensor with --all-tensors, else over the outputs.
    firstNonFiniteA ??= firstNonFiniteTensor(a, runA, options.allTensors ? runA.order : pairing.pairs.map(([na]) => na), k);
    if (runB) firstNonFiniteB ??= firstNonFiniteTensor(modelB!, runB, options.allTensors ? runB.order : outputNamesB, k);
    else if (!firstNonFiniteB) {
      const found = firstNonFiniteTensor(a, { outputs: outputsB, order: [] }, outputNamesB, k);
      if (found) firstNonFiniteB = { ...found, producer: `file in ${outputsDir}` };
    }
    options.onProgress?.(k + 1, sampleCount);
  };

  if (!deferred) {
    startComparing(pairing!);
    prepared.samples.forEach((sample, k) => compareSample(sample, k, runSampleA(sample, k), pairing!));
  } else {
    // A on every sample first, keeping only what the comparison reads (its outputs, and every tensor with
    // --all-tensors); then, with A's weights released, B.
    const runsA = prepared.samples.map((sample, k) => runSampleA(sample, k));
    if (options.releaseA) {
      releaseModelTensors(a);
      // Weights read into shared memory are invisible to V8's collection heuristics: free them now.
      collectSharedGarbage();
      collectGarbageInWorkers();
    }
    modelB = deferred.load();
    checkSupportedIn(modelB, fileB);
    pairWithB(modelB);
    checkPairing(pairing!);
    startComparing(pairing!);
    prepared.samples.forEach((sample, k) => {
      compareSample(sample, k, runsA[k]!, pairing!);
      runsA[k] = undefined as unknown as RunResult;
    });
  }
  const finalPairing = pairing!;

  const outputs: OutputReport[] = finalPairing.pairs.map(([na, nb], i) => {
    const t = outputTrackers[i]!;
    const result = t.comparator?.result();
    const saturated = !t.mismatch && t.saturated ? t.saturated : null;
    return {
      name: na,
      nameB: nb,
      dtype: dtypeName(t.dtype),
      shape: t.dims,
      pass: !t.mismatch && !!result?.pass,
      mismatch: t.mismatch ?? null,
      saturated,
      metrics: result && !t.mismatch ? comparisonJson(result) : null,
    };
  });
  for (const o of outputs) {
    if (!o.saturated) continue;
    const why = o.saturated === 'constant' ? 'is constant over its elements' : 'is one-hot in every row (a saturated softmax)';
    warnings.push(
      `output '${o.name}' ${why} in ${outputsDir ? 'the expected outputs' : 'model B'} on these inputs, so agreeing on it proves little; ` +
        'feed realistic inputs (--image, --input-range) or compare every tensor (--all-tensors)',
    );
  }
  if (finalPairing.unpaired.a.length || finalPairing.unpaired.b.length) {
    warnings.push(
      `not compared (no pair): ${[...finalPairing.unpaired.a.map((n) => `A '${n}'`), ...finalPairing.unpaired.b.map((n) => `B '${n}'`)].join(', ')}`,
    );
  }

  let allTensors: AllTensorsReport | null = null;
  if (options.allTensors && modelB) {
    const depths = valueDepths(a);
    const report: AllTensorsReport = {
      compared: 0,
      equal: 0,
      diverged: 0,
      onlyInA: [...inA].filter((n) => !inB.has(n)).length,
      onlyInB: [...inB].filter((n) => !inA.has(n)).length,
      shapeDiffers: [],
      firstDiverging: null,
      divergingNames: [],
      tensors: [],
    };
    orderA.forEach((name, position) => {
      const tracker = tensorTrackers.get(name);
      if (!tracker) return;
      if (tracker.mismatch || !tracker.comparator) {
        report.shapeDiffers.push(name);
        return;
      }
      const result = tracker.comparator.result();
      report.compared++;
      report.tensors.push({
        name,
        depth: depths.get(name) ?? 0,
        ratio: jsonNumber(result.worst?.ratio ?? 0),
        maxAbsError: jsonNumber(result.maxAbsError),
        pass: result.pass,
      });
      if (result.pass) {
        report.equal++;
        return;
      }
      report.diverged++;
      report.divergingNames.push(name);
      if (!report.firstDiverging) {
        const producer = producerOf(a.graph, name);
        report.firstDiverging = {
          name,
          producer: producer ? describeNode(a.graph, producer) : 'graph input',
          position,
          shape: result.dims,
          metrics: comparisonJson(result),
        };
      }
    });
    allTensors = report;
  }

  const equivalent = outputs.every((o) => o.pass);
  const nonFinite = firstNonFiniteA || firstNonFiniteB ? { a: firstNonFiniteA, b: firstNonFiniteB } : null;
  return {
    schema: 'bnc.verify/2',
    modelA: fileA,
    modelB: fileB,
    reference: modelB ? 'model' : 'files',
    verdict: equivalent ? 'equivalent' : 'different',
    exitCode: equivalent ? 0 : 1,
    passRule: PASS_RULE_TEXT,
    tolerance: {
      rtol: options.tolerance.default.rtol,
      atolRel: options.tolerance.default.atolRel,
      perTensor: Object.fromEntries(options.tolerance.perTensor),
    },
    gate: { errorStat: errorStatLabel(errorStat), topK: options.topK ?? null, allowNonFinite: !!options.allowNonFinite },
    inputs: {
      samples: sampleCount,
      seeds: prepared.seeds.slice(0, sampleCount),
      matching: inputPairing.matching,
      pairs: inputPairing.pairs.map(([va, nb]) => [va.name, nb]),
      tensors: prepared.tensors,
    },
    matching: finalPairing.matching,
    unpaired: finalPairing.unpaired,
    outputs,
    nonFinite,
    allTensors,
    savedInputs: options.saveInputsDir ?? null,
    savedOutputs: options.saveOutputsDir ?? null,
    htmlReport: null,
    warnings,
  };
}
