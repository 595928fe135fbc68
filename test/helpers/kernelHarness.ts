import * as ort from 'onnxruntime-node';
import { Attribute, DataType, Node, Tensor, TypedArray, dtypeName, emptyGraph, tensorValueInfo } from '../../src/ir/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { AttributeReader, KernelContext, RtTensor } from '../../src/runtime/kernel.js';
import { parseOnnx } from '../../src/formats/onnx/index.js';
import { runModel } from '../../src/runtime/engine.js';
import { inferShapes } from '../../src/runtime/shapeInference.js';
import { findKernel } from '../../src/runtime/kernels.js';
import { mulberry32 } from '../../src/util/seededRandom.js';

// Opset-6 models make onnxruntime warn on every session; only errors are of interest here.
ort.env.logLevel = 'error';

/**
 * Runs one ONNX node two ways: through bnc's kernel directly (findKernel + a hand-made KernelContext),
 * and through onnxruntime-node on a one-node model built with bnc's IR. Inputs marked `constant` become
 * initializers in the ORT model (some ORT kernels want shape-like inputs constant); all others are fed.
 */
export interface NodeCase {
  op: string;
  opset: number;
  /** undefined: omitted optional input ('' in the node). */
  inputs: (RtTensor | undefined)[];
  attrs?: Attribute[];
  outputs?: number;
  /** Indices of inputs to store as initializers in the ORT model. */
  constant?: number[];
  domain?: string;
}

export function rt(dtype: DataType, dims: number[], data: TypedArray): RtTensor {
  return { dtype, dims, data };
}
export function f32(dims: number[], data: ArrayLike<number>): RtTensor {
  return { dtype: DataType.FLOAT, dims, data: Float32Array.from(data) };
}
export function i64(dims: number[], data: ArrayLike<number>): RtTensor {
  return { dtype: DataType.INT64, dims, data: BigInt64Array.from(Array.from(data), (v) => BigInt(v)) };
}
export function i32(dims: number[], data: ArrayLike<number>): RtTensor {
  return { dtype: DataType.INT32, dims, data: Int32Array.from(data) };
}
export function bool(dims: number[], data: ArrayLike<number>): RtTensor {
  return { dtype: DataType.BOOL, dims, data: Uint8Array.from(data, (v) => (v ? 1 : 0)) };
}

/** Deterministic pseudo-random numbers (mulberry32), so failures reproduce. */
export const rng = mulberry32;

export function randomF32(rand: () => number, dims: number[], lo = -2, hi = 2): RtTensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = lo + (hi - lo) * rand();
  return { dtype: DataType.FLOAT, dims, data: d };
}

export function randomInt(rand: () => number, max: number): number {
  return Math.floor(rand() * max);
}

function nodeOf(c: NodeCase): Node {
  return {
    name: `${c.op}_under_test`,
    opType: c.op,
    domain: c.domain ?? '',
    inputs: c.inputs.map((t, i) => (t ? `in${i}` : '')),
    outputs: Array.from({ length: c.outputs ?? 1 }, (_, i) => `out${i}`),
    attributes: c.attrs ?? [],
  };
}

export function runKernel(c: NodeCase): RtTensor[] {
  const node = nodeOf(c);
  const kernel = findKernel(c.op, c.domain ?? '');
  if (!kernel) throw new Error(`no kernel registered for ${c.op}`);
  const ctx: KernelContext = { node, opset: c.opset, inputs: c.inputs, attrs: new AttributeReader(node), threads: 1 };
  return kernel.run(ctx);
}

const ORT_TYPE: Partial<Record<DataType, ort.Tensor.Type>> = {
  [DataType.FLOAT]: 'float32',
  [DataType.DOUBLE]: 'float64',
  [DataType.INT64]: 'int64',
  [DataType.INT32]: 'int32',
  [DataType.INT8]: 'int8',
  [DataType.UINT8]: 'uint8',
  [DataType.BOOL]: 'bool',
};

const DTYPE_OF_ORT: Record<string, DataType> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  int64: DataType.INT64,
  int32: DataType.INT32,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  bool: DataType.BOOL,
};

export function oneNodeModelBytes(c: NodeCase): Uint8Array {
  const node = nodeOf(c);
  const graph = emptyGraph(`${c.op}_test`);
  graph.nodes.push(node);
  c.inputs.forEach((t, i) => {
    if (!t) return;
    if (c.constant?.includes(i)) {
      const init: Tensor = { name: `in${i}`, dtype: t.dtype, dims: [...t.dims], data: t.data };
      graph.initializers.push(init);
    } else {
      graph.inputs.push(tensorValueInfo(`in${i}`, t.dtype, t.dims));
    }
  });
  for (const o of node.outputs) graph.outputs.push({ name: o });
  return serializeOnnx({
    irVersion: c.opset >= 21 ? 10 : c.opset >= 19 ? 9 : 8,
    opsetImports: [{ domain: '', version: c.opset }],
    producerName: 'bnc-test',
    metadataProps: [],
    graph,
  });
}

