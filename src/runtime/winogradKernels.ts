import { sgemm } from './gemmCore.js';

// The arithmetic of Winograd minimal filtering F(m×m, 3×3) (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2015), m = 2 or 4, on blocks of output tiles. Each m×m output tile of a
// 3×3, stride-1 convolution comes from an a×a input tile (a = m + 2, tiles overlapping by 2):
//   weights  U = G g Gᵀ        (a×a per (output, input) channel pair; winograd.ts caches it per model)
//   input    V = Bᵀ d B        (a×a per input tile d)
//   output   Y = Aᵀ [Σ_c U ⊙ V] A
// The sum over input channels of each of the a² transform points is a GEMM, U[ξ] (M × C) · V[ξ] (C × tiles),
// run on the packed GEMM core. Transforms are computed in float64 and stored as float32 (V, U, the GEMM's
// products), so the result differs from the direct sum by a few float32 roundings amplified by the
// transform coefficients (the tests state the measured bounds).
//
// F(2×2, 3×3), interpolation points 0, ±1, ∞:
//   Bᵀ = | 1  0 -1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
//        | 0  1  1  0 |        | 1/2  1/2 1/2 |         | 0  1 -1 -1 |
//        | 0 -1  1  0 |        | 1/2 -1/2 1/2 |
//        | 0  1  0 -1 |        | 0    0    1  |
// F(4×4, 3×3), interpolation points 0, ±1, ±2, ∞:
//   Bᵀ = | 4  0 -5  0  1  0 |    G = |  1/4    0     0   |    Aᵀ = | 1  1  1  1  1  0 |
//        | 0 -4 -4  1  1  0 |        | -1/6  -1/6  -1/6  |         | 0  1 -1  2 -2  0 |
//        | 0  4 -4 -1  1  0 |        | -1/6   1/6  -1/6  |         | 0  1  1  4  4  0 |
//        | 0 -2 -1  2  1  0 |        |  1/24  1/12  1/6  |         | 0  1 -1  8 -8  1 |
//        | 0  2 -1 -2  1  0 |        |  1/24 -1/12  1/6  |
//        | 0  4  0 -5  0  1 |        |  0     0     1    |
//
// Everything here runs on the calling thread and on worker threads alike (a 'winograd' job in
// parallelTasks.ts): it allocates only per-thread scratch and writes disjoint parts of shared arrays.

/** Output tile size m of F(m×m, 3×3). */
export type WinogradTile = 2 | 4;

const G2 = [
  [1, 0, 0],
  [0.5, 0.5, 0.5],
  [0.5, -0.5, 0.5],
  [0, 0, 1],
];
const G4 = [
  [1 / 4, 0, 0],
  [-1 / 6, -1 / 6, -1 / 6],
  [-1 / 6, 1 / 6, -1 / 6],
  [1 / 24, 1 / 12, 1 / 6],
  [1 / 24, -1 / 12, 1 / 6],
  [0, 0, 1],
];

/**
 * U[ξ][m][c] (ξ = 0..a²-1 row-major over the a×a transform points) = (G g Gᵀ)[ξ] for g = W[m, c] (3×3) of
 * weights W [M, C, 3, 3] starting at `offset`, computed in float64, written to `u` (length a²·M·C).
 */
export function transformWeights(tile: WinogradTile, w: Float32Array, offset: number, M: number, C: number, u: Float32Array): void {
  const G = tile === 2 ? G2 : G4;
  const a = tile + 2;
  const MC = M * C;
  const t = new Float64Array(a * 3);
  for (let m = 0; m < M; m++) {
    for (let c = 0; c < C; c++) {
      const base = offset + (m * C + c) * 9;
      // t = G g (a×3), then U = t Gᵀ (a×a).
      for (let i = 0; i < a; i++) {
        const gi = G[i]!;
        for (let j = 0; j < 3; j++) t[i * 3 + j] = gi[0]! * w[base + j]! + gi[1]! * w[base + 3 + j]! + gi[2]! * w[base + 6 + j]!;
      }
      const at = m * C + c;
      for (let i = 0; i < a; i++) {
        const r0 = t[i * 3]!, r1 = t[i * 3 + 1]!, r2 = t[i * 3 + 2]!;
        for (let j = 0; j < a; j++) {
          const gj = G[j]!;
          u[(i * a + j) * MC + at] = r0 * gj[0]! + r1 * gj[1]! + r2 * gj[2]!;
        }
      }
    }
  }
}

