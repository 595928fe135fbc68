import { DataType, Tensor, bfloat16BitsToNumber, dtypeName, float16BitsToNumber, numberToBfloat16Bits, numberToFloat16Bits } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, requireInput, runtimeTensor, sizeOf } from './kernel.js';
import {
  NumberArray,
  allocate,
  broadcastDims,
  broadcastTo,
  formatDims,
  gatherByAxisOffsets,
  integerValues,
  isBigArray,
  normalizeAxis,
  slots,
  stridesOf,
} from './broadcast.js';

// Shape and data-movement ops. These run on every element type, since exported models compute shapes
// with int64 (and sometimes int32) tensors. Ops that only change dims (Reshape, Flatten, Squeeze,
// Unsqueeze) share the input's storage: kernels never write into their inputs.

function view(x: RtTensor, dims: number[]): RtTensor {
  return { dtype: x.dtype, dims, data: x.data };
}

function int64Tensor(values: number[]): RtTensor {
  return { dtype: DataType.INT64, dims: [values.length], data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

/** An optional integer-list input (axes, split, ...) as numbers, or undefined when omitted. */
function optionalInts(ctx: KernelContext, index: number, what: string): number[] | undefined {
  const t = ctx.inputs[index];
  return t ? integerValues(ctx.node, t, what) : undefined;
}

function checkAxesUnique(ctx: KernelContext, axes: number[], what = 'axes'): void {
  if (new Set(axes).size !== axes.length) throw kernelError(ctx.node, `${what} [${axes.join(',')}] repeat an axis`);
}

// ---- Reshape family ----

const flatten: KernelConfig = {
  opType: 'Flatten',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    const rank = x.dims.length;
    let axis = ctx.attrs.int('axis', 1);
    if (axis < -rank || axis > rank) throw kernelError(ctx.node, `axis ${axis} is out of range for rank ${rank}`);
    if (axis < 0) axis += rank;
    return [view(x, [sizeOf(x.dims.slice(0, axis)), sizeOf(x.dims.slice(axis))])];
  },
};

/** Reshape: shape attribute before opset 5, input after; 0 copies the input dim (unless allowzero), -1 is inferred. */
const reshape: KernelConfig = {
  opType: 'Reshape',
  run(ctx) {
    const x = requireInput(ctx, 0, 'data');
    const requested = ctx.opset < 5 ? ctx.attrs.ints('shape', []) : integerValues(ctx.node, requireInput(ctx, 1, 'shape'), 'shape');
    const allowZero = ctx.attrs.int('allowzero', 0) === 1;
    const dims = requested.map((d, i) => {
      if (d === 0 && !allowZero) {
        if (i >= x.dims.length) throw kernelError(ctx.node, `shape ${formatDims(requested)} copies dim ${i} (0), but the input has rank ${x.dims.length}`);
        return x.dims[i]!;
      }
      return d;
    });
    const inferred = dims.indexOf(-1);
    if (dims.lastIndexOf(-1) !== inferred) throw kernelError(ctx.node, `shape ${formatDims(requested)} has more than one -1`);
    if (dims.some((d) => d < -1)) throw kernelError(ctx.node, `shape ${formatDims(requested)} has a negative dimension`);
    const total = sizeOf(x.dims);
    if (inferred >= 0) {
      const known = sizeOf(dims.filter((_, i) => i !== inferred));
      if (known === 0 || total % known !== 0) {
        throw kernelError(ctx.node, `cannot reshape ${formatDims(x.dims)} (${total} elements) to ${formatDims(requested)}`);
      }
      dims[inferred] = total / known;
    }
    if (sizeOf(dims) !== total) {
      throw kernelError(ctx.node, `cannot reshape ${formatDims(x.dims)} (${total} elements) to ${formatDims(requested)} (${sizeOf(dims)} elements)`);
    }
    return [view(x, dims)];
  },
};

const squeeze: KernelConfig = {
  opType: 'Squeeze',
  run(ctx) {
    const x = requireInput(ctx, 0, 'data');
    const rank = x.dims.length;
    const given = ctx.opset < 13 ? ctx.attrs.ints('axes') : optionalInts(ctx, 1, 'axes');
    let axes: number[];
    if (given === undefined || given.length === 0) {
      axes = x.dims.flatMap((d, i) => (d === 1 ? [i] : []));
    } else {
      axes = given.map((a) => normalizeAxis(ctx.node, a, rank, 'axis'));
      checkAxesUnique(ctx, axes);
      for (const a of axes) {
        if (x.dims[a] !== 1) throw kernelError(ctx.node, `cannot squeeze axis ${a} of shape ${formatDims(x.dims)}: its size is ${x.dims[a]}, not 1`);
      }
    }
    return [view(x, x.dims.filter((_, i) => !axes.includes(i)))];
  },
};

const unsqueeze: KernelConfig = {
  opType: 'Unsqueeze',
  run(ctx) {
    const x = requireInput(ctx, 0, 'data');
    const given = ctx.opset < 13 ? ctx.attrs.ints('axes') : optionalInts(ctx, 1, 'axes');
    if (!given) throw kernelError(ctx.node, 'axes are required');
    const outRank = x.dims.length + given.length;
    const axes = given.map((a) => normalizeAxis(ctx.node, a, outRank, 'axis'));
    checkAxesUnique(ctx, axes);
    const dims: number[] = [];
    let next = 0;
    for (let i = 0; i < outRank; i++) dims.push(axes.includes(i) ? 1 : x.dims[next++]!);
    return [view(x, dims)];
  },
};

// ---- Data movement ----

const transpose: KernelConfig = {
  opType: 'Transpose',
  run(ctx) {
    const x = requireInput(ctx, 0, 'data');
    const rank = x.dims.length;
    const perm = ctx.attrs.ints('perm') ?? x.dims.map((_, i) => rank - 1 - i);
    if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
      throw kernelError(ctx.node, `perm [${perm.join(',')}] is not a permutation of the ${rank} axes of ${formatDims(x.dims)}`);
    }
    const strides = stridesOf(x.dims);
    const outDims = perm.map((p) => x.dims[p]!);
    const offsets = perm.map((p) => {
      const o = new Float64Array(x.dims[p]!);
      for (let i = 0; i < o.length; i++) o[i] = i * strides[p]!;
      return o;
    });
    return [gatherByAxisOffsets(ctx.node, x, outDims, offsets)];
  },
};

