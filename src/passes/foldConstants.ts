import {
  DataType,
  Model,
  Node,
  Tensor,
  TypedArray,
  createTensor,
  dtypeName,
  elementCount,
  getAttribute,
  nodeReads,
  numberToFloat16Bits,
  onnxOpset,
  storageOf,
  tensorValueInfo,
  topologicalOrder,
} from '../ir/index.js';
import { AttributeReader, KernelContext, RtTensor, runtimeTensor } from '../runtime/kernel.js';
import { findKernel } from '../runtime/kernels.js';
import { inferShapes } from '../runtime/shapeInference.js';
import { nodeLabel } from './constants.js';
import { PassOptions, PassReport, emptyReport } from './pass.js';

/** Default cap on the elements of one tensor fold-constants produces (4 MiB of float32). */
export const DEFAULT_FOLD_MAX_ELEMENTS = 1 << 20;

// Ops whose result is not a function of their inputs: folding would freeze one draw (onnxruntime excludes
// the same ones).
const NONDETERMINISTIC = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli']);

const isOnnxDomain = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';
const isHalf = (t: DataType) => t === DataType.FLOAT16 || t === DataType.BFLOAT16;

/** A known constant: the model tensor it came from (converted to runtime form on first use) and its declared type. */
interface Known {
  tensor?: Tensor;
  rt?: RtTensor;
  dtype: DataType;
}

/**
 * fold-constants: evaluate, with bnc's runtime kernels, every node whose inputs are all constant, and
 * replace its outputs by initializers of the same names (so every reader, including If/Loop bodies reading
 * the value from the outer scope, sees the same name).
 *
 *   Before:  gamma[C] → Unsqueeze(axes=[1,2]) → g → Mul(bn_out, g)
 *   After:   initializer g[C,1,1] → Mul(bn_out, g)          (merge-bn-scale then sees the Scale constant)
 *
 * Constants are initializers, Constant nodes and the results of nodes folded earlier in the same walk
 * (one walk in topological order: linear in nodes + edges). Semantics are the runtime's, i.e. ONNX's for
 * the model's opset; results keep the declared element type (float16 computed in float32 and rounded once).
 *
 * Also folded (as onnxruntime does): Shape and Size of a value whose shape is fully static, from the
 * runtime's shape inference run with the graph inputs' declared fixed dims (symbolic dims never fold).
 *
 * Not folded, each reported in `skipped` with the reason:
 *  - nondeterministic ops (RandomNormal, RandomUniform, their -Like forms, Multinomial, Bernoulli);
 *  - ops without a kernel in bnc's runtime, and ops of other domains;
 *  - nodes with a subgraph (If, Loop, Scan): folding into or through control flow is not done here;
 *  - nodes producing a graph output (the graph would lose the node that names it; onnxruntime does the same);
 *  - nodes reading an initializer that is also a graph input in IR version >= 4 (a default the caller may
 *    override, so not a constant);
 *  - results larger than `foldMaxElements` elements (default 1,048,576), predicted before running from
 *    the inferred shapes and for ConstantOfShape, Expand, Tile, Pad, Resize and Upsample, checked after
 *    running for the rest;
 *  - nodes whose output repeats the name of a graph input or initializer (a malformed graph);
 *  - nodes whose kernel rejects its inputs (the runtime would report the same error when the model runs);
 *  - bfloat16 and string results.
 * An Identity of a constant is removed and its readers read the constant (no copy), unless an If/Loop/Scan
 * body reads it by name. Nodes folded and initializers left unread are removed (the latter by `cleanup`). With IR version < 4
 * every new initializer is also listed as a graph input, as that IR version requires.
 */