/**
 * One group of a convolution as the tile kernels see it; plain data, so it travels to worker threads.
 * Tile rows are numbered across the batch: row r is tile row r mod tilesH of image ⌊r / tilesH⌋.
 */
export interface WinogradPlan {
  tile: WinogradTile;
  /** Input plane H×W, output plane OH×OW, padding before the first row / column. */
  H: number;
  W: number;
  OH: number;
  OW: number;
  padTop: number;
  padLeft: number;
  /** ⌈OH / m⌉ and ⌈OW / m⌉. */
  tilesH: number;
  tilesW: number;
  /** Images in the batch: tile rows run over all of them. */
  batch: number;
  /** Input channels C and output channels M of this group. */
  C: number;
  M: number;
  /** Input: this group's channel 0 of image 0 at xOffset, images xImageStride elements apart. */
  x: Float32Array;
  xOffset: number;
  xImageStride: number;
  /** Transformed weights [a², M, C] (see transformWeights). */
  u: Float32Array;
  /** Output (bias already in it, sums are added): this group's plane 0 of image 0 at outOffset. */
  out: Float32Array;
  outOffset: number;
  outImageStride: number;
}

/** Where V lives: V[ξ][c][t] at offset + ξ·pointStride + c·channelStride + t. */
interface TileMatrix {
  data: Float32Array;
  offset: number;
  channelStride: number;
  pointStride: number;
}

/**
 * Input transform of channels [cStart, cEnd) of the tiles in tile rows [rowStart, rowEnd): tile t (counted
 * from the block's first tile, tilesW per row) goes to V[ξ][c][t]. Padding and the part of edge tiles past
 * the input read as 0. Per (tile row, channel), Bᵀ is first applied down the columns of the a input rows
 * across the whole (padded) width, so each input element is read once, then B along each tile's columns.
 */
export function inputTransform(p: WinogradPlan, rowStart: number, rowEnd: number, cStart: number, cEnd: number, v: TileMatrix): void {
  const { H, W, tilesH, tilesW, x, tile } = p;
  const a = tile + 2;
  // Padded row width: tiles start every `tile` columns from -padLeft.
  const width = tilesW * tile + 2;
  const cols = rowScratch(a * width);
  const plane = H * W;
  const xStart = Math.max(0, p.padLeft);
  const xEnd = Math.min(width, W + p.padLeft);
  for (let r = rowStart; r < rowEnd; r++) {
    const n = Math.floor(r / tilesH);
    const y0 = (r - n * tilesH) * tile - p.padTop;
    for (let c = cStart; c < cEnd; c++) {
      const src = p.xOffset + n * p.xImageStride + c * plane;
      cols.fill(0);
      // cols[i][j] = Σ_k Bᵀ[i][k] · d[k][j] over padded columns j (input column j - padLeft).
      if (tile === 2) columnTransform2(x, src, W, H, y0, xStart, xEnd, p.padLeft, cols, width);
      else columnTransform4(x, src, W, H, y0, xStart, xEnd, p.padLeft, cols, width);
      const at = v.offset + c * v.channelStride + (r - rowStart) * tilesW;
      if (tile === 2) rowTransform2(cols, width, tilesW, v.data, at, v.pointStride);
      else rowTransform4(cols, width, tilesW, v.data, at, v.pointStride);
    }
  }
}

let rowBuffer = new Float64Array(0);
function rowScratch(length: number): Float64Array {
  if (rowBuffer.length !== length) rowBuffer = new Float64Array(length);
  return rowBuffer;
}

