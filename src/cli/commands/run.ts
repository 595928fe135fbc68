import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { OUTPUTS_HELP, RANDOM_WEIGHTS_HELP, openModelShowingProgress, outputsOption, weightOptions } from '../openModel.js';
import { BncError, dtypeName, withFile } from '../../ir/index.js';
import { checkOutputPath, writeFileAtomic } from '../../io/atomicWrite.js';
import { NpyData, NpyDtype, encodeNpy, npyDtypeOf, npyFileName } from '../../io/npy.js';
import { RunResult, checkSupported, modelInputs, startThreads } from '../../runtime/engine.js';
import { RtTensor } from '../../runtime/kernel.js';
import { InputTensorReport } from '../../verify/report.js';
import { prepareInputs, runWithShapeHint } from '../../verify/verify.js';
import { InputFlagOptions, addInputOptions, collect, inputShapesOption, parseInputFlags, resolveInputs } from '../inputFlags.js';
import { Output, table } from '../output.js';
import { THREADS_HELP, parseThreads } from '../threads.js';
import { CONV_ALGORITHMS, ConvAlgorithm } from '../../runtime/winograd.js';
import { progressReporter } from '../progress.js';

/**
 * The --json object of `bnc run`:
 *   model        the model file
 *   seed         seed of the generated inputs (absent when every input came from a file)
 *   inputs       [{ name, dtype, shape, source: 'file' | 'image' | 'generated' | 'range', file?, range?,
 *                  preprocessing?, symbolicDims? }]  (InputTensorReport in src/verify/report.ts)
 *   outputs      [{ name, dtype, shape, min, max, mean, nonFinite, file? }]  (file: with --save-outputs)
 *   nodes        number of nodes run
 *   milliseconds wall time of the inference alone
 */
export interface RunCommandResult {
  model: string;
  seed?: number;
  inputs: InputTensorReport[];
  outputs: OutputSummary[];
  nodes: number;
  milliseconds: number;
}

export interface OutputSummary {
  name: string;
  dtype: string;
  shape: number[];
  min: number | null;
  max: number | null;
  mean: number | null;
  /** Count of NaN and infinite values (left out of min, max and mean). */
  nonFinite: number;
  file?: string;
}

/** Output data with its .npy type (float16 outputs are held, and saved, as float32). */
function npyData(name: string, t: RtTensor): { data: NpyData; dtype: NpyDtype } {
  const dtype = npyDtypeOf(t.dtype);
  if (!dtype) throw new BncError(`output '${name}' has type ${dtypeName(t.dtype)}, which bnc cannot save as .npy`, { code: 'UNSUPPORTED_TYPE' });
  return { data: t.data, dtype };
}

export function summarizeOutput(name: string, t: RtTensor): OutputSummary {
  const d = t.data;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let finite = 0;
  const big = d instanceof BigInt64Array || d instanceof BigUint64Array;
  for (let i = 0; i < d.length; i++) {
    const v = big ? Number(d[i]!) : (d[i] as number);
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    finite++;
  }
  return {
    name,
    dtype: dtypeName(t.dtype),
    shape: [...t.dims],
    min: finite ? min : null,
    max: finite ? max : null,
    mean: finite ? sum / finite : null,
    nonFinite: d.length - finite,
  };
}

function formatNumber(v: number | null): string {
  if (v === null) return '-';
  if (v === 0 || (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5)) return String(Number(v.toPrecision(6)));
  return v.toExponential(4);
}

interface RunCliOptions extends InputFlagOptions {
  outputs?: string[];
  seed: string;
  saveOutputs?: string;
  weights?: string;
  randomWeights?: boolean;
  force?: boolean;
  json?: boolean;
  threads?: string;
  convAlgorithm: string;
}

const CONV_ALGORITHM_HELP =
  'how 3x3 stride-1 convolutions are computed: auto (default: per layer, direct or Winograd by the cost rule in ' +
  'src/runtime/winograd.ts), direct (im2col + GEMM everywhere), winograd2 (Winograd F(2x2,3x3)), winograd4 ' +
  '(Winograd F(4x4,3x3): fastest on large layers, about 15x the rounding error of direct); the winograd ones ' +
  'apply to every 3x3, stride-1, dilation-1 2-D Conv and leave the others direct';

/** --conv-algorithm value: one of CONV_ALGORITHMS. */
function parseConvAlgorithm(text: string): ConvAlgorithm {
  const found = CONV_ALGORITHMS.find((a) => a === text.trim());
  if (!found) throw new BncError(`--conv-algorithm ${JSON.stringify(text)}: expected one of ${CONV_ALGORITHMS.join(', ')}`, { code: 'USAGE' });
  return found;
}

