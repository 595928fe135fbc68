// Section "memory": peak RSS of convert, fold-bn, run and verify on AlexNet, VGG-16 and ResNet-152
// prototxts with seeded weights, against the weights' bytes. The measurement lives in bench/memory.mjs
// (with its model generators under bench/models/); this section runs it when it is there.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLI, DIST, OUT, ROOT, log } from '../context.mjs';

const MEMORY_MODULE = path.join(ROOT, 'bench', 'memory.mjs');

/**
 * bench/memory.mjs exports `measureMemory({ root, dist, cli, out, log })` (or a default export), which
 * resolves to rows { name, result, detail, ...data }; rows that hold `ratio` (peak RSS / weight bytes) are
 * checked against the ≤ 2.5 target in the targets table. A row may carry `failed` or `skipped` (the reason).
 */
export async function run({ rows, skip, fail }) {
  const section = 'memory';
  const name = 'peak RSS of convert, fold-bn, run and verify: AlexNet, VGG-16, ResNet-152';
  if (!fs.existsSync(MEMORY_MODULE)) {
    skip(section, name, 'bench/memory.mjs is not in this checkout');
    return;
  }
  try {
    const module = await import(pathToFileURL(MEMORY_MODULE).href);
    const measure = module.measureMemory ?? module.default;
    if (typeof measure !== 'function') throw new Error('bench/memory.mjs exports no measureMemory function');
    log('memory...');
    for (const r of await measure({ root: ROOT, dist: DIST, cli: CLI, out: OUT, log })) {
      rows.push({ result: r.failed ? 'FAILED' : r.skipped ? 'skipped' : '', detail: r.failed ?? r.skipped ?? '', ...r, section });
    }
  } catch (e) {
    fail(section, name, e);
  }
}
