// bnc benchmark: `npm run bench` (builds, then runs this against dist/). Prints a table and writes
// bench/results.json. Every figure is measured in this run; rows whose prerequisites are missing are
// listed as skipped with the reason. Set BENCH_FULL=1 to also run the slow tfjs ResNet-50 batch-8 row.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildResNet50, mulberry32 } from './resnet50.mjs';
import { countFlops } from './flops.mjs';
import { measureScalarPeak, measureScalarPeakOnThreads } from './peak.mjs';
import { HAVE_GNU_TIME, maxRelError, measureCommandRuns, median, timeRuns, timeRunsAlternating } from './measure.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench', 'out');
const DIST = path.join(ROOT, 'dist');
const CLI = path.join(ROOT, 'bin', 'bnc.js');
// The shared reference models sit beside the repository; BENCH_SHARED_MODELS points elsewhere.
const SHARED = path.resolve(process.env.BENCH_SHARED_MODELS ?? path.join(ROOT, '..', 'shared', 'models'));
const MOBILENET = path.join(SHARED, 'onnx', 'mobilenet_v2', 'model.onnx');
const CAFFE_RESNET_PROTOTXT = path.join(SHARED, 'caffe', 'resnet50_prototxt_only', 'net.prototxt');
const PYTHON = '/usr/bin/python3';
const FULL = process.env.BENCH_FULL === '1';
/** Outputs that differ by more than this (max|a-b| / max|ref|) are flagged: speed of a wrong result is no figure. */
const AGREEMENT_LIMIT = 1e-3;

const startedAt = Date.now();
const loadAtStart = os.loadavg();
const rows = [];

function row(section, name, result, detail, data = {}) {
  rows.push({ section, name, result, detail, ...data });
}
function skip(section, name, why) {
  rows.push({ section, name, result: 'skipped', detail: why, skipped: why });
}
function fail(section, name, error) {
  const message = String(error?.message ?? error).split('\n')[0];
  rows.push({ section, name, result: 'FAILED', detail: message, failed: message });
}
const distHas = (file) => fs.existsSync(path.join(DIST, file));
const mb = (bytes) => bytes / 1e6;
const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);
const fmtRel = (e) => (e === undefined ? 'n/a' : e.toExponential(1));
const haveShared = fs.existsSync(path.join(SHARED, 'README.md'));
const SHARED_MISSING = `shared models not found at ${SHARED}`;

async function optionalImport(specifier) {
  try {
    return await import(specifier);
  } catch {
    return undefined;
  }
}

const bnc = await import(path.join(DIST, 'index.js'));
fs.mkdirSync(OUT, { recursive: true });
process.stderr.write('bench: building the ResNet-50 model...\n');

// ---------------------------------------------------------------------------------------------------
// 1. Parse throughput
// ---------------------------------------------------------------------------------------------------
const resnetFile = path.join(OUT, 'resnet50.onnx');
{
  const model = buildResNet50({ seed: 50 });
  fs.writeFileSync(resnetFile, bnc.serializeOnnx(model));
}
const resnetBytes = fs.statSync(resnetFile).size;

/**
 * Memory-bandwidth bound for loading a file: read it and copy every byte once more (what a decoder that
 * copies tensor payloads does at best). bnc's reader views 4-byte-aligned payloads in place and copies
 * only the others, so it can land slightly above this bound.
 */
function readAndCopy(file) {
  const bytes = fs.readFileSync(file);
  const copy = Buffer.allocUnsafe(bytes.length);
  bytes.copy(copy);
  return copy;
}