export function foldConstants(model: Model, options: PassOptions): PassReport {
  const report = emptyReport('fold-constants');
  const graph = model.graph;
  const maxElements = options.foldMaxElements ?? DEFAULT_FOLD_MAX_ELEMENTS;
  const opset = onnxOpset(model);
  const irInputsRequired = model.irVersion < 4;

  const graphInputs = new Set(graph.inputs.map((v) => v.name));
  const graphOutputs = new Set(graph.outputs.map((v) => v.name));
  const known = new Map<string, Known>();
  // Initializers that are also graph inputs: constants only before IR version 4 (onnxruntime's rule).
  const overridable = new Set<string>();
  for (const t of graph.initializers) {
    if (!irInputsRequired && graphInputs.has(t.name)) overridable.add(t.name);
    else known.set(t.name, { tensor: t, dtype: t.dtype });
  }
  // Names already defined outside any node: a node output that repeats one is left alone (malformed graph).
  const definedOutside = new Set([...graphInputs, ...graph.initializers.map((t) => t.name)]);
  const declaredType = new Map<string, DataType>();
  for (const v of [...graph.valueInfo, ...graph.outputs]) {
    const t = v.type?.tensor?.elemType;
    if (t) declaredType.set(v.name, t);
  }

  // Readers of each value, so an Identity of a constant can hand its readers the constant itself (exporters
  // use Identity to give one deduplicated weight several names; a copy per name would grow the file).
  const readers = new Map<string, { node: Node; index: number }[]>();
  const readBySubgraph = new Set<string>();
  for (const n of graph.nodes) {
    n.inputs.forEach((v, index) => {
      if (!v) return;
      const list = readers.get(v);
      if (list) list.push({ node: n, index });
      else readers.set(v, [{ node: n, index }]);
    });
    if (n.attributes.some((a) => a.g || a.graphs?.length)) for (const v of nodeReads(n)) readBySubgraph.add(v);
  }

  const order = topologicalOrder(graph);
  const staticShapes = staticValueShapes(model, report);
  const folded = new Set<Node>();
  const added: Tensor[] = [];
  const byOp = new Map<string, string[]>();

  for (const node of order) {
    const label = nodeLabel(node);
    const skip = (reason: string) => report.skipped.push({ node: label, reason: `${node.opType}: ${reason}` });
    const shapeOp = isOnnxDomain(node) && (node.opType === 'Shape' || node.opType === 'Size');
    let allConstant = true;
    let overridden: string | undefined;
    for (const v of node.inputs) {
      if (!v || known.has(v)) continue;
      if (overridable.has(v)) overridden ??= v;
      else allConstant = false;
    }
    const shapeDims = shapeOp && node.inputs[0] && !known.has(node.inputs[0]) ? staticShapes?.get(node.inputs[0]) : undefined;
    if (!allConstant && !shapeDims) continue;
    if (overridden && !shapeDims) {
      skip(`its input '${overridden}' is an initializer that is also a graph input, so a caller may override it (IR version >= 4); remove it from the graph inputs to let it fold`);
      continue;
    }
    const outputs = node.outputs.filter((o) => o !== '');
    if (!outputs.length) continue;
    if (!isOnnxDomain(node)) {
      skip(`op of domain '${node.domain}' has no kernel in bnc's runtime`);
      continue;
    }
    if (NONDETERMINISTIC.has(node.opType)) {
      skip('nondeterministic op (folding would freeze one random draw)');
      continue;
    }
    if (node.attributes.some((a) => a.g || a.graphs?.length)) {
      skip('has a subgraph (If/Loop/Scan); folding control flow is not done');
      continue;
    }
    const graphOutput = outputs.find((o) => graphOutputs.has(o));
    if (graphOutput) {
      skip(`produces the graph output '${graphOutput}', which stays computed by a node`);
      continue;
    }
    const clash = outputs.find((o) => definedOutside.has(o));
    if (clash) {
      skip(`its output '${clash}' has the name of a graph input or initializer`);
      continue;
    }
    const inferred = outputs.map((o) => staticShapes?.get(o)).find((d) => d && elementCount(d) > maxElements);
    if (inferred) {
      skip(tooLarge(elementCount(inferred), maxElements));
      continue;
    }
    if (!shapeOp && !findKernel(node.opType, node.domain)) {
      skip("no kernel in bnc's runtime");
      continue;
    }

    const source = node.inputs[0] ?? '';
    if (node.opType === 'Identity' && known.has(source) && !readBySubgraph.has(outputs[0]!)) {
      const moved = readers.get(outputs[0]!) ?? [];
      for (const { node: reader, index } of moved) reader.inputs[index] = source;
      let sourceReaders = readers.get(source);
      if (!sourceReaders) readers.set(source, (sourceReaders = []));
      for (const r of moved) sourceReaders.push(r);
      folded.add(node);
      (byOp.get('Identity') ?? byOp.set('Identity', []).get('Identity')!).push(label);
      continue;
    }
    let results: { tensor: Tensor }[] | string;
    try {
      results = evaluate(node, { opset, known, shapeDims, maxElements, declaredType });
    } catch (e) {
      results = `could not be evaluated: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (typeof results === 'string') {
      skip(results);
      continue;
    }
    folded.add(node);
    results.forEach(({ tensor }) => {
      known.set(tensor.name, { tensor, dtype: tensor.dtype });
      added.push(tensor);
    });
    const list = byOp.get(node.opType) ?? [];
    list.push(label);
    byOp.set(node.opType, list);
  }

  if (folded.size) {
    graph.nodes = graph.nodes.filter((n) => !folded.has(n));
    graph.initializers.push(...added);
    if (irInputsRequired) for (const t of added) graph.inputs.push(tensorValueInfo(t.name, t.dtype, t.dims));
    report.changed = folded.size;
    report.counts = {};
    for (const [op, labels] of [...byOp].sort((a, b) => b[1].length - a[1].length)) {
      report.counts[op] = labels.length;
      const shown = labels.slice(0, 8).map((l) => `'${l}'`).join(', ');
      const how = op === 'Identity' ? 'removed, their readers now read the constant' : 'folded into initializers';
      report.changes.push(`${labels.length} ${op} node(s) ${how}: ${shown}${labels.length > 8 ? ` and ${labels.length - 8} more` : ''}`);
    }
  }
  return report;
}

interface EvalContext {
  opset: number;
  known: Map<string, Known>;
  shapeDims?: number[];
  maxElements: number;
  declaredType: Map<string, DataType>;
}

/** Run one node; its outputs as initializers, or the reason it cannot fold. */
function evaluate(node: Node, ctx: EvalContext): { tensor: Tensor }[] | string {
  const name = node.outputs[0]!;
  if (node.opType === 'Constant') {
    // The attribute tensor as it is: keeps float16 bits and every storable type exactly.
    const value = getAttribute(node, 'value')?.t;
    if (value) {
      if (!storageOf(value.dtype) || Array.isArray(value.data) || value.raw) return `a constant of type ${dtypeName(value.dtype)} is left as a node`;
      return [{ tensor: { ...value, name, dims: [...value.dims] } }];
    }
  }
  const inputs: (RtTensor | undefined)[] = [];
  for (let i = 0; i < node.inputs.length; i++) {
    const v = node.inputs[i]!;
    if (!v) {
      inputs.push(undefined);
      continue;
    }
    const k = ctx.known.get(v);
    if (!k) {
      // Only Shape/Size get here, on a value whose dims alone are known: a tensor with no elements stands in.
      inputs.push({ dtype: DataType.FLOAT, dims: ctx.shapeDims!, data: new Float32Array(0) });
      continue;
    }
    if (!k.rt) {
      const t = k.tensor!;
      k.rt = runtimeTensor(t, (type) => new Error(`input '${v}' has ${type}, which bnc's runtime cannot hold`));
    }
    inputs.push(k.rt);
  }
  if (node.opType === 'Size') {
    const dims = inputs[0]?.dims ?? ctx.shapeDims!;
    const r: RtTensor = { dtype: DataType.INT64, dims: [], data: BigInt64Array.of(BigInt(elementCount(dims))) };
    return [{ tensor: toTensor(name, r, DataType.INT64) as Tensor }];
  }
  const predicted = predictElements(node, inputs, ctx.opset);
  if (predicted !== undefined && predicted > ctx.maxElements) return tooLarge(predicted, ctx.maxElements);

  const kernelCtx: KernelContext = { node, opset: ctx.opset, inputs, attrs: new AttributeReader(node), threads: 1 };
  const results = findKernel(node.opType, node.domain)!.run(kernelCtx);
  const out: { tensor: Tensor }[] = [];
  for (let i = 0; i < node.outputs.length; i++) {
    const o = node.outputs[i]!;
    if (!o) continue;
    const r = results[i];
    if (!r) return `bnc's ${node.opType} kernel does not compute output ${i} ('${o}')`;
    const n = elementCount(r.dims);
    if (n > ctx.maxElements) return tooLarge(n, ctx.maxElements);
    const t = toTensor(o, r, declaredResultType(node, r, inputs, ctx, o));
    if (typeof t === 'string') return t;
    // Kernels return views of their inputs (Reshape, Identity...): the new initializer gets its own copy.
    if (inputs.some((x) => x && x.data.buffer === (t.data as TypedArray).buffer)) t.data = (t.data as TypedArray).slice();
    out.push({ tensor: t });
  }
  return out;
}

