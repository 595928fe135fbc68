// bnc whole-command profile: `node bench/profile.mjs resnet50|mobilenetv2 run|verify [--threads N] [--runs N]`
// (after `npm run build`). Prints where a whole `bnc run` / `bnc verify` command spends its time, phase by
// phase, with each phase's share of the command:
//   1. the command's wall time, median of --runs plain runs (no profiler);
//   2. one run under `node --cpu-prof`: every sample of the main thread is put in one phase by its stack
//      (module loading, model read, validation, shape inference, input generation, each kernel family,
//      GC, waiting for worker threads, hand-offs, verify's comparison, output); the phases split the plain
//      wall time by their sample counts, so they add up to the command;
//   3. the worker threads' profiles: how much of the command they computed and how long they sat idle;
//   4. one in-process runModel with the engine's beforeNode/afterNode hooks: milliseconds per op type.
// ResNet-50 is bench/resnet50.mjs (seed 50), MobileNet v2 the shared ONNX model; `verify` compares the
// model with its `bnc fold-bn` output (folded once, not profiled). `--analyze DIR` classifies the
// profiles of an earlier `node --cpu-prof --cpu-prof-dir DIR bin/bnc.js ...` run instead.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildResNet50 } from './resnet50.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'bin', 'bnc.js');
const OUT = path.join(ROOT, 'bench', 'out', 'profile');
const SHARED = path.resolve(process.env.BENCH_SHARED_MODELS ?? path.join(ROOT, '..', 'shared', 'models'));

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const [modelName, command] = args.filter((a, i) => !a.startsWith('--') && !(args[i - 1]?.startsWith('--') && args[i - 1] !== '--no-ops'));
const threads = Number(flag('--threads', '2'));
const runs = Number(flag('--runs', '3'));
if (!['resnet50', 'mobilenetv2'].includes(modelName) || !['run', 'verify'].includes(command)) {
  process.stderr.write('usage: node bench/profile.mjs resnet50|mobilenetv2 run|verify [--threads N] [--runs N] [--no-ops] [--analyze DIR]\n');
  process.exit(2);
}
if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) {
  process.stderr.write('bench/profile.mjs: dist/ not found; run `npm run build` first\n');
  process.exit(2);
}
fs.mkdirSync(OUT, { recursive: true });
const bnc = await import(path.join(ROOT, 'dist', 'index.js'));

// ---------------------------------------------------------------------------------------------------
// Models and the command line
// ---------------------------------------------------------------------------------------------------
let modelFile;
if (modelName === 'resnet50') {
  modelFile = path.join(OUT, 'resnet50.onnx');
  if (!fs.existsSync(modelFile)) fs.writeFileSync(modelFile, bnc.serializeOnnx(buildResNet50({ seed: 50 })));
} else {
  modelFile = path.join(SHARED, 'onnx', 'mobilenet_v2', 'model.onnx');
  if (!fs.existsSync(modelFile)) {
    process.stderr.write(`bench/profile.mjs: ${modelFile} not found (set BENCH_SHARED_MODELS)\n`);
    process.exit(2);
  }
}
const bncArgs = ['run', modelFile, '--threads', String(threads)];
if (command === 'verify') {
  const folded = path.join(OUT, `${modelName}.folded.onnx`);
  if (!fs.existsSync(folded) || fs.statSync(folded).mtimeMs < fs.statSync(modelFile).mtimeMs) {
    const r = spawnSync(process.execPath, [CLI, 'fold-bn', modelFile, '-o', folded, '-f', '-q'], { encoding: 'utf8' });
    if (r.status !== 0) {
      process.stderr.write(`bench/profile.mjs: fold-bn failed: ${r.stderr}\n`);
      process.exit(2);
    }
  }
  bncArgs.splice(0, 2, 'verify', modelFile, folded);
}

