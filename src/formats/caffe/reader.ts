import { BncError, DataType, Model, ValueInfo, tensorValueInfo, validateGraph } from '../../ir/index.js';
import { readModelBytes } from '../modelFile.js';
import { GraphBuilder } from './builder.js';
import { calibrateRandomWeights } from './calibrate.js';
import { LayerWeights, WeightBlob, parseCaffemodel, sameBlobShape } from './caffemodel.js';
import { BlobSpec, LAYER_MAPPINGS, MapContext, layerError } from './layers/index.js';
import { CaffeLayer, CaffeNet, parseNet } from './net.js';
import { caffeType } from './schema.js';
import { randomBlobs } from './randomBlobs.js';

// Caffe net (+ weights) → IR model. Blobs become SSA values: each write of a blob (in-place layers write
// their bottom again) is a new value; the value written last to a blob carries the blob's name, so graph
// outputs and intermediate names match Caffe's `net.blobs[name]` after a forward pass. Earlier versions
// get derived names (`conv1/bn1` = blob conv1 as layer bn1 left it).

export const DEFAULT_OPSET = 13;
/** First opset with BatchNormalization's training_mode attribute in the form bnc writes. */
export const TRAINING_MODE_OPSET = 15;

export interface CaffeReadOptions {
  /** Weights to use, by layer name (from a caffemodel); ignored with randomWeights. */
  weights?: LayerWeights[];
  /** File names for messages. */
  prototxtFile?: string;
  weightsFile?: string;
  randomWeights?: boolean;
  seed?: number;
  /** ONNX opset to write (default 13; raised to 15 when a BatchNorm needs training_mode). */
  opset?: number;
  /** Batch size override for every input, or 'dynamic' for a symbolic batch axis. */
  batch?: number | 'dynamic';
  warn?: (message: string) => void;
  /** Bytes of the caffemodel read so far (large files only), for a progress bar. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** Read the caffemodel into a SharedArrayBuffer (see OpenOptions.sharedMemory). */
  sharedMemory?: boolean;
  /** Called with each layer's generated blobs (randomWeights), e.g. to write them as a caffemodel. */
  onRandomWeights?: (layer: CaffeLayer, blobs: Float32Array[], specs: BlobSpec[]) => void;
  /**
   * Build the TEST net only up to these blobs (--outputs): the layers they do not depend on are dropped
   * (so an unsupported layer after them no longer matters), and they are the graph outputs, in this order.
   */
  outputs?: string[];
  /** Net input name → shape replacing the declared one (--input-shape); same rank, every name a net input. */
  inputShapes?: Record<string, number[]>;
}

export interface CaffeConversion {
  model: Model;
  /** Blob name → shape of its final value (the net's shapes at the prototxt's batch size). */
  shapes: Map<string, number[]>;
  /** The net's output blobs (written and never read afterwards). */
  outputs: string[];
  /** Layers in the TEST net. */
  layers: number;
  /** Layers whose weights were generated (with randomWeights). */
  generatedWeights: number;
  warnings: string[];
}

const sizeOf = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Read a .prototxt (and its .caffemodel) from disk and convert. */
export function readCaffeFiles(prototxt: string, caffemodel: string | undefined, options: CaffeReadOptions = {}): CaffeConversion {
  const text = readText(prototxt);
  const warn = options.warn ?? (() => undefined);
  const net = parseNet(text, prototxt, warn);
  let weights: LayerWeights[] | undefined;
  if (!options.randomWeights) {
    if (!caffemodel) {
      throw new BncError(`${prototxt}: no weights given: pass the .caffemodel, or --random-weights to generate seeded random ones`, {
        file: prototxt,
        code: 'NO_WEIGHTS',
      });
    }
    // The bytes are ours alone: weights are viewed in place (aligned where needed), never copied.
    weights = parseCaffemodel(readModelBytes(caffemodel, options.onProgress, options.sharedMemory), caffemodel, { overwriteBytes: true });
  }
  return convertCaffeNet(net, { ...options, weights, prototxtFile: prototxt, weightsFile: caffemodel });
}

