// Winograd F(2x2, 3x3) (src/runtime/winograd.ts) against the direct path it replaces (im2col + the GEMM
// core), one thread, on the 3x3 stride-1 layer shapes of ResNet-50 and VGG-16: both on the same input and
// weights, timed in alternation so both see the same moments of a shared machine.

import { mulberry32 } from '../dist/util/seededRandom.js';
import { timeRunsAlternating } from './measure.mjs';

export const WINOGRAD_SHAPES = [
  ['ResNet-50 3x3 64@56', 64, 64, 56],
  ['ResNet-50 3x3 128@28', 128, 128, 28],
  ['ResNet-50 3x3 256@14', 256, 256, 14],
  ['ResNet-50 3x3 512@7', 512, 512, 7],
  ['VGG-16 3x3 64@224', 64, 64, 224],
  ['VGG-16 3x3 256@56', 256, 256, 56],
  ['VGG-16 3x3 512@28', 512, 512, 28],
];

/** Per shape: median ms of each path over alternating runs (at most `rounds`), and direct / Winograd. */
export async function measureWinograd({ winogradConv3x3, im2colChannels, sgemm }, { rounds = 3 } = {}) {
  const random = mulberry32(11);
  const fill = (n) => Float32Array.from({ length: n }, () => random() - 0.5);
  const results = [];
  for (const [name, c, m, s] of WINOGRAD_SHAPES) {
    const g = { rank: 2, input: [1, s, s], output: [1, s, s], kernel: [1, 3, 3], strides: [1, 1, 1], dilations: [1, 1, 1], padBegin: [0, 1, 1], padEnd: [0, 1, 1] };
    const x = fill(c * s * s);
    const w = fill(m * c * 9);
    const out = new Float32Array(m * s * s);
    const col = new Float32Array(c * 9 * s * s);
    const direct = () => {
      out.fill(0);
      im2colChannels(x, 0, g, col, 0, c);
      sgemm(m, s * s, c * 9, 1, { data: w, offset: 0, stride: c * 9 }, { data: col, offset: 0, stride: s * s }, out, 0, s * s);
    };
    const winograd = () => {
      out.fill(0);
      winogradConv3x3({ x, xOffset: 0, w, wOffset: 0, out, outOffset: 0, channels: c, outChannels: m, g, threads: 1 });
    };
    const [d, wg] = await timeRunsAlternating([direct, winograd], { warmup: 1, maxRuns: rounds, budgetMs: 20_000 });
    results.push({ name, directMs: d.medianMs, winogradMs: wg.medianMs, ratio: d.medianMs / wg.medianMs });
  }
  return results;
}
