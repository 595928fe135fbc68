import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openModel } from '../../src/formats/index.js';
import { parseOnnx, serializeOnnx } from '../../src/formats/onnx/index.js';
import { Model, assertValidModel, checkModel, validateGraph } from '../../src/ir/index.js';
import { readNpy } from '../../src/io/npy.js';
import { FOLD_BN_PIPELINE, PassReport, runPasses } from '../../src/passes/index.js';
import { HAVE_SHARED, SKIP_SHARED_MESSAGE, caseDir, readCase, sharedCases, withinTolerance } from '../helpers/shared.js';
import { runOrt } from '../helpers/ort.js';
import { countOps } from './graphBuilder.js';

interface OnnxBatchNormExpectation {
  batchnorm_nodes: number;
  foldable: number;
  training_mode_nodes: number;
  not_foldable: { node: string; reason: string }[];
}

function foldCase(file: string, options: { keepBn?: boolean; allowWeightCopy?: boolean }): { model: Model; reports: PassReport[] } {
  const model = parseOnnx(fs.readFileSync(file));
  const before = checkModel(model);
  const reports = runPasses(model, FOLD_BN_PIPELINE, options);
  validateGraph(model.graph);
  // Valid for its opset and IR version by the onnx checker's rules, as far as the input was.
  assertValidModel(model, file, before);
  return { model, reports };
}

async function expectMatchesRefs(kind: 'onnx' | 'caffe', name: string, model: Model, outputs?: string[]): Promise<void> {
  const c = readCase(kind, name);
  const dir = caseDir(kind, name);
  // Cases with several net inputs (Fast R-CNN's data and rois) list them all in case.json `inputs`.
  const firstInput = () => model.graph.inputs.find((i) => !model.graph.initializers.some((t) => t.name === i.name))!.name;
  const listed = (c as { inputs?: { blob: string; file: string }[] }).inputs ?? [{ blob: firstInput(), file: c.input.file }];
  const feeds: Record<string, { data: Float32Array; dims: number[] }> = {};
  for (const i of listed) {
    const npy = readNpy(path.join(dir, i.file));
    feeds[i.blob] = { data: npy.data as Float32Array, dims: npy.shape };
  }
  const got = await runOrt(serializeOnnx(model), feeds);
  const names = outputs ?? model.graph.outputs.map((o) => o.name);
  expect(names.length).toBeGreaterThan(0);
  for (const out of names) {
    const ref = c.refs[out];
    expect(ref, `case ${name} has a ref for output '${out}'`).toBeDefined();
    const refData = readNpy(path.join(dir, ref!.file)).data as Float32Array;
    expect(got[out], `output '${out}' computed`).toBeDefined();
    const r = withinTolerance(got[out]!.data, refData, c.tolerance);
    expect(r.ok, `${name}/${out}: worst error ${r.worst.toFixed(2)}× the tolerance at ${r.index}`).toBe(true);
  }
}