const concat: KernelConfig = {
  opType: 'Concat',
  run(ctx) {
    const inputs = ctx.inputs.filter((t): t is RtTensor => t !== undefined);
    if (inputs.length === 0) throw kernelError(ctx.node, 'needs at least one input');
    const first = inputs[0]!;
    const rank = first.dims.length;
    const axisAttr = ctx.opset < 4 ? ctx.attrs.int('axis', 1) : ctx.attrs.int('axis');
    if (axisAttr === undefined) throw kernelError(ctx.node, "attribute 'axis' is required");
    const axis = normalizeAxis(ctx.node, axisAttr, rank);
    let total = 0;
    for (const t of inputs) {
      if (t.dtype !== first.dtype) throw kernelError(ctx.node, `inputs have different types (${dtypeName(first.dtype)} and ${dtypeName(t.dtype)})`);
      if (t.dims.length !== rank || t.dims.some((d, i) => i !== axis && d !== first.dims[i])) {
        throw kernelError(ctx.node, `input shapes ${formatDims(first.dims)} and ${formatDims(t.dims)} differ outside axis ${axis}`);
      }
      total += t.dims[axis]!;
    }
    const dims = [...first.dims];
    dims[axis] = total;
    const outer = sizeOf(first.dims.slice(0, axis));
    const inner = sizeOf(first.dims.slice(axis + 1));
    const out = allocate(ctx.node, first.dtype, sizeOf(dims)) as Float32Array;
    let o = 0;
    for (let b = 0; b < outer; b++) {
      for (const t of inputs) {
        const block = t.dims[axis]! * inner;
        out.set((t.data as Float32Array).subarray(b * block, (b + 1) * block), o);
        o += block;
      }
    }
    return [{ dtype: first.dtype, dims, data: out }];
  },
};

