import { afterAll, describe, expect, it } from 'vitest';
import { Attribute, Node, intAttr, intsAttr } from '../../src/ir/index.js';
import { AttributeReader, RtTensor } from '../../src/runtime/kernel.js';
import { findKernel } from '../../src/runtime/kernels.js';
import { closeThreadPool, sharedFloat32, threadsAvailable, withSharedOutputs, workerStats } from '../../src/runtime/parallel.js';
import { ConvAlgorithm, WinogradTile, autoWinogradTile, setWinogradWeightCache, transformedWeightStats, winogradConv3x3, winogradTileFor } from '../../src/runtime/winograd.js';
import { WindowGeometry } from '../../src/runtime/windowGeometry.js';
import { describeCase, randomF32, randomInt, rng, runOrtNode, tensorMismatch } from '../helpers/kernelHarness.js';

// Winograd F(2×2, 3×3) and F(4×4, 3×3) against the definition of convolution (a float64 direct sum written
// here, from ONNX Conv's semantics) and, through the Conv kernel with the algorithm forced, against
// onnxruntime. Error = max |out − ref| / max |ref| over the output (bias included).
// Measured on these cases (inputs in [-2, 2), weights in [-1, 1), 1 to 40 channels): F(2×2) at most
// 2.9e-7, F(4×4) at most 1.8e-6 (2026-11-29). Bounds asserted: 6e-7 and 4e-6. For scale, the direct
// im2col path measured 0.5e-7 to 1.7e-7 on 16 to 512 channels (F(2×2) 0.8e-7 to 1.1e-7, F(4×4) 1.1e-6
// to 1.7e-6 there): F(4×4) costs about 15× the direct path's rounding error.
const BOUND: Record<WinogradTile, number> = { 2: 6e-7, 4: 4e-6 };

interface Case {
  n: number;
  group: number;
  c: number;
  m: number;
  h: number;
  w: number;
  pads: [number, number, number, number];
}

function geometry(h: number, w: number, pads: [number, number, number, number]): WindowGeometry {
  const [t, l, b, r] = pads;
  return {
    rank: 2,
    input: [1, h, w],
    output: [1, h + t + b - 2, w + l + r - 2],
    kernel: [1, 3, 3],
    strides: [1, 1, 1],
    dilations: [1, 1, 1],
    padBegin: [0, t, l],
    padEnd: [0, b, r],
  };
}

/** out[n, g·M + o, y, x] = bias + Σ_c Σ_ij w[g·M + o, c, i, j] · x[n, g·C + c, y + i − t, x + j − l], in float64. */
function directConv(x: Float32Array, w: Float32Array, bias: number, k: Case, g: WindowGeometry): Float64Array {
  const { n: batch, group, c, m, h, w: wd } = k;
  const [, oh, ow] = g.output as [number, number, number];
  const out = new Float64Array(batch * group * m * oh * ow);
  let at = 0;
  for (let n = 0; n < batch; n++)
    for (let o = 0; o < group * m; o++) {
      const gi = Math.floor(o / m);
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          let s = bias;
          for (let ch = 0; ch < c; ch++)
            for (let i = 0; i < 3; i++)
              for (let j = 0; j < 3; j++) {
                const iy = y + i - g.padBegin[1]!;
                const ix = xx + j - g.padBegin[2]!;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s += w[((o * c + ch) * 3 + i) * 3 + j]! * x[((n * group * c + gi * c + ch) * h + iy) * wd + ix]!;
              }
          out[at++] = s;
        }
    }
  return out;
}

function relativeError(got: Float32Array, ref: Float64Array): number {
  let max = 0;
  let err = 0;
  for (let i = 0; i < ref.length; i++) {
    max = Math.max(max, Math.abs(ref[i]!));
    err = Math.max(err, Math.abs(got[i]! - ref[i]!));
  }
  return err / max;
}

function randomCase(rand: () => number): Case {
  const pads: [number, number, number, number] = [randomInt(rand, 3), randomInt(rand, 3), randomInt(rand, 3), randomInt(rand, 3)];
  // Sizes from 1 up, with the output at least 1 pixel.
  const h = Math.max(3 - pads[0] - pads[2], 1) + randomInt(rand, 14);
  const w = Math.max(3 - pads[1] - pads[3], 1) + randomInt(rand, 14);
  return { n: 1 + randomInt(rand, 3), group: 1 + randomInt(rand, 3), c: 1 + randomInt(rand, 40), m: 1 + randomInt(rand, 40), h, w, pads };
}

