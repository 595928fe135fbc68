import * as path from 'node:path';
import { Command } from 'commander';
import { CaffeConversion, readCaffeFiles, siblingCaffemodel } from '../../formats/caffe/index.js';
import { parseOnnx, serializeOnnxChunks } from '../../formats/onnx/index.js';
import { readModelBytes } from '../../formats/modelFile.js';
import { BncError, Model, assertValidModel, cloneModel, onnxOpset, shapeOf, validateGraph, withFile } from '../../ir/index.js';
import { StagedFile, checkOutputPath, stageFile, writeFileAtomic } from '../../io/atomicWrite.js';
import { PASSES, PassReport, runPasses } from '../../passes/index.js';
import { VerifyReport } from '../../verify/report.js';
import { verifyModels } from '../../verify/verify.js';
import { releaseModelTensors } from '../../verify/outline.js';
import { collectSharedGarbage } from '../../runtime/sharedGarbage.js';
import { Output } from '../output.js';
import { progressReporter } from '../progress.js';
import { OUTPUTS_HELP, outputsOption } from '../openModel.js';
import { VerifyGateOptions, addVerifyGateOptions, parseVerifyGate } from '../verifyGate.js';
import { InputFlagOptions, addInputOptions, collect, inputShapesOption, parseInputFlags, resolveInputs } from '../inputFlags.js';

/** Passes `convert` runs after reading, in order, when they exist: BN back to stored statistics, and the
 * Caffe BatchNorm + Scale pairs merged into one BatchNormalization. */
// merge-bn-scale, then cleanup of what the merge leaves unread (the Scale's gamma and beta): the file
// computes what Caffe computes. A BatchNorm with use_global_stats: false stays in training mode (batch
// statistics) as Caffe runs it; bn-eval belongs to fold-bn, which deploys.
const CONVERT_PASSES = ['merge-bn-scale', 'cleanup'];

/**
 * The --json object of `bnc convert caffe-to-onnx`:
 *   input        { prototxt, caffemodel (null with --random-weights), randomWeights, seed }
 *   output       the .onnx written
 *   opset        ONNX opset of the file
 *   layers       layers in the TEST net; nodes: ONNX nodes written
 *   inputs, outputs  [{ name, shape }] (null in a shape: the dynamic batch axis)
 *   batchNorm    { count, mergedWithScale, trainingMode } (trainingMode: BNs with use_global_stats: false)
 *   passes       PassReport of each pass run
 *   warnings     strings
 *   verify       the `bnc verify` report (Caffe IR vs the written ONNX) with --verify, else null
 */
export interface ConvertResult {
  input: { prototxt: string; caffemodel: string | null; randomWeights: boolean; seed: number | null };
  output: string;
  opset: number;
  layers: number;
  nodes: number;
  inputs: { name: string; shape: (number | string | null)[] }[];
  outputs: { name: string; shape: (number | string | null)[] }[];
  batchNorm: { count: number; mergedWithScale: number; trainingMode: number };
  passes: PassReport[];
  warnings: string[];
  verify: VerifyReport | null;
}

interface ConvertCliOptions extends InputFlagOptions, VerifyGateOptions {
  output: string;
  opset?: string;
  batch?: string;
  randomWeights?: boolean;
  seed?: string;
  verify?: boolean;
  json?: boolean;
  force?: boolean;
  outputs?: string[];
  inputShape?: string[];
}

function integerOption(text: string, option: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new BncError(`${option} ${JSON.stringify(text)}: expected a whole number from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'any' : max}`, {
      code: 'USAGE',
    });
  }
  return n;
}

