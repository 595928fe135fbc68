import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, requireInput } from './kernel.js';
import { BigArray, NumberArray, allocate, broadcastDims, formatDims, isBigArray, planBroadcast } from './broadcast.js';
import { runPointwise } from './parallel.js';

// Elementwise arithmetic with ONNX multidirectional broadcasting (opset 7+) and the opset-1..6 legacy
// form (`broadcast`=1 with B aligned at `axis`). Each op has one loop per element representation (JS
// number arrays, BigInt arrays); a loop handles one broadcast row, so there is no call per element.

type NumRow = (o: NumberArray, oi: number, a: NumberArray, ai: number, as: number, b: NumberArray, bi: number, bs: number, n: number) => void;
type BigRow = (o: BigArray, oi: number, a: BigArray, ai: number, as: number, b: BigArray, bi: number, bs: number, n: number) => void;

interface BinaryOp {
  /** Float and small-integer arrays. */
  num: NumRow;
  /** Overrides `num` when the element type is an integer held in a number array (int32, uint8, ...). */
  int?: NumRow;
  big?: BigRow;
  /** Output element type when it differs from the inputs' (comparisons give bool). */
  outType?: DataType;
}

const FLOAT_TYPES = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

const ADD: BinaryOp = {
  num: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = a[ai]! + b[bi]!;
  },
  big: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = a[ai]! + b[bi]!;
  },
};
const SUB: BinaryOp = {
  num: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = a[ai]! - b[bi]!;
  },
  big: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = a[ai]! - b[bi]!;
  },
};
const MUL: BinaryOp = {
  num: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = a[ai]! * b[bi]!;
  },
  // Math.imul keeps the exact low 32 bits where a double product of two int32 would round.
  int: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = Math.imul(a[ai]!, b[bi]!);
  },
  big: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = a[ai]! * b[bi]!;
  },
};
const DIV: BinaryOp = {
  num: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = a[ai]! / b[bi]!;
  },
  // Integer division truncates toward zero, as in C.
  int: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = Math.trunc(a[ai]! / b[bi]!);
  },
  big: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = a[ai]! / b[bi]!;
  },
};
const POW: BinaryOp = {
  num: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = Math.pow(a[ai]!, b[bi]!);
  },
  int: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = Math.trunc(Math.pow(a[ai]!, b[bi]!));
  },
  big: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) {
      const e = b[bi]!;
      const x = a[ai]!;
      // Negative integer exponents: only ±1 bases give a non-zero integer result.
      o[oi + k] = e >= 0n ? x ** e : x === 1n ? 1n : x === -1n ? (e % 2n === 0n ? 1n : -1n) : 0n;
    }
  },
};
const MAX: BinaryOp = {
  num: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = Math.max(a[ai]!, b[bi]!);
  },
  big: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = a[ai]! > b[bi]! ? a[ai]! : b[bi]!;
  },
};
const MIN: BinaryOp = {
  num: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = Math.min(a[ai]!, b[bi]!);
  },
  big: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = a[ai]! < b[bi]! ? a[ai]! : b[bi]!;
  },
};
const EQUAL: BinaryOp = {
  outType: DataType.BOOL,
  num: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = a[ai] === b[bi] ? 1 : 0;
  },
  // No `big` row: the output is bool, and `===` compares bigint elements correctly in the number row.
};

// Comparisons give bool; the `num` row compares bigint elements correctly too (no `big` row needed).
function comparison(test: (a: number, b: number) => boolean): BinaryOp {
  return {
    outType: DataType.BOOL,
    num: (o, oi, a, ai, as, b, bi, bs, n) => {
      for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = test(a[ai]!, b[bi]!) ? 1 : 0;
    },
  };
}
const GREATER = comparison((a, b) => a > b);
const LESS = comparison((a, b) => a < b);
const GREATER_OR_EQUAL = comparison((a, b) => a >= b);
const LESS_OR_EQUAL = comparison((a, b) => a <= b);
// Logic on bool tensors (0/1 bytes).
const AND = comparison((a, b) => (a & b) !== 0);
const OR = comparison((a, b) => (a | b) !== 0);
const XOR = comparison((a, b) => (a ^ b) !== 0);

