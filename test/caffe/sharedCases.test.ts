import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCaffe } from '../../src/formats/caffe/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { DataType, Model, tensorValueInfo } from '../../src/ir/index.js';
import { readNpy } from '../../src/io/npy.js';
import { runModel } from '../../src/runtime/engine.js';
import { runOrt } from '../helpers/ort.js';
import { HAVE_SHARED, SKIP_SHARED_MESSAGE, caseDir, readCase, sharedCases, withinTolerance } from '../helpers/shared.js';

// Every shared Caffe case: convert, then check EVERY ref_<blob>.npy its case.json lists (outputs and
// intermediates) against onnxruntime-node running the written ONNX, and against bnc's own runtime
// running the converted IR. The refs come from an independent float64 implementation of Caffe.

const CASES = sharedCases('caffe').filter((c) => c !== 'resnet50_prototxt_only');

/** The model with every ref blob as a graph output (the final version of a blob carries its name). */
function withRefOutputs(model: Model, blobs: string[]): Model {
  const graph = { ...model.graph, outputs: [...model.graph.outputs] };
  for (const blob of blobs) {
    if (!graph.outputs.some((o) => o.name === blob)) graph.outputs.push(tensorValueInfo(blob, DataType.FLOAT));
  }
  return { ...model, graph };
}

describe.skipIf(!HAVE_SHARED)(`shared Caffe cases ${HAVE_SHARED ? '' : `(${SKIP_SHARED_MESSAGE})`}`, () => {
  for (const name of CASES) {
    const spec = readCase('caffe', name);
    const dir = caseDir('caffe', name);
    const blobs = Object.keys(spec.refs);

    const convert = () => {
      const warnings: string[] = [];
      const conv = openCaffe(path.join(dir, 'net.prototxt'), { warn: (m) => warnings.push(m) });
      return { conv, warnings };
    };
    // Every net input the case lists (case.json `inputs`: data first, then e.g. Fast R-CNN's rois), else its one `input`.
    const inputs = () => {
      const listed = (spec as { inputs?: { blob?: string; name?: string; file: string }[] }).inputs ?? [spec.input];
      return listed.map((i) => {
        const npy = readNpy(path.join(dir, i.file));
        return { name: i.blob ?? i.name ?? 'data', data: npy.data as Float32Array, dims: npy.shape };
      });
    };
    it(`${name}: net outputs and ref blob shapes match case.json`, () => {
      const { conv } = convert();
      expect(conv.outputs.sort()).toEqual([...(spec.net_outputs ?? [])].sort());
      for (const blob of blobs) {
        // -1: a size the data decides (DetectionOutput's row count); the runtime tests compare actual dims.
        const ref = spec.refs[blob]!.shape;
        expect(conv.shapes.get(blob)?.map((d, i) => (d < 0 ? ref[i] : d)), blob).toEqual(ref);
      }
    });

    it(`${name}: onnxruntime on the written ONNX matches every ref`, async () => {
      const { conv } = convert();
      const bytes = serializeOnnx(withRefOutputs(conv.model, blobs));
      const result = await runOrt(bytes, Object.fromEntries(inputs().map((x) => [x.name, { data: x.data, dims: x.dims }])));
      for (const blob of blobs) {
        const ref = readNpy(path.join(dir, spec.refs[blob]!.file));
        const got = result[blob];
        expect(got, `output ${blob}`).toBeDefined();
        expect(got!.dims, blob).toEqual(ref.shape);
        const cmp = withinTolerance(got!.data, ref.data as Float32Array, spec.tolerance);
        expect(cmp.ok, `${blob}: worst element ${cmp.index} at ${cmp.worst.toFixed(2)}x the tolerance`).toBe(true);
      }
    });

    it(`${name}: bnc's runtime on the converted IR matches every ref`, () => {
      const { conv } = convert();
      const feeds = new Map(inputs().map((x) => [x.name, { dtype: DataType.FLOAT, dims: x.dims, data: x.data }]));
      const run = runModel(conv.model, feeds, { keepAll: true });
      for (const blob of blobs) {
        const ref = readNpy(path.join(dir, spec.refs[blob]!.file));
        const got = run.outputs.get(blob) ?? run.intermediates?.get(blob);
        expect(got, `value ${blob}`).toBeDefined();
        expect(got!.dims, blob).toEqual(ref.shape);
        const cmp = withinTolerance(got!.data as Float32Array, ref.data as Float32Array, spec.tolerance);
        expect(cmp.ok, `${blob}: worst element ${cmp.index} at ${cmp.worst.toFixed(2)}x the tolerance`).toBe(true);
      }
    });
  }

  it.skipIf(!sharedCases('caffe').includes('resnet50_prototxt_only'))('resnet50_prototxt_only converts with random weights and runs in onnxruntime', async () => {
    const dir = caseDir('caffe', 'resnet50_prototxt_only');
    const conv = openCaffe(path.join(dir, 'net.prototxt'), { randomWeights: true, seed: 7 });
    expect(conv.model.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length).toBe(53);
    const dims = [1, 3, 224, 224];
    const data = new Float32Array(3 * 224 * 224);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37);
    const result = await runOrt(serializeOnnx(conv.model), { data: { data, dims } });
    const prob = result[conv.outputs[0]!]!;
    expect(prob.dims).toEqual([1, 1000]);
    let sum = 0;
    for (let i = 0; i < prob.data.length; i++) sum += prob.data[i]!;
    expect(Math.abs(sum - 1)).toBeLessThan(1e-4);
  });
});