/** Input row y of the plane at src, 0 outside [0, H): element j of the padded range [xStart, xEnd). */
function columnTransform2(
  x: Float32Array, src: number, W: number, H: number, y0: number, xStart: number, xEnd: number, padLeft: number, cols: Float64Array, width: number,
): void {
  // Start of input row y0 + i, or -1 for a row in the padding; k is the input column of padded column j.
  const r0 = y0 >= 0 && y0 < H ? src + y0 * W : -1;
  const r1 = y0 + 1 >= 0 && y0 + 1 < H ? src + (y0 + 1) * W : -1;
  const r2 = y0 + 2 >= 0 && y0 + 2 < H ? src + (y0 + 2) * W : -1;
  const r3 = y0 + 3 >= 0 && y0 + 3 < H ? src + (y0 + 3) * W : -1;
  for (let j = xStart, k = xStart - padLeft; j < xEnd; j++, k++) {
    const d0 = r0 < 0 ? 0 : x[r0 + k]!;
    const d1 = r1 < 0 ? 0 : x[r1 + k]!;
    const d2 = r2 < 0 ? 0 : x[r2 + k]!;
    const d3 = r3 < 0 ? 0 : x[r3 + k]!;
    cols[j] = d0 - d2;
    cols[width + j] = d1 + d2;
    cols[2 * width + j] = d2 - d1;
    cols[3 * width + j] = d1 - d3;
  }
}

function columnTransform4(
  x: Float32Array, src: number, W: number, H: number, y0: number, xStart: number, xEnd: number, padLeft: number, cols: Float64Array, width: number,
): void {
  // As in columnTransform2.
  const row = (i: number) => (y0 + i >= 0 && y0 + i < H ? src + (y0 + i) * W : -1);
  const r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4), r5 = row(5);
  for (let j = xStart, k = xStart - padLeft; j < xEnd; j++, k++) {
    const d0 = r0 < 0 ? 0 : x[r0 + k]!;
    const d1 = r1 < 0 ? 0 : x[r1 + k]!;
    const d2 = r2 < 0 ? 0 : x[r2 + k]!;
    const d3 = r3 < 0 ? 0 : x[r3 + k]!;
    const d4 = r4 < 0 ? 0 : x[r4 + k]!;
    const d5 = r5 < 0 ? 0 : x[r5 + k]!;
    cols[j] = 4 * d0 - 5 * d2 + d4;
    cols[width + j] = d4 + d3 - 4 * (d1 + d2);
    cols[2 * width + j] = d4 - d3 + 4 * (d1 - d2);
    cols[3 * width + j] = d4 - d2 + 2 * (d3 - d1);
    cols[4 * width + j] = d4 - d2 - 2 * (d3 - d1);
    cols[5 * width + j] = 4 * d1 - 5 * d3 + d5;
  }
}

/** V[i·4 + j] of each tile from cols (4 rows of the padded width): B along the tile's 4 columns. */
function rowTransform2(cols: Float64Array, width: number, tilesW: number, out: Float32Array, at: number, stride: number): void {
  for (let tx = 0; tx < tilesW; tx++, at++) {
    for (let i = 0; i < 4; i++) {
      const k = i * width + tx * 2;
      const r0 = cols[k]!, r1 = cols[k + 1]!, r2 = cols[k + 2]!, r3 = cols[k + 3]!;
      const o = at + i * 4 * stride;
      out[o] = r0 - r2;
      out[o + stride] = r1 + r2;
      out[o + 2 * stride] = r2 - r1;
      out[o + 3 * stride] = r1 - r3;
    }
  }
}

/** V[i·6 + j] of each tile from cols (6 rows of the padded width): B along the tile's 6 columns. */
function rowTransform4(cols: Float64Array, width: number, tilesW: number, out: Float32Array, at: number, stride: number): void {
  for (let tx = 0; tx < tilesW; tx++, at++) {
    for (let i = 0; i < 6; i++) {
      const k = i * width + tx * 4;
      const r0 = cols[k]!, r1 = cols[k + 1]!, r2 = cols[k + 2]!, r3 = cols[k + 3]!, r4 = cols[k + 4]!, r5 = cols[k + 5]!;
      const o = at + i * 6 * stride;
      out[o] = 4 * r0 - 5 * r2 + r4;
      out[o + stride] = r4 + r3 - 4 * (r1 + r2);
      out[o + 2 * stride] = r4 - r3 + 4 * (r1 - r2);
      out[o + 3 * stride] = r4 - r2 + 2 * (r3 - r1);
      out[o + 4 * stride] = r4 - r2 - 2 * (r3 - r1);
      out[o + 5 * stride] = 4 * r1 - 5 * r3 + r5;
    }
  }
}

// Per-thread scratch (each worker has its own module instance), grown on demand.
let productScratch = new Float32Array(0);
let tileScratch = new Float32Array(0);