/**
 * Mod-10/13. fmod=0: integer remainder with the divisor's sign (Python's %); fmod=1: C fmod, the
 * dividend's sign (JavaScript's %). An integer divided by 0 gives 0, as numpy does.
 */
const MOD_INT: BinaryOp = {
  num: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) {
      const d = b[bi]!;
      let r = d === 0 ? 0 : a[ai]! % d;
      if (r !== 0 && r < 0 !== d < 0) r += d;
      o[oi + k] = r;
    }
  },
  big: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) {
      const d = b[bi]!;
      let r = d === 0n ? 0n : a[ai]! % d;
      if (r !== 0n && r < 0n !== d < 0n) r += d;
      o[oi + k] = r;
    }
  },
};
const FMOD: BinaryOp = {
  num: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = a[ai]! % b[bi]!;
  },
  int: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = b[bi] === 0 ? 0 : a[ai]! % b[bi]!;
  },
  big: (o, oi, a, ai, as, b, bi, bs, n) => {
    for (let k = 0; k < n; k++, ai += as, bi += bs) o[oi + k] = b[bi] === 0n ? 0n : a[ai]! % b[bi]!;
  },
};

/** BitShift-11 on unsigned integers; shifting by the element width or more gives 0 (as numpy does). Stores wrap to the width. */
function bitShift(left: boolean, bits: number): BinaryOp {
  return {
    num: (o, oi, a, ai, as, b, bi, bs, n) => {
      for (let k = 0; k < n; k++, ai += as, bi += bs) {
        const s = b[bi]!;
        o[oi + k] = s >= bits ? 0 : left ? (a[ai]! << s) >>> 0 : a[ai]! >>> s;
      }
    },
    big: (o, oi, a, ai, as, b, bi, bs, n) => {
      for (let k = 0; k < n; k++, ai += as, bi += bs) {
        const s = b[bi]!;
        o[oi + k] = s >= 64n ? 0n : left ? BigInt.asUintN(64, a[ai]! << s) : a[ai]! >> s;
      }
    },
  };
}

function isIntegerNumberType(dtype: DataType): boolean {
  return !FLOAT_TYPES.has(dtype) && dtype !== DataType.INT64 && dtype !== DataType.UINT64;
}

/**
 * Legacy (opset < 7) operand alignment: without `broadcast`=1 the shapes must match; with it, B is a
 * contiguous sub-shape of A placed at `axis` (default: suffix). Returns B's dims padded to A's rank.
 */
function legacyAlignedDims(ctx: KernelContext, a: RtTensor, b: RtTensor): number[] {
  const broadcast = ctx.attrs.int('broadcast', 0);
  const same = a.dims.length === b.dims.length && a.dims.every((d, i) => d === b.dims[i]);
  if (!broadcast) {
    if (!same) {
      throw kernelError(
        ctx.node,
        `input shapes ${formatDims(a.dims)} and ${formatDims(b.dims)} differ and broadcast=0 (opset ${ctx.opset} broadcasts only with broadcast=1)`,
      );
    }
    return b.dims;
  }
  const rankA = a.dims.length;
  const rankB = b.dims.length;
  // A scalar or single-element B is broadcast everywhere.
  if (rankB === 0 || (rankB === 1 && b.dims[0] === 1)) return new Array<number>(rankA).fill(1);
  let axis = ctx.attrs.int('axis', rankA - rankB);
  if (axis < 0) axis += rankA;
  if (axis < 0 || axis + rankB > rankA) {
    throw kernelError(ctx.node, `B of shape ${formatDims(b.dims)} does not fit in A of shape ${formatDims(a.dims)} at axis ${axis}`);
  }
  const dims = new Array<number>(rankA).fill(1);
  for (let i = 0; i < rankB; i++) {
    const d = b.dims[i]!;
    if (d !== a.dims[axis + i] && d !== 1) {
      throw kernelError(ctx.node, `B of shape ${formatDims(b.dims)} does not match A of shape ${formatDims(a.dims)} at axis ${axis}`);
    }
    dims[axis + i] = d;
  }
  return dims;
}

