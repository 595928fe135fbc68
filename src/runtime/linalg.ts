import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, requireInput, sizeOf } from './kernel.js';
import { NumberArray, allocate, formatDims, stridesOf } from './broadcast.js';

// Linear algebra beyond GEMM: Einsum (opset 12) and Det (opset 11). Both accumulate in float64.

/** Labels of one Einsum operand: letters as themselves, ellipsis axes as '0'..'9' (right-aligned). */
function expandTerm(ctx: KernelContext, term: string, rank: number | undefined, ellipsisRank: number): string[] {
  const at = term.indexOf('...');
  const letters = term.replace('...', '');
  if (!/^[A-Za-z]*$/.test(letters) || (at >= 0 && term.indexOf('...', at + 1) >= 0)) {
    throw kernelError(ctx.node, `equation term '${term}' is not letters with at most one '...'`);
  }
  if (at < 0) {
    if (rank !== undefined && rank !== letters.length) throw kernelError(ctx.node, `term '${term}' has ${letters.length} labels for an operand of rank ${rank}`);
    return [...letters];
  }
  const count = rank === undefined ? ellipsisRank : rank - letters.length;
  if (count < 0) throw kernelError(ctx.node, `term '${term}' has more labels than its operand's rank ${rank}`);
  const ellipsis = Array.from({ length: count }, (_, i) => String(ellipsisRank - count + i));
  return [...term.slice(0, at), ...ellipsis, ...term.slice(at + 3)];
}

/**
 * Einsum-12: every output element sums, over the labels absent from the output, the product of the
 * operands at the labelled coordinates (a label repeated within one operand takes its diagonal).
 * Implicit form (no '->'): the output has the ellipsis axes, then the labels used once, alphabetically.
 */
const einsum: KernelConfig = {
  opType: 'Einsum',
  run(ctx) {
    const operands = ctx.inputs.filter((t): t is RtTensor => t !== undefined);
    const equation = (ctx.attrs.string('equation') ?? '').replace(/\s/g, '');
    const [lhs, rhs] = equation.split('->') as [string, string | undefined];
    const terms = lhs.split(',');
    if (terms.length !== operands.length) throw kernelError(ctx.node, `equation '${equation}' has ${terms.length} operands, the node ${operands.length}`);
    const dtype = operands[0]!.dtype;
    for (const t of operands) {
      if (t.dtype !== dtype || t.dtype === DataType.BOOL || t.dtype === DataType.STRING || t.data instanceof BigInt64Array || t.data instanceof BigUint64Array) {
        throw kernelError(ctx.node, `operands must share one float or 32-bit integer type (got ${dtypeName(t.dtype)})`);
      }
    }
    const ellipsisRank = Math.max(0, ...terms.map((term, k) => (term.includes('...') ? operands[k]!.dims.length - term.replace('...', '').length : 0)));
    const labels = terms.map((term, k) => expandTerm(ctx, term, operands[k]!.dims.length, ellipsisRank));
    const size = new Map<string, number>();
    labels.forEach((ls, k) =>
      ls.forEach((l, a) => {
        const d = operands[k]!.dims[a]!;
        const known = size.get(l);
        // Ellipsis axes broadcast (size 1 against n); letters must agree.
        if (known === undefined || (known === 1 && /\d/.test(l))) size.set(l, d);
        else if (known !== d && !(d === 1 && /\d/.test(l))) throw kernelError(ctx.node, `label '${l}' has sizes ${known} and ${d}`);
      }),
    );
    let outLabels: string[];
    if (rhs !== undefined) outLabels = expandTerm(ctx, rhs, undefined, ellipsisRank);
    else {
      const once = [...size.keys()].filter((l) => /[A-Za-z]/.test(l) && labels.flat().filter((x) => x === l).length === 1).sort();
      outLabels = [...Array.from({ length: ellipsisRank }, (_, i) => String(i)), ...once];
    }
    for (const l of outLabels) if (!size.has(l)) throw kernelError(ctx.node, `output label '${l}' appears in no operand`);
    const sumLabels = [...size.keys()].filter((l) => !outLabels.includes(l));
    const all = [...outLabels, ...sumLabels];
    const extents = all.map((l) => size.get(l)!);
    // Per operand, the stride each label steps by (summed when a label repeats; 0 for broadcast axes).
    const steps = operands.map((t, k) => {
      const strides = stridesOf(t.dims);
      return all.map((l) => labels[k]!.reduce((s, x, a) => (x === l && t.dims[a] !== 1 ? s + strides[a]! : s), 0));
    });
    const outDims = outLabels.map((l) => size.get(l)!);
    const outSize = sizeOf(outDims);
    const inner = sizeOf(sumLabels.map((l) => size.get(l)!));
    const out = allocate(ctx.node, dtype, outSize) as NumberArray;
    const data = operands.map((t) => t.data as NumberArray);
    const counter = new Array<number>(all.length).fill(0);
    const offsets = new Array<number>(operands.length).fill(0);
    for (let o = 0; o < outSize; o++) {
      let acc = 0;
      for (let s = 0; s < inner; s++) {
        let p = 1;
        for (let k = 0; k < data.length; k++) p *= data[k]![offsets[k]!]!;
        acc += p;
        // Odometer over all labels, output labels outermost: advances o's coordinates after the sum.
        for (let a = all.length - 1; a >= 0; a--) {
          counter[a]!++;
          for (let k = 0; k < offsets.length; k++) offsets[k]! += steps[k]![a]!;
          if (counter[a]! < extents[a]!) break;
          for (let k = 0; k < offsets.length; k++) offsets[k]! -= steps[k]![a]! * extents[a]!;
          counter[a] = 0;
        }
      }
      out[o] = acc;
    }
    return [{ dtype, dims: outDims, data: out }];
  },
};

