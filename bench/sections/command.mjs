// Section "command": whole `node bin/bnc.js ...` commands, spawn to exit, with peak RSS; `bnc run` of
// ResNet-50 against the 2-core scalar peak; pass scaling on a 2400-node diamond chain; Python onnx as a peer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildDiamondChain } from '../diamondChain.mjs';
import { CLI, HAVE_SHARED, OUT, SHARED, SHARED_MISSING, distHas, fmtMs, log, mb, measurePeaks, peaksText, percent } from '../context.mjs';
import { HAVE_GNU_TIME, measureCommandRuns, measureCommandsAlternating } from '../measure.mjs';

const PYTHON = '/usr/bin/python3';
/** Spawns per `bnc run` row: the ResNet-50 target is a ratio of medians, so it gets more than the other commands. */
const RUN_REPEATS = 5;

export const RSS_SOURCE = HAVE_GNU_TIME ? 'GNU time %M' : 'process.resourceUsage().maxRSS via bench/rss-wrapper.mjs';

export async function run({ bnc, models, rows, row, skip, fail }) {
  const section = 'command';
  log('whole commands...');

  /** Run a command up to 3 times (once if the first run takes over 5 s) and record it. */
  function commandRow(name, command, args, data = {}, { inputFile } = {}) {
    try {
      const first = measureCommandRuns(command, args, 1);
      const result = first.medianMs > 5000 ? first : measureCommandRuns(command, args, 3);
      let rss = result.peakRssMiB === null ? 'n/a' : `${result.peakRssMiB.toFixed(0)} MiB`;
      if (inputFile && result.peakRssMiB !== null) {
        // Peak RSS against the size of the main input file.
        const inputBytes = fs.statSync(inputFile).size;
        data = { ...data, inputBytes, peakRssToInputSize: (result.peakRssMiB * 2 ** 20) / inputBytes };
        rss += ` = ${data.peakRssToInputSize.toFixed(2)}x the ${path.basename(inputFile)} size`;
      }
      row(section, name, `${fmtMs(result.medianMs)}`, `peak RSS ${rss}; median of ${result.runs}`, {
        medianMs: result.medianMs,
        peakRssMiB: result.peakRssMiB,
        runs: result.runs,
        ...data,
      });
      return result;
    } catch (e) {
      fail(section, name, e);
      return undefined;
    }
  }

  const resnet = models.resnet50();
  const commandModels = [resnet];
  // The shared MobileNet v2 file itself (read in place, outputs to bench/out).
  if (HAVE_SHARED) commandModels.push(models.mobilenetShared);
  else skip(section, 'MobileNet v2 commands', SHARED_MISSING);
  const hasCommand = (name) => distHas(`cli/commands/${name}.js`);
  const foldResults = new Map();

  for (const m of commandModels) {
    const out = (suffix) => path.join(OUT, `${m.tag}.${suffix}.onnx`);
    commandRow(`bnc inspect ${m.label}`, process.execPath, [CLI, 'inspect', m.file]);
    commandRow(`bnc optimize --passes none ${m.label}`, process.execPath, [CLI, 'optimize', m.file, '--passes', 'none', '-o', out('roundtrip'), '--force']);
    foldResults.set(m.file, commandRow(`bnc fold-bn ${m.label}`, process.execPath, [CLI, 'fold-bn', m.file, '-o', out('folded'), '--force'], {}, { inputFile: m.file }));
    const verifyName = `bnc verify ${m.label} vs its fold-bn output (2 threads, the default)`;
    if (!hasCommand('verify')) skip(section, verifyName, 'verify command not built (dist/cli/commands/verify.js missing)');
    else if (!fs.existsSync(out('folded'))) skip(section, verifyName, 'fold-bn failed, nothing to verify against');
    else commandRow(verifyName, process.execPath, [CLI, 'verify', m.file, out('folded')], { kind: 'bnc verify command', model: m.label });
  }

  // `bnc run` of ResNet-50 at batch 1 (its symbolic batch axis is 1 by default), 2 and 1 threads in
  // alternation, against the scalar peaks measured just before and just after.
  if (!hasCommand('run')) skip(section, 'bnc run ResNet-50', 'run command not built (dist/cli/commands/run.js missing)');
  else {
    try {
      log('bnc run ResNet-50, --threads 2 and 1...');
      const before = await measurePeaks();
      const threadCounts = [2, 1];
      const results = measureCommandsAlternating(threadCounts.map((t) => [process.execPath, [CLI, 'run', resnet.file, '--threads', String(t)]]), RUN_REPEATS);
      const after = await measurePeaks();
      const peaks = { one: (before.one + after.one) / 2, two: (before.two + after.two) / 2 };
      threadCounts.forEach((threads, k) => {
        const r = results[k];
        const gflops = resnet.flopsPerImage / (r.medianMs * 1e6);
        const rss = r.peakRssMiB === null ? 'n/a' : `${r.peakRssMiB.toFixed(0)} MiB`;
        row(section, `bnc run ResNet-50 --threads ${threads} (batch 1, spawn to exit)`, fmtMs(r.medianMs),
          `${gflops.toFixed(2)} GFLOP/s = ${percent(gflops / peaks.two)} of the 2-core peak, ${percent(gflops / peaks.one)} of the 1-thread peak ` +
            `(mean of ${peaksText(before)} before and ${after.one.toFixed(2)}, ${after.two.toFixed(2)} after); ` +
            `peak RSS ${rss}; median of ${r.runs} (${r.timesMs.map(fmtMs).join(', ')}), alternating with --threads ${threadCounts[1 - k]}`, {
            kind: 'bnc run command',
            model: 'ResNet-50',
            threads,
            medianMs: r.medianMs,
            bestMs: r.bestMs,
            timesMs: r.timesMs,
            runs: r.runs,
            peakRssMiB: r.peakRssMiB,
            gflops,
            peaks: { before, after },
            fractionOfScalarPeak: gflops / peaks.one,
            fractionOfTwoThreadPeak: gflops / peaks.two,
          });
      });
    } catch (e) {
      fail(section, 'bnc run ResNet-50', e);
    }
  }

  {
    const name = 'bnc convert caffe-to-onnx ResNet-50';
    const caffemodel = hasCommand('convert') ? await models.resnetCaffemodel().catch((e) => ({ missing: String(e.message) })) : { missing: 'convert command not built (dist/cli/commands/convert.js missing)' };
    if (caffemodel.missing) skip(section, name, caffemodel.missing);
    else commandRow(name, process.execPath, [CLI, 'convert', 'caffe-to-onnx', models.caffePrototxt, caffemodel.file, '-o', path.join(OUT, 'resnet50.from_caffe.onnx'), '--force'], {}, { inputFile: caffemodel.file });
  }

  // A chain of 300 HardSwish/residual diamonds (diamondChain.mjs): the graph shape that made bn-to-affine
  // hang before its analyses were linear. The passes' work is counted as well as timed.
  {
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
      row(section, `bn-to-affine pass, ${label} (${8 * units} nodes), in process`, fmtMs(ms),
        `${stats.shapeFactVisits} rank/type evaluations (each value at most once; before the memo they tripled per unit: 6.8 M at 12 units)`, {
          ms,
          nodes: 8 * units,
          shapeFactVisits: stats.shapeFactVisits,
        });
    } catch (e) {
      fail(section, `bn-to-affine pass, ${label}`, e);
    }
    if (fs.existsSync(file)) {
      commandRow(`bnc optimize --passes bn-to-affine ${label}`, process.execPath, [CLI, 'optimize', file, '--passes', 'bn-to-affine', '-o', path.join(OUT, 'diamond_chain.affine.onnx'), '--force']);
      commandRow(`bnc fold-bn ${label}`, process.execPath, [CLI, 'fold-bn', file, '-o', path.join(OUT, 'diamond_chain.folded.onnx'), '--force']);
    }
  }

  // The largest shared ONNX model: bnc fold-bn against a plain load + save in the Python onnx package.
  {
    const largest = HAVE_SHARED ? largestSharedOnnx() : undefined;
    const label = largest ? `${largest.caseName} (${mb(largest.bytes).toFixed(1)} MB)` : 'largest shared model';
    const name = `python3 onnx.load + onnx.save ${label}`;
    const hasPythonOnnx = fs.existsSync(PYTHON) && measureQuiet(PYTHON, ['-c', 'import onnx']);
    if (!largest) skip(section, name, SHARED_MISSING);
    else if (!hasPythonOnnx) skip(section, name, `${PYTHON} with the onnx package not found (Debian: apt-get install python3-onnx)`);
    else {
      const tag = largest.caseName;
      const fold = foldResults.get(largest.file) ??
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