export function registerConvert(program: Command): void {
  const convert = program.command('convert').description('convert a model from another framework to ONNX');
  convert.exitOverride();
  const caffeToOnnx = convert
    .command('caffe-to-onnx')
    .description('convert a Caffe net (prototxt + caffemodel) to ONNX, BatchNorm+Scale merged, TEST-phase semantics')
    .argument('<prototxt>', 'net definition (.prototxt, deploy or train_val: the TEST net is built)')
    .argument('[caffemodel]', 'weights (default: the .caffemodel beside the prototxt)')
    .requiredOption('-o, --output <file>', 'output .onnx file')
    .option('--opset <n>', 'ONNX opset, 13 to 21 (default 13; 15 when a BatchNorm needs training_mode)')
    .option('--batch <n|dynamic>', "batch size of every input, or 'dynamic' for a symbolic batch axis (default: the prototxt's)")
    .option('--outputs <blobs>', OUTPUTS_HELP, collect)
    .option('--random-weights', 'generate seeded random weights instead of reading a caffemodel')
    .option('--seed <n>', 'seed for --random-weights (and --verify inputs)', '0')
    .option('--verify', "run the Caffe net and the written ONNX in bnc's runtime on the same seeded input and compare (exit 1 if different)")
;

  addVerifyGateOptions(addInputOptions(caffeToOnnx, "with --verify; --input-shape also sets the net's input shape"), ' (with --verify)')
    .option('-f, --force', 'replace an existing output file')
    .option('--json', 'print one JSON object (see ConvertResult in src/cli/commands/convert.ts)')
    .exitOverride()
    .action((prototxt: string, caffemodelArg: string | undefined, opts: ConvertCliOptions, cmd: Command) => withFile(prototxt, () => {
      const out = new Output({ ...cmd.optsWithGlobals(), json: !!opts.json });
      const seed = integerOption(opts.seed ?? '0', '--seed', 0, 2 ** 32 - 1);
      const opset = opts.opset === undefined ? undefined : integerOption(opts.opset, '--opset', 13, 21);
      let batch: number | 'dynamic' | undefined;
      if (opts.batch !== undefined) batch = opts.batch === 'dynamic' ? 'dynamic' : integerOption(opts.batch, '--batch', 1);
      if (opts.randomWeights && caffemodelArg) {
        throw new BncError(`--random-weights and a caffemodel (${caffemodelArg}) were both given; choose one`, { code: 'USAGE' });
      }
      const caffemodel = opts.randomWeights ? undefined : (caffemodelArg ?? siblingCaffemodel(prototxt));
      const io = { force: !!opts.force, inputs: [prototxt, ...(caffemodel ? [caffemodel] : [])] };
      const flags = parseInputFlags(opts);
      const gate = parseVerifyGate(opts);
      if (!opts.verify && (flags.files.size || flags.ranges.size || flags.images.size)) {
        throw new BncError('--input, --input-range and --image choose the inputs of --verify; add --verify', { code: 'USAGE' });
      }
      checkOutputPath(opts.output, io);

      const warnings: string[] = [];
      const warn = (m: string) => {
        warnings.push(m);
        out.warn(m);
      };
      const loading = progressReporter(`reading ${path.basename(caffemodel ?? prototxt)}`, out);
      let conversion: CaffeConversion;
      try {
        // --input-shape fixes the net's declared input shape (CaffeReadOptions.inputShapes).
        conversion = readCaffeFiles(prototxt, caffemodel, {
          randomWeights: !!opts.randomWeights,
          seed,
          opset,
          batch,
          outputs: outputsOption(opts.outputs, [prototxt]),
          inputShapes: inputShapesOption(flags),
          warn,
          onProgress: loading.onProgress,
        });
      } finally {
        loading.finish();
      }
      const caffeModel = conversion.model;
      const model = cloneModel(caffeModel);
      const passNames = CONVERT_PASSES.filter((p) => p in PASSES);
      const reports = runPasses(model, passNames);
      for (const r of reports) for (const w of r.warnings) warn(`${r.pass}: ${w}`);
      validateGraph(model.graph);
      // The converted model obeys the onnx checker's rules for its opset and IR version, or is not written.
      assertValidModel(model, opts.output);
      // The file is written piece by piece (tensor data straight from the model), never whole in memory.
      let verify: VerifyReport | null = null;
      let staged: StagedFile | undefined;
      if (opts.verify) {
        // --verify checks the file itself: the Caffe net runs first and lets go of its weights; then the
        // converted model is written under a temporary name, lets go of its own, and the file is read back
        // as model B. It is renamed to the output only if it passes. So one copy of the weights at a time.
        const progress = progressReporter('verify', out);
        const writtenModel = {
          load: (): Model => {
            staged = stageFile(opts.output, () => serializeOnnxChunks(model), io);
            releaseModelTensors(model);
            collectSharedGarbage();
            // The bytes are ours alone: misaligned tensors are moved in place, not copied.
            return parseOnnx(readModelBytes(staged.path), { overwriteBytes: true }, opts.output);
          },
        };
        try {
          verify = verifyModels(caffeModel, writtenModel, {
            allowNonFinite: gate.allowNonFinite,
            errorStat: gate.errorStat,
            fileA: prototxt,
            fileB: opts.output,
            ...resolveInputs(flags, caffeModel),
            seed,
            tolerance: gate.tolerance,
            onProgress: progress.onProgress,
            releaseA: true,
          });
        } finally {
          progress.finish();
          if (!verify || verify.exitCode !== 0) staged?.discard();
        }
        for (const w of verify.warnings) warn(`verify: ${w}`);
      }
      const wrote = !verify || verify.exitCode === 0;
      if (wrote) {
        if (staged) staged.commit();
        else writeFileAtomic(opts.output, () => serializeOnnxChunks(model), io);
      }

      const byPass = (name: string) => reports.find((r) => r.pass === name)?.changed ?? 0;
      const result: ConvertResult = {
        input: { prototxt, caffemodel: caffemodel ?? null, randomWeights: !!opts.randomWeights, seed: opts.randomWeights ? seed : null },
        output: opts.output,
        opset: onnxOpset(model),
        layers: conversion.layers,
        nodes: model.graph.nodes.length,
        inputs: model.graph.inputs.map((v) => ({ name: v.name, shape: shapeOf(v) ?? [] })),
        outputs: model.graph.outputs.map((v) => ({ name: v.name, shape: shapeOf(v) ?? [] })),
        batchNorm: {
          count: caffeModel.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length,
          mergedWithScale: byPass('merge-bn-scale'),
          trainingMode: caffeModel.graph.nodes.filter((n) => n.opType === 'BatchNormalization' && n.attributes.some((a) => a.name === 'training_mode' && a.i)).length,
        },
        passes: reports,
        warnings,
        verify,
      };
      if (verify && verify.exitCode !== 0) process.exitCode = verify.exitCode;

      if (out.json) {
        out.result(result);
        return;
      }
      const c = out.color;
      const shape = (s: (number | string | null)[]) => `[${s.map((d) => d ?? '?').join(', ')}]`;
      const source = caffemodel ? ` + ${caffemodel}` : `, random weights (seed ${seed})`;
      out.line(`${c.bold('converted')} ${prototxt}${source}: ${result.layers} layers → ${result.nodes} ONNX nodes, opset ${result.opset}`);
      for (const i of result.inputs) out.line(`  input  ${i.name} float ${shape(i.shape)}`);
      for (const o of result.outputs) out.line(`  output ${o.name} float ${shape(o.shape)}`);
      if (result.batchNorm.count) {
        out.line(
          `  BatchNorm: ${result.batchNorm.count}, merged with their Scale: ${result.batchNorm.mergedWithScale}` +
            (result.batchNorm.trainingMode ? `, in training mode (batch statistics, as Caffe runs them): ${result.batchNorm.trainingMode}` : ''),
        );
      }
      if (verify) {
        for (const o of verify.outputs) {
          const m = o.metrics;
          const figure = (x: unknown) => (x === 0 ? '0' : typeof x === 'number' ? x.toPrecision(3) : String(x));
          const figures = m ? `max abs ${figure(m.maxAbsError)}, max rel ${figure(m.maxRelError)}` : (o.mismatch ?? 'not compared');
          out.line(`  verify ${o.name}: ${figures} ${o.pass ? c.green('✓ pass') : c.red('✗ FAIL')}`);
        }
        out.line(verify.verdict === 'equivalent' ? c.green.bold('EQUIVALENT') : c.red.bold('DIFFERENT') + ': the converted ONNX does not compute what the Caffe net does');
      }
      out.line(wrote ? `wrote ${opts.output}` : `${opts.output} not written (verification failed)`);
    }));
}
