import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openModel } from '../../src/formats/index.js';
import { DataType, Model, createTensor, emptyGraph, intsAttr, tensorValueInfo } from '../../src/ir/index.js';
import { modelInputs, runModel } from '../../src/runtime/engine.js';
import { generateInputs } from '../../src/runtime/inputs.js';
import { inferShapes } from '../../src/runtime/shapeInference.js';
import { readNpy } from '../../src/io/npy.js';
import { HAVE_SHARED, SKIP_SHARED_MESSAGE, caseDir, sharedCases } from '../helpers/shared.js';

function sharedModels(): string[] {
  if (!HAVE_SHARED) return [];
  const onnx = sharedCases('onnx').map((c) => path.join(caseDir('onnx', c), 'model.onnx'));
  const caffe = sharedCases('caffe')
    .map((c) => path.join(caseDir('caffe', c), 'net.prototxt'))
    .filter((p) => fs.existsSync(p.replace(/\.prototxt$/, '.caffemodel')));
  return [...onnx, ...caffe];
}

describe.skipIf(!HAVE_SHARED)(`inferred shapes agree with the computed ones ${HAVE_SHARED ? '' : SKIP_SHARED_MESSAGE}`, () => {
  it.each(sharedModels().map((f) => [path.relative(path.dirname(path.dirname(path.dirname(f))), f), f]))('%s', (_label, file) => {
    const model = openModel(file);
    const inputs = generateInputs(modelInputs(model), 1);
    // Inputs whose values have meaning (Fast R-CNN's rois: batch index, box) come from the case's own files.
    const caseFile = path.join(path.dirname(file), 'case.json');
    const listed = fs.existsSync(caseFile) ? (JSON.parse(fs.readFileSync(caseFile, 'utf8')) as { inputs?: { blob: string; file: string }[] }).inputs : undefined;
    for (const i of listed ?? []) {
      const npy = readNpy(path.join(path.dirname(file), i.file));
      inputs.set(i.blob, { dtype: DataType.FLOAT, dims: npy.shape, data: npy.data as Float32Array });
    }
    const inferred = inferShapes(model, new Map([...inputs].map(([n, t]) => [n, t.dims])));
    const run = runModel(model, inputs, { keepAll: true });
    let checked = 0;
    for (const [name, t] of run.intermediates!) {
      const dims = inferred.get(name);
      if (!dims) continue;
      expect(dims, name).toEqual(t.dims);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });
});

function convModel(inChannels: number): Model {
  const g = emptyGraph('bad');
  g.inputs.push(tensorValueInfo('x', DataType.FLOAT, [1, inChannels, 8, 8]));
  g.initializers.push(createTensor('w', DataType.FLOAT, [4, 3, 3, 3]), createTensor('w2', DataType.FLOAT, [2, 4, 1, 1]));
  g.nodes.push(
    { name: 'conv1', opType: 'Conv', domain: '', inputs: ['x', 'w'], outputs: ['c1'], attributes: [intsAttr('pads', [1, 1, 1, 1])] },
    { name: 'relu', opType: 'Relu', domain: '', inputs: ['c1'], outputs: ['r'], attributes: [] },
    { name: 'conv2', opType: 'Conv', domain: '', inputs: ['r', 'w2'], outputs: ['y'], attributes: [] },
  );
  g.outputs.push(tensorValueInfo('y', DataType.FLOAT));
  return { irVersion: 8, opsetImports: [{ domain: '', version: 13 }], metadataProps: [], graph: g };
}

describe('shape inference before running', () => {
  it('infers conv output shapes through a chain', () => {
    const shapes = inferShapes(convModel(3), new Map([['x', [1, 3, 8, 8]]]));
    expect(shapes.get('c1')).toEqual([1, 4, 8, 8]);
    expect(shapes.get('y')).toEqual([1, 2, 8, 8]);
  });

  it('names the node whose weight does not fit its input', () => {
    expect(() => inferShapes(convModel(5), new Map([['x', [1, 5, 8, 8]]]))).toThrowError(/Conv node 'conv1': input has 5 channels, but the weight \[4, ?3, ?3, ?3\]/);
  });
});