function readText(file: string): string {
  return readModelBytes(file).toString('utf8');
}

/** Convert a parsed TEST net to an IR model. */
export function convertCaffeNet(net: CaffeNet, options: CaffeReadOptions = {}): CaffeConversion {
  const prototxt = options.prototxtFile ?? '<prototxt>';
  const weightsFile = options.weightsFile ?? '<caffemodel>';
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    options.warn?.(m);
  };
  const at = (l: CaffeLayer) => `${prototxt}:${l.line ?? '?'}`;

  const { layers, headerInputs } = options.outputs ? netUpTo(net, options.outputs, prototxt) : net;

  // Every unsupported layer in one error, before any work.
  const unsupported = layers.filter((l) => l.type !== 'Input' && !(l.type in LAYER_MAPPINGS));
  if (unsupported.length) throw unsupportedError(unsupported, headerInputs, layers, prototxt);

  // Against the whole TEST net: an input that --outputs leaves unused is still a valid name.
  checkInputShapes(options.inputShapes, net.headerInputs, net.layers);

  // Blob writes per blob, to know which write is the last (that one takes the blob's name).
  const writesLeft = new Map<string, number>();
  for (const l of layers) for (const t of l.top) writesLeft.set(t, (writesLeft.get(t) ?? 0) + 1);
  const allBlobs = new Set<string>([...headerInputs.map((i) => i.name), ...writesLeft.keys()]);
  const b = new GraphBuilder(net.name || 'caffe_net', allBlobs);

  let opset = options.opset ?? DEFAULT_OPSET;
  if (opset < 13 || opset > 21) {
    throw new BncError(`--opset ${opset}: bnc writes Caffe nets at opset 13 to 21`, { code: 'USAGE' });
  }
  let trainingMode = false;

  const byLayer = new Map<string, LayerWeights>();
  for (const w of options.weights ?? []) if (w.blobs.length) byLayer.set(w.name, w);
  if (options.weights) {
    const stray = [...byLayer.keys()].filter((n) => !net.allLayerNames.has(n));
    if (stray.length) {
      warn(`${weightsFile}: weights for ${stray.length} layer${stray.length > 1 ? 's' : ''} the prototxt does not have: ${stray.map((s) => `'${s}'`).join(', ')} (ignored)`);
    }
  }

  const current = new Map<string, string>(); // blob → value name of its latest version
  const shapes = new Map<string, number[]>(); // value name → shape
  const lastWriter = new Map<string, number>(); // blob → index of the last event (for net outputs)
  const consumed = new Set<string>();
  const inputs: ValueInfo[] = [];
  const batchOf = (dims: number[]) => (typeof options.batch === 'number' ? [options.batch, ...dims.slice(1)] : dims);

  const defineInput = (name: string, declared: number[], where: string) => {
    if (current.has(name)) throw new BncError(`${where}: net input '${name}' is declared twice`, { file: prototxt });
    const dims = options.inputShapes?.[name] ?? declared;
    if (dims.some((d) => !Number.isSafeInteger(d) || d <= 0)) throw new BncError(`${where}: net input '${name}' has an invalid shape [${dims}]`, { file: prototxt });
    const actual = batchOf(dims);
    current.set(name, name);
    shapes.set(name, actual);
    b.reserve(name);
    writesLeft.set(name, (writesLeft.get(name) ?? 0) + 0);
    inputs.push(tensorValueInfo(name, DataType.FLOAT, options.batch === 'dynamic' ? ['N', ...actual.slice(1)] : actual));
  };
  for (const i of headerInputs) defineInput(i.name, i.dims, prototxt);

  const missingWeights: CaffeLayer[] = [];
  let generated = 0;
  let order = 0;

  for (const layer of layers) {
    if (layer.type === 'Input') {
      const shapeList = layer.message.message('input_param').messages('shape');
      layer.top.forEach((top, i) => {
        const shape = shapeList[shapeList.length === 1 ? 0 : i];
        if (!shape) throw new BncError(`${at(layer)}: Input layer '${layer.name}' gives no shape for top '${top}'`, { file: prototxt });
        defineInput(top, shape.nums('dim'), at(layer));
        writesLeft.set(top, writesLeft.get(top)! - 1);
        lastWriter.set(top, order++);
      });
      continue;
    }
    const mapping = LAYER_MAPPINGS[layer.type]!;
    const [minBottoms, maxBottoms] = mapping.bottoms ?? [1, 1];
    if (layer.bottom.length < minBottoms || layer.bottom.length > maxBottoms) {
      throw new BncError(`${at(layer)}: ${layerError(layer, `has ${layer.bottom.length} bottoms, expected ${minBottoms === maxBottoms ? minBottoms : `${minBottoms} to ${maxBottoms}`}`).message}`, { file: prototxt });
    }
    const inputValues = layer.bottom.map((bottom) => {
      const v = current.get(bottom);
      if (!v) {
        throw new BncError(`${at(layer)}: layer '${layer.name}' reads blob '${bottom}', which no earlier layer or net input produces`, {
          file: prototxt,
          code: 'DANGLING_INPUT',
        });
      }
      // A blob read only by Silence layers stays a net output (Silence exists to quiet unused-blob logs).
      if (layer.type !== 'Silence') consumed.add(bottom);
      return v;
    });
    const inputShapes = inputValues.map((v) => shapes.get(v)!);

    let blobs: Float32Array[] = [];
    try {
      const specs = mapping.blobs?.(layer, inputShapes) ?? [];
      if (specs.length) {
        if (options.randomWeights) {
          blobs = randomBlobs(specs.filter((s) => !s.optional), options.seed ?? 0, layer.name);
          options.onRandomWeights?.(layer, blobs, specs);
          generated++;
        } else {
          const found = byLayer.get(layer.name);
          if (!found) {
            missingWeights.push(layer);
            blobs = specs.filter((s) => !s.optional).map((s) => new Float32Array(sizeOf(s.dims)));
          } else {
            blobs = checkBlobs(layer, found.blobs, specs, weightsFile);
          }
        }
      }
    } catch (e) {
      throw located(e, at(layer));
    }

    // Top value names: the last write of a blob takes the blob's name; earlier writes a derived one.
    const outputs = layer.top.map((top) => {
      const left = writesLeft.get(top)! - 1;
      writesLeft.set(top, left);
      // Every blob name is reserved up front, so derived names never take one. A net input written in
      // place keeps its name for the input; its final version then gets a derived name too.
      const isInput = inputs.some((i) => i.name === top);
      return left === 0 && !isInput ? top : b.unique(`${top}/${layer.name}`);
    });

    const ctx: MapContext = {
      layer,
      inputs: inputValues,
      shapes: inputShapes,
      outputs,
      blobs,
      b,
      opset,
      warn,
      dynamicBatch: options.batch === 'dynamic',
      needsTrainingMode: () => {
        trainingMode = true;
      },
    };
    let outShapes: number[][];
    try {
      outShapes = mapping.map(ctx);
    } catch (e) {
      throw located(e, at(layer));
    }
    if (outShapes.length < layer.top.length) {
      throw new BncError(
        `${at(layer)}: layer '${layer.name}' (${layer.type}) has ${layer.top.length} tops, but it produces ${outShapes.length}`,
        { file: prototxt },
      );
    }
    layer.top.forEach((top, i) => {
      current.set(top, outputs[i]!);
      shapes.set(outputs[i]!, outShapes[i]!);
      lastWriter.set(top, order++);
      consumed.delete(top);
    });
  }

  if (missingWeights.length) {
    const list = missingWeights.slice(0, 8).map((l) => `'${l.name}' (${l.type})`).join(', ');
    throw new BncError(
      `${weightsFile}: no weights for ${missingWeights.length} learnable layer${missingWeights.length > 1 ? 's' : ''}: ${list}` +
        `${missingWeights.length > 8 ? ` and ${missingWeights.length - 8} more` : ''}; check that the caffemodel belongs to this prototxt (layer names must match), or use --random-weights`,
      { file: weightsFile, code: 'MISSING_WEIGHTS' },
    );
  }

  if (trainingMode && opset < TRAINING_MODE_OPSET) {
    if (options.opset !== undefined) {
      throw new BncError(`--opset ${opset}: a BatchNorm with use_global_stats: false needs training_mode, which needs opset ${TRAINING_MODE_OPSET} or later`, { code: 'USAGE' });
    }
    opset = TRAINING_MODE_OPSET;
  }

  // Net outputs, as Caffe defines them: blobs written and not read by any later layer (inputs excluded).
  const inputNames = new Set(inputs.map((i) => i.name));
  const outputBlobs =
    options.outputs ??
    [...lastWriter.entries()]
      .filter(([blob]) => !consumed.has(blob) && !inputNames.has(blob))
      .sort((x, y) => x[1] - y[1])
      .map(([blob]) => blob);
  if (!outputBlobs.length) throw new BncError(`${prototxt}: the TEST net has no output blob`, { file: prototxt });

  const dynamic = options.batch === 'dynamic';
  const graph = b.graph;
  graph.inputs = inputs;
  graph.outputs = outputBlobs.map((blob) => {
    const v = current.get(blob)!;
    const dims = shapes.get(v)!;
    const shape = dataDependent(v, dims);
    return tensorValueInfo(v, DataType.FLOAT, dynamic ? [null, ...shape.slice(1)] : shape);
  });
  if (!dynamic) {
    const outputNames = new Set(graph.outputs.map((o) => o.name));
    for (const node of graph.nodes) {
      for (const o of node.outputs) {
        const dims = shapes.get(o);
        if (dims && !outputNames.has(o)) graph.valueInfo.push(tensorValueInfo(o, DataType.FLOAT, dataDependent(o, dims)));
      }
    }
  }
  const model: Model = {
    irVersion: opset >= 21 ? 10 : opset >= 19 ? 9 : 8,
    opsetImports: [{ domain: '', version: opset }],
    producerName: 'bnc',
    producerVersion: '0.1.0',
    docString: `converted from Caffe net '${net.name}' (${prototxt}${options.randomWeights ? `, random weights, seed ${options.seed ?? 0}` : `, ${weightsFile}`})`,
    metadataProps: [],
    graph,
  };
  validateGraph(graph);
  if (options.randomWeights) calibrate(model, options.seed ?? 0, warn);

  const blobShapes = new Map<string, number[]>();
  for (const [blob, v] of current) blobShapes.set(blob, shapes.get(v)!);
  return { model, shapes: blobShapes, outputs: outputBlobs, layers: layers.length, generatedWeights: generated, warnings };
}

