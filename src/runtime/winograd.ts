import { parallelSgemm, shareConstant, sharedFloat32 } from './parallel.js';
import { WindowGeometry } from './windowGeometry.js';

// Winograd minimal filtering F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015): each 2×2 output tile of a 3×3, stride-1 convolution comes from a 4×4 input tile with
// 16 multiplies per (input channel, output channel) instead of 36. Across channels the 16 transform points
// are 16 independent GEMMs, U[ξ] (M × C) · V[ξ] (C × tiles), run on the packed GEMM core:
//   weights  U = G g Gᵀ        (once per weight array, cached)
//   input    V = Bᵀ d B        (per 4×4 input tile d, tiles overlapping by 2)
//   output   Y = Aᵀ [U ⊙ V] A  (per tile, summed over channels by the GEMM)
// Transforms are computed in float64 and stored as float32, so the result differs from the direct path by
// a few float32 roundings of the (small-integer-coefficient) transforms; the test states the bound.
//
//   Bᵀ = | 1  0 -1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
//        | 0  1  1  0 |        | 1/2  1/2 1/2 |         | 0  1 -1 -1 |
//        | 0 -1  1  0 |        | 1/2 -1/2 1/2 |
//        | 0  1  0 -1 |        | 0    0    1  |

/** Where Winograd pays: enough channels for the 16 GEMMs to amortize the transforms (measured: bench). */
export const WINOGRAD_MIN_CHANNELS = 16;

/**
 * True when F(2×2, 3×3) applies and pays: a 2-D convolution with a 3×3 kernel, stride 1, dilation 1, at
 * least WINOGRAD_MIN_CHANNELS input and output channels per group, and an output of at least 4×4.
 */
export function winogradApplies(g: WindowGeometry, groupIn: number, groupOut: number): boolean {
  return (
    g.rank === 2 &&
    g.kernel[1] === 3 && g.kernel[2] === 3 &&
    g.strides[1] === 1 && g.strides[2] === 1 &&
    g.dilations[1] === 1 && g.dilations[2] === 1 &&
    groupIn >= WINOGRAD_MIN_CHANNELS && groupOut >= WINOGRAD_MIN_CHANNELS &&
    g.output[1]! >= 4 && g.output[2]! >= 4
  );
}

const transformedWeights = new WeakMap<Float32Array, Map<number, Float32Array>>();

/**
 * U[ξ][m][c] for ξ = 0..15 (row-major over the 4×4 transform points), from weights W [M, C, 3, 3] (one
 * group's slice at `offset`). Cached per weight array and offset: a model's weights are transformed once.
 */
function weightTransform(w: Float32Array, offset: number, M: number, C: number, shared: boolean): Float32Array {
  let cache = transformedWeights.get(w);
  const cached = cache?.get(offset);
  if (cached) return cached;
  // Made in shared memory when the conv runs threaded, so the workers read the cached copy itself.
  const u = shared ? sharedFloat32(16 * M * C) : new Float32Array(16 * M * C);
  const t = new Float64Array(12);
  for (let m = 0; m < M; m++) {
    for (let c = 0; c < C; c++) {
      const base = offset + (m * C + c) * 9;
      // t = G g (4×3), then U = t Gᵀ (4×4).
      for (let j = 0; j < 3; j++) {
        const g0 = w[base + j]!;
        const g1 = w[base + 3 + j]!;
        const g2 = w[base + 6 + j]!;
        t[j] = g0;
        t[3 + j] = 0.5 * (g0 + g1 + g2);
        t[6 + j] = 0.5 * (g0 - g1 + g2);
        t[9 + j] = g2;
      }
      for (let i = 0; i < 4; i++) {
        const r0 = t[i * 3]!;
        const r1 = t[i * 3 + 1]!;
        const r2 = t[i * 3 + 2]!;
        const at = m * C + c;
        u[(i * 4) * M * C + at] = r0;
        u[(i * 4 + 1) * M * C + at] = 0.5 * (r0 + r1 + r2);
        u[(i * 4 + 2) * M * C + at] = 0.5 * (r0 - r1 + r2);
        u[(i * 4 + 3) * M * C + at] = r2;
      }
    }
  }
  if (!cache) {
    cache = new Map();
    transformedWeights.set(w, cache);
  }
  cache.set(offset, u);
  return u;
}

export interface WinogradArgs {
  /** Input [N, C_total, H, W] and weights [M_total, C, 3, 3]; this call handles one (image, group). */
  x: Float32Array;
  xOffset: number;
  w: Float32Array;
  wOffset: number;
  /** Output with the bias already in it; this group's first output plane at outOffset. */
  out: Float32Array;
  outOffset: number;
  channels: number;
  outChannels: number;
  g: WindowGeometry;
  threads: number;
}