export async function runOrtNode(c: NodeCase): Promise<RtTensor[]> {
  const session = await ort.InferenceSession.create(oneNodeModelBytes(c), {
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    c.inputs.forEach((t, i) => {
      if (!t || c.constant?.includes(i)) return;
      const type = ORT_TYPE[t.dtype];
      if (!type) throw new Error(`harness cannot feed ${dtypeName(t.dtype)}`);
      feeds[`in${i}`] = new ort.Tensor(type, t.data as never, t.dims);
    });
    const result = await session.run(feeds);
    return Array.from({ length: c.outputs ?? 1 }, (_, i) => {
      const t = result[`out${i}`]!;
      return { dtype: DTYPE_OF_ORT[t.type] ?? DataType.UNDEFINED, dims: [...t.dims], data: t.data as TypedArray };
    });
  } finally {
    await session.release();
  }
}

/**
 * Difference between two runtime tensors, or undefined when they agree: dims and dtype exactly, integer
 * and bool elements exactly, floats within atol + rtol*|want| (NaN matches NaN).
 */
export function tensorMismatch(got: RtTensor, want: RtTensor, tol = { atol: 1e-5, rtol: 1e-5 }): string | undefined {
  if (got.dims.length !== want.dims.length || got.dims.some((d, i) => d !== want.dims[i])) {
    return `dims [${got.dims}] vs expected [${want.dims}]`;
  }
  if (got.dtype !== want.dtype) return `dtype ${dtypeName(got.dtype)} vs expected ${dtypeName(want.dtype)}`;
  if (got.data.length !== want.data.length) return `length ${got.data.length} vs expected ${want.data.length}`;
  const float = got.dtype === DataType.FLOAT || got.dtype === DataType.DOUBLE;
  for (let i = 0; i < want.data.length; i++) {
    const g = got.data[i]!;
    const w = want.data[i]!;
    if (float) {
      const gn = g as number;
      const wn = w as number;
      if (Number.isNaN(wn) && Number.isNaN(gn)) continue;
      if (gn === wn) continue;
      if (!(Math.abs(gn - wn) <= tol.atol + tol.rtol * Math.abs(wn))) return `element ${i}: ${gn} vs expected ${wn}`;
    } else if (g !== w) {
      return `element ${i}: ${g} vs expected ${w}`;
    }
  }
  return undefined;
}

/** Run the case in both, and return a description of the first disagreement (undefined: all agree). */
export async function compareWithOrt(c: NodeCase, tol?: { atol: number; rtol: number }): Promise<string | undefined> {
  const want = await runOrtNode(c);
  const got = runKernel(c);
  if (got.length < want.length) return `${got.length} outputs vs expected ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    const m = tensorMismatch(got[i]!, want[i]!, tol);
    if (m) return `output ${i}: ${m}`;
  }
  return undefined;
}

export function describeCase(c: NodeCase): string {
  const attrs = (c.attrs ?? [])
    .map((a) => `${a.name}=${a.i ?? a.f ?? (a.s ? new TextDecoder().decode(a.s) : undefined) ?? JSON.stringify(a.ints ?? a.floats)}`)
    .join(' ');
  return `${c.op} opset ${c.opset} inputs ${c.inputs.map((t) => (t ? `${dtypeName(t.dtype)}[${t.dims}]` : '-')).join(' ')} ${attrs}`;
}

/**
 * The case as a one-node model through bnc's engine: parsed back from bytes, shapes inferred (the shape
 * rules run first, as for any model), then run. Returns the outputs and the shapes inference gave them.
 */
export function runThroughEngine(c: NodeCase): { outputs: RtTensor[]; inferred: (number[] | undefined)[] } {
  const model = parseOnnx(oneNodeModelBytes(c));
  const feeds = new Map<string, RtTensor>();
  c.inputs.forEach((t, i) => {
    if (t && !c.constant?.includes(i)) feeds.set(`in${i}`, t);
  });
  const shapes = inferShapes(model, new Map([...feeds].map(([n, t]) => [n, t.dims])));
  const result = runModel(model, feeds, { threads: 1 });
  return { outputs: model.graph.outputs.map((o) => result.outputs.get(o.name)!), inferred: model.graph.outputs.map((o) => shapes.get(o.name)) };
}