const quoted = (names: Iterable<string>) => [...names].map((n) => `'${n}'`).join(', ');

/**
 * The TEST net cut at `outputs` (--outputs): the layers those blobs depend on, found in one backward walk
 * (a layer is kept when it writes a blob still needed at that point; its bottoms become needed), and the
 * header inputs they read. Linear in layers + blobs.
 */
function netUpTo(net: CaffeNet, outputs: string[], prototxt: string): Pick<CaffeNet, 'layers' | 'headerInputs'> {
  const headerNames = new Set(net.headerInputs.map((i) => i.name));
  const written = new Set<string>();
  for (const l of net.layers) for (const t of l.top) if (l.type !== 'Input') written.add(t);
  const usage = (m: string) => new BncError(`--outputs: ${m}`, { file: prototxt, code: 'USAGE' });
  if (!outputs.length) throw usage('name at least one blob');
  const dup = outputs.find((o, i) => outputs.indexOf(o) !== i);
  if (dup !== undefined) throw usage(`blob '${dup}' is named twice`);
  const missing = outputs.filter((o) => !written.has(o));
  if (missing.length) {
    const inputs = missing.filter((o) => headerNames.has(o) || net.layers.some((l) => l.type === 'Input' && l.top.includes(o)));
    if (inputs.length) throw usage(`${quoted(inputs)} ${inputs.length > 1 ? 'are net inputs' : 'is a net input'}, not a computed blob`);
    const known = [...written];
    throw usage(
      `the TEST net of ${prototxt} has no blob ${quoted(missing)}; its blobs are ${quoted(known.slice(0, 30))}${known.length > 30 ? ` and ${known.length - 30} more` : ''}`,
    );
  }
  const needed = new Set(outputs);
  const keep = new Array<boolean>(net.layers.length).fill(false);
  for (let i = net.layers.length - 1; i >= 0; i--) {
    const l = net.layers[i]!;
    if (l.top.some((t) => needed.has(t))) {
      keep[i] = true;
      for (const b of l.bottom) needed.add(b);
    }
  }
  return { layers: net.layers.filter((_, i) => keep[i]), headerInputs: net.headerInputs.filter((i) => needed.has(i.name)) };
}