/** Apply a binary op with broadcasting; `legacy` enables the opset<7 broadcast/axis attributes. */
function runBinary(ctx: KernelContext, op: BinaryOp, a: RtTensor, b: RtTensor, legacy: boolean): RtTensor {
  if (a.dtype !== b.dtype) {
    throw kernelError(ctx.node, `inputs have different types (${dtypeName(a.dtype)} and ${dtypeName(b.dtype)})`);
  }
  const bDims = legacy && ctx.opset < 7 ? legacyAlignedDims(ctx, a, b) : b.dims;
  const dims = broadcastDims(ctx.node, [a.dims, bDims]);
  const plan = planBroadcast(dims, [a.dims, bDims]);
  const outType = op.outType ?? a.dtype;
  const out = allocate(ctx.node, outType, plan.size);
  const big = isBigArray(a.data);
  let row: NumRow;
  if (big && op.big && !op.outType) row = op.big as unknown as NumRow;
  else if (big && !op.outType) throw kernelError(ctx.node, `type ${dtypeName(a.dtype)} is not supported for this op`);
  else row = (isIntegerNumberType(a.dtype) && op.int) || op.num;
  const [as, bs] = plan.innerStride as [number, number];
  const [aStart, bStart] = plan.rowStart as [Float64Array, Float64Array];
  const n = plan.rowLength;
  const ad = a.data as NumberArray;
  const bd = b.data as NumberArray;
  const od = out as NumberArray;
  for (let r = 0; r < plan.rowCount; r++) row(od, r * n, ad, aStart[r]!, as, bd, bStart[r]!, bs, n);
  return { dtype: outType, dims, data: out };
}

function logicKernel(opType: string, op: BinaryOp): KernelConfig {
  return {
    opType,
    run(ctx) {
      const a = requireInput(ctx, 0, 'input A');
      const b = requireInput(ctx, 1, 'input B');
      for (const t of [a, b]) if (t.dtype !== DataType.BOOL) throw kernelError(ctx.node, `inputs must be bool, not ${dtypeName(t.dtype)}`);
      return [runBinary(ctx, op, a, b, true)];
    },
  };
}

const modKernel: KernelConfig = {
  opType: 'Mod',
  run(ctx) {
    const a = requireInput(ctx, 0, 'input A');
    const b = requireInput(ctx, 1, 'input B');
    checkArithmeticType(ctx, a);
    const fmod = ctx.attrs.int('fmod', 0) !== 0;
    if (!fmod && FLOAT_TYPES.has(a.dtype)) throw kernelError(ctx.node, `fmod=0 is an integer remainder; ${dtypeName(a.dtype)} inputs need fmod=1`);
    return [runBinary(ctx, fmod ? FMOD : MOD_INT, a, b, false)];
  },
};

const UNSIGNED_BITS: Partial<Record<DataType, number>> = { [DataType.UINT8]: 8, [DataType.UINT16]: 16, [DataType.UINT32]: 32, [DataType.UINT64]: 64 };

const bitShiftKernel: KernelConfig = {
  opType: 'BitShift',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input X');
    const y = requireInput(ctx, 1, 'input Y');
    const bits = UNSIGNED_BITS[x.dtype];
    if (!bits) throw kernelError(ctx.node, `BitShift needs unsigned integers, not ${dtypeName(x.dtype)}`);
    const direction = ctx.attrs.string('direction');
    if (direction !== 'LEFT' && direction !== 'RIGHT') throw kernelError(ctx.node, `direction must be LEFT or RIGHT, not '${direction}'`);
    return [runBinary(ctx, bitShift(direction === 'LEFT', bits), x, y, false)];
  },
};

function checkArithmeticType(ctx: KernelContext, t: RtTensor): void {
  if (t.dtype === DataType.BOOL || t.dtype === DataType.STRING || t.dtype === DataType.COMPLEX64 || t.dtype === DataType.COMPLEX128) {
    throw kernelError(ctx.node, `arithmetic on ${dtypeName(t.dtype)} tensors is not defined`);
  }
}

