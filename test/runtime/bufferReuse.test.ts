import { afterAll, describe, expect, it } from 'vitest';
import { DataType, Model, Node, Tensor, createTensor, emptyGraph, floatAttr, tensorValueInfo } from '../../src/ir/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { runModel } from '../../src/runtime/engine.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { bufferPoolStats } from '../../src/runtime/bufferPool.js';
import { closeThreadPool } from '../../src/runtime/parallel.js';
import { runOrt } from '../helpers/ort.js';
import { randomF32, rng } from '../helpers/kernelHarness.js';

// runModel reuses the buffers of released values and lets Relu, Clip, BatchNormalization and same-shape
// Add write over a dying input. These graphs are built so that a wrong reuse (a buffer another live value
// still views, a graph output, an input read again later) changes the outputs; onnxruntime-node gives the
// expected values, and the same run with keepAll (no reuse) must agree bit for bit.

function node(opType: string, inputs: string[], outputs: string[], attributes: Node['attributes'] = []): Node {
  return { name: `${opType}_${outputs[0]}`, opType, domain: '', inputs, outputs, attributes };
}

function model(nodes: Node[], dims: number[], outputs: string[], initializers: Tensor[] = []): Model {
  const graph = emptyGraph('buffer_reuse');
  graph.nodes = nodes;
  graph.inputs = [tensorValueInfo('x', DataType.FLOAT, dims)];
  graph.outputs = outputs.map((o) => ({ name: o, type: { tensor: { elemType: DataType.FLOAT } } }));
  graph.initializers = initializers;
  return { irVersion: 8, opsetImports: [{ domain: '', version: 13 }], metadataProps: [], graph };
}

const ints = (name: string, values: number[]) => ({ name, type: 7, ints: values });

async function check(m: Model, x: RtTensor, threads: number, tolerance = 1e-5): Promise<void> {
  const reused = runModel(m, new Map([['x', x]]), { threads });
  const plain = runModel(m, new Map([['x', x]]), { threads, keepAll: true });
  const want = await runOrt(serializeOnnx(m), { x: { data: x.data as Float32Array, dims: x.dims } });
  for (const o of m.graph.outputs) {
    const got = reused.outputs.get(o.name)!;
    const w = want[o.name]!;
    expect(got.dims).toEqual(w.dims);
    let worst = 0;
    for (let i = 0; i < w.data.length; i++) worst = Math.max(worst, Math.abs((got.data as Float32Array)[i]! - w.data[i]!));
    expect(worst, `output ${o.name}`).toBeLessThan(tolerance);
    // Bit for bit: the same float32 bits (NaN payloads and -0 included) as without reuse.
    const bits = new Int32Array(got.data.buffer, got.data.byteOffset, got.data.length);
    const plainData = plain.outputs.get(o.name)!.data;
    const plainBits = new Int32Array(plainData.buffer, plainData.byteOffset, plainData.length);
    let differing = 0;
    for (let i = 0; i < bits.length; i++) if (bits[i] !== plainBits[i]) differing++;
    expect(differing, `output ${o.name}: elements differing from the run without reuse`).toBe(0);
  }
}

