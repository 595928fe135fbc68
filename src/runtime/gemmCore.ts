import type { ConvEpilogue } from './epilogue.js';

// The single-precision matrix product every heavy kernel (Conv, ConvTranspose, Gemm, MatMul) goes through:
//   C[M×N] += alpha · op(A)[M×K] · op(B)[K×N]
// Blocked like the classic Goto/BLIS design: B is packed per (KC × NC) block into column panels of NR,
// A per (MC × KC) block into row panels of MR, so the MR×NR register-blocked micro-kernel streams both
// operands contiguously from cache. Products accumulate in doubles (JS numbers) and are rounded to float32
// once per KC block.
//
// Why 4×3 and plain JS arrays (measured on V8 11 / Node 20, see the perf notes in the commit log):
// - x64 V8 has 15 allocatable double registers. 12 accumulators + 4 + 3 operands is the largest block that
//   mostly stays in registers; 4×4 and wider spill accumulators to the stack on every k step.
// - Every typed-array read costs V8 a map check, a reload of the data pointer (external + base) and an
//   int32 → int64 index extension on top of the bounds check. Arrays of doubles (PACKED_DOUBLE_ELEMENTS)
//   need only the bounds check, and hold the operands already widened to double (no cvtss2sd per load).
// - Index arithmetic is kept in int32 (`| 0`) so V8 emits no overflow checks.

const MR = 4;
const NR = 3;
const KC = 256;
const MC = 128;
const NC = 1020;

/** A JS array of doubles in PACKED_DOUBLE_ELEMENTS form (built by pushing doubles, never holey). */
function doublePanel(length: number): number[] {
  const panel: number[] = [];
  for (let i = 0; i < length; i++) panel.push(0.5);
  return panel;
}

// Packing buffers are reused across calls (per thread: each worker has its own module instance),
// sized for the largest block and grown on demand.
let packedA = doublePanel(MC * KC);
let packedB = doublePanel(KC * NC);
const edgeTile = new Float64Array(MR * NR);
/** alpha of the block being multiplied (see microKernel). */
let tileAlpha = 1;

export interface MatrixOperand {
  data: Float32Array;
  /** Index of element (0, 0). */
  offset: number;
  /** Distance between consecutive rows of the stored (untransposed) matrix. */
  stride: number;
  /** The operand is stored transposed: op(X)[i][j] = data[offset + j*stride + i]. */
  transposed?: boolean;
}

/**
 * C[M×N] (row stride ldc, from cOffset) += alpha · op(A) · op(B). With an epilogue (a fused Conv's, see
 * epilogue.ts), each block of C is handed to it right after its last K block is added, while it is in cache.
 */
export function sgemm(
  M: number,
  N: number,
  K: number,
  alpha: number,
  a: MatrixOperand,
  b: MatrixOperand,
  c: Float32Array,
  cOffset: number,
  ldc: number,
  epilogue?: ConvEpilogue,
): void {
  if (M === 0 || N === 0) return;
  if (K === 0 || alpha === 0 || M === 1 || N === 1) {
    // Vector cases: packing would only add traffic.
    if (K !== 0 && alpha !== 0) {
      if (M === 1) gemvRow(N, K, alpha, a, b, c, cOffset);
      else gemvColumn(M, K, alpha, a, b, c, cOffset, ldc);
    }
    if (epilogue) applyToBlock(epilogue, c, cOffset, M, N, ldc);
    return;
  }

  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      const finished = epilogue && pc + kc >= K;
      packBlockB(b, pc, jc, kc, nc);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        packBlockA(a, ic, pc, mc, kc);
        const ci = cOffset + ic * ldc + jc;
        multiplyBlock(mc, nc, kc, alpha, c, ci, ldc);
        if (finished) applyToBlock(epilogue, c, ci, mc, nc, ldc);
      }
    }
  }
}

/** The epilogue over rows × cols of C from ci: one range when the rows are contiguous, else one per row. */
export function applyToBlock(epilogue: ConvEpilogue, c: Float32Array, ci: number, rows: number, cols: number, ldc: number): void {
  if (cols === ldc || rows === 1) {
    epilogue.apply(c, ci, ci + (rows - 1) * ldc + cols);
    return;
  }
  for (let r = 0; r < rows; r++, ci += ldc) epilogue.apply(c, ci, ci + cols);
}

/** C block (mc × nc at ci) += alpha · packed A block · packed B block, one MR×NR tile at a time. */
function multiplyBlock(mc: number, nc: number, kc: number, alpha: number, c: Float32Array, ci: number, ldc: number): void {
  const pa = packedA;
  const pb = packedB;
  tileAlpha = alpha;
  const fullRows = mc - (mc % MR);
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = Math.min(NR, nc - jr);
    const bPanel = jr * kc;
    if (nr === NR) {
      for (let ir = 0; ir < fullRows; ir += MR) microKernel(kc, pa, ir * kc, pb, bPanel, c, ci + ir * ldc + jr, ldc);
    } else {
      for (let ir = 0; ir < fullRows; ir += MR) edgeKernel(kc, pa, ir * kc, pb, bPanel, c, ci + ir * ldc + jr, ldc, MR, nr);
    }
    if (fullRows < mc) edgeKernel(kc, pa, fullRows * kc, pb, bPanel, c, ci + fullRows * ldc + jr, ldc, mc - fullRows, nr);
  }
}