/**
 * One (image, group) of a 3×3 stride-1 convolution by F(2×2, 3×3), added into `out` (which holds the
 * bias). Shapes: x planes H×W (g.input[1..2]), out planes OH×OW (g.output[1..2]); pads from g.padBegin.
 */
export function winogradConv3x3(a: WinogradArgs): void {
  const [, H, W] = a.g.input as [number, number, number];
  const [, OH, OW] = a.g.output as [number, number, number];
  const padTop = a.g.padBegin[1]!;
  const padLeft = a.g.padBegin[2]!;
  const C = a.channels;
  const M = a.outChannels;
  const tilesH = Math.ceil(OH / 2);
  const tilesW = Math.ceil(OW / 2);
  const P = tilesH * tilesW;
  const threaded = a.threads > 1;
  const alloc = (n: number) => (threaded ? sharedFloat32(n) : new Float32Array(n));

  let u = weightTransform(a.w, a.wOffset, M, C, threaded);
  if (threaded) u = shareConstant(u);

  // V[ξ][c][p]: the input transform of every tile of every channel.
  const v = alloc(16 * C * P);
  const d = new Float64Array(16);
  const CP = C * P;
  for (let c = 0; c < C; c++) {
    const plane = a.xOffset + c * H * W;
    for (let ty = 0; ty < tilesH; ty++) {
      const y0 = 2 * ty - padTop;
      for (let tx = 0; tx < tilesW; tx++) {
        const x0 = 2 * tx - padLeft;
        for (let i = 0; i < 4; i++) {
          const y = y0 + i;
          const inside = y >= 0 && y < H;
          for (let j = 0; j < 4; j++) {
            const xx = x0 + j;
            d[i * 4 + j] = inside && xx >= 0 && xx < W ? a.x[plane + y * W + xx]! : 0;
          }
        }
        // Bᵀ d (rows), then (Bᵀ d) B (columns).
        for (let j = 0; j < 4; j++) {
          const d0 = d[j]!;
          const d1 = d[4 + j]!;
          const d2 = d[8 + j]!;
          const d3 = d[12 + j]!;
          d[j] = d0 - d2;
          d[4 + j] = d1 + d2;
          d[8 + j] = d2 - d1;
          d[12 + j] = d1 - d3;
        }
        const at = c * P + ty * tilesW + tx;
        for (let i = 0; i < 4; i++) {
          const r0 = d[i * 4]!;
          const r1 = d[i * 4 + 1]!;
          const r2 = d[i * 4 + 2]!;
          const r3 = d[i * 4 + 3]!;
          v[(i * 4) * CP + at] = r0 - r2;
          v[(i * 4 + 1) * CP + at] = r1 + r2;
          v[(i * 4 + 2) * CP + at] = r2 - r1;
          v[(i * 4 + 3) * CP + at] = r1 - r3;
        }
      }
    }
  }

  // 16 GEMMs: prod[ξ] (M × P) = U[ξ] (M × C) · V[ξ] (C × P).
  const prod = alloc(16 * M * P);
  for (let xi = 0; xi < 16; xi++) {
    parallelSgemm(
      a.threads, M, P, C, 1,
      { data: u, offset: xi * M * C, stride: C },
      { data: v, offset: xi * CP, stride: P },
      prod, xi * M * P, P,
    );
  }

  // Y = Aᵀ prod A per tile, added to the output (bias already there); edge tiles keep only real outputs.
  const MP = M * P;
  const s = new Float64Array(8);
  for (let m = 0; m < M; m++) {
    const outPlane = a.outOffset + m * OH * OW;
    for (let ty = 0; ty < tilesH; ty++) {
      for (let tx = 0; tx < tilesW; tx++) {
        const at = m * P + ty * tilesW + tx;
        // Aᵀ on rows: s (2×4).
        for (let j = 0; j < 4; j++) {
          const p0 = prod[j * MP + at]!;
          const p1 = prod[(4 + j) * MP + at]!;
          const p2 = prod[(8 + j) * MP + at]!;
          const p3 = prod[(12 + j) * MP + at]!;
          s[j] = p0 + p1 + p2;
          s[4 + j] = p1 - p2 - p3;
        }
        const oy = 2 * ty;
        const ox = 2 * tx;
        for (let i = 0; i < 2 && oy + i < OH; i++) {
          const row = outPlane + (oy + i) * OW + ox;
          const r0 = s[i * 4]!;
          const r1 = s[i * 4 + 1]!;
          const r2 = s[i * 4 + 2]!;
          const r3 = s[i * 4 + 3]!;
          a.out[row] = a.out[row]! + (r0 + r1 + r2);
          if (ox + 1 < OW) a.out[row + 1] = a.out[row + 1]! + (r1 - r2 - r3);
        }
      }
    }
  }
}
