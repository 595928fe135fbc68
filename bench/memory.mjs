// Peak RSS of bnc's commands on AlexNet, VGG-16 and ResNet-152 (deploy prototxts with seeded weights,
// built by bench/models/build.mjs into bench/out/memory), as a ratio to the model's weight bytes. Target:
// every command ≤ 2.5× the weights. `node bench/memory.mjs` (after `npm run build`) prints a table;
// bench/run.mjs calls measureMemory() for its rows (section 'memory').
//   BENCH_MEMORY_MODELS=alexnet,vgg16   only these models
//   BENCH_MEMORY_COMMANDS=convert,run   only these commands
// Every command runs at batch 1 (the published AlexNet and VGG-16 prototxts declare batch 10): the figure
// is about the weights, and activations grow with the batch.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { measureCommand, HAVE_GNU_TIME } from './measure.mjs';
import { buildMemoryModels, MEMORY_MODELS_DIR } from './models/build.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// BENCH_MEMORY_CLI: another build's bin/bnc.js (e.g. an older commit's, for before/after figures).
const CLI = process.env.BENCH_MEMORY_CLI ? path.resolve(process.env.BENCH_MEMORY_CLI) : path.join(ROOT, 'bin', 'bnc.js');
/** Peak RSS over weight bytes that every command should stay within. */
export const MEMORY_TARGET_RATIO = 2.5;
const MiB = 2 ** 20;

/** The measured commands: argv after `bnc`, for one model's files. */
function commands(m, scratch) {
  const shape = `data=${m.inputShape.join(',')}`;
  // 151 BatchNorm + Scale pairs merged into one BatchNormalization each change the float32 rounding enough
  // that ResNet-152's softmax differs by up to ~1e-3 relative: the default rtol 1e-4 would fail the check.
  const gate = m.name === 'resnet152' ? ['--rtol', '2e-3'] : [];
  const out = path.join(scratch, `${m.name}.out.onnx`);
  return [
    { name: 'convert', args: ['convert', 'caffe-to-onnx', m.prototxt, m.caffemodel, '-o', out, '--batch', '1', '--force', '--quiet'] },
    { name: 'convert --verify', args: ['convert', 'caffe-to-onnx', m.prototxt, m.caffemodel, '-o', out, '--batch', '1', '--verify', ...gate, '--force', '--quiet'] },
    { name: 'fold-bn', args: ['fold-bn', m.prototxt, '--weights', m.caffemodel, '-o', out, '--force', '--quiet'] },
    { name: 'run', args: ['run', m.prototxt, '--weights', m.caffemodel, '--input-shape', shape, '--quiet'] },
    { name: 'verify', args: ['verify', m.prototxt, m.onnx, '--weights-a', m.caffemodel, '--input-shape', shape, ...gate, '--quiet'] },
  ];
}

/**
 * Build (or reuse) the models, run every command on each in its own process and return bench rows
 * `{section: 'memory', name, result, detail, peakRssMiB, weightBytes, ratio, ...}`; a command that fails
 * gives a row with `failed`. `log` receives progress lines.
 */
export async function measureMemory({ log = () => undefined, models: only, commands: onlyCommands } = {}) {
  const bnc = await import(pathToFileURL(path.join(ROOT, 'dist', 'index.js')).href);
  const models = buildMemoryModels(bnc, { log, only });
  const scratch = path.join(MEMORY_MODELS_DIR, 'scratch');
  fs.mkdirSync(scratch, { recursive: true });
  const rows = [];
  for (const m of models) {
    for (const c of commands(m, scratch)) {
      if (onlyCommands && !onlyCommands.includes(c.name) && !onlyCommands.includes(c.name.split(' ')[0])) continue;
      const name = `bnc ${c.name}, ${m.title} (${(m.weightBytes / 1e6).toFixed(0)} MB of weights)`;
      log(`memory: ${name}`);
      try {
        const r = measureCommand(process.execPath, [CLI, ...c.args]);
        if (r.peakRssMiB === null) throw new Error('no peak RSS reported (no /usr/bin/time and not a node command)');
        const ratio = (r.peakRssMiB * MiB) / m.weightBytes;
        rows.push({
          section: 'memory',
          name,
          result: `${ratio.toFixed(2)}x`,
          detail: `peak RSS ${r.peakRssMiB.toFixed(0)} MiB for ${(m.weightBytes / MiB).toFixed(0)} MiB of weights (target ≤ ${MEMORY_TARGET_RATIO}x); ${(r.wallMs / 1000).toFixed(1)} s`,
          model: m.name,
          command: c.name,
          peakRssMiB: r.peakRssMiB,
          weightBytes: m.weightBytes,
          ratio,
          withinTarget: ratio <= MEMORY_TARGET_RATIO,
          wallMs: r.wallMs,
          rssSource: HAVE_GNU_TIME ? 'GNU time %M' : 'process.resourceUsage().maxRSS',
        });
      } catch (e) {
        const message = String(e?.message ?? e).split('\n')[0];
        rows.push({ section: 'memory', name, result: 'FAILED', detail: message, failed: message, model: m.name, command: c.name });
      }
    }
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const list = (v) => (v ? v.split(',').map((s) => s.trim()) : undefined);
  const rows = await measureMemory({
    log: (l) => process.stderr.write(`${l}\n`),
    models: list(process.env.BENCH_MEMORY_MODELS),
    commands: list(process.env.BENCH_MEMORY_COMMANDS),
  });
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) console.log(`${r.name.padEnd(width)}  ${r.result.padStart(7)}  ${r.detail}`);
  if (rows.some((r) => r.failed)) process.exitCode = 1;
}
