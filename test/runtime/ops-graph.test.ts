import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Attribute, DataType, Model, Node, Tensor, emptyGraph, intAttr, intsAttr, stringAttr, tensorValueInfo } from '../../src/ir/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { runModel } from '../../src/runtime/engine.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { randomF32, rng, tensorMismatch } from '../helpers/kernelHarness.js';

// Whole graphs of the non-conv op families through the engine, against onnxruntime: the shape
// arithmetic PyTorch exports around Flatten/Reshape (Shape → Gather → Unsqueeze → Concat → Reshape, all
// int64), plus a resize / reduce / softmax head and a Where/Equal mask.

function node(opType: string, inputs: string[], outputs: string[], attributes: Attribute[] = []): Node {
  return { name: `${opType}_${outputs[0]}`, opType, domain: '', inputs, outputs, attributes };
}

function initializer(name: string, dtype: DataType, dims: number[], data: Tensor['data']): Tensor {
  return { name, dtype, dims, data };
}

function buildModel(opset: number): Model {
  const g = emptyGraph('ops_graph');
  g.inputs.push(tensorValueInfo('x', DataType.FLOAT, [2, 3, 4, 5]));
  g.initializers.push(
    initializer('bias', DataType.FLOAT, [3, 1, 1], Float32Array.of(0.5, -0.25, 0.1)),
    initializer('zero_index', DataType.INT64, [], BigInt64Array.of(0n)),
    initializer('unsqueeze_axes', DataType.INT64, [1], BigInt64Array.of(0n)),
    initializer('minus_one', DataType.INT64, [1], BigInt64Array.of(-1n)),
    initializer('scales', DataType.FLOAT, [4], Float32Array.of(1, 1, 2, 1.5)),
    initializer('reduce_axes', DataType.INT64, [2], BigInt64Array.of(2n, 3n)),
    initializer('threshold', DataType.FLOAT, [], Float32Array.of(0)),
  );
  g.nodes.push(
    node('Add', ['x', 'bias'], ['biased']),
    node('Relu', ['biased'], ['act']),
    node('Shape', ['act'], ['shape']),
    node('Gather', ['shape', 'zero_index'], ['batch'], [intAttr('axis', 0)]),
    node('Unsqueeze', ['batch', 'unsqueeze_axes'], ['batch_1d']),
    node('Concat', ['batch_1d', 'minus_one'], ['flat_shape'], [intAttr('axis', 0)]),
    node('Reshape', ['act', 'flat_shape'], ['flat']),
    node('Softmax', ['flat'], ['probs'], [intAttr('axis', 1)]),
    node('Resize', ['x', '', 'scales'], ['up'], [stringAttr('mode', 'linear')]),
    node('ReduceMean', ['up'], ['pooled'], [intsAttr('axes', [2, 3]), intAttr('keepdims', 0)]),
    node('Transpose', ['x'], ['xt'], [intsAttr('perm', [0, 2, 3, 1])]),
    node('Max', ['xt', 'threshold'], ['xt_pos']),
    node('Equal', ['xt_pos', 'threshold'], ['was_negative']),
    node('Neg', ['xt'], ['xt_neg']),
    node('Where', ['was_negative', 'xt_neg', 'xt'], ['xt_abs']),
  );
  g.outputs.push({ name: 'probs' }, { name: 'pooled' }, { name: 'xt_abs' }, { name: 'flat_shape' });
  return { irVersion: 8, opsetImports: [{ domain: '', version: opset }], metadataProps: [], graph: g };
}

describe('a graph of elementwise, activation, shape, resize and reduction ops through runModel', () => {
  const rand = rng(61);
  for (const opset of [13, 17]) {
    it(`matches onnxruntime at opset ${opset}`, async () => {
      const model = buildModel(opset);
      const x = randomF32(rand, [2, 3, 4, 5]);
      const session = await ort.InferenceSession.create(serializeOnnx(model), { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
      const want = await session.run({ x: new ort.Tensor('float32', x.data as Float32Array, x.dims) });
      await session.release();
      const got = runModel(model, new Map([['x', x]])).outputs;
      for (const name of ['probs', 'pooled', 'xt_abs', 'flat_shape']) {
        const w = want[name]!;
        const expected: RtTensor = { dtype: w.type === 'int64' ? DataType.INT64 : DataType.FLOAT, dims: [...w.dims], data: w.data as Float32Array };
        expect(tensorMismatch(got.get(name)!, expected, { atol: 1e-6, rtol: 1e-5 }), name).toBeUndefined();
      }
    });
  }
});