describe.skipIf(!HAVE_SHARED)(`fold-bn on the shared ONNX cases ${HAVE_SHARED ? '' : `(${SKIP_SHARED_MESSAGE})`}`, () => {
  const cases = sharedCases('onnx');

  it.each(cases)('%s: BN count and reasons as case.json says (--keep-bn), outputs match the refs', async (name) => {
    const c = readCase('onnx', name);
    const bn = c.batchnorm as unknown as OnnxBatchNormExpectation;
    const { model, reports } = foldCase(path.join(caseDir('onnx', name), 'model.onnx'), { keepBn: true });
    expect(countOps(parseOnnx(fs.readFileSync(path.join(caseDir('onnx', name), 'model.onnx'))), 'BatchNormalization')).toBe(bn.batchnorm_nodes);
    const fold = reports.find((r) => r.pass === 'fold-bn')!;
    expect(fold.changed).toBe(bn.foldable);
    expect(countOps(model, 'BatchNormalization')).toBe(bn.batchnorm_nodes - bn.foldable);
    expect(reports.find((r) => r.pass === 'bn-eval')!.changed).toBe(bn.training_mode_nodes);
    // Every BN case.json calls non-foldable is skipped, by name, with a reason.
    expect(fold.skipped.map((s) => s.node).sort()).toEqual(bn.not_foldable.map((n) => n.node).sort());
    for (const s of fold.skipped) expect(s.reason.length).toBeGreaterThan(10);
    await expectMatchesRefs('onnx', name, model);
  });

  it.each(cases)('%s: without --keep-bn no BN is left (the rest become Mul + Add), outputs match the refs', async (name) => {
    const c = readCase('onnx', name);
    const bn = c.batchnorm as unknown as OnnxBatchNormExpectation;
    const { model, reports } = foldCase(path.join(caseDir('onnx', name), 'model.onnx'), {});
    expect(countOps(model, 'BatchNormalization')).toBe(0);
    expect(reports.find((r) => r.pass === 'bn-to-affine')!.changed).toBe(bn.batchnorm_nodes - bn.foldable);
    await expectMatchesRefs('onnx', name, model);
  });

  it.each(cases)('%s: with --allow-weight-copy --keep-bn, BN count equals torch\'s own fold (model_folded_by_torch.onnx)', (name) => {
    const { model } = foldCase(path.join(caseDir('onnx', name), 'model.onnx'), { keepBn: true, allowWeightCopy: true });
    const torch = parseOnnx(fs.readFileSync(path.join(caseDir('onnx', name), 'model_folded_by_torch.onnx')));
    expect(countOps(model, 'BatchNormalization')).toBe(countOps(torch, 'BatchNormalization'));
    // Folding adds no nodes: the op histogram equals torch's apart from Identity/Constant bookkeeping.
    for (const op of ['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'Relu', 'Add']) expect(countOps(model, op), op).toBe(countOps(torch, op));
  });

  const training = cases.filter((n) => fs.existsSync(path.join(caseDir('onnx', n), 'model_eval_fixed_by_oracle.onnx')));
  it.each(training)('%s: bn-eval alone gives what the oracle-fixed file gives; the unfixed file really trains', async (name) => {
    const dir = caseDir('onnx', name);
    const c = readCase('onnx', name);
    const input = readNpy(path.join(dir, c.input.file));
    const feeds = { input: { data: input.data as Float32Array, dims: input.shape } };
    const model = parseOnnx(fs.readFileSync(path.join(dir, 'model.onnx')));
    const report = runPasses(model, ['bn-eval'])[0]!;
    expect(report.changed).toBe(2);
    for (const n of model.graph.nodes.filter((n) => n.opType === 'BatchNormalization')) expect(n.outputs.length).toBe(1);
    const ours = await runOrt(serializeOnnx(model), feeds);
    const oracle = await runOrt(fs.readFileSync(path.join(dir, 'model_eval_fixed_by_oracle.onnx')), feeds);
    const a = Buffer.from(ours.output!.data.buffer, ours.output!.data.byteOffset, ours.output!.data.byteLength);
    const b = Buffer.from(oracle.output!.data.buffer, oracle.output!.data.byteOffset, oracle.output!.data.byteLength);
    expect(a.equals(b)).toBe(true);
    // The unfixed file computes batch statistics: far from the eval refs, close to train_mode_output.npy.
    const unfixed = await runOrt(fs.readFileSync(path.join(dir, 'model.onnx')), feeds);
    const trainRef = readNpy(path.join(dir, 'train_mode_output.npy')).data as Float32Array;
    expect(withinTolerance(unfixed.output!.data, trainRef, { rtol: 1e-4, atol_rel: 1e-4 }).ok).toBe(true);
    const evalRef = readNpy(path.join(dir, 'ref_output.npy')).data as Float32Array;
    expect(withinTolerance(unfixed.output!.data, evalRef, c.tolerance).ok).toBe(false);
  });
});

// The Caffe reader registers itself with openModel when it lands; until then these tests skip.
const CAFFE_PROBE = HAVE_SHARED ? path.join(caseDir('caffe', 'conv_bn_scale_relu'), 'net.prototxt') : '';
function caffeReaderAvailable(): boolean {
  if (!CAFFE_PROBE) return false;
  try {
    openModel(CAFFE_PROBE);
    return true;
  } catch {
    return false;
  }
}
const HAVE_CAFFE = caffeReaderAvailable();

interface CaffeBatchNormExpectation {
  batchnorm_layers: number;
  scale_merged: number;
  foldable: number;
  not_foldable: { layer: string; reason: string }[];
}

describe.skipIf(!HAVE_CAFFE)(
  `fold-bn on the shared Caffe cases ${HAVE_CAFFE ? '' : '(skipped: no Caffe reader registered with openModel yet, or ../shared/models missing)'}`,
  () => {
    const cases = sharedCases('caffe').filter((n) => fs.existsSync(path.join(caseDir('caffe', n), 'net.caffemodel')));
    it.each(cases)('%s: merges, folds and keeps BNs as case.json says; net outputs match the refs', async (name) => {
      const c = readCase('caffe', name);
      const bn = c.batchnorm as unknown as CaffeBatchNormExpectation;
      // PSPNet's BN layers (not Caffe BatchNorm layers) become BatchNormalization too, each foldable (case.json note).
      const pspBn = (c as { pspnet_bn_layers?: { count: number } }).pspnet_bn_layers?.count ?? 0;
      const model = openModel(path.join(caseDir('caffe', name), 'net.prototxt'));
      expect(countOps(model, 'BatchNormalization')).toBe(bn.batchnorm_layers + pspBn);
      const reports = runPasses(model, FOLD_BN_PIPELINE, { keepBn: true });
      validateGraph(model.graph);
      expect(checkModel(model)).toEqual([]);
      expect(reports.find((r) => r.pass === 'merge-bn-scale')!.changed).toBe(bn.scale_merged);
      expect(reports.find((r) => r.pass === 'fold-bn')!.changed).toBe(bn.foldable + pspBn);
      expect(countOps(model, 'BatchNormalization')).toBe(bn.batchnorm_layers - bn.foldable);
      await expectMatchesRefs('caffe', name, model, c.net_outputs);
    });
  },
);
