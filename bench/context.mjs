// What every benchmark section shares: paths, the rows being collected, formatting, the benchmark models
// (built or written once per run, on first use) and the machine's scalar peaks.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { countFlops } from './flops.mjs';
import { measureCommand } from './measure.mjs';
import { measureScalarPeak, measureScalarPeakOnThreads } from './peak.mjs';
import { buildResNet50 } from './resnet50.mjs';
import { ERROR_TARGET } from './targets.mjs';
import { buildVgg16 } from './vgg16.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OUT = path.join(ROOT, 'bench', 'out');
export const DIST = path.join(ROOT, 'dist');
export const CLI = path.join(ROOT, 'bin', 'bnc.js');
// The shared reference models sit beside the repository; BENCH_SHARED_MODELS points elsewhere.
export const SHARED = path.resolve(process.env.BENCH_SHARED_MODELS ?? path.join(ROOT, '..', 'shared', 'models'));
export const MOBILENET = path.join(SHARED, 'onnx', 'mobilenet_v2', 'model.onnx');
export const CAFFE_RESNET_PROTOTXT = path.join(SHARED, 'caffe', 'resnet50_prototxt_only', 'net.prototxt');
export const HAVE_SHARED = fs.existsSync(path.join(SHARED, 'README.md'));
export const SHARED_MISSING = `shared models not found at ${SHARED}`;
export const FULL = process.env.BENCH_FULL === '1';

/** Outputs that differ by more than this (max|a-b| / max|ref|) fail the bench: speed of a wrong result is no figure. */
export const AGREEMENT_LIMIT = 1e-3;
export { ERROR_TARGET } from './targets.mjs';

export const mb = (bytes) => bytes / 1e6;
export const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);
export const fmtRel = (e) => (e === undefined ? 'n/a' : e.toExponential(1));
export const percent = (x) => `${(100 * x).toFixed(0)}%`;
export const distHas = (file, dist = DIST) => fs.existsSync(path.join(dist, file));
export const log = (message) => process.stderr.write(`bench: ${message}\n`);

/** The error against the reference as row text: flags the 1e-5 target and the 1e-3 failure limit. */
export function errorText(error, against = 'ort') {
  const flag = error > AGREEMENT_LIMIT ? ` MISMATCH (> ${AGREEMENT_LIMIT})` : error > ERROR_TARGET ? ` (above the ${ERROR_TARGET} target)` : '';
  return `max rel err vs ${against} ${fmtRel(error)}${flag}`;
}

/** The rows of this run, with the three ways a row can end. */
export function createRows() {
  const rows = [];
  return {
    rows,
    row(section, name, result, detail, data = {}) {
      rows.push({ section, name, result, detail, ...data });
    },
    skip(section, name, why) {
      rows.push({ section, name, result: 'skipped', detail: why, skipped: why });
    },
    fail(section, name, error) {
      const message = String(error?.message ?? error).split('\n')[0];
      rows.push({ section, name, result: 'FAILED', detail: message, failed: message });
    },
  };
}

/** The model with a symbolic batch axis on its input and output, so one file serves any batch. */
export function withDynamicBatch(model) {
  const dynamic = (vi) => ({
    ...vi,
    type: { ...vi.type, tensor: { ...vi.type.tensor, shape: [{ param: 'N' }, ...vi.type.tensor.shape.slice(1)] } },
  });
  const initialized = new Set(model.graph.initializers.map((t) => t.name));
  const inputs = model.graph.inputs.map((vi) => (initialized.has(vi.name) ? vi : dynamic(vi)));
  return { ...model, graph: { ...model.graph, inputs, outputs: model.graph.outputs.map(dynamic), valueInfo: [] } };
}

/**
 * The benchmark's whole models as files in bench/out, each written on first use in this run:
 * { label, tag, file, flopsPerImage } (direct-convolution FLOPs of Conv and Gemm at 224x224, flops.mjs).
 * ResNet-50 and VGG-16 are generated with seeded weights; MobileNet v2 is the shared model with its batch
 * axis made symbolic.
 */