interface Run {
  tile: WinogradTile;
  threads: number;
  tilesPerBlock?: number;
  /** Epilogue ranges seen (start, end), when one is passed. */
  ranges?: [number, number][];
}

function shared(a: Float32Array): Float32Array {
  const copy = sharedFloat32(a.length);
  copy.set(a);
  return copy;
}

/** winogradConv3x3 on the case; operands in shared memory when threads > 1. */
function runWinograd(k: Case, x: Float32Array, wt: Float32Array, bias: number, run: Run): Float32Array {
  const g = geometry(k.h, k.w, k.pads);
  const size = k.n * k.group * k.m * g.output[1]! * g.output[2]!;
  const out = run.threads > 1 ? sharedFloat32(size) : new Float32Array(size);
  out.fill(bias);
  const xs = run.threads > 1 ? shared(x) : x;
  const ranges = run.ranges;
  winogradConv3x3({
    x: xs, w: wt, out, channels: k.c, outChannels: k.m, batch: k.n, group: k.group, g, tile: run.tile, threads: run.threads,
    tilesPerBlock: run.tilesPerBlock,
    epilogue: ranges && { apply: (o, start, end) => { expect(o).toBe(out); ranges.push([start, end]); } },
  });
  return out;
}

function inputsOf(rand: () => number, k: Case): { x: Float32Array; wt: Float32Array; bias: number } {
  const x = randomF32(rand, [k.n, k.group * k.c, k.h, k.w]).data as Float32Array;
  const wt = randomF32(rand, [k.group * k.m, k.c, 3, 3], -1, 1).data as Float32Array;
  return { x, wt, bias: rand() - 0.5 };
}

const label = (k: Case, tile: number, threads: number) =>
  `F(${tile}) ${threads} thread(s): n ${k.n} group ${k.group} ${k.c}->${k.m} ${k.h}x${k.w} pads ${k.pads}`;