function runCommand(nodeFlags) {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [...nodeFlags, CLI, ...bncArgs], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`bnc ${bncArgs.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return ms;
}

// ---------------------------------------------------------------------------------------------------
// 1. Wall time of the whole command
// ---------------------------------------------------------------------------------------------------
// --analyze DIR: classify the .cpuprofile files of an earlier `node --cpu-prof` run of the same command
// instead of running anything (the profile's own span stands for the wall time).
const analyzeDir = flag('--analyze', undefined);
const walls = [];
if (!analyzeDir) for (let i = 0; i < runs; i++) walls.push(runCommand([]));
walls.sort((a, b) => a - b);
let wall = walls[Math.floor(walls.length / 2)];
// A bare `node -e 0` (the floor under every command) for reference.
const nodeBoot = analyzeDir ? NaN : [0, 1, 2].map(() => {
  const t = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0']);
  return Number(process.hrtime.bigint() - t) / 1e6;
}).sort((a, b) => a - b)[1];

// ---------------------------------------------------------------------------------------------------
// 2. One profiled run: samples → phases
// ---------------------------------------------------------------------------------------------------
const profDir = analyzeDir ?? path.join(OUT, `cpuprof-${modelName}-${command}`);
if (!analyzeDir) fs.rmSync(profDir, { recursive: true, force: true });
let profiledWall = analyzeDir ? NaN : runCommand(['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', '250']);
const profiles = fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).sort();
// The main thread's profile is the one with thread id 0 in its name (CPU.<date>.<time>.<pid>.<thread>.<seq>).
const mainFile = profiles.find((f) => f.split('.')[4] === '0') ?? profiles[0];
const workerFiles = profiles.filter((f) => f !== mainFile);
const load = (f) => JSON.parse(fs.readFileSync(path.join(profDir, f), 'utf8'));

// Kernel files → the op family they hold (the frame right under the engine names the kernel's file).
const KERNEL_FAMILY = {
  'conv.js': 'Conv (direct, im2col+GEMM, Winograd, depthwise)',
  'gemm.js': 'Gemm / MatMul',
  'normalization.js': 'BatchNormalization (and other norms)',
  'elementwise.js': 'Add / Mul / elementwise',
  'activation.js': 'Relu / Clip / activations',
  'pool.js': 'pools (Max, Average, Global)',
  'tensor.js': 'Concat / Reshape / Flatten / tensor ops',
};
// 'dist/...' and 'node_modules/...' wherever the checkout is (--analyze may read another checkout's run).
const stripUrl = (url) => url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/');

/** The phase one sample belongs to, from its stack (root first). */
function phaseOf(stack) {
  const leaf = stack[stack.length - 1];
  if (leaf.functionName === '(garbage collector)') return 'GC (garbage collector)';
  if (leaf.functionName === '(idle)') return 'idle (event loop: file I/O, thread start)';
  if (leaf.functionName === '(program)') return 'V8 / native (not JS)';
  const files = stack.map((f) => stripUrl(f.url));
  const has = (re) => files.some((f) => re.test(f));
  const fn = (name) => stack.some((f) => f.functionName === name);
  // Everything a command does runs under main() (dist/cli/main.js); what does not is module loading and
  // process start-up.
  if (!has(/^dist\/cli\//)) {
    if (has(/^node:internal\/(modules|bootstrap)/) || has(/^dist\//) || has(/node_modules/)) return 'start-up: module loading';
    return 'start-up: other';
  }
  if (leaf.functionName === 'runJob' || leaf.functionName === 'wait') return 'waiting for worker threads (Atomics.wait)';
  if (fn('postMessage') || fn('workers')) return 'thread hand-offs (postMessage, worker start)';
  if (fn('sharedFloat32') || fn('shareCopy') || fn('shareConstant')) return 'shared-memory allocation and copies';
  // The innermost recognised stage wins: runModel inside verify is a kernel, not "verify".
  const engineAt = files.lastIndexOf('dist/runtime/engine.js');
  if (engineAt >= 0) {
    const below = files.slice(engineAt + 1).find((f) => f !== 'dist/runtime/engine.js');
    if (below === 'dist/runtime/shapeInference.js' || fn('inferShapes')) return 'shape inference';
    if (below && /^dist\/runtime\/(kernels?|bufferPool|parallel)\.js$/.test(below)) return 'engine bookkeeping (graph walk, values)';
    if (below && below.startsWith('dist/runtime/')) {
      const base = path.basename(below);
      return `kernel: ${KERNEL_FAMILY[base] ?? base.replace(/\.js$/, '')}`;
    }
    return 'engine bookkeeping (graph walk, values)';
  }
  if (has(/^dist\/runtime\/shapeInference\.js/) || has(/^dist\/passes\/shapeFacts\.js/)) return 'shape inference';
  if (has(/^dist\/ir\/validate\.js/)) return 'validation';
  if (has(/^dist\/runtime\/inputs\.js/) || fn('prepareInputs')) return 'input generation';
  if (has(/^dist\/formats\//) || has(/node_modules\/(protobufjs|onnx-proto)/) || fn('openModelShowingProgress')) return 'model read (file + parse)';
  if (has(/^dist\/verify\/(compare|statistics)\.js/)) return 'verify: comparison and statistics';
  if (has(/^dist\/passes\//)) return 'graph passes';
  if (has(/^dist\/(cli\/output|io\/|verify\/(report|htmlReport))/) || fn('summarizeOutput')) return 'output (summaries, printing, files)';
  return 'other (CLI, verify orchestration)';
}

function phaseTable(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const phaseByNode = new Map();
  const stackOf = (id) => {
    const stack = [];
    for (let at = id; at !== undefined; at = parent.get(at)) stack.push(nodes.get(at).callFrame);
    return stack.reverse();
  };
  const us = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i];
    let phase = phaseByNode.get(id);
    if (!phase) phaseByNode.set(id, (phase = phaseOf(stackOf(id))));
    // Each sample counts once: on a loaded machine the gaps between samples (timeDeltas) also hold the
    // time the thread waited for a core, which would land on whatever ran next.
    us.set(phase, (us.get(phase) ?? 0) + 1);
  }
  return { us, spanUs: profile.endTime - profile.startTime };
}

const main = phaseTable(load(mainFile));
if (analyzeDir) {
  wall = main.spanUs / 1000;
  profiledWall = wall;
  walls.push(wall);
}
const sampleCount = [...main.us.values()].reduce((a, b) => a + b, 0);
// The profile starts after node's own bootstrap and ends before the profile is written: the phases share
// the profiled span of the plain run's wall time by their sample counts, and the rest of the plain wall
// time is "node start-up".
const profileShare = Math.min(1, main.spanUs / 1000 / profiledWall);
const rows = [...main.us].map(([phase, n]) => [phase, (wall * profileShare * n) / sampleCount]).sort((a, b) => b[1] - a[1]);
rows.push(['node start-up and exit (outside the profile)', wall * (1 - profileShare)]);

const pad = (s, n) => String(s).padEnd(n);
const num = (v, n = 8) => v.toFixed(1).padStart(n);
console.log(`bnc ${bncArgs.map((a) => (a.includes('/') ? path.relative(process.cwd(), a) : a)).join(' ')}`);
if (analyzeDir) console.log(`profiled span: ${wall.toFixed(0)} ms (from ${profDir})`);
else console.log(`wall time: ${wall.toFixed(0)} ms (median of ${runs}: ${walls.map((w) => w.toFixed(0)).join(', ')}); profiled run ${profiledWall.toFixed(0)} ms; bare \`node -e 0\` ${nodeBoot.toFixed(0)} ms`);
console.log('');
console.log(`${pad('phase (main thread)', 52)}${'ms'.padStart(8)}  share`);
for (const [phase, ms] of rows) console.log(`${pad(phase, 52)}${num(ms)}  ${((100 * ms) / wall).toFixed(1).padStart(5)}%`);