export function registerRun(program: Command): void {
  const cmd = program
    .command('run')
    .description('run a model in bnc\'s pure-TypeScript runtime and show (or save) its outputs')
    .argument('<model>', 'model file (.onnx, or Caffe .prototxt with its .caffemodel)');
  addInputOptions(cmd)
    .option('--seed <n>', 'seed for generated inputs: floats N(0,1), integers 0..9, bools 0/1; symbolic dims 1 unless --input-shape', '0')
    .option('--save-outputs <dir>', 'write each output to <dir>/<output name>.npy (the folder is created if needed)')
    .option('--weights <file>', 'Caffe weights, when not beside the prototxt')
    .option('--random-weights', RANDOM_WEIGHTS_HELP)
    .option('--outputs <blobs>', OUTPUTS_HELP, collect)
    .option('-f, --force', 'replace existing .npy files in the --save-outputs folder')
    .option('--json', 'print one JSON object (see RunCommandResult in src/cli/commands/run.ts)')
    .option('--threads <n>', THREADS_HELP)
    .option('--conv-algorithm <auto|direct|winograd2|winograd4>', CONV_ALGORITHM_HELP, 'auto')
    .action(
      (file: string, opts: RunCliOptions, cmd: Command) => withFile(file, () => {
        const out = new Output({ ...cmd.optsWithGlobals(), json: !!opts.json });
        const seed = Number(opts.seed);
        if (!Number.isSafeInteger(seed) || seed < 0) throw new BncError(`--seed ${opts.seed}: expected a non-negative integer`, { code: 'USAGE' });
        const flags = parseInputFlags(opts);
        const inputFiles = flags.files;
        const threads = parseThreads(opts.threads);
        const convAlgorithm = parseConvAlgorithm(opts.convAlgorithm);
        startThreads(threads); // workers warm up while the model is read
        // On worker threads, weights read into shared memory reach them without a copy.
        const model = openModelShowingProgress(out, file, {
          ...weightOptions(file, opts),
          warn: (m) => out.warn(m),
          sharedMemory: threads > 1,
          inputShapes: inputShapesOption(flags),
          outputs: outputsOption(opts.outputs, [file]),
        });
        checkSupported(model);

        const declared = modelInputs(model);
        // The same input preparation as verify (one sample): files, images, generated with shapes/ranges.
        const prepared = prepareInputs(declared, { fileA: file, ...resolveInputs(flags, model), seed, samples: 1 });
        const feeds = prepared.samples[0]!;
        const generated = declared.filter((vi) => ['generated', 'range'].includes(prepared.tensors.find((t) => t.name === vi.name)!.source));

        // Check every output path before running, so a bad folder fails fast.
        const saveDir = opts.saveOutputs;
        const outputFiles = new Map<string, string>();
        if (saveDir) {
          if (fs.existsSync(saveDir) && !fs.statSync(saveDir).isDirectory()) {
            throw new BncError(`--save-outputs ${saveDir}: exists and is not a folder`, { file: saveDir });
          }
          fs.mkdirSync(saveDir, { recursive: true });
          const inputsRead = [file, ...inputFiles.values(), ...(opts.weights ? [opts.weights] : [])];
          for (const o of model.graph.outputs) {
            const target = path.join(saveDir, npyFileName(o.name));
            checkOutputPath(target, { force: !!opts.force, inputs: inputsRead });
            outputFiles.set(o.name, target);
          }
        }

        const started = performance.now();
        const progress = progressReporter('run', out);
        let result: RunResult;
        try {
          result = runWithShapeHint(file, model, feeds, generated, new Set(flags.shapes.keys()), { onProgress: progress.onProgress, threads, convAlgorithm });
        } finally {
          progress.finish();
        }
        const milliseconds = performance.now() - started;

        const summaries: OutputSummary[] = [];
        for (const [name, t] of result.outputs) {
          const summary = summarizeOutput(name, t);
          const target = outputFiles.get(name);
          if (target) {
            const { data, dtype } = npyData(name, t);
            writeFileAtomic(target, () => encodeNpy(t.dims, data, dtype), { force: !!opts.force, inputs: [file] });
            summary.file = target;
          }
          summaries.push(summary);
        }
        const report: RunCommandResult = {
          model: file,
          ...(generated.length ? { seed } : {}),
          inputs: prepared.tensors,
          outputs: summaries,
          nodes: model.graph.nodes.length,
          milliseconds: Math.round(milliseconds * 10) / 10,
        };
        if (out.json) {
          out.result(report);
          return;
        }
        const c = out.color;
        out.line(`${c.bold(file)}: ran ${report.nodes} nodes in ${report.milliseconds.toFixed(1)} ms`);
        out.line(c.bold('Inputs'));
        out.line(
          table(
            report.inputs.map((i) => [
              i.name,
              i.dtype,
              `[${i.shape.join(', ')}]`,
              i.source === 'file'
                ? i.file!
                : i.source === 'image'
                  ? `${i.file}: ${i.preprocessing}`
                  : `${i.source === 'range' ? `uniform [${i.range![0]}, ${i.range![1]})` : 'generated'} (seed ${seed})` +
                    (i.symbolicDims?.length ? `; ${i.symbolicDims.map((d) => `${d.name === '?' ? `dim ${d.dim}` : d.name}=${d.size}`).join(', ')}` : ''),
            ]),
          ),
        );
        out.line(c.bold('Outputs'));
        out.line(
          table([
            ['name', 'dtype', 'shape', 'min', 'max', 'mean'],
            ...summaries.map((s) => [
              s.name,
              s.dtype,
              `[${s.shape.join(', ')}]`,
              formatNumber(s.min),
              formatNumber(s.max),
              formatNumber(s.mean) + (s.nonFinite ? c.yellow(` (${s.nonFinite} NaN/inf)`) : ''),
            ]),
          ]),
        );
        for (const s of summaries) if (s.file) out.line(`wrote ${s.file}`);
      }),
    );
}