{
  process.stderr.write('bench: parse throughput...\n');
  // Bound and reader timed in alternation, so a moment when this shared machine copies memory fast (or
  // slowly) falls on both.
  const [bound, parse] = await timeRunsAlternating([() => readAndCopy(resnetFile), () => bnc.readOnnxFile(resnetFile)], {
    warmup: 1,
    maxRuns: 7,
    budgetMs: 12000,
  });
  const bytesInMemory = fs.readFileSync(resnetFile);
  const parseOnly = await timeRuns(() => bnc.parseOnnx(bytesInMemory), { warmup: 1, maxRuns: 7, budgetMs: 8000 });
  const boundRate = mb(resnetBytes) / (bound.bestMs / 1000);
  const parseRate = mb(resnetBytes) / (parse.bestMs / 1000);
  const parseOnlyRate = mb(resnetBytes) / (parseOnly.bestMs / 1000);
  const size = `${mb(resnetBytes).toFixed(1)} MB`;
  row('parse', `bound: readFileSync + Buffer.copy, ResNet-50 .onnx (${size})`, `${boundRate.toFixed(0)} MB/s`, `best of ${bound.runs}: ${fmtMs(bound.bestMs)}`, {
    mbPerS: boundRate,
    bestMs: bound.bestMs,
    bytes: resnetBytes,
  });
  row('parse', `bnc readOnnxFile, ResNet-50 .onnx (${size})`, `${parseRate.toFixed(0)} MB/s`, `${(parseRate / boundRate).toFixed(2)}x the bound; best of ${parse.runs}: ${fmtMs(parse.bestMs)}`, {
    mbPerS: parseRate,
    ratioToBound: parseRate / boundRate,
    bestMs: parse.bestMs,
    bytes: resnetBytes,
  });
  row('parse', `bnc parseOnnx (bytes in memory), ResNet-50`, `${parseOnlyRate.toFixed(0)} MB/s`, `best of ${parseOnly.runs}: ${fmtMs(parseOnly.bestMs)}`, {
    mbPerS: parseOnlyRate,
    bestMs: parseOnly.bestMs,
    bytes: resnetBytes,
  });
}

