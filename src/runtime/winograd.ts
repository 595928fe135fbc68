import type { ConvEpilogue } from './epilogue.js';
import { releaseBuffer } from './bufferPool.js';
import { isShared, runJob, sharedFloat32, threadsAvailable } from './parallel.js';
import { WindowGeometry } from './windowGeometry.js';
import { WinogradJob, WinogradPlan, WinogradTile, transformWeights, winogradRows } from './winogradKernels.js';

// 3×3 stride-1 convolutions by Winograd minimal filtering F(2×2, 3×3) or F(4×4, 3×3) (the arithmetic is in
// winogradKernels.ts). This module chooses the algorithm per layer (winogradTileFor), caches the
// transformed weights per model, and runs the tiles in blocks: the input transform of a block of tile rows,
// its a² GEMMs and its output transform follow each other while the block's data is still in cache, on the
// calling thread and on worker threads alike.

export type { WinogradTile } from './winogradKernels.js';

/** How Conv computes 3×3 stride-1 convolutions (RunOptions.convAlgorithm, `bnc run --conv-algorithm`). */
export type ConvAlgorithm = 'auto' | 'direct' | 'winograd2' | 'winograd4';
export const CONV_ALGORITHMS: readonly ConvAlgorithm[] = ['auto', 'direct', 'winograd2', 'winograd4'];

/** Whether Winograd F(m×m, 3×3) can compute this convolution at all: 2-D, 3×3 kernel, stride 1, dilation 1. */
export function winogradPossible(g: WindowGeometry): boolean {
  return (
    g.rank === 2 &&
    g.kernel[1] === 3 && g.kernel[2] === 3 &&
    g.strides[1] === 1 && g.strides[2] === 1 &&
    g.dilations[1] === 1 && g.dilations[2] === 1
  );
}

/**
 * The Winograd tile to use for a Conv of geometry g with groupIn → groupOut channels per group over
 * `batch` images on `threads` threads, or 0 for the direct path (im2col + GEMM). 'direct' and layers
 * Winograd cannot compute (winogradPossible) give 0; 'winograd2' / 'winograd4' force that tile otherwise;
 * 'auto' applies the cost rule (autoWinogradTile).
 */
export function winogradTileFor(
  g: WindowGeometry, groupIn: number, groupOut: number, batch: number, threads: number, algorithm: ConvAlgorithm = 'auto',
): WinogradTile | 0 {
  if (algorithm === 'direct' || !winogradPossible(g)) return 0;
  if (algorithm === 'winograd2') return 2;
  if (algorithm === 'winograd4') return 4;
  return autoWinogradTile(groupIn, groupOut, g.output[1]!, g.output[2]!, batch, threads);
}

/** Below this many input or output channels per group the direct path is kept (the GEMMs' depth C is too small). */
export const WINOGRAD_MIN_CHANNELS = 16;

/**
 * Tiles per block, whole tile rows (see winogradConv3x3): each block's a² GEMMs pack their U[ξ] slices
 * again, so blocks must be wide enough to amortize that, while the block's V (a²·C·tiles floats) and
 * products (a²·M·tiles) are reused right after they are written. Measured on one thread over 16 to 256
 * tiles on ResNet-50 / VGG-16 layers: 16–32 lost 10–40% to packing; from 48 up the differences were
 * within the loaded machine's noise, F(2×2) leaning to 128–192 and F(4×4) (2.25× the V per tile) to 48–96.
 */
export const TILES_PER_BLOCK: Record<WinogradTile, number> = { 2: 128, 4: 64 };

/** Cost of packing one element of U for a GEMM, in multiply-adds of the GEMM core (fitted, see autoWinogradTile). */
const PACK_COST = 7;
/** Cost of the input + output transforms per (tile, transform point, channel), in multiply-adds (fitted). */
const TRANSFORM_COST = 4;
/** Winograd is picked only where the model predicts at least this speed-up over direct. */
const MIN_GAIN = 1.2;
/** F(4×4) is picked over F(2×2) only where it is predicted this much cheaper (it holds 2.25× the memory). */
const F4_OVER_F2 = 0.9;