// ---------------------------------------------------------------------------------------------------
// 3. Worker threads
// ---------------------------------------------------------------------------------------------------
for (const f of workerFiles) {
  const w = phaseTable(load(f));
  const samples = [...w.us.values()].reduce((a, b) => a + b, 0);
  const selfUs = new Map();
  const p = load(f);
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  for (let i = 0; i < p.samples.length; i++) {
    const name = nodes.get(p.samples[i]).callFrame.functionName || '(anonymous)';
    const key = ['(idle)', '(garbage collector)', '(program)'].includes(name) ? name : /warmUp/.test(name) ? 'warmUp' : 'busy';
    selfUs.set(key, (selfUs.get(key) ?? 0) + 1);
  }
  // The worker lives for its profile's span; its samples split that span.
  const alive = (w.spanUs / 1000) * (wall / profiledWall);
  const part = (k) => (alive * (selfUs.get(k) ?? 0)) / Math.max(1, samples);
  console.log(`worker ${f.split('.')[4]}: alive ${alive.toFixed(0)} ms: computing ${(part('busy') + part('warmUp')).toFixed(0)} ms, idle ${part('(idle)').toFixed(0)} ms, GC ${part('(garbage collector)').toFixed(0)} ms, other ${part('(program)').toFixed(0)} ms`);
}

// ---------------------------------------------------------------------------------------------------
// 4. Per op type, in process (engine hooks): the runModel part of the command only
// ---------------------------------------------------------------------------------------------------
if (!args.includes('--no-ops') && !analyzeDir) {
  const { runModel, modelInputs } = bnc;
  const model = bnc.readOnnxFile(modelFile, { sharedMemory: threads > 1 });
  if (model && runModel && modelInputs) {
    const feeds = new Map();
    for (const vi of modelInputs(model)) {
      const dims = vi.type.tensor.shape.map((d) => d.value ?? 1);
      const size = dims.reduce((a, b) => a * b, 1);
      const data = new Float32Array(size);
      for (let i = 0; i < size; i++) data[i] = Math.sin(i);
      feeds.set(vi.name, { dtype: 1 /* float */, dims, data });
    }
    const byOp = new Map();
    let started = 0;
    const hooks = {
      threads,
      beforeNode: () => {
        started = performance.now();
      },
      afterNode: (node) => {
        const e = byOp.get(node.opType) ?? { ms: 0, count: 0 };
        e.ms += performance.now() - started;
        e.count++;
        byOp.set(node.opType, e);
      },
    };
    runModel(model, feeds, { threads }); // warm: start the workers, compile the kernels
    byOp.clear();
    const t0 = performance.now();
    runModel(model, feeds, hooks);
    const total = performance.now() - t0;
    const kernelMs = [...byOp.values()].reduce((a, e) => a + e.ms, 0);
    console.log('');
    console.log(`in-process runModel (warm, ${threads} thread${threads > 1 ? 's' : ''}): ${total.toFixed(0)} ms, of which kernels ${kernelMs.toFixed(0)} ms`);
    console.log(`${pad('op type', 28)}${'nodes'.padStart(6)}${'ms'.padStart(9)}  share`);
    for (const [op, e] of [...byOp].sort((a, b) => b[1].ms - a[1].ms)) {
      console.log(`${pad(op, 28)}${String(e.count).padStart(6)}${num(e.ms, 9)}  ${((100 * e.ms) / total).toFixed(1).padStart(5)}%`);
    }
    console.log(`${pad('(engine, shape inference)', 34)}${num(total - kernelMs, 9)}  ${((100 * (total - kernelMs)) / total).toFixed(1).padStart(5)}%`);
  }
}
process.exit(0);