function sameFloat32Shape(a: RtTensor, b: RtTensor): boolean {
  return a.data instanceof Float32Array && b.data instanceof Float32Array && a.dtype === DataType.FLOAT && b.dtype === DataType.FLOAT &&
    a.dims.length === b.dims.length && a.dims.every((d, i) => d === b.dims[i]);
}

function binaryKernel(opType: string, op: BinaryOp, arithmetic = true): KernelConfig {
  return {
    opType,
    run(ctx) {
      const a = requireInput(ctx, 0, 'input A');
      const b = requireInput(ctx, 1, 'input B');
      if (arithmetic) checkArithmeticType(ctx, a);
      if (op === ADD && sameFloat32Shape(a, b)) {
        // Residual adds: no broadcast, on worker threads too when large (see pointwise.ts).
        // Over a dying input when there is one (each element is read, then written).
        const out = ctx.canOverwrite?.(0) ? (a.data as Float32Array) : ctx.canOverwrite?.(1) ? (b.data as Float32Array) : (allocate(ctx.node, DataType.FLOAT, a.data.length) as Float32Array);
        runPointwise({ op: 'add', x: a.data as Float32Array, y: b.data as Float32Array, out, count: out.length }, ctx.threads);
        return [{ dtype: DataType.FLOAT, dims: [...a.dims], data: out }];
      }
      try {
        return [runBinary(ctx, op, a, b, true)];
      } catch (e) {
        // BigInt division by zero is a RangeError: report it against the node.
        if (e instanceof RangeError) throw kernelError(ctx.node, e.message);
        throw e;
      }
    },
  };
}

/** Pow allows the exponent's type to differ from the base's (opset 12+): bring it to the base's type. */
function powKernel(): KernelConfig {
  return {
    opType: 'Pow',
    run(ctx) {
      const x = requireInput(ctx, 0, 'input X');
      let y = requireInput(ctx, 1, 'input Y');
      checkArithmeticType(ctx, x);
      if (y.dtype !== x.dtype) {
        const data = allocate(ctx.node, x.dtype, y.data.length);
        if (isBigArray(data)) for (let i = 0; i < y.data.length; i++) data[i] = BigInt(Math.trunc(Number(y.data[i]!)));
        else for (let i = 0; i < y.data.length; i++) data[i] = Number(y.data[i]!);
        y = { dtype: x.dtype, dims: y.dims, data };
      }
      return [runBinary(ctx, POW, x, y, true)];
    },
  };
}

/** Sum, Mean, Max, Min: any number of inputs (≥1), folded pairwise with broadcasting. */
function variadicKernel(opType: string, op: BinaryOp, mean = false): KernelConfig {
  return {
    opType,
    run(ctx) {
      const inputs = ctx.inputs.filter((t): t is RtTensor => t !== undefined);
      if (inputs.length === 0) throw kernelError(ctx.node, 'needs at least one input');
      let acc = inputs[0]!;
      if (mean) checkArithmeticType(ctx, acc);
      if (inputs.length === 1) acc = { dtype: acc.dtype, dims: [...acc.dims], data: acc.data.slice() };
      for (let i = 1; i < inputs.length; i++) acc = runBinary(ctx, op, acc, inputs[i]!, false);
      if (mean) {
        if (!FLOAT_TYPES.has(acc.dtype)) throw kernelError(ctx.node, `Mean needs float inputs, not ${dtypeName(acc.dtype)}`);
        const d = acc.data as Float32Array;
        const count = inputs.length;
        for (let i = 0; i < d.length; i++) d[i] = d[i]! / count;
      }
      return [acc];
    },
  };
}