/** Split sizes: `split` attribute (< 13) or input (13+), else num_outputs (18+), else equal parts. */
const split: KernelConfig = {
  opType: 'Split',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    const axis = normalizeAxis(ctx.node, ctx.attrs.int('axis', 0), x.dims.length);
    const length = x.dims[axis]!;
    const count = ctx.node.outputs.length;
    let sizes = ctx.opset < 13 ? ctx.attrs.ints('split') : optionalInts(ctx, 1, 'split');
    if (sizes && sizes.length === 0 && ctx.opset < 13) sizes = undefined;
    if (!sizes) {
      const numOutputs = ctx.opset >= 18 ? ctx.attrs.int('num_outputs') : undefined;
      if (numOutputs !== undefined) {
        if (numOutputs !== count) throw kernelError(ctx.node, `num_outputs is ${numOutputs} but the node has ${count} outputs`);
        // Chunks of ceil(length / n); the last one takes what is left.
        const chunk = Math.ceil(length / numOutputs);
        sizes = Array.from({ length: numOutputs }, (_, i) => Math.max(0, Math.min(chunk, length - i * chunk)));
      } else {
        if (length % count !== 0) throw kernelError(ctx.node, `axis ${axis} of size ${length} does not split evenly into ${count} outputs`);
        sizes = new Array<number>(count).fill(length / count);
      }
    }
    if (sizes.length !== count) throw kernelError(ctx.node, `split has ${sizes.length} sizes but the node has ${count} outputs`);
    if (sizes.some((s) => s < 0) || sizes.reduce((a, b) => a + b, 0) !== length) {
      throw kernelError(ctx.node, `split sizes [${sizes.join(',')}] do not add up to ${length}, the size of axis ${axis}`);
    }
    const outer = sizeOf(x.dims.slice(0, axis));
    const inner = sizeOf(x.dims.slice(axis + 1));
    const src = x.data as Float32Array;
    let start = 0;
    return sizes.map((s) => {
      const dims = [...x.dims];
      dims[axis] = s;
      const out = allocate(ctx.node, x.dtype, outer * s * inner) as Float32Array;
      const block = s * inner;
      for (let b = 0; b < outer; b++) {
        const from = (b * length + start) * inner;
        out.set(src.subarray(from, from + block), b * block);
      }
      start += s;
      return { dtype: x.dtype, dims, data: out };
    });
  },
};

/**
 * Slice: attributes starts/ends/axes before opset 10; inputs starts, ends, axes, steps from 10. Starts
 * and ends are clamped as the ONNX spec says, so INT64_MAX / INT64_MIN sentinels mean "to the end".
 */
const slice: KernelConfig = {
  opType: 'Slice',
  run(ctx) {
    const x = requireInput(ctx, 0, 'data');
    const rank = x.dims.length;
    let starts: number[];
    let ends: number[];
    let axes: number[] | undefined;
    let steps: number[] | undefined;
    if (ctx.opset < 10) {
      starts = ctx.attrs.ints('starts', []);
      ends = ctx.attrs.ints('ends', []);
      axes = ctx.attrs.ints('axes');
    } else {
      starts = integerValues(ctx.node, requireInput(ctx, 1, 'starts'), 'starts');
      ends = integerValues(ctx.node, requireInput(ctx, 2, 'ends'), 'ends');
      axes = optionalInts(ctx, 3, 'axes');
      steps = optionalInts(ctx, 4, 'steps');
    }
    axes ??= starts.map((_, i) => i);
    steps ??= starts.map(() => 1);
    if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
      throw kernelError(ctx.node, `starts, ends, axes and steps have different lengths (${starts.length}, ${ends.length}, ${axes.length}, ${steps.length})`);
    }
    const normalized = axes.map((a) => normalizeAxis(ctx.node, a, rank, 'axis'));
    checkAxesUnique(ctx, normalized);
    const first = new Array<number>(rank).fill(0);
    const step = new Array<number>(rank).fill(1);
    const outDims = [...x.dims];
    normalized.forEach((axis, k) => {
      const dim = x.dims[axis]!;
      const s = steps![k]!;
      if (s === 0) throw kernelError(ctx.node, `step for axis ${axis} is 0`);
      let begin = starts[k]!;
      let end = ends[k]!;
      if (begin < 0) begin += dim;
      if (end < 0) end += dim;
      if (s > 0) {
        begin = Math.min(Math.max(begin, 0), dim);
        end = Math.min(Math.max(end, 0), dim);
      } else {
        begin = Math.min(Math.max(begin, 0), dim - 1);
        end = Math.min(Math.max(end, -1), dim - 1);
      }
      first[axis] = begin;
      step[axis] = s;
      outDims[axis] = Math.max(0, Math.ceil((end - begin) / s));
    });
    const strides = stridesOf(x.dims);
    const offsets = outDims.map((n, axis) => {
      const o = new Float64Array(n);
      for (let i = 0; i < n; i++) o[i] = (first[axis]! + i * step[axis]!) * strides[axis]!;
      return o;
    });
    return [gatherByAxisOffsets(ctx.node, x, outDims, offsets)];
  },
};

