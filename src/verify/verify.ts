import * as fs from 'node:fs';
import * as path from 'node:path';
import { BncError, DataType, Model, ValueInfo, describeNode, dtypeName, isFloatType, producerOf, shapeOf } from '../ir/index.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { NpyArray, NpyData, NpyDtype, encodeNpy, npyDtypeOf, npyFileName, npyToTensor, readNpy } from '../io/npy.js';
import { RtTensor } from '../runtime/kernel.js';
import { checkInput, checkSupported, modelInputs } from '../runtime/engine.js';
import { generateInputs } from '../runtime/inputs.js';
import { checkGeneratedInputSizes, runModelOf } from './limits.js';
import { EXACT_TOLERANCE, NumericArray, TensorComparator, ToleranceSpec, toleranceFor } from './compare.js';
import {
  AllTensorsReport,
  InputTensorReport,
  OutputReport,
  PASS_RULE_TEXT,
  VerifyReport,
  comparisonJson,
} from './report.js';

/** Everything `bnc verify` needs besides the two models. File names are for messages and the report. */
export interface VerifyOptions {
  fileA: string;
  fileB: string;
  /** --input name=file.npy: these inputs come from files (the same in every sample). */
  inputFiles?: Map<string, string>;
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
}

/** Name of the manifest --save-inputs writes: {"<sample>": {"<input name>": "<file.npy>"}}. */
export const INPUTS_MANIFEST = 'inputs.json';

export type InputSample = Map<string, RtTensor>;

// ---- Inputs ----

function formatShape(dims: readonly (number | string | null)[]): string {
  return `[${dims.map((d) => d ?? '?').join(', ')}]`;
}

function declaredType(vi: ValueInfo): DataType {
  return vi.type?.tensor?.elemType ?? DataType.FLOAT;
}

/**
 * Both models must read the same inputs: the same names, element types, ranks and fixed dims (a symbolic
 * or unknown dim matches anything). Returns A's inputs, in A's order.
 */
export function checkSameInputs(a: Model, b: Model, fileA: string, fileB: string): ValueInfo[] {
  const inA = modelInputs(a);
  const inB = modelInputs(b);
  const namesA = inA.map((v) => v.name);
  const namesB = inB.map((v) => v.name);
  const missingInB = namesA.filter((n) => !namesB.includes(n));
  const missingInA = namesB.filter((n) => !namesA.includes(n));
  if (missingInB.length || missingInA.length) {
    throw new BncError(
      `the models read different inputs: ${fileA} has [${namesA.join(', ')}], ${fileB} has [${namesB.join(', ')}]; ` +
        'verify needs models with the same input names',
      { code: 'INPUT_MISMATCH' },
    );
  }
  for (const va of inA) {
    const vb = inB.find((v) => v.name === va.name)!;
    const ta = declaredType(va);
    const tb = declaredType(vb);
    if (ta !== tb) {
      throw new BncError(`input '${va.name}' is ${dtypeName(ta)} in ${fileA} but ${dtypeName(tb)} in ${fileB}`, { code: 'INPUT_MISMATCH' });
    }
    const sa = shapeOf(va);
    const sb = shapeOf(vb);
    if (!sa || !sb) continue;
    const fixedDiffer = sa.length === sb.length && sa.some((d, i) => typeof d === 'number' && typeof sb[i] === 'number' && d !== sb[i]);
    if (sa.length !== sb.length || fixedDiffer) {
      throw new BncError(`input '${va.name}' has shape ${formatShape(sa)} in ${fileA} but ${formatShape(sb)} in ${fileB}`, {
        code: 'INPUT_MISMATCH',
      });
    }
  }
  return inA;
}