function scratch(which: 'product' | 'tiles', length: number): Float32Array {
  if (which === 'product') {
    if (productScratch.length < length) productScratch = new Float32Array(length);
    return productScratch;
  }
  if (tileScratch.length < length) tileScratch = new Float32Array(length);
  return tileScratch;
}

/**
 * For the tiles of rows [rowStart, rowEnd) held in V (tile t of the block at column t of each V[ξ][c]) and
 * output channels [mStart, mEnd): the a² GEMMs prod[ξ] = U[ξ][mStart..mEnd] · V[ξ] on the packed core, then
 * the output transform of each tile, added into the output (edge tiles keep only real outputs).
 */
export function multiplyAndOutput(p: WinogradPlan, v: TileMatrix, rowStart: number, rowEnd: number, mStart: number, mEnd: number): void {
  const a = p.tile + 2;
  const points = a * a;
  const tiles = (rowEnd - rowStart) * p.tilesW;
  const rows = mEnd - mStart;
  const pointStride = rows * tiles;
  const prod = scratch('product', points * pointStride);
  prod.fill(0, 0, points * pointStride);
  const MC = p.M * p.C;
  for (let xi = 0; xi < points; xi++) {
    sgemm(
      rows, tiles, p.C, 1,
      { data: p.u, offset: xi * MC + mStart * p.C, stride: p.C },
      { data: v.data, offset: v.offset + xi * v.pointStride, stride: v.channelStride },
      prod, xi * pointStride, tiles,
    );
  }
  if (p.tile === 2) outputTransform2(p, prod, pointStride, tiles, rowStart, rowEnd, mStart, mEnd);
  else outputTransform4(p, prod, pointStride, tiles, rowStart, rowEnd, mStart, mEnd);
}

/** Y = Aᵀ prod A per tile for F(2×2, 3×3); prod[ξ][m - mStart][t] at ξ·pointStride + (m - mStart)·tiles + t. */
function outputTransform2(
  p: WinogradPlan, prod: Float32Array, pointStride: number, tiles: number, rowStart: number, rowEnd: number, mStart: number, mEnd: number,
): void {
  const { OH, OW, tilesH, tilesW, out } = p;
  const s = new Float64Array(8);
  for (let m = mStart; m < mEnd; m++) {
    let at = (m - mStart) * tiles;
    for (let r = rowStart; r < rowEnd; r++) {
      const n = Math.floor(r / tilesH);
      const oy = (r - n * tilesH) * 2;
      const plane = p.outOffset + n * p.outImageStride + m * OH * OW;
      for (let tx = 0; tx < tilesW; tx++, at++) {
        // Aᵀ on rows: s (2×4).
        for (let j = 0; j < 4; j++) {
          const p0 = prod[at + j * pointStride]!;
          const p1 = prod[at + (4 + j) * pointStride]!;
          const p2 = prod[at + (8 + j) * pointStride]!;
          const p3 = prod[at + (12 + j) * pointStride]!;
          s[j] = p0 + p1 + p2;
          s[4 + j] = p1 - p2 - p3;
        }
        const ox = tx * 2;
        for (let i = 0; i < 2 && oy + i < OH; i++) {
          const o = plane + (oy + i) * OW + ox;
          const r0 = s[i * 4]!, r1 = s[i * 4 + 1]!, r2 = s[i * 4 + 2]!, r3 = s[i * 4 + 3]!;
          out[o] += r0 + r1 + r2;
          if (ox + 1 < OW) out[o + 1] += r1 - r2 - r3;
        }
      }
    }
  }
}