/**
 * Pad: `paddings` (opset 1) or `pads` attributes and a `value` attribute before opset 11; pads,
 * constant_value and (18+) axes inputs after. Negative pads crop. Modes: constant, reflect, edge, wrap.
 */
const pad: KernelConfig = {
  opType: 'Pad',
  run(ctx) {
    const x = requireInput(ctx, 0, 'data');
    const rank = x.dims.length;
    const mode = ctx.attrs.string('mode', 'constant');
    let pads: number[];
    let fill: number | bigint = 0;
    let axes: number[] = x.dims.map((_, i) => i);
    if (ctx.opset < 11) {
      pads = ctx.attrs.ints(ctx.opset < 2 ? 'paddings' : 'pads', []);
      fill = ctx.attrs.float('value', 0);
    } else {
      pads = integerValues(ctx.node, requireInput(ctx, 1, 'pads'), 'pads');
      const value = ctx.inputs[2];
      if (value && value.data.length > 0) {
        if (value.dtype !== x.dtype) throw kernelError(ctx.node, `constant_value has type ${dtypeName(value.dtype)}, data has ${dtypeName(x.dtype)}`);
        fill = value.data[0]!;
      }
      const axesInput = ctx.opset >= 18 ? optionalInts(ctx, 3, 'axes') : undefined;
      if (axesInput) {
        axes = axesInput.map((a) => normalizeAxis(ctx.node, a, rank, 'axis'));
        checkAxesUnique(ctx, axes);
      }
    }
    if (pads.length !== 2 * axes.length) {
      throw kernelError(ctx.node, `pads has ${pads.length} values; ${2 * axes.length} are needed for ${axes.length} axes`);
    }
    const before = new Array<number>(rank).fill(0);
    const after = new Array<number>(rank).fill(0);
    axes.forEach((a, k) => {
      before[a] = pads[k]!;
      after[a] = pads[k + axes.length]!;
    });
    if (!['constant', 'reflect', 'edge', 'wrap'].includes(mode)) throw kernelError(ctx.node, `mode '${mode}' is not supported (constant, reflect, edge, wrap)`);
    const strides = stridesOf(x.dims);
    const outDims = x.dims.map((d, a) => d + before[a]! + after[a]!);
    if (outDims.some((d) => d < 0)) throw kernelError(ctx.node, `pads [${pads.join(',')}] crop more than the shape ${formatDims(x.dims)} has`);
    const offsets = outDims.map((n, a) => {
      const dim = x.dims[a]!;
      const o = new Float64Array(n);
      if (mode !== 'constant' && dim === 0 && n > 0) throw kernelError(ctx.node, `cannot ${mode}-pad axis ${a} of size 0`);
      for (let i = 0; i < n; i++) {
        let src = i - before[a]!;
        if (src < 0 || src >= dim) {
          if (mode === 'constant') src = -1;
          else if (mode === 'edge') src = src < 0 ? 0 : dim - 1;
          else if (mode === 'wrap') src = ((src % dim) + dim) % dim;
          else if (dim === 1) src = 0;
          else {
            // Reflect without repeating the edge element: period 2*(dim-1).
            const period = 2 * (dim - 1);
            const m = ((src % period) + period) % period;
            src = m < dim ? m : period - m;
          }
        }
        o[i] = src < 0 ? -1 : src * strides[a]!;
      }
      return o;
    });
    return [gatherByAxisOffsets(ctx.node, x, outDims, offsets, fill)];
  },
};