const whereKernel: KernelConfig = {
  opType: 'Where',
  run(ctx) {
    const cond = requireInput(ctx, 0, 'condition');
    const x = requireInput(ctx, 1, 'input X');
    const y = requireInput(ctx, 2, 'input Y');
    if (cond.dtype !== DataType.BOOL) throw kernelError(ctx.node, `condition must be bool, not ${dtypeName(cond.dtype)}`);
    if (x.dtype !== y.dtype) throw kernelError(ctx.node, `X and Y have different types (${dtypeName(x.dtype)} and ${dtypeName(y.dtype)})`);
    const dims = broadcastDims(ctx.node, [cond.dims, x.dims, y.dims]);
    const plan = planBroadcast(dims, [cond.dims, x.dims, y.dims]);
    const out = allocate(ctx.node, x.dtype, plan.size);
    const [cs, xs, ys] = plan.innerStride as [number, number, number];
    const [cStart, xStart, yStart] = plan.rowStart as [Float64Array, Float64Array, Float64Array];
    const n = plan.rowLength;
    // Element moves only: the number-array view works for bigint arrays too.
    const c = cond.data as Uint8Array;
    const xd = x.data as NumberArray;
    const yd = y.data as NumberArray;
    const od = out as NumberArray;
    for (let r = 0; r < plan.rowCount; r++) {
      let ci = cStart[r]!;
      let xi = xStart[r]!;
      let yi = yStart[r]!;
      const oi = r * n;
      for (let k = 0; k < n; k++, ci += cs, xi += xs, yi += ys) od[oi + k] = c[ci] ? xd[xi]! : yd[yi]!;
    }
    return [{ dtype: x.dtype, dims, data: out }];
  },
};

// ---- Unary math ----

type UnaryLoop = (o: NumberArray, x: NumberArray) => void;

function unaryKernel(opType: string, loop: UnaryLoop, bigLoop?: (o: BigArray, x: BigArray) => void): KernelConfig {
  return {
    opType,
    run(ctx) {
      const x = requireInput(ctx, 0, 'input X');
      const out = allocate(ctx.node, x.dtype, x.data.length);
      if (isBigArray(x.data)) {
        if (!bigLoop) throw kernelError(ctx.node, `type ${dtypeName(x.dtype)} is not supported; bnc runs this op on float32`);
        bigLoop(out as BigArray, x.data);
      } else {
        if (x.dtype === DataType.BOOL || x.dtype === DataType.STRING) throw kernelError(ctx.node, `type ${dtypeName(x.dtype)} is not supported`);
        loop(out as NumberArray, x.data as NumberArray);
      }
      return [{ dtype: x.dtype, dims: [...x.dims], data: out }];
    },
  };
}

/** A float-only unary op from a scalar function (trigonometry, rounding, erf). */
function floatUnary(opType: string, fn: (v: number) => number): KernelConfig {
  return {
    opType,
    run(ctx) {
      const x = requireInput(ctx, 0, 'input X');
      if (!FLOAT_TYPES.has(x.dtype)) throw kernelError(ctx.node, `input has type ${dtypeName(x.dtype)}; ${opType} is defined on float types`);
      const out = allocate(ctx.node, x.dtype, x.data.length) as NumberArray;
      const d = x.data as NumberArray;
      for (let i = 0; i < d.length; i++) out[i] = fn(d[i]!);
      return [{ dtype: x.dtype, dims: [...x.dims], data: out }];
    },
  };
}

/** A bool-valued test of each element (IsNaN, IsInf); non-float inputs are never NaN or infinite. */
function predicateKernel(opType: string, test: (ctx: KernelContext) => (v: number) => boolean): KernelConfig {
  return {
    opType,
    run(ctx) {
      const x = requireInput(ctx, 0, 'input X');
      const out = new Uint8Array(x.data.length);
      if (FLOAT_TYPES.has(x.dtype)) {
        const t = test(ctx);
        const d = x.data as NumberArray;
        for (let i = 0; i < d.length; i++) out[i] = t(d[i]!) ? 1 : 0;
      }
      return [{ dtype: DataType.BOOL, dims: [...x.dims], data: out }];
    },
  };
}