/** Tile rows per block for an output of `tilesW` tiles per row. */
export function rowsPerBlock(tile: WinogradTile, tilesW: number, tilesPerBlock = TILES_PER_BLOCK[tile]): number {
  return Math.max(1, Math.round(tilesPerBlock / tilesW));
}

/**
 * Predicted time of F(tile×tile, 3×3) on a C → M layer with `batch` OH×OW outputs, in multiply-adds of the
 * GEMM core: per block of N tiles, a² GEMMs (M × C) · (C × N), each costing C·M per register panel of 3
 * columns (so N rounds up to a multiple of 3) plus PACK_COST·C·M to pack its U slice; plus the transforms.
 */
export function winogradCost(tile: WinogradTile, C: number, M: number, OH: number, OW: number, batch: number): number {
  const a2 = (tile + 2) * (tile + 2);
  const tilesW = Math.ceil(OW / tile);
  const rows = batch * Math.ceil(OH / tile);
  const perBlock = rowsPerBlock(tile, tilesW);
  let columns = 0;
  let blocks = 0;
  for (let r = 0; r < rows; r += perBlock, blocks++) columns += 3 * Math.ceil((Math.min(rows, r + perBlock) - r) * tilesW / 3);
  return a2 * (C * M * (columns + PACK_COST * blocks) + rows * tilesW * (C + M) * TRANSFORM_COST);
}

/** Predicted time of im2col + GEMM in the same units: 9·C·M per output pixel, A packed once per 1020 columns. */
export function directCost(C: number, M: number, OH: number, OW: number, batch: number): number {
  const pixels = OH * OW;
  return batch * 9 * C * M * (pixels + PACK_COST * Math.ceil(pixels / 1020));
}

/**
 * The cost rule of 'auto': F(4×4) (4), F(2×2) (2) or direct (0) for a C → M layer (channels per group)
 * with `batch` outputs of OH×OW, from the cost model of winogradCost / directCost:
 *   - direct below WINOGRAD_MIN_CHANNELS input or output channels;
 *   - else the cheaper Winograd tile (F(4×4) only if ≤ 0.9× the cost of F(2×2)), if it is predicted at
 *     least 1.2× faster than direct; else direct.
 * The two constants were fitted to one-thread measurements of bench/winograd.mjs and of the same layers
 * timed alone (2026-11-29, 2-core Xeon, Node 20, machine shared and loaded, medians of alternating runs,
 * ranges over 3 to 5 runs): PACK_COST = 7 from ResNet-50 512@7, where F(4×4) has only 4 tiles per plane and
 * ran 0.8–1.3× direct (model 1.07×); TRANSFORM_COST = 4 from 64@56, F(4×4) 2.4–3.7× (model 3.2×); checked
 * on 128@28 F(4×4) 3.2–3.8× (model 3.2×), 256@14 F(4×4) 1.4–2.2× (model 2.0×), 512@7 F(2×2) 1.2–1.7×
 * (model 1.25×), VGG-16's 64 to 512 channel layers F(4×4) 2.3–3.9× (model 3.2–3.5×) and 3→64@224, where
 * F(4×4) ran 0.8× and the channel minimum keeps direct. On 2 threads the ratios were 0.7–1.4× the
 * one-thread ones and never below 1.18× where the rule picks Winograd (the tiles split across threads as
 * the GEMMs do), so `threads` does not enter the rule. No layer of ResNet-50 or VGG-16 where the rule
 * picks Winograd measured slower than direct (the README's Benchmarks list every layer).
 */
export function autoWinogradTile(C: number, M: number, OH: number, OW: number, batch: number, threads: number): WinogradTile | 0 {
  void threads;
  if (C < WINOGRAD_MIN_CHANNELS || M < WINOGRAD_MIN_CHANNELS) return 0;
  const direct = directCost(C, M, OH, OW, batch);
  const f2 = winogradCost(2, C, M, OH, OW, batch);
  const f4 = winogradCost(4, C, M, OH, OW, batch);
  const [tile, cost] = f4 <= F4_OVER_F2 * f2 ? [4 as const, f4] : [2 as const, f2];
  return direct >= MIN_GAIN * cost ? tile : 0;
}