describe('buffer reuse and in-place kernels', () => {
  afterAll(() => closeThreadPool());
  const rand = rng(11);
  // 32·64·64 elements: large enough for shared outputs and threaded pointwise jobs on 2 threads.
  const dims = [1, 32, 64, 64];
  const shapeTensor = createTensor('shape', DataType.INT64, [4], BigInt64Array.from(dims.map(BigInt)));

  for (const threads of [1, 2]) {
    it(`does not overwrite a buffer that a Reshape view still reads (threads ${threads})`, async () => {
      // t's last reader is Relu, but r (a view of t's buffer) is read after it.
      const m = model(
        [
          node('Add', ['x', 'x'], ['t']),
          node('Reshape', ['t', 'shape'], ['r']),
          node('Relu', ['t'], ['u']),
          node('Add', ['r', 'u'], ['y']),
        ],
        dims,
        ['y'],
        [shapeTensor],
      );
      await check(m, randomF32(rand, dims, -1, 1), threads);
    });

    it(`keeps graph outputs and values read again later (threads ${threads})`, async () => {
      const m = model(
        [
          node('Add', ['x', 'x'], ['t']),
          node('Relu', ['t'], ['u']), // t is a graph output: not overwritten
          node('Add', ['x', 'u'], ['v']),
          node('Clip', ['v', 'lo', 'hi'], ['c']),
          node('Relu', ['v'], ['w']), // v is read by Clip before and by Add after: not overwritten
          node('Add', ['v', 'w'], ['s']),
          node('Add', ['s', 's'], ['y']), // both inputs the same dying value: in place is still right
        ],
        dims,
        ['t', 'c', 'y'],
        [createTensor('lo', DataType.FLOAT, [], Float32Array.of(0)), createTensor('hi', DataType.FLOAT, [], Float32Array.of(1))],
      );
      await check(m, randomF32(rand, dims, -1, 1), threads);
    });

    it(`runs a Conv → BN → Relu → Add chain on reused buffers like onnxruntime (threads ${threads})`, async () => {
      const c = dims[1]!;
      const w = (name: string, shape: number[], lo = -0.2, hi = 0.2) => createTensor(name, DataType.FLOAT, shape, randomF32(rand, shape, lo, hi).data as Float32Array);
      const nodes: Node[] = [];
      const inits: Tensor[] = [];
      let at = 'x';
      // Same-sized tensors again and again: later outputs land in released buffers, which must be zeroed
      // for the accumulating Conv.
      for (let k = 0; k < 3; k++) {
        // Without a bias (k = 1) a Conv accumulates into its output as allocated.
        nodes.push(node('Conv', k === 1 ? [at, `w${k}`] : [at, `w${k}`, `b${k}`], [`c${k}`], [ints('pads', [1, 1, 1, 1])]));
        nodes.push(node('BatchNormalization', [`c${k}`, `g${k}`, `be${k}`, `m${k}`, `v${k}`], [`n${k}`], [floatAttr('epsilon', 1e-3)]));
        nodes.push(node('Relu', [`n${k}`], [`r${k}`])); // not in place: n is read again
        nodes.push(node('Add', [`r${k}`, `n${k}`], [`s${k}`]));
        inits.push(w(`w${k}`, [c, c, 3, 3], -0.06, 0.06), w(`b${k}`, [c]), w(`g${k}`, [c], 0.5, 1.5), w(`be${k}`, [c]), w(`m${k}`, [c]), w(`v${k}`, [c], 0.5, 2));
        at = `s${k}`;
      }
      nodes.push(node('Add', [at, 'x'], ['y']));
      const before = bufferPoolStats.reused;
      await check(model(nodes, dims, ['y'], inits), randomF32(rand, dims, -1, 1), threads, 1e-4);
      expect(bufferPoolStats.reused).toBeGreaterThan(before);
    });
  }
});

describe('buffer reuse never touches memory the model owns', () => {
  afterAll(() => closeThreadPool());
  // A Constant node's output (and a subgraph's initializer handed out) is the model's own array: recycling it
  // or writing over it corrupts the model for the next run (seen: `convert --verify` on an SSD head, whose
  // PriorBox outputs are Constants, got mbox_loc's values in its priors).
  for (const threads of [1, 2]) {
    it(`keeps Constant values intact across runs, read by an in-place Relu and then recycled (threads ${threads})`, () => {
      const rand = rng(5);
      const dims = [1, 8, 64, 64];
      const n = dims.reduce((a, b) => a * b);
      const priors = randomF32(rand, dims, -1, 1).data as Float32Array;
      const saved = priors.slice();
      const value = createTensor('priors_value', DataType.FLOAT, dims, priors);
      const m = model([
        node('Constant', [], ['p'], [{ name: 'value', type: 4, t: value }]),
        // Relu is p's last reader: it may write over a dying input, but p is the model's array.
        node('Relu', ['p'], ['pr']),
        node('Add', ['x', 'pr'], ['s']),
        // Same-size outputs allocated after p died: a recycled p would receive these values.
        node('Neg', ['s'], ['t']),
        node('Mul', ['t', 'x'], ['y']),
      ], dims, ['y']);
      const x: RtTensor = { dtype: DataType.FLOAT, dims, data: randomF32(rand, dims).data as Float32Array };
      const first = runModel(m, new Map([['x', x]]), { threads }).outputs.get('y')!.data as Float32Array;
      const firstCopy = first.slice();
      const second = runModel(m, new Map([['x', x]]), { threads }).outputs.get('y')!.data as Float32Array;
      let changed = 0;
      for (let i = 0; i < n; i++) if (!Object.is(priors[i], saved[i])) changed++;
      expect(changed, "elements of the Constant's own array changed by the runs").toBe(0);
      let differing = 0;
      for (let i = 0; i < n; i++) if (!Object.is(firstCopy[i], second[i])) differing++;
      expect(differing, 'second run differs from the first').toBe(0);
    });
  }
});