/** A Python layer's python_param module and layer (a known block, or kept as an unknown field). */
function pythonTarget(l: CaffeLayer): string {
  let module = '';
  let cls = '';
  if (caffeType('LayerParameter').fields.python_param) {
    const p = l.message.message('python_param');
    module = p.str('module');
    cls = p.str('layer');
  } else {
    const block = l.unknownValues?.get('python_param')?.[0];
    if (Array.isArray(block)) {
      for (const [k, v] of block) {
        if (k === 'module' && typeof v === 'string') module = v;
        if (k === 'layer' && typeof v === 'string') cls = v;
      }
    }
  }
  return [module && `module ${module}`, cls && `layer ${cls}`].filter(Boolean).join(', ');
}

/** One error naming every unsupported layer; for Python layers, their code and the --outputs that avoids them. */
function unsupportedError(unsupported: CaffeLayer[], headerInputs: CaffeNet['headerInputs'], layers: CaffeLayer[], prototxt: string): BncError {
  const list = unsupported.map((l) => {
    const target = l.type === 'Python' ? pythonTarget(l) : '';
    return `'${l.name}' (${l.type}${target ? `: ${target}` : ''})`;
  });
  let advice = '';
  const python = unsupported.filter((l) => l.type === 'Python');
  if (python.length) {
    const inputNames = new Set(headerInputs.map((i) => i.name));
    for (const l of layers) if (l.type === 'Input') for (const t of l.top) inputNames.add(t);
    // The blobs feeding the Python layers that bnc can build: not net inputs, not written by a refused layer.
    const refusedTops = new Set(unsupported.flatMap((l) => l.top));
    const feeding = [...new Set(python.flatMap((l) => l.bottom))].filter((b) => !inputNames.has(b) && !refusedTops.has(b));
    advice = feeding.length
      ? `; a Python layer runs the net's own Python code, which has no ONNX form: convert the net up to the blob${feeding.length > 1 ? 's' : ''} feeding it with --outputs ${feeding.join(',')}`
      : `; a Python layer runs the net's own Python code, which has no ONNX form: declare its tops (${python.flatMap((l) => l.top).join(', ')}) as net inputs instead (input: and input_shape in the net header)`;
  }
  return new BncError(
    `${prototxt}: ${unsupported.length} unsupported layer${unsupported.length > 1 ? 's' : ''} in the TEST net: ${list.join(', ')}` +
      `${advice}; bnc converts ${Object.keys(LAYER_MAPPINGS).concat('Input').sort().join(', ')}`,
    { file: prototxt, code: 'UNSUPPORTED_LAYER' },
  );
}