// Transformed weights per weight array, then per (tile, group offset): made once per model. A WeakMap
// keyed by the model's own weight array, so they go when the model goes; always in shared memory, so
// threaded runs need no second copy. F(2×2) holds 16/9 of the layer's weights, F(4×4) 36/9 = 4×.
const transformedWeights = new WeakMap<Float32Array, Map<string, Float32Array>>();

/** Bytes of transformed weights made so far and not yet collected with their model. */
export const transformedWeightStats = { arrays: 0, bytes: 0 };
const released = new FinalizationRegistry<number>((bytes) => {
  transformedWeightStats.arrays--;
  transformedWeightStats.bytes -= bytes;
});

let keepTransformedWeights = true;

/**
 * Whether transformed weights stay cached with the model for later runs (default true: a model run many
 * times transforms its weights once). A process that runs each model once or a few times (the CLI) turns
 * this off: each layer's transform is then made when the layer runs and released right after, so peak
 * memory holds one layer's transform instead of all of them (F(4×4) holds 4× a layer's weights).
 */
export function setWinogradWeightCache(keep: boolean): void {
  keepTransformedWeights = keep;
}

function cachedWeightTransform(tile: WinogradTile, w: Float32Array, offset: number, M: number, C: number): Float32Array {
  if (!keepTransformedWeights) {
    const u = sharedFloat32((tile + 2) * (tile + 2) * M * C);
    transformWeights(tile, w, offset, M, C, u);
    return u;
  }
  let cache = transformedWeights.get(w);
  const key = `${tile}:${offset}:${M}:${C}`;
  const cached = cache?.get(key);
  if (cached) return cached;
  const a = tile + 2;
  const u = sharedFloat32(a * a * M * C);
  transformWeights(tile, w, offset, M, C, u);
  if (!cache) {
    cache = new Map();
    transformedWeights.set(w, cache);
  }
  cache.set(key, u);
  transformedWeightStats.arrays++;
  transformedWeightStats.bytes += u.byteLength;
  released.register(u, u.byteLength);
  return u;
}

export interface WinogradArgs {
  /** Input [N, group·channels, H, W]: image 0's first channel of this call's group at xOffset (default 0). */
  x: Float32Array;
  xOffset?: number;
  /**
   * Weights [group·outChannels, channels, 3, 3] from wOffset (default 0). The array keys the transformed-
   * weight cache: pass the model's own array (the same one every run), not a per-run copy.
   */
  w: Float32Array;
  wOffset?: number;
  /** Output [N, group·outChannels, OH, OW] holding the bias (sums are added), from outOffset (default 0). */
  out: Float32Array;
  outOffset?: number;
  /** Input and output channels per group. */
  channels: number;
  outChannels: number;
  /** Images N (default 1) and groups (default 1). */
  batch?: number;
  group?: number;
  g: WindowGeometry;
  tile: WinogradTile;
  /** Threads to use; used only when x and out are shared (SharedArrayBuffer). */
  threads: number;
  /** Called once per finished contiguous output range (see epilogue.ts). */
  epilogue?: ConvEpilogue;
  /** Tiles per block (rounded to whole tile rows; default TILES_PER_BLOCK[tile]): for tests and tuning. */
  tilesPerBlock?: number;
}

/**
 * A 3×3, stride-1, dilation-1 2-D convolution (all images and groups) by F(tile×tile, 3×3), added into
 * `out`. Shapes: x planes H×W (g.input[1..2]), out planes OH×OW (g.output[1..2]), pads g.padBegin; any
 * sizes ≥ 1 (edge tiles read zeros past the input and write only real outputs).
 */
