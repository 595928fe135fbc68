// Small helpers for the pass tests: build ONNX models in the IR, run them in onnxruntime-node (the oracle).
import { Attribute, DataType, Model, Node, Tensor, ValueInfo, createTensor, emptyGraph, tensorValueInfo } from '../../src/ir/index.js';
import { parseOnnx, serializeOnnx } from '../../src/formats/onnx/index.js';
import { OrtFeeds, runOrt } from '../helpers/ort.js';
import { mulberry32 } from '../../src/util/seededRandom.js';

export function f32(name: string, dims: number[], values: ArrayLike<number>): Tensor {
  return createTensor(name, DataType.FLOAT, dims, Float32Array.from(values));
}

export function node(opType: string, inputs: string[], outputs: string[], attributes: Attribute[] = [], name = `${opType}_${outputs[0]}`): Node {
  return { name, opType, domain: '', inputs, outputs, attributes };
}

export function floatInput(name: string, dims: (number | string | null)[] | undefined): ValueInfo {
  return tensorValueInfo(name, DataType.FLOAT, dims);
}

export function buildModel(opts: {
  nodes: Node[];
  inputs: ValueInfo[];
  outputs: string[];
  initializers: Tensor[];
  opset?: number;
}): Model {
  const graph = emptyGraph('test');
  graph.nodes = opts.nodes;
  graph.inputs = opts.inputs;
  // Output types only: ORT reads the shapes it computes.
  graph.outputs = opts.outputs.map((o) => ({ name: o, type: { tensor: { elemType: DataType.FLOAT } } }));
  graph.initializers = opts.initializers;
  const opset = opts.opset ?? 13;
  return { irVersion: opset >= 15 ? 8 : 7, opsetImports: [{ domain: '', version: opset }], metadataProps: [], graph };
}

/** Deterministic generator (mulberry32) so failures reproduce. */
export const rng = mulberry32;

export function normal(r: () => number, n: number, std = 1, mean = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

export function uniform(r: () => number, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

export async function runModel(model: Model, feeds: OrtFeeds) {
  return runOrt(serializeOnnx(model), feeds);
}

/** Deep copy through the wire format, so a pass run on the copy cannot touch the original. */
export function cloneModel(model: Model): Model {
  return parseOnnx(serializeOnnx(model));
}

export function countOps(model: Model, opType: string): number {
  return model.graph.nodes.filter((n) => n.opType === opType).length;
}

/** Largest |a - b| / bound over elements; <= 1 means within the bound everywhere. */
export function worstRatio(a: Float32Array, b: Float32Array, bound: (i: number) => number): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const r = Math.abs(a[i]! - b[i]!) / bound(i);
    if (!(r <= worst)) worst = r;
  }
  return worst;
}