const tile: KernelConfig = {
  opType: 'Tile',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    const repeats = integerValues(ctx.node, requireInput(ctx, 1, 'repeats'), 'repeats');
    if (repeats.length !== x.dims.length || repeats.some((r) => r < 0)) {
      throw kernelError(ctx.node, `repeats [${repeats.join(',')}] must be ${x.dims.length} non-negative values for shape ${formatDims(x.dims)}`);
    }
    const strides = stridesOf(x.dims);
    const outDims = x.dims.map((d, a) => d * repeats[a]!);
    const offsets = outDims.map((n, a) => {
      const o = new Float64Array(n);
      for (let i = 0; i < n; i++) o[i] = (i % x.dims[a]!) * strides[a]!;
      return o;
    });
    return [gatherByAxisOffsets(ctx.node, x, outDims, offsets)];
  },
};

const expand: KernelConfig = {
  opType: 'Expand',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    const shape = integerValues(ctx.node, requireInput(ctx, 1, 'shape'), 'shape');
    return [broadcastTo(ctx.node, x, broadcastDims(ctx.node, [x.dims, shape]))];
  },
};

const gather: KernelConfig = {
  opType: 'Gather',
  run(ctx) {
    const data = requireInput(ctx, 0, 'data');
    const indices = requireInput(ctx, 1, 'indices');
    const axis = normalizeAxis(ctx.node, ctx.attrs.int('axis', 0), data.dims.length);
    const length = data.dims[axis]!;
    const idx = integerValues(ctx.node, indices, 'indices');
    for (let i = 0; i < idx.length; i++) {
      const v = idx[i]!;
      if (v < -length || v >= length) throw kernelError(ctx.node, `index ${v} is out of range for axis ${axis} of size ${length}`);
      if (v < 0) idx[i] = v + length;
    }
    const outer = sizeOf(data.dims.slice(0, axis));
    const inner = sizeOf(data.dims.slice(axis + 1));
    const dims = [...data.dims.slice(0, axis), ...indices.dims, ...data.dims.slice(axis + 1)];
    const out = allocate(ctx.node, data.dtype, outer * idx.length * inner);
    const src = data.data as Float32Array;
    const dst = out as Float32Array;
    let o = 0;
    if (inner === 1) {
      // Element gathers (shape values, embeddings of width 1): direct moves, no subarray per element.
      const from = slots(data.data);
      const to = slots(out);
      for (let b = 0; b < outer; b++) for (const i of idx) to[o++] = from[b * length + i]!;
    } else {
      for (let b = 0; b < outer; b++) {
        for (const i of idx) {
          const start = (b * length + i) * inner;
          dst.set(src.subarray(start, start + inner), o);
          o += inner;
        }
      }
    }
    return [{ dtype: data.dtype, dims, data: out }];
  },
};

const shape: KernelConfig = {
  opType: 'Shape',
  run(ctx) {
    const x = requireInput(ctx, 0, 'data');
    const rank = x.dims.length;
    let start = ctx.opset >= 15 ? ctx.attrs.int('start', 0) : 0;
    let end = ctx.opset >= 15 ? ctx.attrs.int('end', rank) : rank;
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = Math.min(Math.max(start, 0), rank);
    end = Math.min(Math.max(end, 0), rank);
    return [int64Tensor(x.dims.slice(start, Math.max(start, end)))];
  },
};

// ---- Constants ----