export function winogradConv3x3(a: WinogradArgs): void {
  const [, H, W] = a.g.input as [number, number, number];
  const [, OH, OW] = a.g.output as [number, number, number];
  const batch = a.batch ?? 1;
  const group = a.group ?? 1;
  const C = a.channels;
  const M = a.outChannels;
  const tile = a.tile;
  const tilesH = Math.ceil(OH / tile);
  const tilesW = Math.ceil(OW / tile);
  const rows = batch * tilesH;
  const perBlock = rowsPerBlock(tile, tilesW, a.tilesPerBlock);
  const blocks = Math.ceil(rows / perBlock);
  // Workers see only shared memory: unshared operands keep the work on this thread.
  const threaded = a.threads > 1 && isShared(a.x) && isShared(a.out) && threadsAvailable(a.threads);
  for (let gi = 0; gi < group; gi++) {
    const plan: WinogradPlan = {
      tile, H, W, OH, OW, padTop: a.g.padBegin[1]!, padLeft: a.g.padBegin[2]!, tilesH, tilesW, batch, C, M,
      x: a.x, xOffset: (a.xOffset ?? 0) + gi * C * H * W, xImageStride: group * C * H * W,
      u: cachedWeightTransform(tile, a.w, (a.wOffset ?? 0) + gi * M * C * 9, M, C),
      out: a.out, outOffset: (a.outOffset ?? 0) + gi * M * OH * OW, outImageStride: group * M * OH * OW,
    };
    if (!threaded) {
      for (let r = 0; r < rows; r += perBlock) {
        const end = Math.min(rows, r + perBlock);
        winogradRows(plan, r, end);
        if (a.epilogue) finishRows(plan, a.epilogue, r, end);
      }
      if (!keepTransformedWeights) releaseBuffer(plan.u);
      continue;
    }
    if (blocks >= 2 * a.threads) {
      // Enough blocks to balance: each thread takes whole blocks of tile rows.
      const job: WinogradJob = { task: 'winograd', phase: 'rows', plan, total: rows, chunkSize: perBlock };
      runJob(job, Math.floor(rows / perBlock), a.threads);
    } else {
      // Few tiles (small planes): transform all of them (split by input channel), then split the GEMMs and
      // output transforms by output channel.
      const a2 = (tile + 2) * (tile + 2);
      const v = sharedFloat32(a2 * C * rows * tilesW);
      const inputChunks = Math.max(1, Math.min(C, a.threads * 2));
      runJob({ task: 'winograd', phase: 'input', plan, v, total: C, chunkSize: Math.floor(C / inputChunks) }, inputChunks, a.threads);
      // Whole register tiles of the GEMM core (4 rows) per chunk.
      const outputChunks = Math.max(1, Math.min(a.threads * 2, Math.floor(M / 8)));
      const chunkSize = Math.floor(M / outputChunks / 4) * 4 || M;
      runJob({ task: 'winograd', phase: 'output', plan, v, total: M, chunkSize }, outputChunks, a.threads);
      releaseBuffer(v);
    }
    if (a.epilogue) finishRows(plan, a.epilogue, 0, rows);
    // An uncached transform (and the scratch) served this call only: the next layer may reuse their buffers.
    if (!keepTransformedWeights) releaseBuffer(plan.u);
  }
}

/** The epilogue of every output channel's rows covered by tile rows [rowStart, rowEnd), per image. */
function finishRows(p: WinogradPlan, epilogue: ConvEpilogue, rowStart: number, rowEnd: number): void {
  const plane = p.OH * p.OW;
  for (let r = rowStart; r < rowEnd; ) {
    const n = Math.floor(r / p.tilesH);
    const last = Math.min(rowEnd, (n + 1) * p.tilesH);
    const first = r - n * p.tilesH;
    const yStart = first * p.tile;
    const yEnd = Math.min(p.OH, (last - n * p.tilesH) * p.tile);
    const image = p.outOffset + n * p.outImageStride;
    if (yStart === 0 && yEnd === p.OH) {
      // Whole planes of consecutive channels are one contiguous range.
      epilogue.apply(p.out, image, image + p.M * plane);
    } else {
      for (let m = 0; m < p.M; m++) epilogue.apply(p.out, image + m * plane + yStart * p.OW, image + m * plane + yEnd * p.OW);
    }
    r = last;
  }
}