/** Det-11: determinants of the trailing [M, M] matrices, by LU decomposition with partial pivoting. */
const det: KernelConfig = {
  opType: 'Det',
  run(ctx) {
    const x = requireInput(ctx, 0, 'X');
    if (x.dtype !== DataType.FLOAT && x.dtype !== DataType.DOUBLE) throw kernelError(ctx.node, `X has type ${dtypeName(x.dtype)}; Det takes float types`);
    const rank = x.dims.length;
    const m = x.dims[rank - 1];
    if (rank < 2 || m !== x.dims[rank - 2]) throw kernelError(ctx.node, `X ${formatDims(x.dims)} must end in a square [M, M]`);
    const count = sizeOf(x.dims.slice(0, -2));
    const d = x.data as NumberArray;
    const out = allocate(ctx.node, x.dtype, count) as NumberArray;
    const a = new Float64Array(m * m);
    for (let b = 0; b < count; b++) {
      for (let i = 0; i < m * m; i++) a[i] = d[b * m * m + i]!;
      let result = 1;
      for (let c = 0; c < m && result !== 0; c++) {
        let pivot = c;
        for (let r = c + 1; r < m; r++) if (Math.abs(a[r * m + c]!) > Math.abs(a[pivot * m + c]!)) pivot = r;
        if (a[pivot * m + c] === 0) {
          result = 0;
          break;
        }
        if (pivot !== c) {
          for (let k = 0; k < m; k++) [a[c * m + k], a[pivot * m + k]] = [a[pivot * m + k]!, a[c * m + k]!];
          result = -result;
        }
        const p = a[c * m + c]!;
        result *= p;
        for (let r = c + 1; r < m; r++) {
          const f = a[r * m + c]! / p;
          for (let k = c; k < m; k++) a[r * m + k] = a[r * m + k]! - f * a[c * m + k]!;
        }
      }
      out[b] = result;
    }
    return [{ dtype: x.dtype, dims: x.dims.slice(0, -2), data: out }];
  },
};

export const LINALG_KERNELS: KernelConfig[] = [einsum, det];