describe('Winograd F(2x2, 3x3) and F(4x4, 3x3)', () => {
  afterAll(() => closeThreadPool());

  for (const tile of [2, 4] as const) {
    it(`F(${tile}x${tile}) matches the float64 direct sum on random geometries (odd sizes, asymmetric pads, 1-pixel outputs, batch, groups)`, () => {
      const rand = rng(2024 + tile);
      let worst = 0;
      for (let trial = 0; trial < 40; trial++) {
        const k = randomCase(rand);
        const { x, wt, bias } = inputsOf(rand, k);
        const ref = directConv(x, wt, bias, k, geometry(k.h, k.w, k.pads));
        // Small blocks too, so that blocks cross image boundaries and end in partial rows.
        const tilesPerBlock = [undefined, 1, 5][trial % 3];
        const err = relativeError(runWinograd(k, x, wt, bias, { tile, threads: 1, tilesPerBlock }), ref);
        worst = Math.max(worst, err);
        expect(err, label(k, tile, 1)).toBeLessThan(BOUND[tile]);
      }
      expect(worst).toBeGreaterThan(0);
    });
  }

  it('1-pixel and 1-row outputs (tiles mostly padding) are exact to the bound', () => {
    const rand = rng(5);
    for (const tile of [2, 4] as const) {
      for (const [h, w, pads] of [[1, 1, [1, 1, 1, 1]], [3, 3, [0, 0, 0, 0]], [1, 9, [1, 0, 1, 2]], [7, 2, [0, 1, 2, 0]]] as const) {
        const k: Case = { n: 2, group: 1, c: 17, m: 5, h, w, pads: [...pads] };
        const { x, wt, bias } = inputsOf(rand, k);
        const err = relativeError(runWinograd(k, x, wt, bias, { tile, threads: 1 }), directConv(x, wt, bias, k, geometry(h, w, k.pads)));
        expect(err, label(k, tile, 1)).toBeLessThan(BOUND[tile]);
      }
    }
  });

  it('on 2 threads gives the single-threaded result bit for bit, splitting by tile rows and by channels', async () => {
    expect(threadsAvailable(2)).toBe(true);
    const rand = rng(99);
    const before = workerStats.jobs;
    const cases: [Case, number | undefined][] = [
      // Many blocks of tile rows: the 'rows' split.
      [{ n: 2, group: 1, c: 19, m: 23, h: 21, w: 13, pads: [1, 0, 2, 1] }, 4],
      // Few tiles: the input-channel / output-channel split.
      [{ n: 1, group: 2, c: 33, m: 41, h: 7, w: 7, pads: [1, 1, 1, 1] }, undefined],
    ];
    for (const [k, tilesPerBlock] of cases) {
      const { x, wt, bias } = inputsOf(rand, k);
      const ref = directConv(x, wt, bias, k, geometry(k.h, k.w, k.pads));
      for (const tile of [2, 4] as const) {
        const single = runWinograd(k, x, wt, bias, { tile, threads: 1, tilesPerBlock });
        const threaded = runWinograd(k, x, wt, bias, { tile, threads: 2, tilesPerBlock });
        expect(relativeError(threaded, ref), label(k, tile, 2)).toBeLessThan(BOUND[tile]);
        let differing = 0;
        for (let i = 0; i < single.length; i++) if (!Object.is(single[i], threaded[i])) differing++;
        expect(differing, label(k, tile, 2)).toBe(0);
      }
    }
    expect(workerStats.jobs, 'threaded jobs ran').toBeGreaterThan(before);
  });

  it('without the weight cache keeps no transform and gives the cached result bit for bit (1 and 2 threads)', () => {
    const rand = rng(31);
    const k: Case = { n: 1, group: 2, c: 18, m: 20, h: 12, w: 9, pads: [1, 1, 1, 1] };
    for (const tile of [2, 4] as const) {
      for (const threads of [1, 2]) {
        const { x, wt, bias } = inputsOf(rand, k);
        const arrays = transformedWeightStats.arrays;
        setWinogradWeightCache(false);
        let uncached: Float32Array;
        try {
          uncached = runWinograd(k, x, wt, bias, { tile, threads });
          expect(transformedWeightStats.arrays, 'no transform kept').toBe(arrays);
        } finally {
          setWinogradWeightCache(true);
        }
        const cached = runWinograd(k, x, wt, bias, { tile, threads });
        expect(transformedWeightStats.arrays, 'one transform per group kept').toBe(arrays + k.group);
        let differing = 0;
        for (let i = 0; i < cached.length; i++) if (!Object.is(cached[i], uncached[i])) differing++;
        expect(differing, label(k, tile, threads)).toBe(0);
      }
    }
  });

  it('calls the epilogue once per element of the output, after the element is final', () => {
    const rand = rng(7);
    for (const threads of [1, 2]) {
      for (const tilesPerBlock of [3, 64]) {
        const k: Case = { n: 2, group: 2, c: 9, m: 6, h: 11, w: 10, pads: [1, 1, 1, 1] };
        const { x, wt, bias } = inputsOf(rand, k);
        const ranges: [number, number][] = [];
        const finalValues: number[] = [];
        const g = geometry(k.h, k.w, k.pads);
        const size = k.n * k.group * k.m * g.output[1]! * g.output[2]!;
        const out = threads > 1 ? sharedFloat32(size) : new Float32Array(size);
        out.fill(bias);
        const seen = new Uint8Array(size);
        winogradConv3x3({
          x: threads > 1 ? shared(x) : x,
          w: wt, out, channels: k.c, outChannels: k.m, batch: k.n, group: k.group, g, tile: 4, threads, tilesPerBlock,
          epilogue: {
            apply: (o, start, end) => {
              ranges.push([start, end]);
              for (let i = start; i < end; i++) {
                seen[i]!++;
                finalValues[i] = o[i]!;
                o[i] = Math.max(0, o[i]!); // a ReLU, as a fused epilogue would do
              }
            },
          },
        });
        expect(seen.every((s) => s === 1), `every output element once (threads ${threads}, block ${tilesPerBlock})`).toBe(true);
        const ref = directConv(x, wt, bias, k, g);
        // The epilogue saw the finished conv value, and its own writes were kept.
        expect(relativeError(Float32Array.from(finalValues), ref)).toBeLessThan(BOUND[4]);
        for (let i = 0; i < size; i++) expect(out[i]).toBe(Math.max(0, finalValues[i]!));
      }
    }
  });

  it('chooses the direct path where Winograd cannot apply or is not asked for', () => {
    const g = geometry(58, 58, [1, 1, 1, 1]);
    for (const algorithm of ['auto', 'winograd2', 'winograd4', 'direct'] as ConvAlgorithm[]) {
      expect(winogradTileFor({ ...g, strides: [1, 2, 2] }, 64, 64, 1, 1, algorithm)).toBe(0);
      expect(winogradTileFor({ ...g, dilations: [1, 2, 1] }, 64, 64, 1, 1, algorithm)).toBe(0);
      expect(winogradTileFor({ ...g, kernel: [1, 5, 5] }, 64, 64, 1, 1, algorithm)).toBe(0);
      expect(winogradTileFor({ ...g, rank: 3, kernel: [3, 3, 3] }, 64, 64, 1, 1, algorithm)).toBe(0);
    }
    expect(winogradTileFor(g, 64, 64, 1, 1, 'direct')).toBe(0);
    expect(winogradTileFor(g, 3, 5, 1, 1, 'winograd2')).toBe(2);
    expect(winogradTileFor(g, 3, 5, 1, 1, 'winograd4')).toBe(4);
    expect(winogradTileFor(g, 3, 5, 1, 1, 'auto')).toBe(0);
    expect(winogradTileFor(g, 64, 64, 1, 1)).toBe(autoWinogradTile(64, 64, 56, 56, 1, 1));
  });

  it("the cost rule's picks on ResNet-50 / VGG-16 layers are those that measured faster than direct", () => {
    // bench/winograd.mjs (README, Benchmarks): 3 input channels lost with both tiles; F(4×4) at 512@7
    // (4 tiles per plane) measured as low as 0.84× direct at batch 1, F(2×2) 1.18–1.69×.
    expect(autoWinogradTile(3, 64, 224, 224, 1, 1)).toBe(0);
    expect(autoWinogradTile(512, 512, 7, 7, 1, 1)).toBe(2);
    expect(autoWinogradTile(512, 512, 7, 7, 1, 2)).toBe(2);
    for (const [c, m, s] of [[64, 64, 56], [128, 128, 28], [64, 64, 224], [128, 128, 112], [256, 256, 56], [512, 512, 28]]) {
      expect(autoWinogradTile(c!, m!, s!, s!, 1, 1), `${c}->${m}@${s}`).toBe(4);
    }
    // Below the channel minimum nothing is predicted to pay.
    expect(autoWinogradTile(15, 512, 56, 56, 1, 1)).toBe(0);
    expect(autoWinogradTile(512, 15, 56, 56, 1, 1)).toBe(0);
  });

  it('Conv nodes with the algorithm forced agree with onnxruntime (groups, batch, bias, odd sizes)', async () => {
    const rand = rng(77);
    for (let trial = 0; trial < 8; trial++) {
      const group = 1 + randomInt(rand, 2);
      const c = group * (1 + randomInt(rand, 24));
      const m = group * (1 + randomInt(rand, 24));
      const h = 2 + randomInt(rand, 12);
      const w = 2 + randomInt(rand, 12);
      const pads = [randomInt(rand, 2), randomInt(rand, 2), randomInt(rand, 2), randomInt(rand, 2)];
      const n = 1 + randomInt(rand, 2);
      const inputs = [randomF32(rand, [n, c, h, w]), randomF32(rand, [m, c / group, 3, 3], -1, 1), randomF32(rand, [m])];
      const attrs: Attribute[] = [intsAttr('pads', pads), intsAttr('kernel_shape', [3, 3])];
      if (group > 1) attrs.push(intAttr('group', group));
      const [want] = await runOrtNode({ op: 'Conv', opset: 13, inputs, attrs });
      let max = 0;
      for (const v of want!.data as Float32Array) max = Math.max(max, Math.abs(v));
      for (const [algorithm, tile] of [['winograd2', 2], ['winograd4', 4]] as const) {
        for (const threads of [1, 2]) {
          const got = runConv(inputs, attrs, threads, algorithm);
          const mismatch = tensorMismatch(got, want!, { atol: 2 * BOUND[tile] * max, rtol: 0 });
          expect(mismatch, `${algorithm} threads ${threads}: ${describeCase({ op: 'Conv', opset: 13, inputs, attrs })}`).toBeUndefined();
        }
      }
    }
  });
});

function runConv(inputs: RtTensor[], attributes: Attribute[], threads: number, convAlgorithm: ConvAlgorithm): RtTensor {
  const node: Node = { name: 'conv_winograd', opType: 'Conv', domain: '', inputs: inputs.map((_, i) => `in${i}`), outputs: ['out'], attributes };
  const [out] = withSharedOutputs(threads > 1, () =>
    findKernel('Conv')!.run({ node, opset: 13, inputs, attrs: new AttributeReader(node), threads, convAlgorithm }),
  );
  return out!;
}
