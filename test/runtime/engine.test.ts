import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BncError, DataType, Model, Node, Tensor, createTensor, emptyGraph, floatAttr, intAttr, numberToFloat16Bits, tensorValueInfo } from '../../src/ir/index.js';
import { readOnnxFile, serializeOnnx } from '../../src/formats/onnx/index.js';
import { readNpy } from '../../src/io/npy.js';
import { checkSupported, modelInputs, runModel } from '../../src/runtime/engine.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { generateInputs } from '../../src/runtime/inputs.js';
import { HAVE_SHARED, SKIP_SHARED_MESSAGE, caseDir, readCase, sharedCases, withinTolerance } from '../helpers/shared.js';
import { runOrt } from '../helpers/ort.js';
import { randomF32, rng } from '../helpers/kernelHarness.js';

function node(opType: string, inputs: string[], outputs: string[], attributes: Node['attributes'] = [], name = `${opType}_${outputs[0]}`): Node {
  return { name, opType, domain: '', inputs, outputs, attributes };
}

function model(nodes: Node[], inputs: Model['graph']['inputs'], outputs: string[], initializers: Tensor[] = [], opset = 13): Model {
  const graph = emptyGraph('engine_test');
  graph.nodes = nodes;
  graph.inputs = inputs;
  graph.outputs = outputs.map((o) => ({ name: o, type: { tensor: { elemType: DataType.FLOAT } } }));
  graph.initializers = initializers;
  return { irVersion: 8, opsetImports: [{ domain: '', version: opset }], metadataProps: [], graph };
}