/** Pack op(A)[ic.., pc..] (mc × kc) into row panels: panel p holds MR rows interleaved per k, zero-padded. */
function packBlockA(a: MatrixOperand, ic: number, pc: number, mc: number, kc: number): void {
  const need = Math.ceil(mc / MR) * MR * kc;
  if (packedA.length < need) packedA = doublePanel(need);
  if (a.transposed) packATransposed(a.data, a.offset, a.stride, packedA, ic, pc, mc, kc);
  else packContiguousVectors(a.data, a.offset, a.stride, packedA, ic, pc, mc, kc, MR);
}

/**
 * Panels of `width` vectors interleaved per k, zero-padded, from vectors [first, first + count) whose k
 * values are contiguous: element (v, p) at offset + v·ld + pc + p. This is A's rows (width MR) and
 * transposed B's columns (width NR).
 */
function packContiguousVectors(
  src: Float32Array, offset: number, ld: number, out: number[], first: number, pc: number, count: number, kc: number, width: number,
): void {
  let o = 0;
  for (let v0 = 0; v0 < count; v0 += width) {
    const vectors = Math.min(width, count - v0);
    for (let r = 0; r < width; r++) {
      let d = o + r;
      if (r < vectors) {
        let s = offset + (first + v0 + r) * ld + pc;
        let p = 0;
        // Four reads per iteration share V8's per-iteration typed-array checks (see pointwise.ts).
        for (; p + 4 <= kc; p += 4, s += 4, d += 4 * width) {
          const x0 = src[s]!, x1 = src[s + 1]!, x2 = src[s + 2]!, x3 = src[s + 3]!;
          out[d] = x0;
          out[d + width] = x1;
          out[d + 2 * width] = x2;
          out[d + 3 * width] = x3;
        }
        for (; p < kc; p++, d += width) out[d] = src[s++]!;
      } else {
        for (let p = 0; p < kc; p++, d += width) out[d] = 0;
      }
    }
    o += width * kc;
  }
}

/** Element (i, p) at offset + p·lda + i: MR consecutive values per k. */
function packATransposed(src: Float32Array, offset: number, lda: number, out: number[], ic: number, pc: number, mc: number, kc: number): void {
  let o = 0;
  for (let i0 = 0; i0 < mc; i0 += MR) {
    const rows = Math.min(MR, mc - i0);
    for (let p = 0; p < kc; p++) {
      const s = offset + (pc + p) * lda + ic + i0;
      const d = o + p * MR;
      for (let r = 0; r < MR; r++) out[d + r] = r < rows ? src[s + r]! : 0;
    }
    o += MR * kc;
  }
}

/** Pack op(B)[pc.., jc..] (kc × nc) into column panels: panel q holds NR columns interleaved per k. */
function packBlockB(b: MatrixOperand, pc: number, jc: number, kc: number, nc: number): void {
  const need = Math.ceil(nc / NR) * NR * kc;
  if (packedB.length < need) packedB = doublePanel(need);
  if (b.transposed) packContiguousVectors(b.data, b.offset, b.stride, packedB, jc, pc, nc, kc, NR);
  else packBRows(b.data, b.offset, b.stride, packedB, pc, jc, kc, nc);
}

/** Element (p, j) at offset + p·ldb + j: NR consecutive values per k. */
function packBRows(src: Float32Array, offset: number, ldb: number, out: number[], pc: number, jc: number, kc: number, nc: number): void {
  let o = 0;
  for (let j0 = 0; j0 < nc; j0 += NR) {
    const cols = Math.min(NR, nc - j0);
    let s = offset + pc * ldb + jc + j0;
    if (cols === NR) {
      let p = 0;
      for (; p + 2 <= kc; p += 2, s += 2 * ldb, o += 2 * NR) {
        const v0 = src[s]!, v1 = src[s + 1]!, v2 = src[s + 2]!;
        const w0 = src[s + ldb]!, w1 = src[s + ldb + 1]!, w2 = src[s + ldb + 2]!;
        out[o] = v0;
        out[o + 1] = v1;
        out[o + 2] = v2;
        out[o + 3] = w0;
        out[o + 4] = w1;
        out[o + 5] = w2;
      }
      for (; p < kc; p++, s += ldb, o += NR) {
        out[o] = src[s]!;
        out[o + 1] = src[s + 1]!;
        out[o + 2] = src[s + 2]!;
      }
    } else {
      for (let p = 0; p < kc; p++, s += ldb, o += NR) {
        for (let q = 0; q < NR; q++) out[o + q] = q < cols ? src[s + q]! : 0;
      }
    }
  }
}

