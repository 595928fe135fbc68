// 3x3 stride-1 convolutions of ResNet-50 and VGG-16 through bnc's Conv kernel with each algorithm forced
// (RunOptions.convAlgorithm): 'direct' (im2col + the GEMM core), 'winograd2' (F(2x2,3x3)) and 'winograd4'
// (F(4x4,3x3)), on 1 and 2 threads, all on the same input and weights and timed in alternation so that
// they see the same moments of a shared machine; plus what the 'auto' cost rule (src/runtime/winograd.ts)
// picks for the layer.
//
//   node bench/winograd.mjs [--rounds N] [--threads 1,2] [--only REGEX] [--json FILE]
// prints one row per (layer, threads). Needs `npm run build` (it runs dist/).
//
// bench/run.mjs calls measureWinograd(deps, { rounds }) and reads name, ratio, directMs and winogradMs of
// each result: with the default threads [1] these are the 1-thread rows, ratio = direct / the algorithm
// 'auto' picks (1 when it picks direct). `deps` is accepted for that caller and not needed any more.

import * as fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { mulberry32 } from '../dist/util/seededRandom.js';
import { timeRunsAlternating } from './measure.mjs';

const DIST = new URL('../dist/', import.meta.url);

/** [name, input channels C, output channels M, plane size S (pads 1, so the output is S x S too)]. */
export const WINOGRAD_SHAPES = [
  ['ResNet-50 3x3 64@56', 64, 64, 56],
  ['ResNet-50 3x3 128@28', 128, 128, 28],
  ['ResNet-50 3x3 256@14', 256, 256, 14],
  ['ResNet-50 3x3 512@7', 512, 512, 7],
  ['VGG-16 3x3 3->64@224', 3, 64, 224],
  ['VGG-16 3x3 64@224', 64, 64, 224],
  ['VGG-16 3x3 64->128@112', 64, 128, 112],
  ['VGG-16 3x3 128@112', 128, 128, 112],
  ['VGG-16 3x3 128->256@56', 128, 256, 56],
  ['VGG-16 3x3 256@56', 256, 256, 56],
  ['VGG-16 3x3 256->512@28', 256, 512, 28],
  ['VGG-16 3x3 512@28', 512, 512, 28],
  ['VGG-16 3x3 512@14', 512, 512, 14],
];

const ALGORITHMS = ['direct', 'winograd2', 'winograd4'];

/**
 * Per (shape, threads): median ms of each algorithm over alternating runs (at most `rounds` after one
 * warm-up round), ratios direct / F(2x2) and direct / F(4x4), the tile 'auto' picks (0 = direct) and
 * ratio = direct / the pick. Shapes filtered by `only` (a RegExp on the name).
 */
export async function measureWinograd(_deps = {}, { rounds = 3, threads = [1], only, budgetMs = 30_000, onRow } = {}) {
  const { findKernel } = await import(new URL('runtime/kernels.js', DIST).href);
  const { AttributeReader } = await import(new URL('runtime/kernel.js', DIST).href);
  const { sharedFloat32, withSharedOutputs, threadsAvailable } = await import(new URL('runtime/parallel.js', DIST).href);
  const { autoWinogradTile } = await import(new URL('runtime/winograd.js', DIST).href);
  const conv = findKernel('Conv');
  const random = mulberry32(11);
  const results = [];
  for (const [name, c, m, s] of WINOGRAD_SHAPES) {
    if (only && !only.test(name)) continue;
    for (const t of threads) {
      if (t > 1 && !threadsAvailable(t)) continue;
      // As in a threaded run, weights and the previous layer's output already live in shared memory.
      const make = (n) => (t > 1 ? sharedFloat32(n) : new Float32Array(n));
      const tensor = (dims, lo, hi) => {
        const data = make(dims.reduce((a, b) => a * b, 1));
        for (let i = 0; i < data.length; i++) data[i] = lo + (hi - lo) * random();
        return { dtype: 1, dims, data };
      };
      const inputs = [tensor([1, c, s, s], -1, 1), tensor([m, c, 3, 3], -0.1, 0.1), tensor([m], -0.1, 0.1)];
      const node = {
        name, opType: 'Conv', domain: '', inputs: ['x', 'w', 'b'], outputs: ['y'],
        attributes: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }, { name: 'kernel_shape', type: 7, ints: [3, 3] }],
      };
      const run = (convAlgorithm) => () =>
        withSharedOutputs(t > 1, () => conv.run({ node, opset: 13, inputs, attrs: new AttributeReader(node), threads: t, convAlgorithm }));
      const timed = await timeRunsAlternating(ALGORITHMS.map(run), { warmup: 1, maxRuns: rounds, budgetMs });
      const [directMs, f2Ms, f4Ms] = timed.map((x) => x.medianMs);
      const pick = autoWinogradTile(c, m, s, s, 1, t);
      const pickMs = pick === 2 ? f2Ms : pick === 4 ? f4Ms : directMs;
      const row = {
        name, threads: t, runs: timed[0].runs, directMs, f2Ms, f4Ms,
        ratioF2: directMs / f2Ms, ratioF4: directMs / f4Ms, pick, winogradMs: pickMs, ratio: directMs / pickMs,
      };
      results.push(row);
      onRow?.(row);
    }
  }
  return results;
}

function formatRow(r) {
  const pick = r.pick ? `F(${r.pick}x${r.pick})` : 'direct';
  return `| ${r.name} | ${r.threads} | ${r.directMs.toFixed(1)} | ${r.f2Ms.toFixed(1)} | ${r.f4Ms.toFixed(1)} | ${r.ratioF2.toFixed(2)}x | ${r.ratioF4.toFixed(2)}x | ${pick} ${r.ratio.toFixed(2)}x |`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const flag = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const rounds = Number(flag('--rounds') ?? 3);
  const threads = (flag('--threads') ?? '1,2').split(',').map(Number);
  const only = flag('--only') ? new RegExp(flag('--only')) : undefined;
  console.log('| layer | threads | direct ms | F(2x2) ms | F(4x4) ms | direct/F2 | direct/F4 | auto picks |');
  console.log('|---|---|---|---|---|---|---|---|');
  const results = await measureWinograd({}, { rounds, threads, only, onRow: (r) => console.log(formatRow(r)) });
  const json = flag('--json');
  if (json) fs.writeFileSync(json, JSON.stringify(results, null, 2));
  const { closeThreadPool } = await import(new URL('runtime/parallel.js', DIST).href);
  await closeThreadPool();
}
