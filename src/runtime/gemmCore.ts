// The single-precision matrix product every heavy kernel (Conv, ConvTranspose, Gemm, MatMul) goes through:
//   C[M×N] += alpha · op(A)[M×K] · op(B)[K×N]
// Blocked like the classic Goto/BLIS design: B is packed per (KC × NC) block into column panels of NR,
// A per (MC × KC) block into row panels of MR, so the 4×4 register-blocked micro-kernel streams both
// operands contiguously from cache. Products accumulate in doubles (JS numbers) and are rounded to float32
// once per KC block.

const MR = 4;
const NR = 4;
const KC = 256;
const MC = 128;
const NC = 1024;

// Packing buffers are reused across calls: sized for the largest block, grown on demand.
let packedA = new Float32Array(MC * KC);
let packedB = new Float32Array(KC * NC);

export interface MatrixOperand {
  data: Float32Array;
  /** Index of element (0, 0). */
  offset: number;
  /** Distance between consecutive rows of the stored (untransposed) matrix. */
  stride: number;
  /** The operand is stored transposed: op(X)[i][j] = data[offset + j*stride + i]. */
  transposed?: boolean;
}

/** C[M×N] (row stride ldc, from cOffset) += alpha · op(A) · op(B). */
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
): void {
  if (M === 0 || N === 0 || K === 0 || alpha === 0) return;
  // Vector cases: packing would only add traffic.
  if (M === 1) return gemvRow(N, K, alpha, a, b, c, cOffset);
  if (N === 1) return gemvColumn(M, K, alpha, a, b, c, cOffset, ldc);

  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      packBlockB(b, pc, jc, kc, nc);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        packBlockA(a, ic, pc, mc, kc);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = Math.min(NR, nc - jr);
          const bPanel = (jr / NR) * NR * kc;
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = Math.min(MR, mc - ir);
            const aPanel = (ir / MR) * MR * kc;
            microKernel(kc, alpha, aPanel, bPanel, c, cOffset + (ic + ir) * ldc + jc + jr, ldc, mr, nr);
          }
        }
      }
    }
  }
}

/** Pack op(A)[ic.., pc..] (mc × kc) into row panels: panel p holds MR rows interleaved per k, zero-padded. */
function packBlockA(a: MatrixOperand, ic: number, pc: number, mc: number, kc: number): void {
  const need = Math.ceil(mc / MR) * MR * kc;
  if (packedA.length < need) packedA = new Float32Array(need);
  const out = packedA;
  const src = a.data;
  const lda = a.stride;
  let o = 0;
  for (let i0 = 0; i0 < mc; i0 += MR) {
    const rows = Math.min(MR, mc - i0);
    if (!a.transposed) {
      // Element (i, p) at offset + i*lda + p.
      for (let r = 0; r < MR; r++) {
        if (r < rows) {
          let s = a.offset + (ic + i0 + r) * lda + pc;
          for (let p = 0; p < kc; p++) out[o + p * MR + r] = src[s++]!;
        } else {
          for (let p = 0; p < kc; p++) out[o + p * MR + r] = 0;
        }
      }
    } else {
      // Element (i, p) at offset + p*lda + i: MR consecutive values per k.
      for (let p = 0; p < kc; p++) {
        const s = a.offset + (pc + p) * lda + ic + i0;
        const d = o + p * MR;
        for (let r = 0; r < MR; r++) out[d + r] = r < rows ? src[s + r]! : 0;
      }
    }
    o += MR * kc;
  }
}

/** Pack op(B)[pc.., jc..] (kc × nc) into column panels: panel q holds NR columns interleaved per k. */
function packBlockB(b: MatrixOperand, pc: number, jc: number, kc: number, nc: number): void {
  const need = Math.ceil(nc / NR) * NR * kc;
  if (packedB.length < need) packedB = new Float32Array(need);
  const out = packedB;
  const src = b.data;
  const ldb = b.stride;
  let o = 0;
  for (let j0 = 0; j0 < nc; j0 += NR) {
    const cols = Math.min(NR, nc - j0);
    if (!b.transposed) {
      // Element (p, j) at offset + p*ldb + j: NR consecutive values per k.
      for (let p = 0; p < kc; p++) {
        const s = b.offset + (pc + p) * ldb + jc + j0;
        const d = o + p * NR;
        if (cols === NR) {
          out[d] = src[s]!;
          out[d + 1] = src[s + 1]!;
          out[d + 2] = src[s + 2]!;
          out[d + 3] = src[s + 3]!;
        } else {
          for (let q = 0; q < NR; q++) out[d + q] = q < cols ? src[s + q]! : 0;
        }
      }
    } else {
      // Element (p, j) at offset + j*ldb + p.
      for (let q = 0; q < NR; q++) {
        if (q < cols) {
          let s = b.offset + (jc + j0 + q) * ldb + pc;
          for (let p = 0; p < kc; p++) out[o + p * NR + q] = src[s++]!;
        } else {
          for (let p = 0; p < kc; p++) out[o + p * NR + q] = 0;
        }
      }
    }
    o += NR * kc;
  }
}

/** 4×4 tile of C += alpha · (packed A panel) · (packed B panel); mr × nr of it is stored. */
function microKernel(kc: number, alpha: number, aIndex: number, bIndex: number, c: Float32Array, ci: number, ldc: number, mr: number, nr: number): void {
  const pa = packedA;
  const pb = packedB;
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let p = 0; p < kc; p++) {
    const a0 = pa[aIndex]!, a1 = pa[aIndex + 1]!, a2 = pa[aIndex + 2]!, a3 = pa[aIndex + 3]!;
    const b0 = pb[bIndex]!, b1 = pb[bIndex + 1]!, b2 = pb[bIndex + 2]!, b3 = pb[bIndex + 3]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    aIndex += MR;
    bIndex += NR;
  }
  if (mr === MR && nr === NR) {
    c[ci] += alpha * c00; c[ci + 1] += alpha * c01; c[ci + 2] += alpha * c02; c[ci + 3] += alpha * c03;
    ci += ldc;
    c[ci] += alpha * c10; c[ci + 1] += alpha * c11; c[ci + 2] += alpha * c12; c[ci + 3] += alpha * c13;
    ci += ldc;
    c[ci] += alpha * c20; c[ci + 1] += alpha * c21; c[ci + 2] += alpha * c22; c[ci + 3] += alpha * c23;
    ci += ldc;
    c[ci] += alpha * c30; c[ci + 1] += alpha * c31; c[ci + 2] += alpha * c32; c[ci + 3] += alpha * c33;
    return;
  }
  // Edge tile: store only the rows and columns inside C.
  const tile = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
  for (let r = 0; r < mr; r++) for (let q = 0; q < nr; q++) c[ci + r * ldc + q] += alpha * tile[r * NR + q]!;
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