/** Y = Aᵀ prod A per tile for F(4×4, 3×3); prod laid out as in outputTransform2. */
function outputTransform4(
  p: WinogradPlan, prod: Float32Array, pointStride: number, tiles: number, rowStart: number, rowEnd: number, mStart: number, mEnd: number,
): void {
  const { OH, OW, tilesH, tilesW, out } = p;
  const s = new Float64Array(24);
  for (let m = mStart; m < mEnd; m++) {
    let at = (m - mStart) * tiles;
    for (let r = rowStart; r < rowEnd; r++) {
      const n = Math.floor(r / tilesH);
      const oy = (r - n * tilesH) * 4;
      const plane = p.outOffset + n * p.outImageStride + m * OH * OW;
      const rowsHere = Math.min(4, OH - oy);
      for (let tx = 0; tx < tilesW; tx++, at++) {
        // Aᵀ on rows: s (4×6).
        for (let j = 0; j < 6; j++) {
          const p0 = prod[at + j * pointStride]!;
          const p1 = prod[at + (6 + j) * pointStride]!;
          const p2 = prod[at + (12 + j) * pointStride]!;
          const p3 = prod[at + (18 + j) * pointStride]!;
          const p4 = prod[at + (24 + j) * pointStride]!;
          const p5 = prod[at + (30 + j) * pointStride]!;
          const sum12 = p1 + p2, dif12 = p1 - p2, sum34 = p3 + p4, dif34 = p3 - p4;
          s[j] = p0 + sum12 + sum34;
          s[6 + j] = dif12 + 2 * dif34;
          s[12 + j] = sum12 + 4 * sum34;
          s[18 + j] = dif12 + 8 * dif34 + p5;
        }
        const ox = tx * 4;
        const colsHere = Math.min(4, OW - ox);
        for (let i = 0; i < rowsHere; i++) {
          const k = i * 6;
          const r0 = s[k]!, r1 = s[k + 1]!, r2 = s[k + 2]!, r3 = s[k + 3]!, r4 = s[k + 4]!, r5 = s[k + 5]!;
          const sum12 = r1 + r2, dif12 = r1 - r2, sum34 = r3 + r4, dif34 = r3 - r4;
          const o = plane + (oy + i) * OW + ox;
          if (colsHere === 4) {
            out[o] += r0 + sum12 + sum34;
            out[o + 1] += dif12 + 2 * dif34;
            out[o + 2] += sum12 + 4 * sum34;
            out[o + 3] += dif12 + 8 * dif34 + r5;
          } else {
            out[o] += r0 + sum12 + sum34;
            if (colsHere > 1) out[o + 1] += dif12 + 2 * dif34;
            if (colsHere > 2) out[o + 2] += sum12 + 4 * sum34;
          }
        }
      }
    }
  }
}

/**
 * All the work of tile rows [rowStart, rowEnd) for every output channel, on this thread: input transform
 * into per-thread scratch, the a² GEMMs, output transform.
 */
export function winogradRows(p: WinogradPlan, rowStart: number, rowEnd: number): void {
  const a = p.tile + 2;
  const tiles = (rowEnd - rowStart) * p.tilesW;
  const v: TileMatrix = { data: scratch('tiles', a * a * p.C * tiles), offset: 0, channelStride: tiles, pointStride: p.C * tiles };
  inputTransform(p, rowStart, rowEnd, 0, p.C, v);
  multiplyAndOutput(p, v, rowStart, rowEnd, 0, p.M);
}

/**
 * A Winograd job for worker threads (see parallelTasks.ts), one of three kinds of chunk:
 *   rows:    chunk k = tile rows [k·chunkSize, ...) of `total` rows, all the work (winogradRows);
 *   input:   chunk k = input channels [k·chunkSize, ...) of all tiles, transformed into the shared `v`;
 *   output:  chunk k = output channels [k·chunkSize, ...): GEMMs on the shared `v` and output transform.
 * The last chunk takes the rest up to `total`.
 */
export interface WinogradJob {
  task: 'winograd';
  phase: 'rows' | 'input' | 'output';
  plan: WinogradPlan;
  /** Whole-plane V [a², C, all tiles] for the input / output phases. */
  v?: Float32Array;
  total: number;
  chunkSize: number;
}

export function winogradChunk(job: WinogradJob, chunk: number, chunks: number): void {
  const first = chunk * job.chunkSize;
  const last = chunk === chunks - 1 ? job.total : first + job.chunkSize;
  const p = job.plan;
  if (job.phase === 'rows') return winogradRows(p, first, last);
  const rows = p.batch * p.tilesH;
  const tiles = rows * p.tilesW;
  const v: TileMatrix = { data: job.v!, offset: 0, channelStride: tiles, pointStride: p.C * tiles };
  if (job.phase === 'input') inputTransform(p, 0, rows, first, last, v);
  else multiplyAndOutput(p, v, 0, rows, first, last);
}