/** --input-shape: every name must be a net input, and keep the declared rank. */
function checkInputShapes(shapes: Record<string, number[]> | undefined, headerInputs: CaffeNet['headerInputs'], layers: CaffeLayer[]): void {
  if (!shapes) return;
  const declared = new Map<string, number[] | undefined>(headerInputs.map((i) => [i.name, i.dims]));
  for (const l of layers) {
    if (l.type !== 'Input') continue;
    const list = l.message.message('input_param').messages('shape');
    l.top.forEach((t, i) => declared.set(t, list[list.length === 1 ? 0 : i]?.nums('dim')));
  }
  for (const [name, dims] of Object.entries(shapes)) {
    const given = `--input-shape ${name}=${dims.join(',')}`;
    if (!declared.has(name)) {
      throw new BncError(`${given}: '${name}' is not an input of the TEST net; its inputs are ${quoted(declared.keys()) || 'none'}`, { code: 'USAGE' });
    }
    const d = declared.get(name);
    if (d && d.length !== dims.length) {
      throw new BncError(`${given}: the net declares '${name}' with ${d.length} axes [${d}]; give ${d.length} sizes`, { code: 'USAGE' });
    }
    if (dims.some((x) => !Number.isSafeInteger(x) || x <= 0)) throw new BncError(`${given}: sizes must be positive whole numbers`, { code: 'USAGE' });
  }
}