/** A constant from the model (attribute tensor) in runtime form: float16/bfloat16 widen to float32. */
export function runtimeTensorOf(ctx: KernelContext, t: Tensor): RtTensor {
  return runtimeTensor(t, (type) => kernelError(ctx.node, `constant of ${type} is not supported by bnc's runtime`));
}

const constant: KernelConfig = {
  opType: 'Constant',
  run(ctx) {
    const a = ctx.attrs;
    const value = a.tensor('value');
    if (value) return [runtimeTensorOf(ctx, value)];
    if (a.has('value_float')) return [{ dtype: DataType.FLOAT, dims: [], data: Float32Array.of(a.float('value_float', 0)) }];
    if (a.has('value_floats')) {
      const v = a.floats('value_floats', []);
      return [{ dtype: DataType.FLOAT, dims: [v.length], data: Float32Array.from(v) }];
    }
    if (a.has('value_int')) return [{ dtype: DataType.INT64, dims: [], data: BigInt64Array.of(BigInt(a.int('value_int', 0))) }];
    if (a.has('value_ints')) return [int64Tensor(a.ints('value_ints', []))];
    if (a.has('sparse_value') || a.has('value_string') || a.has('value_strings')) {
      throw kernelError(ctx.node, 'sparse and string constants are not supported by bnc');
    }
    throw kernelError(ctx.node, 'has no value attribute');
  },
};

const constantOfShape: KernelConfig = {
  opType: 'ConstantOfShape',
  run(ctx) {
    const dims = integerValues(ctx.node, requireInput(ctx, 0, 'shape'), 'shape');
    if (dims.some((d) => d < 0)) throw kernelError(ctx.node, `shape ${formatDims(dims)} has a negative dimension`);
    const valueAttr = ctx.attrs.tensor('value');
    const value = valueAttr ? runtimeTensorOf(ctx, valueAttr) : { dtype: DataType.FLOAT, dims: [1], data: new Float32Array(1) };
    if (value.data.length !== 1) throw kernelError(ctx.node, `value must hold one element, not ${value.data.length}`);
    const out = allocate(ctx.node, value.dtype, sizeOf(dims));
    if (isBigArray(out)) out.fill(value.data[0] as bigint);
    else (out as NumberArray).fill(value.data[0] as number);
    return [{ dtype: value.dtype, dims, data: out }];
  },
};

// ---- Cast ----

/** Element type names of the opset < 6 string form of Cast's `to`. */
const CAST_NAMES: Record<string, DataType> = {
  FLOAT: DataType.FLOAT,
  DOUBLE: DataType.DOUBLE,
  FLOAT16: DataType.FLOAT16,
  INT64: DataType.INT64,
  INT32: DataType.INT32,
  INT16: DataType.INT16,
  INT8: DataType.INT8,
  UINT64: DataType.UINT64,
  UINT32: DataType.UINT32,
  UINT16: DataType.UINT16,
  UINT8: DataType.UINT8,
  BOOL: DataType.BOOL,
};

const INT64_MIN = -(2n ** 63n);

/**
 * Cast between numeric types. Float to integer truncates toward zero (C semantics); to bool is
 * "non-zero"; float16 results are rounded to float16 precision and held as float32 like every float16
 * value in the runtime.
 */
const cast: KernelConfig = {
  opType: 'Cast',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    let to: DataType;
    if (ctx.opset < 6) {
      const name = ctx.attrs.string('to');
      if (name === undefined || !(name.toUpperCase() in CAST_NAMES)) throw kernelError(ctx.node, `'to' type '${name}' is not supported`);
      to = CAST_NAMES[name.toUpperCase()]!;
    } else {
      const code = ctx.attrs.int('to');
      if (code === undefined) throw kernelError(ctx.node, "attribute 'to' is required");
      to = code as DataType;
    }
    return [castTensor(ctx, x, to)];
  },
};

/** CastLike-15: Cast to the element type of the second input (float16 `like` values run as float32). */
const castLike: KernelConfig = {
  opType: 'CastLike',
  run(ctx) {
    return [castTensor(ctx, requireInput(ctx, 0, 'input'), requireInput(ctx, 1, 'target_type').dtype)];
  },
};