/** Round half to even (ONNX Round-11, numpy.round). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 ? 2 * Math.round(v / 2) : r;
}

/**
 * The error function, to about 1e-15 relative: its Maclaurin series below |x| = 4 (in float64 the
 * cancellation costs at most 7 digits there), and ±1 beyond, where 1 - erf(x) < 2e-8 is below float32
 * resolution.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const ax = Math.abs(x);
  if (ax >= 4) return Math.sign(x);
  // erf(x) = 2/√π · Σ (-1)^n x^(2n+1) / (n! (2n+1))
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 100; n++) {
    term *= -x2 / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

const notKernel: KernelConfig = {
  opType: 'Not',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input X');
    if (x.dtype !== DataType.BOOL) throw kernelError(ctx.node, `input must be bool, not ${dtypeName(x.dtype)}`);
    const d = x.data as Uint8Array;
    const out = new Uint8Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = d[i] ? 0 : 1;
    return [{ dtype: DataType.BOOL, dims: [...x.dims], data: out }];
  },
};

export const ELEMENTWISE_KERNELS: KernelConfig[] = [
  binaryKernel('Greater', GREATER, false),
  binaryKernel('Less', LESS, false),
  binaryKernel('GreaterOrEqual', GREATER_OR_EQUAL, false),
  binaryKernel('LessOrEqual', LESS_OR_EQUAL, false),
  logicKernel('And', AND),
  logicKernel('Or', OR),
  logicKernel('Xor', XOR),
  notKernel,
  modKernel,
  bitShiftKernel,
  floatUnary('Sin', Math.sin),
  floatUnary('Cos', Math.cos),
  floatUnary('Tan', Math.tan),
  floatUnary('Asin', Math.asin),
  floatUnary('Acos', Math.acos),
  floatUnary('Atan', Math.atan),
  floatUnary('Sinh', Math.sinh),
  floatUnary('Cosh', Math.cosh),
  floatUnary('Asinh', Math.asinh),
  floatUnary('Acosh', Math.acosh),
  floatUnary('Atanh', Math.atanh),
  floatUnary('Floor', Math.floor),
  floatUnary('Ceil', Math.ceil),
  floatUnary('Round', roundHalfEven),
  floatUnary('Erf', erf),
  predicateKernel('IsNaN', () => Number.isNaN),
  predicateKernel('IsInf', (ctx) => {
    const positive = ctx.attrs.int('detect_positive', 1) !== 0;
    const negative = ctx.attrs.int('detect_negative', 1) !== 0;
    return (v) => (v === Infinity && positive) || (v === -Infinity && negative);
  }),
  unaryKernel(
    'Sign',
    (o, x) => {
      for (let i = 0; i < x.length; i++) o[i] = x[i]! > 0 ? 1 : x[i]! < 0 ? -1 : x[i]!;
    },
    (o, x) => {
      for (let i = 0; i < x.length; i++) o[i] = x[i]! > 0n ? 1n : x[i]! < 0n ? -1n : 0n;
    },
  ),
  binaryKernel('Add', ADD),
  binaryKernel('Sub', SUB),
  binaryKernel('Mul', MUL),
  binaryKernel('Div', DIV),
  powKernel(),
  binaryKernel('Equal', EQUAL, false),
  variadicKernel('Sum', ADD),
  variadicKernel('Mean', ADD, true),
  variadicKernel('Max', MAX),
  variadicKernel('Min', MIN),
  whereKernel,
  unaryKernel('Exp', (o, x) => {
    for (let i = 0; i < x.length; i++) o[i] = Math.exp(x[i]!);
  }),
  unaryKernel('Log', (o, x) => {
    for (let i = 0; i < x.length; i++) o[i] = Math.log(x[i]!);
  }),
  unaryKernel('Sqrt', (o, x) => {
    for (let i = 0; i < x.length; i++) o[i] = Math.sqrt(x[i]!);
  }),
  unaryKernel(
    'Neg',
    (o, x) => {
      for (let i = 0; i < x.length; i++) o[i] = -x[i]!;
    },
    (o, x) => {
      for (let i = 0; i < x.length; i++) o[i] = -x[i]!;
    },
  ),
  unaryKernel(
    'Abs',
    (o, x) => {
      for (let i = 0; i < x.length; i++) o[i] = Math.abs(x[i]!);
    },
    (o, x) => {
      for (let i = 0; i < x.length; i++) o[i] = x[i]! < 0n ? -x[i]! : x[i]!;
    },
  ),
  unaryKernel('Reciprocal', (o, x) => {
    for (let i = 0; i < x.length; i++) o[i] = 1 / x[i]!;
  }),
];