/**
 * Full 4×3 tile of C += tileAlpha · (packed A panel) · (packed B panel). alpha is read after the loop
 * from module state rather than passed in: a live double argument would take one of the few registers
 * the 12 accumulators need.
 */
function microKernel(kc: number, pa: number[], ai: number, pb: number[], bi: number, c: Float32Array, ci: number, ldc: number): void {
  let c00 = 0, c01 = 0, c02 = 0;
  let c10 = 0, c11 = 0, c12 = 0;
  let c20 = 0, c21 = 0, c22 = 0;
  let c30 = 0, c31 = 0, c32 = 0;
  const aEnd = (ai + MR * kc) | 0;
  for (; ai < aEnd; ai = (ai + MR) | 0, bi = (bi + NR) | 0) {
    const a0 = pa[ai]!, a1 = pa[(ai + 1) | 0]!, a2 = pa[(ai + 2) | 0]!, a3 = pa[(ai + 3) | 0]!;
    const b0 = pb[bi]!, b1 = pb[(bi + 1) | 0]!, b2 = pb[(bi + 2) | 0]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2;
  }
  const alpha = tileAlpha;
  c[ci] += alpha * c00; c[ci + 1] += alpha * c01; c[ci + 2] += alpha * c02;
  ci += ldc;
  c[ci] += alpha * c10; c[ci + 1] += alpha * c11; c[ci + 2] += alpha * c12;
  ci += ldc;
  c[ci] += alpha * c20; c[ci + 1] += alpha * c21; c[ci + 2] += alpha * c22;
  ci += ldc;
  c[ci] += alpha * c30; c[ci + 1] += alpha * c31; c[ci + 2] += alpha * c32;
}

/** A partial tile (mr × nr inside C) at the bottom or right edge: same sums, fewer stores. */
function edgeKernel(kc: number, pa: number[], ai: number, pb: number[], bi: number, c: Float32Array, ci: number, ldc: number, mr: number, nr: number): void {
  const t = edgeTile;
  t.fill(0);
  for (let p = 0; p < kc; p++, ai += MR, bi += NR) {
    for (let r = 0; r < mr; r++) {
      const av = pa[ai + r]!;
      for (let q = 0; q < nr; q++) t[r * NR + q] += av * pb[bi + q]!;
    }
  }
  const alpha = tileAlpha;
  for (let r = 0; r < mr; r++) for (let q = 0; q < nr; q++) c[ci + r * ldc + q] += alpha * t[r * NR + q]!;
}

/** M = 1: C[0, j] += alpha · Σ_p A[0, p] · op(B)[p, j]. */
function gemvRow(N: number, K: number, alpha: number, a: MatrixOperand, b: MatrixOperand, c: Float32Array, cOffset: number): void {
  const A = a.data;
  const aStep = a.transposed ? a.stride : 1;
  const B = b.data;
  if (b.transposed) {
    // op(B)[p, j] = B[j*ldb + p]: a dot product per output, both sides contiguous when A is.
    for (let j = 0; j < N; j++) {
      let sum = 0;
      let ai = a.offset;
      let bi = b.offset + j * b.stride;
      for (let p = 0; p < K; p++, ai += aStep) sum += A[ai]! * B[bi++]!;
      c[cOffset + j] += alpha * sum;
    }
    return;
  }
  // op(B)[p, j] = B[p*ldb + j]: accumulate whole rows of B into a double accumulator.
  const acc = new Float64Array(N);
  let ai = a.offset;
  for (let p = 0; p < K; p++, ai += aStep) {
    const av = A[ai]!;
    let bi = b.offset + p * b.stride;
    for (let j = 0; j < N; j++) acc[j] += av * B[bi++]!;
  }
  for (let j = 0; j < N; j++) c[cOffset + j] += alpha * acc[j]!;
}

/** N = 1: C[i, 0] += alpha · Σ_p op(A)[i, p] · B[p, 0]. */
function gemvColumn(M: number, K: number, alpha: number, a: MatrixOperand, b: MatrixOperand, c: Float32Array, cOffset: number, ldc: number): void {
  const A = a.data;
  const B = b.data;
  const bStep = b.transposed ? 1 : b.stride;
  if (!a.transposed) {
    for (let i = 0; i < M; i++) {
      let sum = 0;
      let ai = a.offset + i * a.stride;
      let bi = b.offset;
      for (let p = 0; p < K; p++, bi += bStep) sum += A[ai++]! * B[bi]!;
      c[cOffset + i * ldc] += alpha * sum;
    }
    return;
  }
  const acc = new Float64Array(M);
  let bi = b.offset;
  for (let p = 0; p < K; p++, bi += bStep) {
    const bv = B[bi]!;
    let ai = a.offset + p * a.stride;
    for (let i = 0; i < M; i++) acc[i] += A[ai++]! * bv;
  }
  for (let i = 0; i < M; i++) c[cOffset + i * ldc] += alpha * acc[i]!;
}