function castTensor(ctx: KernelContext, x: RtTensor, to: DataType): RtTensor {
  if (x.dtype === DataType.STRING || to === DataType.STRING) throw kernelError(ctx.node, 'string casts are not supported');
  const outType = to === DataType.FLOAT16 || to === DataType.BFLOAT16 ? DataType.FLOAT : to;
  const n = x.data.length;
  const out = allocate(ctx.node, outType, n);
  const src = x.data;
  if (to === DataType.BOOL) {
    const o = out as Uint8Array;
    if (isBigArray(src)) for (let i = 0; i < n; i++) o[i] = src[i] !== 0n ? 1 : 0;
    else for (let i = 0; i < n; i++) o[i] = (src as NumberArray)[i] !== 0 ? 1 : 0;
  } else if (isBigArray(out)) {
    if (isBigArray(src)) {
      // Assignment wraps modulo 2^64, which is the C conversion between int64 and uint64.
      for (let i = 0; i < n; i++) out[i] = src[i]!;
    } else {
      const s = src as NumberArray;
      for (let i = 0; i < n; i++) {
        const v = s[i]!;
        out[i] = Number.isFinite(v) ? BigInt(Math.trunc(v)) : INT64_MIN;
      }
    }
  } else if (isBigArray(src)) {
    const o = out as NumberArray;
    const isFloat = outType === DataType.FLOAT || outType === DataType.DOUBLE;
    // Integer targets take the low 32 bits exactly; Number() of a large int64 would round first.
    if (isFloat) for (let i = 0; i < n; i++) o[i] = Number(src[i]!);
    else for (let i = 0; i < n; i++) o[i] = Number(BigInt.asIntN(32, src[i]!));
  } else {
    // Typed-array stores already convert: rounding to float32, truncation and wrapping for integers.
    (out as NumberArray).set(src as NumberArray);
  }
  if (to === DataType.FLOAT16) {
    const o = out as Float32Array;
    for (let i = 0; i < n; i++) o[i] = float16BitsToNumber(numberToFloat16Bits(o[i]!));
  } else if (to === DataType.BFLOAT16) {
    const o = out as Float32Array;
    for (let i = 0; i < n; i++) o[i] = bfloat16BitsToNumber(numberToBfloat16Bits(o[i]!));
  }
  return { dtype: outType, dims: [...x.dims], data: out };
}

/** Size-1/13: the element count as an int64 scalar. */
const size: KernelConfig = {
  opType: 'Size',
  run(ctx) {
    const x = requireInput(ctx, 0, 'data');
    return [{ dtype: DataType.INT64, dims: [], data: BigInt64Array.of(BigInt(sizeOf(x.dims))) }];
  },
};

/** Range-11: start + i·delta for i < max(ceil((limit - start) / delta), 0); scalar inputs of one type. */
const range: KernelConfig = {
  opType: 'Range',
  run(ctx) {
    const [start, limit, delta] = [0, 1, 2].map((i) => requireInput(ctx, i, ['start', 'limit', 'delta'][i]));
    if (start!.dtype !== limit!.dtype || start!.dtype !== delta!.dtype) throw kernelError(ctx.node, 'start, limit and delta must have one type');
    for (const t of [start!, limit!, delta!]) if (t.data.length !== 1) throw kernelError(ctx.node, `start, limit and delta must be scalars, got ${formatDims(t.dims)}`);
    const dtype = start!.dtype;
    if (isBigArray(start!.data)) {
      const [a, b, d] = [start!.data[0] as bigint, limit!.data[0] as bigint, delta!.data[0] as bigint];
      if (d === 0n) throw kernelError(ctx.node, 'delta is 0');
      const span = b - a;
      let n = span / d + (span % d !== 0n && span < 0n === d < 0n ? 1n : 0n);
      if (n < 0n) n = 0n;
      const out = allocate(ctx.node, dtype, Number(n)) as BigInt64Array;
      for (let i = 0; i < out.length; i++) out[i] = a + BigInt(i) * d;
      return [{ dtype, dims: [out.length], data: out }];
    }
    const [a, b, d] = [Number(start!.data[0]), Number(limit!.data[0]), Number(delta!.data[0])];
    if (d === 0) throw kernelError(ctx.node, 'delta is 0');
    const n = Math.max(Math.ceil((b - a) / d), 0);
    if (!Number.isFinite(n)) throw kernelError(ctx.node, `range ${a} to ${b} by ${d} is not finite`);
    const out = allocate(ctx.node, dtype, n) as NumberArray;
    for (let i = 0; i < n; i++) out[i] = a + i * d;
    return [{ dtype, dims: [n], data: out }];
  },
};