function weight(name: string, rand: () => number, dims: number[]): Tensor {
  const t = randomF32(rand, dims, -1, 1);
  return createTensor(name, DataType.FLOAT, dims, t.data as Float32Array);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('engine', () => {
  const rand = rng(7);

  // conv → bn → relu → (a) maxpool → gemm path, (b) a second branch reading the conv output again.
  function smallCnn(): Model {
    return model(
      [
        node('Conv', ['x', 'w1', 'b1'], ['c1'], [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }]),
        node('BatchNormalization', ['c1', 'g', 'beta', 'mean', 'var'], ['bn1'], [floatAttr('epsilon', 1e-3)]),
        node('Relu', ['bn1'], ['r1']),
        node('MaxPool', ['r1'], ['p1'], [{ name: 'kernel_shape', type: 7, ints: [2, 2] }, { name: 'strides', type: 7, ints: [2, 2] }]),
        node('Flatten', ['p1'], ['f1']),
        node('Gemm', ['f1', 'wf', 'bf'], ['y'], [intAttr('transB', 1)]),
        node('GlobalAveragePool', ['c1'], ['side']),
      ],
      [tensorValueInfo('x', DataType.FLOAT, ['batch', 3, 8, 8])],
      ['y', 'side'],
      [
        weight('w1', rand, [4, 3, 3, 3]),
        weight('b1', rand, [4]),
        weight('g', rand, [4]),
        weight('beta', rand, [4]),
        weight('mean', rand, [4]),
        createTensor('var', DataType.FLOAT, [4], Float32Array.from([0.5, 1, 1.5, 2])),
        weight('wf', rand, [5, 64]),
        weight('bf', rand, [5]),
      ],
    );
  }

  it('runs a small CNN like onnxruntime, keeps intermediates on request, and reports progress', async () => {
    const m = smallCnn();
    const x = randomF32(rand, [2, 3, 8, 8]);
    const progress: number[] = [];
    const result = runModel(m, new Map([['x', x]]), { keepAll: true, onProgress: (done, total) => progress.push(done / total) });
    const want = await runOrt(serializeOnnx(m), { x: { data: x.data as Float32Array, dims: x.dims } });
    for (const name of ['y', 'side']) {
      const got = result.outputs.get(name)!;
      expect(got.dims).toEqual(want[name]!.dims);
      expect(maxAbsDiff(got.data as Float32Array, want[name]!.data)).toBeLessThan(1e-4);
    }
    expect([...result.order].sort()).toEqual(['bn1', 'c1', 'f1', 'p1', 'r1', 'side', 'y']);
    // Topological: every value comes after the values its node reads.
    const chain = ['c1', 'bn1', 'r1', 'p1', 'f1', 'y'].map((v) => result.order.indexOf(v));
    expect([...chain].sort((a, b) => a - b)).toEqual(chain);
    expect(result.order.indexOf('side')).toBeGreaterThan(result.order.indexOf('c1'));
    expect([...result.intermediates!.keys()].sort()).toEqual([...result.order].sort());
    expect(progress.at(-1)).toBe(1);
    expect(progress.length).toBe(7);
  });

  it('without keepAll returns no intermediates', () => {
    const result = runModel(smallCnn(), new Map([['x', randomF32(rand, [1, 3, 8, 8])]]));
    expect(result.intermediates).toBeUndefined();
    expect([...result.outputs.keys()]).toEqual(['y', 'side']);
  });

  it('checkSupported lists every unsupported op with its nodes in one error', () => {
    const m = model(
      [node('Foo', ['x'], ['a'], [], 'a'), node('Bar', ['a'], ['b'], [], 'b'), node('Relu', ['b'], ['c']), node('Bar', ['c'], ['y'], [], 'c')],
      [tensorValueInfo('x', DataType.FLOAT, [1])],
      ['y'],
    );
    expect(() => checkSupported(m)).toThrow(BncError);
    expect(() => checkSupported(m)).toThrow("3 unsupported ops: Foo (node 'a'), Bar (nodes 'b', 'c')");
    expect(() => runModel(m, new Map([['x', randomF32(rand, [1])]]))).toThrow(/3 unsupported ops/);
    const custom = model([{ ...node('Relu', ['x'], ['y'], [], 'r'), domain: 'com.example' }], [tensorValueInfo('x', DataType.FLOAT, [1])], ['y']);
    expect(() => checkSupported(custom)).toThrow("1 unsupported op: com.example:Relu (node 'r')");
  });

  it('modelInputs leaves out inputs that initializers provide; a fed value overrides the initializer', () => {
    const m = model([node('Add', ['x', 'k'], ['y'])], [tensorValueInfo('x', DataType.FLOAT, [2]), tensorValueInfo('k', DataType.FLOAT, [2])], ['y'], [
      createTensor('k', DataType.FLOAT, [2], Float32Array.from([10, 20])),
    ]);
    expect(modelInputs(m).map((v) => v.name)).toEqual(['x']);
    const x: RtTensor = { dtype: DataType.FLOAT, dims: [2], data: Float32Array.from([1, 2]) };
    expect(Array.from(runModel(m, new Map([['x', x]])).outputs.get('y')!.data as Float32Array)).toEqual([11, 22]);
    const k: RtTensor = { dtype: DataType.FLOAT, dims: [2], data: Float32Array.from([100, 200]) };
    expect(Array.from(runModel(m, new Map([['x', x], ['k', k]])).outputs.get('y')!.data as Float32Array)).toEqual([101, 202]);
  });

  it('checks fed inputs against the declared type and shape, with errors naming the input', () => {
    const m = smallCnn();
    const run = (t: RtTensor, name = 'x') => () => runModel(m, new Map([[name, t]]));
    expect(run(randomF32(rand, [1, 3, 9, 8]))).toThrow("input 'x' has shape [1, 3, 9, 8], but the model declares [batch, 3, 8, 8]");
    expect(run(randomF32(rand, [3, 8, 8]))).toThrow(/input 'x' has shape \[3, 8, 8\]/);
    expect(run({ dtype: DataType.DOUBLE, dims: [1, 3, 8, 8], data: new Float64Array(192) })).toThrow("input 'x' has type double, but the model declares float");
    expect(run(randomF32(rand, [1]), 'nope')).toThrow("the model has no input 'nope' (its inputs: 'x')");
    expect(() => runModel(m, new Map())).toThrow("input 'x' is not given");
    // A symbolic batch dimension takes any size.
    expect(runModel(m, new Map([['x', randomF32(rand, [3, 3, 8, 8])]])).outputs.get('y')!.dims).toEqual([3, 5]);
  });

  it('widens float16 initializers to float32 and runs Constant nodes', () => {
    const half = createTensor('h', DataType.FLOAT16, [3], Uint16Array.from([1.5, -2, 0.25].map(numberToFloat16Bits)));
    const c = createTensor('cv', DataType.FLOAT, [3], Float32Array.from([1, 1, 1]));
    const m = model(
      [node('Constant', [], ['k'], [{ name: 'value', type: 4, t: c }]), node('Add', ['h', 'k'], ['s']), node('Mul', ['s', 'x'], ['y'])],
      [tensorValueInfo('x', DataType.FLOAT, [3])],
      ['y'],
      [half],
    );
    const x: RtTensor = { dtype: DataType.FLOAT, dims: [3], data: Float32Array.from([2, 2, 2]) };
    expect(Array.from(runModel(m, new Map([['x', x]])).outputs.get('y')!.data as Float32Array)).toEqual([5, -2, 2.5]);
  });

  it('releases intermediates after their last reader (a value read late stays alive until then)', () => {
    // x → a → b → c, and d = a + c reads 'a' again at the end: 'a' must still be there.
    const m = model(
      [node('Relu', ['x'], ['a']), node('Neg', ['a'], ['b']), node('Neg', ['b'], ['c']), node('Add', ['a', 'c'], ['y'])],
      [tensorValueInfo('x', DataType.FLOAT, [2])],
      ['y'],
    );
    const x: RtTensor = { dtype: DataType.FLOAT, dims: [2], data: Float32Array.from([-1, 3]) };
    expect(Array.from(runModel(m, new Map([['x', x]])).outputs.get('y')!.data as Float32Array)).toEqual([0, 6]);
  });

  it('an allocation failure inside a kernel stays a RangeError (reported as out of memory) and names the node', () => {
    const m = model(
      [node('ConvTranspose', ['x', 'w'], ['y'], [{ name: 'strides', type: 7, ints: [300000, 300000] }], 'huge')],
      [tensorValueInfo('x', DataType.FLOAT, [1, 1, 3, 3])],
      ['y'],
      [createTensor('w', DataType.FLOAT, [1, 1, 2, 2], new Float32Array(4))],
    );
    let caught: unknown;
    try {
      runModel(m, new Map([['x', randomF32(rand, [1, 1, 3, 3])]]));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(RangeError);
    expect((caught as Error).message).toMatch(/^ConvTranspose node 'huge': /);
  });

  it('generated inputs follow the declaration (symbolic dims → 1) and the seed', () => {
    const inputs = [tensorValueInfo('img', DataType.FLOAT, ['n', 3, 4, 4]), tensorValueInfo('ids', DataType.INT64, [5]), tensorValueInfo('f16', DataType.FLOAT16, [2])];
    const a = generateInputs(inputs, 0);
    const b = generateInputs(inputs, 0);
    const c = generateInputs(inputs, 1);
    expect(a.get('img')!.dims).toEqual([1, 3, 4, 4]);
    expect(a.get('f16')!.dtype).toBe(DataType.FLOAT);
    expect(Buffer.from((a.get('img')!.data as Float32Array).buffer).equals(Buffer.from((b.get('img')!.data as Float32Array).buffer))).toBe(true);
    expect(Buffer.from((a.get('img')!.data as Float32Array).buffer).equals(Buffer.from((c.get('img')!.data as Float32Array).buffer))).toBe(false);
    const ids = a.get('ids')!.data as BigInt64Array;
    for (const v of ids) expect(v >= 0n && v <= 9n).toBe(true);
    // Roughly standard normal: mean near 0, variance near 1 over many values.
    const big = generateInputs([tensorValueInfo('z', DataType.FLOAT, [20000])], 3).get('z')!.data as Float32Array;
    let sum = 0;
    let sq = 0;
    for (const v of big) {
      sum += v;
      sq += v * v;
    }
    expect(Math.abs(sum / big.length)).toBeLessThan(0.03);
    expect(Math.abs(sq / big.length - 1)).toBeLessThan(0.05);
  });
});

describe.skipIf(!HAVE_SHARED)(`shared ONNX models run in bnc and match their refs${HAVE_SHARED ? '' : ` (${SKIP_SHARED_MESSAGE})`}`, () => {
  for (const name of sharedCases('onnx')) {
    it(name, () => {
      const spec = readCase('onnx', name);
      const dir = caseDir('onnx', name);
      const m = readOnnxFile(path.join(dir, 'model.onnx'));
      const input = readNpy(path.join(dir, spec.input.file));
      const result = runModel(m, new Map([[spec.input.name ?? 'input', { dtype: DataType.FLOAT, dims: input.shape, data: input.data }]]));
      // Training-mode files compute batch statistics: their expected result is train_mode_<output>.npy.
      const trainRefs = spec.train_mode_refs as Record<string, { file: string }> | undefined;
      const refs = trainRefs ? Object.fromEntries(Object.entries(trainRefs).map(([k, v]) => [k, v.file])) : Object.fromEntries(Object.entries(spec.refs).map(([k, v]) => [k, v.file]));
      expect(Object.keys(refs).length).toBeGreaterThan(0);
      for (const [output, file] of Object.entries(refs)) {
        const ref = readNpy(path.join(dir, file));
        const got = result.outputs.get(output);
        expect(got, `output ${output}`).toBeDefined();
        expect(got!.dims).toEqual(ref.shape);
        const check = withinTolerance(got!.data as Float32Array, ref.data as Float32Array, spec.tolerance);
        expect(check.ok, `${name}/${output}: worst error ${check.worst.toFixed(3)}× the allowed at element ${check.index}`).toBe(true);
      }
    });
  }
  it('the training-mode cases give the eval refs once fixed (model_eval_fixed_by_oracle.onnx)', () => {
    for (const name of sharedCases('onnx').filter((n) => fs.existsSync(path.join(caseDir('onnx', n), 'model_eval_fixed_by_oracle.onnx')))) {
      const spec = readCase('onnx', name);
      const dir = caseDir('onnx', name);
      const input = readNpy(path.join(dir, spec.input.file));
      const result = runModel(readOnnxFile(path.join(dir, 'model_eval_fixed_by_oracle.onnx')), new Map([['input', { dtype: DataType.FLOAT, dims: input.shape, data: input.data }]]));
      const ref = readNpy(path.join(dir, spec.refs.output!.file));
      expect(withinTolerance(result.outputs.get('output')!.data as Float32Array, ref.data as Float32Array, spec.tolerance).ok, name).toBe(true);
    }
  });
});
