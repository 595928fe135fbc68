// Section "winograd": each 3x3 stride-1 layer shape of ResNet-50 and VGG-16, Winograd against the direct
// path it replaces (bench/winograd.mjs), one thread.
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
  for (const { name: shape, ...r } of await measureWinograd({ ...winograd, im2colChannels, sgemm })) {
    row(section, `bnc conv ${shape}: Winograd vs im2col + GEMM, 1 thread`, `${r.ratio.toFixed(2)}x`,
      `direct ${fmtMs(r.directMs)}, Winograd ${fmtMs(r.winogradMs)}; medians of alternating runs`, { shape, ...r });
  }
}