/** Reshape x to `view`, permute by `perm`, and return it with shape `outDims` (DepthToSpace, SpaceToDepth). */
function permuteView(ctx: KernelContext, x: RtTensor, view: number[], perm: number[], outDims: number[]): RtTensor {
  const strides = stridesOf(view);
  const offsets = perm.map((p) => {
    const o = new Float64Array(view[p]!);
    for (let i = 0; i < o.length; i++) o[i] = i * strides[p]!;
    return o;
  });
  const moved = gatherByAxisOffsets(ctx.node, { ...x, dims: view }, perm.map((p) => view[p]!), offsets);
  return { ...moved, dims: outDims };
}

function blockInput(ctx: KernelContext): { x: RtTensor; b: number; n: number; c: number; h: number; w: number } {
  const x = requireInput(ctx, 0, 'input');
  if (x.dims.length !== 4) throw kernelError(ctx.node, `input ${formatDims(x.dims)} must be 4-D [N, C, H, W]`);
  const b = ctx.attrs.int('blocksize');
  if (b === undefined || b < 1) throw kernelError(ctx.node, "attribute 'blocksize' must be a positive integer");
  const [n, c, h, w] = x.dims as [number, number, number, number];
  return { x, b, n, c, h, w };
}

/** DepthToSpace-1/11/13: [N, C, H, W] → [N, C/b², H·b, W·b]; mode DCR (default) or CRD (11+). */
const depthToSpace: KernelConfig = {
  opType: 'DepthToSpace',
  run(ctx) {
    const { x, b, n, c, h, w } = blockInput(ctx);
    if (c % (b * b) !== 0) throw kernelError(ctx.node, `${c} channels do not divide by blocksize² = ${b * b}`);
    const mode = ctx.opset >= 11 ? ctx.attrs.string('mode', 'DCR') : 'DCR';
    const out = [n, c / (b * b), h * b, w * b];
    if (mode === 'DCR') return [permuteView(ctx, x, [n, b, b, c / (b * b), h, w], [0, 3, 4, 1, 5, 2], out)];
    if (mode === 'CRD') return [permuteView(ctx, x, [n, c / (b * b), b, b, h, w], [0, 1, 4, 2, 5, 3], out)];
    throw kernelError(ctx.node, `mode '${mode}' is not DCR or CRD`);
  },
};

/** SpaceToDepth-1/13: [N, C, H, W] → [N, C·b², H/b, W/b]. */
const spaceToDepth: KernelConfig = {
  opType: 'SpaceToDepth',
  run(ctx) {
    const { x, b, n, c, h, w } = blockInput(ctx);
    if (h % b !== 0 || w % b !== 0) throw kernelError(ctx.node, `spatial size ${h}×${w} does not divide by blocksize ${b}`);
    return [permuteView(ctx, x, [n, c, h / b, b, w / b, b], [0, 3, 5, 1, 2, 4], [n, c * b * b, h / b, w / b])];
  },
};

export const TENSOR_KERNELS: KernelConfig[] = [
  flatten,
  reshape,
  squeeze,
  unsqueeze,
  transpose,
  concat,
  split,
  slice,
  pad,
  tile,
  expand,
  gather,
  shape,
  constant,
  constantOfShape,
  cast,
  castLike,
  size,
  range,
  depthToSpace,
  spaceToDepth,
];
