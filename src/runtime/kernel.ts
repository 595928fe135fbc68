import type { EpilogueSpec } from './epilogue.js';
import type { ConvAlgorithm } from './winograd.js';
import { Attribute, BncError, DataType, Graph, Node, Tensor, TypedArray, bfloat16BitsToNumber, dtypeName, float16BitsToNumber } from '../ir/index.js';

/**
 * A runtime value: element type (IR DataType numbers), dims, and the elements in C order.
 * float32 → Float32Array, float64 → Float64Array, int64 → BigInt64Array, int32 → Int32Array,
 * bool/uint8 → Uint8Array, int8 → Int8Array. float16 inputs are widened to float32 when loaded.
 */
export interface RtTensor {
  dtype: DataType;
  dims: number[];
  data: TypedArray;
}

/** Everything a kernel sees of the node it runs. */
export interface KernelContext {
  node: Node;
  /** Version of the ONNX opset the model imports (kernels choose semantics by it). */
  opset: number;
  /** Inputs in node order; undefined where an optional input is omitted (''). */
  inputs: (RtTensor | undefined)[];
  attrs: AttributeReader;
  /** Worker threads the kernel may use (1 = run on the calling thread). */
  threads: number;
  /** How Conv computes 3×3 stride-1 convolutions (RunOptions.convAlgorithm; default 'auto'). */
  convAlgorithm?: ConvAlgorithm;
  /**
   * Run a subgraph of this node (If branch, Loop/Scan body) with its inputs fed by name; it reads outer-scope
   * values from the graphs around it. Returns the subgraph's outputs in order. Set by the engine.
   */
  runSubgraph?: (graph: Graph, feeds: Map<string, RtTensor>) => RtTensor[];
  /**
   * Set by the engine on a Conv whose following Add / Relu / Clip it fused (fusion.ts). The Conv calls it
   * once with its output dims: it returns the work to apply to the output as it is stored (the result then
   * stands for the last fused node's output), or undefined when the fused nodes must run by themselves.
   */
  convEpilogue?: (outputDims: number[]) => EpilogueSpec | undefined;
  /**
   * Whether the kernel may write its output over input `index`'s data: true only when this node is the
   * input's last reader and no other value shares its buffer (set by the engine when nothing outside it
   * can see intermediates). Only for kernels that read element i before writing element i.
   */
  canOverwrite?: (index: number) => boolean;
}

export interface KernelConfig {
  opType: string;
  /** '' = ONNX default domain. */
  domain?: string;
  run(ctx: KernelContext): RtTensor[];
}

/** Reads attributes with ONNX defaults; wrong types are errors that name the node. */
export class AttributeReader {
  constructor(private readonly node: Node) {}

  private get(name: string): Attribute | undefined {
    return this.node.attributes.find((a) => a.name === name);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  int(name: string, fallback: number): number;
  int(name: string): number | undefined;
  int(name: string, fallback?: number): number | undefined {
    const a = this.get(name);
    if (!a) return fallback;
    if (a.i === undefined) throw kernelError(this.node, `attribute '${name}' must be an integer`);
    return a.i;
  }

  float(name: string, fallback: number): number;
  float(name: string): number | undefined;
  float(name: string, fallback?: number): number | undefined {
    const a = this.get(name);
    if (!a) return fallback;
    if (a.f === undefined) {
      if (a.i !== undefined) return a.i;
      throw kernelError(this.node, `attribute '${name}' must be a float`);
    }
    return a.f;
  }

  ints(name: string, fallback: number[]): number[];
  ints(name: string): number[] | undefined;
  ints(name: string, fallback?: number[]): number[] | undefined {
    const a = this.get(name);
    if (!a) return fallback;
    return a.ints ?? [];
  }

  floats(name: string, fallback: number[]): number[];
  floats(name: string): number[] | undefined;
  floats(name: string, fallback?: number[]): number[] | undefined {
    const a = this.get(name);
    if (!a) return fallback;
    return a.floats ?? [];
  }

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    const a = this.get(name);
    if (!a) return fallback;
    if (!a.s) throw kernelError(this.node, `attribute '${name}' must be a string`);
    return new TextDecoder().decode(a.s);
  }

  tensor(name: string): Tensor | undefined {
    return this.get(name)?.t;
  }
}

/** An error in running a node: names the op and the node, and is reported as bad input (exit 2). */
export function kernelError(node: Node, message: string): BncError {
  return new BncError(`${node.opType} node '${node.name || node.outputs[0]}': ${message}`, { code: 'RUNTIME' });
}

export function requireInput(ctx: KernelContext, index: number, what = `input ${index}`): RtTensor {
  const t = ctx.inputs[index];
  if (!t) throw kernelError(ctx.node, `${what} is missing`);
  return t;
}

export function requireFloat(ctx: KernelContext, t: RtTensor, what: string): Float32Array {
  if (t.dtype !== DataType.FLOAT || !(t.data instanceof Float32Array)) {
    throw kernelError(ctx.node, `${what} has type ${dtypeName(t.dtype)}; bnc runs this op on float32 only`);
  }
  return t.data;
}

export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function floatTensor(dims: number[], data?: Float32Array): RtTensor {
  return { dtype: DataType.FLOAT, dims, data: data ?? new Float32Array(sizeOf(dims)) };
}

/**
 * A model tensor (initializer or attribute) in runtime form: float16/bfloat16 widened to float32,
 * everything else shared as is. `unsupported` makes the error for types the runtime cannot hold.
 */
export function runtimeTensor(t: Tensor, unsupported: (message: string) => Error): RtTensor {
  if (Array.isArray(t.data) || t.raw) throw unsupported(`type ${dtypeName(t.dtype)}`);
  if (t.dtype === DataType.FLOAT16 || t.dtype === DataType.BFLOAT16) {
    const bits = t.data as Uint16Array;
    const widen = t.dtype === DataType.FLOAT16 ? float16BitsToNumber : bfloat16BitsToNumber;
    const out = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) out[i] = widen(bits[i]!);
    return { dtype: DataType.FLOAT, dims: [...t.dims], data: out };
  }
  return { dtype: t.dtype, dims: [...t.dims], data: t.data };
}