/** Random weights get trained-like BatchNorm statistics and logits; a net that cannot run keeps its draw. */
function calibrate(model: Model, seed: number, warn: (m: string) => void): void {
  try {
    calibrateRandomWeights(model, seed);
  } catch (e) {
    if (!(e instanceof BncError)) throw e;
    warn(`random weights: BatchNorm statistics and classifier scale not calibrated, the net did not run on random inputs (${e.message})`);
  }
}

/** A top's dims for ONNX: -1 (a size known only at run time, e.g. DetectionOutput's rows) becomes a named symbolic dim. */
function dataDependent(value: string, dims: number[]): (number | string)[] {
  return dims.map((d, i) => (d < 0 ? `${value}_dim${i}` : d));
}

/** Prefix a layer's error with prototxt:line. */
function located(e: unknown, where: string): unknown {
  if (e instanceof BncError && !e.message.startsWith(where)) e.message = `${where}: ${e.message}`;
  return e;
}

/** Check a layer's blobs against what its parameters imply: count, shape, size, finite values. */
function checkBlobs(layer: CaffeLayer, blobs: WeightBlob[], specs: BlobSpec[], file: string): Float32Array[] {
  const required = specs.filter((s) => !s.optional).length;
  if (blobs.length < required || blobs.length > specs.length) {
    const expected = required === specs.length ? `${required}` : `${required} or ${specs.length}`;
    throw layerError(layer, `${file} has ${blobs.length} weight blob${blobs.length === 1 ? '' : 's'} for it, expected ${expected}`);
  }
  return blobs.map((blob, i) => {
    const spec = specs[i]!;
    const count = sizeOf(blob.dims);
    if (blob.data.length !== count) {
      throw layerError(layer, `weight blob ${i} in ${file} holds ${blob.data.length} values, but its shape [${blob.dims}] needs ${count}; the file may be corrupt`);
    }
    if (!sameBlobShape(blob.dims, spec.dims)) {
      throw layerError(
        layer,
        `weight blob ${i} (${spec.role}) in ${file} has shape [${blob.dims}], but the prototxt implies [${spec.dims}]; the caffemodel does not match this prototxt`,
      );
    }
    const d = blob.data;
    for (let k = 0; k < d.length; k++) {
      const v = d[k]!;
      // v - v is NaN for NaN and ±Infinity: one arithmetic test per value, no call.
      if (v - v !== 0) {
        throw layerError(layer, `weight blob ${i} (${spec.role}) in ${file} contains ${Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity'} at element ${k}; the weights are corrupt`);
      }
    }
    return d;
  });
}