// Caffe: a seeded random-weights caffemodel for the published ResNet-50 prototxt, written by the reader's
// own generator; the prototxt is read in place (shared data is never copied).
const caffemodelFile = path.join(OUT, 'resnet50.caffemodel');
let haveCaffemodel = false;
{
  const name = 'bnc readCaffeFiles, ResNet-50 prototxt + .caffemodel';
  if (!distHas('formats/caffe/index.js')) skip('parse', name, 'Caffe reader not built (dist/formats/caffe/index.js missing)');
  else if (!haveShared) skip('parse', name, SHARED_MISSING);
  else {
    try {
      const caffe = await import(path.join(DIST, 'formats', 'caffe', 'index.js'));
      fs.writeFileSync(caffemodelFile, caffe.randomCaffemodelFor(CAFFE_RESNET_PROTOTXT, 50));
      haveCaffemodel = true;
      const bytes = fs.statSync(caffemodelFile).size;
      const [bound, load] = await timeRunsAlternating(
        [() => readAndCopy(caffemodelFile), () => caffe.readCaffeFiles(CAFFE_RESNET_PROTOTXT, caffemodelFile)],
        { warmup: 1, maxRuns: 7, budgetMs: 12000 },
      );
      const boundRate = mb(bytes) / (bound.bestMs / 1000);
      const rate = mb(bytes) / (load.bestMs / 1000);
      row('parse', `${name} (${mb(bytes).toFixed(1)} MB)`, `${rate.toFixed(0)} MB/s`, `${(rate / boundRate).toFixed(2)}x the bound (${boundRate.toFixed(0)} MB/s); best of ${load.runs}: ${fmtMs(load.bestMs)}; includes conversion to ONNX IR`, {
        mbPerS: rate,
        boundMbPerS: boundRate,
        ratioToBound: rate / boundRate,
        bestMs: load.bestMs,
        bytes,
      });
    } catch (e) {
      fail('parse', name, e);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// 2. Whole commands: wall time and peak RSS of `node bin/bnc.js ...`
// ---------------------------------------------------------------------------------------------------
process.stderr.write('bench: whole commands...\n');
const commandRssSource = HAVE_GNU_TIME ? 'GNU time %M' : 'process.resourceUsage().maxRSS via bench/rss-wrapper.mjs';

/** Run a command up to 3 times (once if the first run takes over 5 s) and record it. */
function commandRow(name, command, args, data = {}, { inputFile } = {}) {
  try {
    const first = measureCommandRuns(command, args, 1);
    const result = first.medianMs > 5000 ? first : measureCommandRuns(command, args, 3);
    let rss = result.peakRssMiB === null ? 'n/a' : `${result.peakRssMiB.toFixed(0)} MiB`;
    if (inputFile && result.peakRssMiB !== null) {
      // Peak RSS against the size of the main input file (the issue's convert target is 2.5x the caffemodel).
      const inputBytes = fs.statSync(inputFile).size;
      data = { ...data, inputBytes, peakRssToInputSize: (result.peakRssMiB * 2 ** 20) / inputBytes };
      rss += ` = ${data.peakRssToInputSize.toFixed(2)}x the ${path.basename(inputFile)} size`;
    }
    row('command', name, `${fmtMs(result.medianMs)}`, `peak RSS ${rss}; median of ${result.runs}`, {
      medianMs: result.medianMs,
      peakRssMiB: result.peakRssMiB,
      runs: result.runs,
      ...data,
    });
    return result;
  } catch (e) {
    fail('command', name, e);
    return undefined;
  }
}

const commandModels = [{ label: 'ResNet-50', tag: 'resnet50', file: resnetFile }];
if (haveShared) commandModels.push({ label: 'MobileNet v2', tag: 'mobilenet_v2', file: MOBILENET });
else skip('command', 'MobileNet v2 commands', SHARED_MISSING);
const hasCommand = (name) => distHas(`cli/commands/${name}.js`);
const foldResults = new Map();

for (const m of commandModels) {
  const out = (suffix) => path.join(OUT, `${m.tag}.${suffix}.onnx`);
  commandRow(`bnc inspect ${m.label}`, process.execPath, [CLI, 'inspect', m.file]);
  commandRow(`bnc optimize --passes none ${m.label}`, process.execPath, [CLI, 'optimize', m.file, '--passes', 'none', '-o', out('roundtrip'), '--force']);
  foldResults.set(m.file, commandRow(`bnc fold-bn ${m.label}`, process.execPath, [CLI, 'fold-bn', m.file, '-o', out('folded'), '--force'], {}, { inputFile: m.file }));
  if (!hasCommand('verify')) skip('command', `bnc verify ${m.label}`, 'verify command not built (dist/cli/commands/verify.js missing)');
  else if (!fs.existsSync(out('folded'))) skip('command', `bnc verify ${m.label}`, 'fold-bn failed, nothing to verify against');
  else commandRow(`bnc verify ${m.label} vs its fold-bn output`, process.execPath, [CLI, 'verify', m.file, out('folded')]);
}
{
  const name = 'bnc convert caffe-to-onnx ResNet-50';
  if (!hasCommand('convert')) skip('command', name, 'convert command not built (dist/cli/commands/convert.js missing)');
  else if (!haveCaffemodel) skip('command', name, 'no ResNet-50 caffemodel (Caffe reader or shared prototxt missing)');
  else commandRow(name, process.execPath, [CLI, 'convert', 'caffe-to-onnx', CAFFE_RESNET_PROTOTXT, caffemodelFile, '-o', path.join(OUT, 'resnet50.from_caffe.onnx'), '--force'], {}, { inputFile: caffemodelFile });
}

// A chain of 300 HardSwish/residual diamonds (diamondChain.mjs): the graph shape that made bn-to-affine
// hang before its analyses were linear. The passes' work is counted as well as timed.
{
  const { buildDiamondChain } = await import('./diamondChain.mjs');
  const units = 300;
  const file = path.join(OUT, `diamond_chain_${units}.onnx`);
  const label = `${units}-unit HardSwish/residual diamond chain`;
  try {
    const model = buildDiamondChain({ units });
    fs.writeFileSync(file, bnc.serializeOnnx(model));
    const stats = { shapeFactVisits: 0 };
    const t0 = performance.now();
    bnc.runPasses(model, ['bn-to-affine'], { stats });
    const ms = performance.now() - t0;
    row('command', `bn-to-affine pass, ${label} (${8 * units} nodes), in process`, fmtMs(ms),
      `${stats.shapeFactVisits} rank/type evaluations (each value at most once; before the memo they tripled per unit: 6.8 M at 12 units)`, {
        ms,
        nodes: 8 * units,
        shapeFactVisits: stats.shapeFactVisits,
      });
  } catch (e) {
    fail('command', `bn-to-affine pass, ${label}`, e);
  }
  if (fs.existsSync(file)) {
    commandRow(`bnc optimize --passes bn-to-affine ${label}`, process.execPath, [CLI, 'optimize', file, '--passes', 'bn-to-affine', '-o', path.join(OUT, 'diamond_chain.affine.onnx'), '--force']);
    commandRow(`bnc fold-bn ${label}`, process.execPath, [CLI, 'fold-bn', file, '-o', path.join(OUT, 'diamond_chain.folded.onnx'), '--force']);
  }
}

// The largest shared ONNX model: bnc fold-bn against a plain load + save in the Python onnx package.
{
  const largest = haveShared ? largestSharedOnnx() : undefined;
  const label = largest ? `${largest.caseName} (${mb(largest.bytes).toFixed(1)} MB)` : 'largest shared model';
  const name = `python3 onnx.load + onnx.save ${label}`;
  const hasPythonOnnx = fs.existsSync(PYTHON) && measureQuiet(PYTHON, ['-c', 'import onnx']);
  if (!largest) skip('command', name, SHARED_MISSING);
  else if (!hasPythonOnnx) skip('command', name, `${PYTHON} with the onnx package not found (Debian: apt-get install python3-onnx)`);
  else {
    const tag = largest.caseName;
    const fold =
      foldResults.get(largest.file) ??
      commandRow(`bnc fold-bn ${label}`, process.execPath, [CLI, 'fold-bn', largest.file, '-o', path.join(OUT, `${tag}.largest.folded.onnx`), '--force']);
    const script = 'import onnx, sys; m = onnx.load(sys.argv[1]); onnx.save(m, sys.argv[2])';
    const python = commandRow(name, PYTHON, ['-c', script, largest.file, path.join(OUT, `${tag}.python_saved.onnx`)]);
    if (fold && python) {
      const r = rows[rows.length - 1];
      r.detail += `; bnc fold-bn takes ${(fold.medianMs / python.medianMs).toFixed(2)}x this time`;
      r.foldBnTimeRatio = fold.medianMs / python.medianMs;
    }
  }
}

function largestSharedOnnx() {
  const dir = path.join(SHARED, 'onnx');
  const models = fs
    .readdirSync(dir)
    .map((caseName) => ({ caseName, file: path.join(dir, caseName, 'model.onnx') }))
    .filter((m) => fs.existsSync(m.file))
    .map((m) => ({ ...m, bytes: fs.statSync(m.file).size }));
  return models.sort((a, b) => b.bytes - a.bytes)[0];
}

function measureQuiet(command, args) {
  try {
    measureCommandRuns(command, args, 1);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------
// 3. Runtime: latency per inference, bnc vs onnxruntime-node vs tfjs-cpu, with output agreement
// ---------------------------------------------------------------------------------------------------
process.stderr.write('bench: runtime...\n');
const peak = measureScalarPeak();
row('runtime', 'V8 scalar peak: 12 float64 multiply-add chains, 1 thread', `${peak.gflops.toFixed(2)} GFLOP/s`, `best of 5 x ${peak.iterations / 1e6}M iterations`, {
  gflops: peak.gflops,
});
{
  const two = await measureScalarPeakOnThreads(2);
  row('runtime', 'V8 scalar peak, 2 threads side by side (summed)', `${two.gflops.toFixed(2)} GFLOP/s`,
    `${(two.gflops / peak.gflops).toFixed(2)}x one thread: what the second core gave at that moment (it varies between runs); best of 3`, {
      gflops: two.gflops,
      ratioToOneThread: two.gflops / peak.gflops,
    });
}

if (distHas('runtime/gemmCore.js')) {
  const { sgemm } = await import(path.join(DIST, 'runtime', 'gemmCore.js'));
  const { measureGemmCore } = await import('./gemmCore.mjs');
  // The peak of this shared machine moves by tens of percent within minutes, so the GEMM's fraction of it
  // is taken per round, each GEMM measurement right after a peak measurement; the row gives the median.
  const rounds = [];
  for (let r = 0; r < 3; r++) {
    const roundPeak = measureScalarPeak({ iterations: 20_000_000, repeats: 3 }).gflops;
    const core = measureGemmCore(sgemm, { repeats: 3, flopsPerBatch: 1e9 });
    rounds.push({ peak: roundPeak, core, fraction: core.gflops / roundPeak });
  }
  const byFraction = [...rounds].sort((a, b) => a.fraction - b.fraction);
  const { core } = byFraction[1];
  const worst = core.perShape.reduce((w, s) => (s.gflops < w.gflops ? s : w));
  const best = core.perShape.reduce((w, s) => (s.gflops > w.gflops ? s : w));
  const percent = (x) => `${(100 * x).toFixed(0)}%`;
  row('runtime', `bnc GEMM core (sgemm), ${core.perShape.length} conv shapes of ResNet-50 / MobileNet v2, 1 thread`, `${core.gflops.toFixed(2)} GFLOP/s`,
    `${percent(byFraction[1].fraction)} of the scalar peak measured just before it (median of 3 rounds: ${rounds.map((x) => percent(x.fraction)).join(', ')}; ` +
      `peaks ${rounds.map((x) => x.peak.toFixed(2)).join(', ')}); per shape ${worst.gflops.toFixed(2)} (${worst.name}) to ${best.gflops.toFixed(2)} (${best.name})`, {
      gflops: core.gflops,
      fractionOfScalarPeak: byFraction[1].fraction,
      rounds: rounds.map((x) => ({ peakGflops: x.peak, gemmGflops: x.core.gflops, fraction: x.fraction })),
      perShape: core.perShape,
    });
  // Two questions in alternating rounds, so both see the same moments of this shared machine: how far 2
  // threads scale two independent copies of the kernel (the machine's share), and how far bnc's split of
  // one GEMM over 2 threads goes (the machine's share and the split's cost).
  const { measureGemmPair, measureGemmSplit } = await import('./gemmCore.mjs');
  const parallel = await import(path.join(DIST, 'runtime', 'parallel.js'));
  // Start the pool's worker and let it load before the first timed split.
  parallel.threadsAvailable(2);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const pairRatios = [];
  const splitRatios = [];
  for (let r = 0; r < 3; r++) {
    pairRatios.push((await measureGemmPair({ rounds: 1 })).ratios[0]);
    splitRatios.push(measureGemmSplit({ ...parallel, sgemm }));
  }
  const list = (xs) => xs.map((x) => x.toFixed(2)).join(', ');
  row('runtime', 'bnc GEMM core, 2 independent copies side by side (summed rate)', `${median(pairRatios).toFixed(2)}x one copy`,
    `median of 3 rounds (${list(pairRatios)}): how far 2 threads can scale this kernel on this machine`, {
      ratios: pairRatios,
      median: median(pairRatios),
    });
  row('runtime', 'bnc GEMM core, one GEMM split over 2 threads (parallelSgemm)', `${median(splitRatios).toFixed(2)}x one thread`,
    `median of 3 rounds (${list(splitRatios)}), each right after a round of the row above; ResNet-50 3x3 64@56`, {
      ratios: splitRatios,
      median: median(splitRatios),
    });
  const { measureWinograd } = await import('./winograd.mjs');
  const { winogradConv3x3 } = await import(path.join(DIST, 'runtime', 'winograd.js'));
  const { im2colChannels } = await import(path.join(DIST, 'runtime', 'im2col.js'));
  for (const r of await measureWinograd({ winogradConv3x3, im2colChannels, sgemm })) {
    row('runtime', `bnc conv ${r.name}: Winograd F(2x2,3x3) vs im2col + GEMM, 1 thread`, `${r.ratio.toFixed(2)}x`,
      `direct ${fmtMs(r.directMs)}, Winograd ${fmtMs(r.winogradMs)}; medians of alternating runs`, r);
  }
} else {
  skip('runtime', 'bnc GEMM core (sgemm)', 'runtime not built (dist/runtime/gemmCore.js missing)');
}

const engine = distHas('runtime/engine.js') ? await import(path.join(DIST, 'runtime', 'engine.js')) : undefined;
const ort = await optionalImport('onnxruntime-node');
const ortModule = ort?.default ?? ort;
let tfjs;
let tfjsMissing = 'not installed';
try {
  const { loadTfjs, buildTfjsRunner } = await import('./tfjs-runner.mjs');
  tfjs = { tf: await loadTfjs(), buildTfjsRunner };
} catch (e) {
  tfjsMissing = `@tensorflow/tfjs-core / tfjs-backend-cpu could not be loaded (${String(e.message).split('\n')[0]})`;
}

/** The model with a symbolic batch axis on its input and output, so one file serves batch 1 and 8. */
function withDynamicBatch(model) {
  const dynamic = (vi) => ({
    ...vi,
    type: { ...vi.type, tensor: { ...vi.type.tensor, shape: [{ param: 'N' }, ...vi.type.tensor.shape.slice(1)] } },
  });
  const initialized = new Set(model.graph.initializers.map((t) => t.name));
  const inputs = model.graph.inputs.map((vi) => (initialized.has(vi.name) ? vi : dynamic(vi)));
  return { ...model, graph: { ...model.graph, inputs, outputs: model.graph.outputs.map(dynamic), valueInfo: [] } };
}

function seededInput(batch, seed) {
  const random = mulberry32(seed);
  const data = new Float32Array(batch * 3 * 224 * 224);
  for (let i = 0; i < data.length; i++) data[i] = random() * 2 - 1;
  return data;
}

const runtimeModels = [];
if (haveShared) {
  const model = withDynamicBatch(bnc.readOnnxFile(MOBILENET));
  const file = path.join(OUT, 'mobilenet_v2.batchN.onnx');
  fs.writeFileSync(file, bnc.serializeOnnx(model));
  runtimeModels.push({ label: 'MobileNet v2', model, file });
} else skip('runtime', 'MobileNet v2', SHARED_MISSING);
runtimeModels.push({ label: 'ResNet-50', model: bnc.readOnnxFile(resnetFile), file: resnetFile });

/** Timing plan per runner and model size: ResNet-50 batch 8 takes tens of seconds in the JS runtimes. */
function plan(label, batch, slowRuntime) {
  const heavy = label === 'ResNet-50';
  if (!slowRuntime) return { warmup: 1, maxRuns: 20, budgetMs: 3000 };
  // ResNet-50 at batch 1 gets 5 rounds (about 25 s): its 1- vs 2-thread ratio is a target, and this machine's
  // speed moves between rounds.
  if (batch === 1) return heavy ? { warmup: 1, maxRuns: 5, budgetMs: 25000 } : { warmup: 1, maxRuns: 5, budgetMs: 5000 };
  return heavy ? { warmup: 0, maxRuns: 1, budgetMs: 0 } : { warmup: 0, maxRuns: 3, budgetMs: 8000 };
}

for (const m of runtimeModels) {
  const inputName = m.model.graph.inputs[0].name;
  const outputName = m.model.graph.outputs[0].name;
  const flopsPerImage = countFlops(m.model, [1, 3, 224, 224]).flops;
  const ortSessions = [];
  if (ortModule) {
    for (const threads of [1, 2]) {
      // Graph optimizations at onnxruntime's default level.
      ortSessions.push({ threads, session: await ortModule.InferenceSession.create(m.file, { intraOpNumThreads: threads, interOpNumThreads: 1 }) });
    }
  }
  const tfjsRunner = tfjs ? tfjs.buildTfjsRunner(tfjs.tf, m.model) : undefined;

  for (const batch of [1, 8]) {
    const dims = [batch, 3, 224, 224];
    const input = seededInput(batch, 1000 + batch);
    const flops = flopsPerImage * batch;
    const tag = `${m.label} batch ${batch}`;
    const gflopsText = (ms) => `${(flops / (ms * 1e6)).toFixed(2)} GFLOP/s`;
    let reference; // onnxruntime's output (1 thread), the reference for agreement

    for (const { threads, session } of ortSessions) {
      const feeds = { [inputName]: new ortModule.Tensor('float32', input, dims) };
      let output;
      const t = await timeRuns(async () => {
        output = (await session.run(feeds))[outputName].data;
      }, plan(m.label, batch, false));
      if (threads === 1) reference = output;
      row('runtime', `onnxruntime-node ${threads} thread${threads > 1 ? 's' : ''}, ${tag}`, fmtMs(t.medianMs), `${gflopsText(t.medianMs)}; median of ${t.runs}`, {
        model: m.label,
        batch,
        runtime: 'onnxruntime-node',
        threads,
        medianMs: t.medianMs,
        bestMs: t.bestMs,
        gflops: flops / (t.medianMs * 1e6),
      });
    }
    if (!ortModule) skip('runtime', `onnxruntime-node, ${tag}`, 'onnxruntime-node not installed (npm install -D onnxruntime-node)');

    let bncOutput;
    // 1 and 2 threads are timed in alternation, so load changes during the measurement hit both alike.
    const threadCounts = [1, 2];
    const bncOutputs = [];
    let bncTimes;
    if (engine) {
      const feeds = new Map([[inputName, { dtype: bnc.DataType.FLOAT, dims, data: input }]]);
      try {
        bncTimes = await timeRunsAlternating(threadCounts.map((threads, k) => () => {
          bncOutputs[k] = engine.runModel(m.model, feeds, { threads }).outputs.get(outputName).data;
        }), plan(m.label, batch, true));
      } catch (e) {
        for (const threads of threadCounts) fail('runtime', `bnc runModel${threads > 1 ? `, ${threads} threads` : ''}, ${tag}`, e);
      }
    }
    /** The 1-thread time over this thread count's time, round by round (each round runs both back to back). */
    const speedups = (k) => bncTimes[0].timesMs.map((one, round) => one / bncTimes[k].timesMs[round]);
    const roundRatios = (k) => {
      const r = speedups(k);
      return `per round ${r.map((x) => x.toFixed(2)).join(', ')}, median ${median(r).toFixed(2)}x`;
    };
    for (const [k, threads] of threadCounts.entries()) {
      const bncName = `bnc runModel${threads > 1 ? `, ${threads} threads` : ''}, ${tag}`;
      if (!engine) {
        skip('runtime', bncName, 'runtime not built (dist/runtime/engine.js missing)');
        continue;
      }
      if (!bncTimes) continue;
      try {
        const output = bncOutputs[k];
        const t = bncTimes[k];
        if (threads === 1) bncOutput = output;
        const gflops = flops / (t.medianMs * 1e6);
        const agreement = reference ? maxRelError(output, reference) : undefined;
        const ortMedian = rows.find((r) => r.model === m.label && r.batch === batch && r.runtime === 'onnxruntime-node' && r.threads === threads)?.medianMs;
        const oneThread = rows.find((r) => r.model === m.label && r.batch === batch && r.runtime === 'bnc' && r.threads === 1);
        const parts = [
          threads === 1 ? `${gflopsText(t.medianMs)} = ${((100 * gflops) / peak.gflops).toFixed(0)}% of scalar peak` : gflopsText(t.medianMs),
          oneThread ? `${(oneThread.medianMs / t.medianMs).toFixed(2)}x bnc 1 thread (best runs: ${(oneThread.bestMs / t.bestMs).toFixed(2)}x; ${roundRatios(k)})` : undefined,
          ortMedian ? `${(t.medianMs / ortMedian).toFixed(1)}x ort ${threads}-thread time` : undefined,
          `max rel err vs ort ${fmtRel(agreement)}${agreement > AGREEMENT_LIMIT ? ' MISMATCH' : ''}`,
          `median of ${t.runs}`,
        ].filter(Boolean);
        row('runtime', bncName, fmtMs(t.medianMs), parts.join('; '), {
          model: m.label,
          batch,
          runtime: 'bnc',
          threads,
          medianMs: t.medianMs,
          bestMs: t.bestMs,
          runs: t.runs,
          gflops,
          fractionOfScalarPeak: gflops / peak.gflops,
          speedupOverOneThread: oneThread ? oneThread.medianMs / t.medianMs : undefined,
          speedupPerRound: oneThread ? speedups(k) : undefined,
          maxRelErrorVsOrt: agreement,
          mismatch: agreement > AGREEMENT_LIMIT,
        });
      } catch (e) {
        fail('runtime', bncName, e);
      }
    }

    const tfjsName = `tfjs-backend-cpu, ${tag}`;
    if (!tfjsRunner) skip('runtime', tfjsName, tfjsMissing);
    else if (m.label === 'ResNet-50' && batch === 8 && !FULL) skip('runtime', tfjsName, 'about 8x the batch-1 time (minutes); run with BENCH_FULL=1');
    else {
      try {
        let output;
        // The first tfjs model run warms the shared kernels; ResNet-50 batch 1 gets a single timed run.
        const timing = m.label === 'ResNet-50' ? { warmup: 0, maxRuns: 1, budgetMs: 0 } : plan(m.label, batch, true);
        const t = await timeRuns(() => {
          output = tfjsRunner.run(input, dims).data;
        }, timing);
        const against = reference ?? bncOutput;
        const agreement = against ? maxRelError(output, against) : undefined;
        const bncRow = rows.find((r) => r.model === m.label && r.batch === batch && r.runtime === 'bnc' && r.threads === 1);
        const parts = [
          gflopsText(t.medianMs),
          bncRow ? `bnc is ${(t.medianMs / bncRow.medianMs).toFixed(1)}x faster` : undefined,
          `max rel err vs ${reference ? 'ort' : 'bnc'} ${fmtRel(agreement)}${agreement > AGREEMENT_LIMIT ? ' MISMATCH' : ''}`,
          `median of ${t.runs}`,
        ].filter(Boolean);
        row('runtime', tfjsName, fmtMs(t.medianMs), parts.join('; '), {
          model: m.label,
          batch,
          runtime: 'tfjs-backend-cpu',
          threads: 1,
          medianMs: t.medianMs,
          runs: t.runs,
          gflops: flops / (t.medianMs * 1e6),
          bncSpeedup: bncRow ? t.medianMs / bncRow.medianMs : undefined,
          maxRelErrorVsReference: agreement,
          mismatch: agreement > AGREEMENT_LIMIT,
        });
      } catch (e) {
        fail('runtime', tfjsName, e);
      }
    }
  }
  for (const { session } of ortSessions) await session.release();
  tfjsRunner?.dispose();
}

// ---------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------
const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
  node: process.version,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  date: new Date(startedAt).toISOString(),
  loadAverageAtStart: loadAtStart.map((l) => +l.toFixed(2)),
  loadAverageAtEnd: os.loadavg().map((l) => +l.toFixed(2)),
  peakRssSource: commandRssSource,
  ...gitState(),
  versions: {
    onnxruntimeNode: packageVersion('onnxruntime-node'),
    tfjsCore: packageVersion('@tensorflow/tfjs-core'),
    tfjsBackendCpu: packageVersion('@tensorflow/tfjs-backend-cpu'),
  },
};
const totalSeconds = (Date.now() - startedAt) / 1000;

/** The commit measured, and whether src/ had uncommitted changes (the build measures the working tree). */
function gitState() {
  const git = (...args) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return { gitCommit: null };
  return { gitCommit: head.stdout.trim(), srcUncommittedChanges: git('status', '--porcelain', '--', 'src').stdout.trim() !== '' };
}

function packageVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

const titles = { parse: '1. Parse / load throughput', command: '2. Whole commands (wall time, peak RSS)', runtime: '3. Runtime latency per inference' };
const nameWidth = Math.max(...rows.map((r) => r.name.length));
const resultWidth = Math.max(...rows.map((r) => r.result.length));
const lines = [`bnc benchmark: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}`];
lines.push(
  `commit ${machine.gitCommit ?? 'unknown'}${machine.srcUncommittedChanges ? ' + uncommitted src/ changes' : ''}; load average at start ${machine.loadAverageAtStart.join(' ')}, at end ${machine.loadAverageAtEnd.join(' ')}`,
);
for (const section of Object.keys(titles)) {
  lines.push('', titles[section]);
  for (const r of rows.filter((x) => x.section === section)) {
    lines.push(`  ${r.name.padEnd(nameWidth)}  ${r.result.padStart(resultWidth)}  ${r.detail}`);
  }
}
lines.push('', `total ${totalSeconds.toFixed(0)} s`);
process.stdout.write(lines.join('\n') + '\n');

fs.writeFileSync(path.join(ROOT, 'bench', 'results.json'), JSON.stringify({ machine, totalSeconds, rows }, null, 2) + '\n');
process.stderr.write(`bench: wrote bench/results.json\n`);
const mismatches = rows.filter((r) => r.mismatch);
if (mismatches.length) {
  process.stderr.write(`bench: ${mismatches.length} runtime row(s) disagree with the reference by more than ${AGREEMENT_LIMIT}\n`);
  process.exitCode = 1;
}
const failures = rows.filter((r) => r.failed);
if (failures.length) {
  process.stderr.write(`bench: ${failures.length} row(s) failed: ${failures.map((r) => r.name).join('; ')}\n`);
  process.exitCode = 1;
}
