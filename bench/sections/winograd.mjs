// Section "winograd": each 3x3 stride-1 layer shape of ResNet-50 and VGG-16, Winograd against the direct
// path it replaces (bench/winograd.mjs): direct, F(2x2) and F(4x4) forced, on 1 and 2 threads, and the
// cost rule's pick.
import * as path from 'node:path';
import { DIST, distHas, fmtMs, log } from '../context.mjs';

export async function run({ row, skip }) {
  const section = 'winograd';
  if (!distHas('runtime/winograd.js')) {
    skip(section, 'bnc Winograd convolution per layer', 'runtime not built (dist/runtime/winograd.js missing)');
    return;
  }
  log('Winograd per layer...');
  const { measureWinograd } = await import('../winograd.mjs');
  const { sgemm } = await import(path.join(DIST, 'runtime', 'gemmCore.js'));
  const { im2colChannels } = await import(path.join(DIST, 'runtime', 'im2col.js'));
  // Every export of winograd.js is passed on, so winograd.mjs can time whichever transforms it covers.
  const winograd = await import(path.join(DIST, 'runtime', 'winograd.js'));
  for (const { name: shape, ...r } of await measureWinograd({ ...winograd, im2colChannels, sgemm }, { threads: [1, 2] })) {
    const pick = r.pick ? `F(${r.pick}x${r.pick})` : 'direct';
    row(section, `bnc conv ${shape}, ${r.threads} thread${r.threads > 1 ? 's' : ''}: rule's pick (${pick}) vs im2col + GEMM`, `${r.ratio.toFixed(2)}x`,
      `direct/F(2x2) ${r.ratioF2.toFixed(2)}x, direct/F(4x4) ${r.ratioF4.toFixed(2)}x; direct ${fmtMs(r.directMs)}, F(2x2) ${fmtMs(r.f2Ms)}, F(4x4) ${fmtMs(r.f4Ms)}; medians of alternating runs`, { shape, ...r });
  }
}