export function createModels(bnc) {
  const cache = new Map();
  const make = (tag, label, produce) => () => {
    if (!cache.has(tag)) {
      const file = path.join(OUT, `${tag}.onnx`);
      log(`writing ${label} to bench/out...`);
      const model = produce();
      fs.writeFileSync(file, bnc.serializeOnnx(model));
      cache.set(tag, { label, tag, file, flopsPerImage: countFlops(model, [1, 3, 224, 224]).flops, bytes: fs.statSync(file).size });
    }
    return cache.get(tag);
  };
  const models = {
    caffePrototxt: CAFFE_RESNET_PROTOTXT,
    resnet50: make('resnet50', 'ResNet-50', () => buildResNet50({ seed: 50 })),
    vgg16: make('vgg16', 'VGG-16', () => buildVgg16({ seed: 16 })),
    mobilenetV2: make('mobilenet_v2.batchN', 'MobileNet v2', () => withDynamicBatch(bnc.readOnnxFile(MOBILENET))),
    /** The models of the whole-model rows, MobileNet v2 only when the shared models are there. */
    wholeModels: () => [models.resnet50(), models.vgg16(), ...(HAVE_SHARED ? [models.mobilenetV2()] : [])],
    /**
     * A seeded random-weights caffemodel for the shared ResNet-50 prototxt, written by the Caffe reader's own
     * generator: { file } or { missing: why }. The prototxt is read in place (shared data is never copied).
     */
    async resnetCaffemodel() {
      if (!cache.has('caffemodel')) {
        let entry;
        if (!distHas('formats/caffe/index.js')) entry = { missing: 'Caffe reader not built (dist/formats/caffe/index.js missing)' };
        else if (!HAVE_SHARED) entry = { missing: SHARED_MISSING };
        else {
          const caffe = await import(path.join(DIST, 'formats', 'caffe', 'index.js'));
          const file = path.join(OUT, 'resnet50.caffemodel');
          fs.writeFileSync(file, caffe.randomCaffemodelFor(CAFFE_RESNET_PROTOTXT, 50));
          entry = { file, caffe };
        }
        cache.set('caffemodel', entry);
      }
      return cache.get('caffemodel');
    },
    /** The shared MobileNet v2 file itself, for whole commands (read in place; outputs go to bench/out). */
    mobilenetShared: { label: 'MobileNet v2', tag: 'mobilenet_v2', file: MOBILENET },
    /**
     * bench/out/<tag>.folded.onnx, the `bnc fold-bn` output of a model ({ tag, file }) for `bnc verify` rows:
     * written by this build's CLI once per run.
     */
    folded({ tag, file }) {
      const out = path.join(OUT, `${tag}.folded.onnx`);
      if (!cache.has(out)) measureCommand(process.execPath, [CLI, 'fold-bn', file, '-o', out, '--force']);
      cache.set(out, out);
      return out;
    },
  };
  return models;
}

/**
 * The machine's scalar peaks now: one thread, and 2 threads side by side (summed). Shorter than the
 * section-3 peak rows' measurement, so it can be taken right before each measurement it is compared with
 * (this shared machine's speed moves by tens of percent within minutes).
 */
export async function measurePeaks() {
  const one = measureScalarPeak({ iterations: 20_000_000, repeats: 3 }).gflops;
  const two = (await measureScalarPeakOnThreads(2, { iterations: 20_000_000, repeats: 3 })).gflops;
  return { one, two };
}

export const peaksText = (p) => `scalar peak ${p.one.toFixed(2)} GFLOP/s on 1 thread, ${p.two.toFixed(2)} on 2 (summed)`;

/** The commit measured, and whether src/ had uncommitted changes (the build measures the working tree). */
export function gitState(root = ROOT) {
  const git = (...args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return { gitCommit: null };
  return { gitCommit: head.stdout.trim(), srcUncommittedChanges: git('status', '--porcelain', '--', 'src').stdout.trim() !== '' };
}