/** An .npy file as the runtime tensor for a model input, checked against the input's type and shape. */
function npyAsInput(array: NpyArray, input: ValueInfo, file: string): RtTensor {
  const tensor: RtTensor = npyToTensor(array, declaredType(input));
  try {
    checkInput(input, tensor);
  } catch (e) {
    if (e instanceof BncError) {
      e.message = `${file}: ${e.message}`;
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

/** The input samples: replayed from a folder, or generated from the seed with --input files taking precedence. */
export function prepareInputs(inputs: ValueInfo[], options: VerifyOptions): PreparedInputs {
  const inputFiles = options.inputFiles ?? new Map<string, string>();
  for (const name of inputFiles.keys()) {
    if (!inputs.some((i) => i.name === name)) {
      throw new BncError(`--input ${name}=...: the models have no input '${name}' (inputs: ${inputs.map((i) => i.name).join(', ')})`, {
        code: 'USAGE',
      });
    }
  }
  if (options.loadInputsDir) {
    if (inputFiles.size) throw new BncError('--input and --load-inputs cannot be used together', { code: 'USAGE' });
    return loadInputsFromManifest(options.loadInputsDir, inputs);
  }
  const fromFiles = new Map<string, RtTensor>();
  for (const [name, file] of inputFiles) fromFiles.set(name, npyAsInput(readNpy(file), inputs.find((i) => i.name === name)!, file));
  const seed = options.seed ?? 0;
  const count = options.samples ?? 1;
  const allFromFiles = inputs.every((i) => fromFiles.has(i.name));
  checkGeneratedInputSizes(inputs.filter((i) => !fromFiles.has(i.name)), options.fileA);
  const seeds = allFromFiles ? [] : Array.from({ length: count }, (_, k) => seed + k);
  const samples: InputSample[] = [];
  for (let k = 0; k < count; k++) {
    const generated = allFromFiles ? new Map<string, RtTensor>() : generateInputs(inputs.filter((i) => !fromFiles.has(i.name)), seed + k);
    const sample: InputSample = new Map();
    for (const input of inputs) sample.set(input.name, fromFiles.get(input.name) ?? generated.get(input.name)!);
    samples.push(sample);
  }
  const tensors = inputs.map((input): InputTensorReport => {
    const t = samples[0]!.get(input.name)!;
    const file = inputFiles.get(input.name);
    return { name: input.name, dtype: dtypeName(t.dtype), shape: t.dims, source: file ? 'file' : 'generated', ...(file ? { file } : {}) };
  });
  return { samples, seeds, tensors };
}

/** The .npy element array for a runtime tensor (bool is stored as uint8). */
function npyData(t: RtTensor, name: string): { data: NpyData; dtype: NpyDtype } {
  const dtype = npyDtypeOf(t.dtype);
  if (!dtype) throw new BncError(`input '${name}' is ${dtypeName(t.dtype)}, which .npy saving does not support`, { code: 'UNSUPPORTED' });
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
        const { data, dtype } = npyData(t, name);
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
  matching: 'name' | 'position';
  pairs: [nameA: string, nameB: string][];
}

/** Pair the outputs by name when both models have the same output names, else by position. */
export function pairOutputs(a: Model, b: Model, fileA: string, fileB: string): OutputPairing {
  const outA = a.graph.outputs.map((o) => o.name);
  const outB = b.graph.outputs.map((o) => o.name);
  const sameNames = outA.length === outB.length && outA.every((n) => outB.includes(n));
  if (sameNames) return { matching: 'name', pairs: outA.map((n) => [n, n]) };
  if (outA.length === outB.length) return { matching: 'position', pairs: outA.map((n, i) => [n, outB[i]!]) };
  throw new BncError(
    `cannot pair the outputs: ${fileA} has ${outA.length} (${outA.join(', ')}), ${fileB} has ${outB.length} (${outB.join(', ')}); ` +
      'verify needs the same output names or the same number of outputs',
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
function incomparable(a: RtTensor, b: RtTensor): string | undefined {
  if (a.dtype !== b.dtype) return `element type ${dtypeName(a.dtype)} vs ${dtypeName(b.dtype)}`;
  if (!sameDims(a.dims, b.dims)) return `shape ${formatShape(a.dims)} vs ${formatShape(b.dims)}`;
  return undefined;
}

/** Compares one named tensor across samples; stops comparing (and fails) once the two cannot be paired. */
class PairTracker {
  comparator: TensorComparator | undefined;
  mismatch: string | undefined;
  dtype = DataType.UNDEFINED;
  dims: number[] = [];

  constructor(private readonly tolerance: ReturnType<typeof toleranceFor>) {}

  add(a: RtTensor, b: RtTensor): void {
    if (this.mismatch) return;
    const why = incomparable(a, b) ?? (this.comparator && !sameDims(this.dims, a.dims) ? `shape changes between samples` : undefined);
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
      this.comparator = new TensorComparator(a.dims, isFloatType(a.dtype) ? this.tolerance : EXACT_TOLERANCE);
    }
    this.comparator.addSample(numericData(a), numericData(b));
  }
}

/** Reject per-tensor tolerances that name nothing verify compares (a typo would silently do nothing). */
function checkToleranceNames(spec: ToleranceSpec, a: Model, b: Model, allTensors: boolean): void {
  const known = new Set<string>([...a.graph.outputs, ...b.graph.outputs].map((o) => o.name));
  if (allTensors) for (const m of [a, b]) for (const n of m.graph.nodes) n.outputs.forEach((o) => known.add(o));
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

/** Run both models on the same inputs and compare them. Throws BncError when they cannot be run or paired. */
export function verifyModels(a: Model, b: Model, options: VerifyOptions): VerifyReport {
  const { fileA, fileB } = options;
  for (const [model, file] of [[a, fileA], [b, fileB]] as const) {
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
  const inputs = checkSameInputs(a, b, fileA, fileB);
  const pairing = pairOutputs(a, b, fileA, fileB);
  checkToleranceNames(options.tolerance, a, b, !!options.allTensors);
  const samples = options.samples ?? 1;
  if (!Number.isSafeInteger(samples) || samples < 1) throw new BncError(`--samples ${samples}: expected a whole number >= 1`, { code: 'USAGE' });

  const prepared = prepareInputs(inputs, options);
  const warnings: string[] = [];
  if (!options.loadInputsDir && prepared.seeds.length === 0 && samples > 1) {
    warnings.push(`every input comes from a file, so the ${samples} samples would be identical; ran 1`);
    prepared.samples.length = 1;
  }
  if (options.saveInputsDir) saveInputs(options.saveInputsDir, prepared.samples, options.force);

  const outputTrackers = pairing.pairs.map(([na, nb]) => new PairTracker(toleranceFor(options.tolerance, na, nb)));
  const tensorTrackers = new Map<string, PairTracker>();
  let orderA: string[] = [];
  const inB = new Set<string>();
  const inA = new Set<string>();
  const inputNames = new Set(inputs.map((i) => i.name));

  prepared.samples.forEach((sample, k) => {
    const runA = runModelOf(fileA, a, sample, { keepAll: !!options.allTensors });
    const runB = runModelOf(fileB, b, sample, { keepAll: !!options.allTensors });
    pairing.pairs.forEach(([na, nb], i) => {
      const ta = runA.outputs.get(na);
      const tb = runB.outputs.get(nb);
      if (!ta || !tb) throw new Error(`engine returned no value for output '${ta ? nb : na}'`);
      outputTrackers[i]!.add(ta, tb);
    });
    if (options.allTensors) {
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
        if (!tracker) tensorTrackers.set(name, (tracker = new PairTracker(toleranceFor(options.tolerance, name))));
        tracker.add(ta, tb);
      }
    }
    options.onProgress?.(k + 1, prepared.samples.length);
  });

  const outputs: OutputReport[] = pairing.pairs.map(([na, nb], i) => {
    const t = outputTrackers[i]!;
    const result = t.comparator?.result();
    return {
      name: na,
      nameB: nb,
      dtype: dtypeName(t.dtype),
      shape: t.dims,
      pass: !t.mismatch && !!result?.pass,
      mismatch: t.mismatch ?? null,
      metrics: result && !t.mismatch ? comparisonJson(result) : null,
    };
  });

  let allTensors: AllTensorsReport | null = null;
  if (options.allTensors) {
    const report: AllTensorsReport = {
      compared: 0,
      equal: 0,
      diverged: 0,
      onlyInA: [...inA].filter((n) => !inB.has(n)).length,
      onlyInB: [...inB].filter((n) => !inA.has(n)).length,
      shapeDiffers: [],
      firstDiverging: null,
      divergingNames: [],
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
  return {
    schema: 'bnc.verify/1',
    modelA: fileA,
    modelB: fileB,
    verdict: equivalent ? 'equivalent' : 'different',
    exitCode: equivalent ? 0 : 1,
    passRule: PASS_RULE_TEXT,
    tolerance: {
      rtol: options.tolerance.default.rtol,
      atolRel: options.tolerance.default.atolRel,
      perTensor: Object.fromEntries(options.tolerance.perTensor),
    },
    inputs: { samples: prepared.samples.length, seeds: prepared.seeds.slice(0, prepared.samples.length), tensors: prepared.tensors },
    matching: pairing.matching,
    outputs,
    allTensors,
    savedInputs: options.saveInputsDir ?? null,
    warnings,
  };
}