const tooLarge = (n: number, cap: number) =>
  `the result would have ${n.toLocaleString('en-US')} elements, more than the cap of ${cap.toLocaleString('en-US')} (--fold-max-elements)`;

/**
 * The element type the ONNX graph gives a result. The runtime holds float16/bfloat16 as float32, so a
 * float32 result is half-precision when the node casts to it, the graph declares it, or (same-type ops) the
 * first input was.
 */
function declaredResultType(node: Node, r: RtTensor, inputs: (RtTensor | undefined)[], ctx: EvalContext, output: string): DataType {
  if (r.dtype !== DataType.FLOAT) return r.dtype;
  if (node.opType === 'Cast') {
    const to = getAttribute(node, 'to');
    if (to?.i !== undefined) return isHalf(to.i) ? to.i : r.dtype;
    const s = to?.s ? new TextDecoder().decode(to.s).toUpperCase() : '';
    return s === 'FLOAT16' ? DataType.FLOAT16 : s === 'BFLOAT16' ? DataType.BFLOAT16 : r.dtype;
  }
  const declared = ctx.declaredType.get(output);
  if (declared !== undefined && isHalf(declared)) return declared;
  if (node.opType === 'Constant' || node.opType === 'ConstantOfShape') {
    const t = getAttribute(node, 'value')?.t?.dtype;
    return t !== undefined && isHalf(t) ? t : r.dtype;
  }
  const first = node.inputs[0] ? ctx.known.get(node.inputs[0]) : undefined;
  return first && inputs[0]?.dtype === DataType.FLOAT && isHalf(first.dtype) ? first.dtype : r.dtype;
}

function toTensor(name: string, r: RtTensor, dtype: DataType): Tensor | string {
  if (dtype === DataType.FLOAT16) {
    const src = r.data as Float32Array;
    const bits = new Uint16Array(src.length);
    for (let i = 0; i < src.length; i++) bits[i] = numberToFloat16Bits(src[i]!);
    return createTensor(name, dtype, r.dims, bits);
  }
  if (dtype === DataType.BFLOAT16) return 'bfloat16 results are not folded';
  const ctor = storageOf(dtype);
  if (!ctor || !(r.data instanceof ctor)) return `a result of type ${dtypeName(dtype)} cannot be stored`;
  return createTensor(name, dtype, r.dims, r.data);
}

/** Output elements of the ops whose output can be far larger than their inputs, before running them. */
function predictElements(node: Node, inputs: (RtTensor | undefined)[], opset: number): number | undefined {
  const ints = (t: RtTensor | undefined) => (t && t.data.length ? Array.from(t.data as ArrayLike<number | bigint>, Number) : undefined);
  const x = inputs[0]?.dims;
  switch (node.opType) {
    case 'ConstantOfShape': {
      const dims = ints(inputs[0]);
      return dims ? dims.reduce((p, d) => p * Math.max(d, 0), 1) : undefined;
    }
    case 'Expand': {
      const shape = ints(inputs[1]);
      if (!x || !shape) return undefined;
      const rank = Math.max(x.length, shape.length);
      let n = 1;
      for (let i = 0; i < rank; i++) {
        const a = x[x.length - rank + i] ?? 1;
        const b = shape[shape.length - rank + i] ?? 1;
        n *= Math.max(a, b, 0);
      }
      return n;
    }
    case 'Tile': {
      const repeats = ints(inputs[1]);
      if (!x || !repeats) return undefined;
      return x.reduce((p, d, i) => p * d * Math.max(repeats[i] ?? 1, 0), 1);
    }
    case 'Pad': {
      const pads = opset >= 11 ? ints(inputs[1]) : getAttribute(node, 'pads')?.ints;
      if (!x || !pads) return undefined;
      return x.reduce((p, d, i) => p * Math.max(d + (pads[i] ?? 0) + (pads[i + x.length] ?? 0), 0), 1);
    }
    case 'Resize':
    case 'Upsample': {
      if (!x) return undefined;
      // Resize-11+: (X, roi, scales, sizes); Resize-10 and Upsample-9: (X, scales); Upsample-7: attribute.
      const sizes = node.opType === 'Resize' && opset >= 11 ? ints(inputs[3]) : undefined;
      if (sizes) return sizes.reduce((p, d) => p * Math.max(d, 0), 1);
      const scaleInput = node.opType === 'Resize' && opset >= 11 ? inputs[2] : inputs[1];
      const scales = scaleInput?.data.length ? Array.from(scaleInput.data as ArrayLike<number>, Number) : getAttribute(node, 'scales')?.floats;
      if (!scales) return undefined;
      return x.reduce((p, d, i) => p * Math.max(Math.floor(d * (scales[i] ?? 1)), 0), 1);
    }
    default:
      return undefined;
  }
}

/**
 * Shapes of values the runtime's shape inference can tell from the graph inputs' fixed declared dims
 * (inputs with a symbolic or unknown dim are left out, so nothing downstream of them is static). A model
 * whose shapes contradict each other gets a warning and no Shape/Size folding.
 */
function staticValueShapes(model: Model, report: PassReport): Map<string, number[]> | undefined {
  const initialized = new Set(model.graph.initializers.map((t) => t.name));
  const inputDims = new Map<string, number[]>();
  for (const vi of model.graph.inputs) {
    if (initialized.has(vi.name)) continue;
    const shape = vi.type?.tensor?.shape;
    if (shape && shape.every((d) => d.value !== undefined && d.value >= 0)) inputDims.set(vi.name, shape.map((d) => d.value!));
  }
  try {
    const shapes = inferShapes(model, inputDims);
    // Initializer dims are in there too; those count only as constants (an overridable one may change).
    for (const name of initialized) shapes.delete(name);
    return shapes;
  } catch (e) {
    report.warnings.push(`fold-constants: shapes could not be inferred (${e instanceof Error ? e.message : String(e)}); Shape and Size nodes were not folded`);
    return undefined;
  }
}
