import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attribute, DataType, Model, Node, Tensor, createTensor, emptyGraph, floatAttr, intAttr, intsAttr, tensorValueInfo } from '../../src/ir/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { RunOptions, runModel } from '../../src/runtime/engine.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { fusionStats } from '../../src/runtime/fusion.js';
import { ConvEpilogue } from '../../src/runtime/epilogue.js';
import { sgemm } from '../../src/runtime/gemmCore.js';
import { closeThreadPool, parallelSgemm, sharedFloat32, threadsAvailable, workerStats } from '../../src/runtime/parallel.js';
import { runOrt } from '../helpers/ort.js';
import { rng } from '../helpers/kernelHarness.js';

// Conv epilogue fusion (src/runtime/fusion.ts) must not change a single bit: every model here runs fused
// (the default) and unfused (RunOptions.fuse: false) and the outputs are compared as Uint32 bit patterns,
// on 1 and 2 threads, for each conv strategy. Inputs, weights and residuals carry NaN, ±0, ±Infinity,
// float32 subnormals and values whose sums round to -0, so the Relu / Clip / Add edge cases are reached.

type Strategy = 'depthwise' | 'pointwise' | 'im2col' | 'winograd';

interface ConvShape {
  channels: number;
  outChannels: number;
  size: number;
  kernel: number;
  stride: number;
  group: number;
}

// Large enough (> 2M multiply-adds) that the conv runs threaded on 2 threads.
const SHAPES: Record<Strategy, ConvShape> = {
  depthwise: { channels: 96, outChannels: 96, size: 56, kernel: 3, stride: 1, group: 96 },
  pointwise: { channels: 64, outChannels: 64, size: 28, kernel: 1, stride: 1, group: 1 },
  im2col: { channels: 32, outChannels: 32, size: 56, kernel: 3, stride: 2, group: 1 },
  // Winograd splits each of its 16 GEMMs across threads only when that GEMM is large.
  winograd: { channels: 64, outChannels: 64, size: 56, kernel: 3, stride: 1, group: 1 },
};

function outSize(s: ConvShape): number {
  const pad = (s.kernel - 1) / 2;
  return Math.floor((s.size + 2 * pad - s.kernel) / s.stride) + 1;
}

/**
 * Values that exercise the edges: uniform in ±scale, and with probability `rate` each NaN, -0, ±Infinity
 * and a huge value (up to ±1.5e38) (these unless !nonFinite), a float32 subnormal.
 */
function specialFloats(rand: () => number, n: number, scale = 1, rate = 0.002, nonFinite = true): Float32Array {
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = rand() / rate;
    if (u < 1 && nonFinite) d[i] = NaN;
    else if (u < 2 && u >= 1) d[i] = -0;
    else if (u < 3 && u >= 2 && nonFinite) d[i] = rand() < 0.5 ? Infinity : -Infinity;
    else if (u < 4) d[i] = (rand() - 0.5) * 1e-39;
    else if (u < 5 && nonFinite) d[i] = (rand() - 0.5) * 3e38;
    else d[i] = (rand() * 2 - 1) * scale;
  }
  return d;
}

function floatInit(name: string, dims: number[], data: Float32Array): Tensor {
  return createTensor(name, DataType.FLOAT, dims, data);
}

function node(opType: string, inputs: string[], outputs: string[], attributes: Attribute[] = []): Node {
  return { name: `${opType}_${outputs[0]}`, opType, domain: '', inputs, outputs, attributes };
}

interface Built {
  model: Model;
  inputs: Map<string, RtTensor>;
}

function modelOf(nodes: Node[], inputs: [string, number[]][], outputs: string[], initializers: Tensor[], opset = 13): Model {
  const graph = emptyGraph('fusion_test');
  graph.nodes = nodes;
  graph.inputs = inputs.map(([name, dims]) => tensorValueInfo(name, DataType.FLOAT, dims));
  graph.outputs = outputs.map((o) => tensorValueInfo(o, DataType.FLOAT));
  graph.initializers = initializers;
  return { irVersion: 8, opsetImports: [{ domain: '', version: opset }], metadataProps: [], graph };
}

/**
 * Conv weights and bias for a shape. The first output channels are special: channel 0's weights are
 * subnormal (~1e-44) on inputs ~1 and its bias -0, so sums round to ±0 or subnormals in float32, channel
 * 1's bias is -0 with zero weights, channel 2's bias is 3.4e38 (sums overflow to Infinity).
 */
function convParams(rand: () => number, s: ConvShape, prefix: string): Tensor[] {
  const perOut = (s.channels / s.group) * s.kernel * s.kernel;
  const w = new Float32Array(s.outChannels * perOut);
  const bound = Math.sqrt(3 / perOut);
  for (let i = 0; i < w.length; i++) w[i] = (rand() * 2 - 1) * bound;
  for (let i = 0; i < perOut; i++) {
    w[i] = (rand() * 2 - 1) * 1e-44;
    w[perOut + i] = 0;
  }
  const b = new Float32Array(s.outChannels);
  for (let i = 0; i < b.length; i++) b[i] = (rand() * 2 - 1) * 0.5;
  b[0] = -0;
  b[1] = -0;
  b[2] = 3.4e38;
  return [
    floatInit(`${prefix}.w`, [s.outChannels, s.channels / s.group, s.kernel, s.kernel], w),
    floatInit(`${prefix}.b`, [s.outChannels], b),
  ];
}

function convNode(s: ConvShape, x: string, out: string, prefix: string): Node {
  const pad = (s.kernel - 1) / 2;
  return node('Conv', [x, `${prefix}.w`, `${prefix}.b`], [out], [
    intsAttr('kernel_shape', [s.kernel, s.kernel]),
    intsAttr('strides', [s.stride, s.stride]),
    intsAttr('pads', [pad, pad, pad, pad]),
    intAttr('group', s.group),
  ]);
}

type Chain = 'relu' | 'clip06' | 'clipNegative' | 'clipInputs' | 'leakyRelu' | 'add' | 'addRelu' | 'residualFirstRelu' | 'addClip';

/**
 * Conv → chain, with the residual (when there is one) a graph input of the conv's output shape.
 * Winograd's input has no NaN, Infinity or huge values (which its transforms can overflow): the sign of
 * the NaN its transforms make from them (Inf - Inf)
 * differs from run to run as V8 re-optimizes winograd.ts, fused or not (seen as 0x7fc00000 vs 0xffc00000
 * in the same unfused conv run twice). NaN still reaches its chains through the residual.
 */
function buildChain(strategy: Strategy, chain: Chain, seed: number): Built {
  const rand = rng(seed);
  const s = SHAPES[strategy];
  const o = outSize(s);
  const xDims = [1, s.channels, s.size, s.size];
  const yDims = [1, s.outChannels, o, o];
  const inits = convParams(rand, s, 'conv');
  const nodes = [convNode(s, 'x', 'c', 'conv')];
  const inputs = new Map<string, RtTensor>([['x', { dtype: DataType.FLOAT, dims: xDims, data: specialFloats(rand, xDims.reduce((a, b) => a * b), 1, 0.0002, strategy !== 'winograd') }]]);
  const graphInputs: [string, number[]][] = [['x', xDims]];
  let opset = 13;
  let last = 'c';
  if (chain === 'add' || chain === 'addRelu' || chain === 'residualFirstRelu' || chain === 'addClip') {
    inputs.set('r', { dtype: DataType.FLOAT, dims: yDims, data: specialFloats(rand, yDims.reduce((a, b) => a * b), 3) });
    graphInputs.push(['r', yDims]);
    nodes.push(node('Add', chain === 'residualFirstRelu' ? ['r', 'c'] : ['c', 'r'], ['s']));
    last = 's';
  }
  const activation = chain === 'add' ? undefined : chain === 'addRelu' || chain === 'residualFirstRelu' ? 'relu' : chain === 'addClip' ? 'clip06' : chain;
  if (activation === 'relu') nodes.push(node('Relu', [last], ['y']));
  if (activation === 'leakyRelu') nodes.push(node('LeakyRelu', [last], ['y'], [floatAttr('alpha', 0.1)]));
  if (activation === 'clip06' || activation === 'clipNegative') {
    opset = 6;
    nodes.push(node('Clip', [last], ['y'], [floatAttr('min', activation === 'clip06' ? 0 : -0.5), floatAttr('max', activation === 'clip06' ? 6 : 0.75)]));
  }
  if (activation === 'clipInputs') {
    // Opset 11+: bounds as inputs; only a lower bound, -0 (the bit path, -0 treated as +0).
    inits.push(floatInit('lo', [], Float32Array.of(-0)));
    nodes.push(node('Clip', [last, 'lo', ''], ['y']));
  }
  if (activation) last = 'y';
  return { model: modelOf(nodes, graphInputs, [last], inits, opset), inputs };
}

function bits(t: RtTensor): Uint32Array {
  const d = t.data as Float32Array;
  return new Uint32Array(d.buffer, d.byteOffset, d.length);
}

function countBitDifferences(a: RtTensor, b: RtTensor): number {
  expect(a.dims).toEqual(b.dims);
  const x = bits(a);
  const y = bits(b);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) n++;
  return n;
}

/** Run fused and unfused; return the outputs and how many nodes the fused run fused. */
function runBoth(b: Built, threads: number, extra: RunOptions = {}): { fused: Map<string, RtTensor>; unfused: Map<string, RtTensor>; nodesFused: number; convsFused: number } {
  const unfused = runModel(b.model, b.inputs, { threads, fuse: false }).outputs;
  const convs = fusionStats.convs;
  const nodes = fusionStats.nodes;
  const fused = runModel(b.model, b.inputs, { threads, ...extra }).outputs;
  return { fused, unfused, nodesFused: fusionStats.nodes - nodes, convsFused: fusionStats.convs - convs };
}

function expectSameBits(fused: Map<string, RtTensor>, unfused: Map<string, RtTensor>): void {
  expect([...fused.keys()]).toEqual([...unfused.keys()]);
  for (const [name, t] of unfused) expect(countBitDifferences(fused.get(name)!, t), `bits differing in output '${name}'`).toBe(0);
}

const STRATEGIES: Strategy[] = ['depthwise', 'pointwise', 'im2col', 'winograd'];
const CHAINS: Chain[] = ['relu', 'clip06', 'clipNegative', 'clipInputs', 'leakyRelu', 'add', 'addRelu', 'residualFirstRelu', 'addClip'];

describe('Conv epilogue fusion is bit-identical to running the nodes one by one', () => {
  beforeAll(async () => {
    // A fresh worker warms up before it claims chunks: wait until one has, so threads = 2 runs use it.
    expect(threadsAvailable(2)).toBe(true);
    const b = buildChain('pointwise', 'relu', 1);
    for (let i = 0; i < 100 && workerStats.chunksByWorkers === 0; i++) {
      runModel(b.model, b.inputs, { threads: 2 });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(workerStats.chunksByWorkers, 'a worker thread took part').toBeGreaterThan(0);
  });
  afterAll(() => closeThreadPool());

  it('the test inputs reach the edge cases (NaN, -0, ±Infinity, subnormals in the conv outputs)', () => {
    for (const strategy of STRATEGIES) {
      const b = buildChain(strategy, 'relu', 3);
      const c = runModel(b.model, b.inputs, { keepAll: true }).intermediates!.get('c')!.data as Float32Array;
      let nan = 0, negZero = 0, inf = 0, subnormal = 0;
      for (const v of c) {
        if (Number.isNaN(v)) nan++;
        else if (Object.is(v, -0)) negZero++;
        else if (!Number.isFinite(v)) inf++;
        else if (v !== 0 && Math.abs(v) < 1.1754943508222875e-38) subnormal++;
      }
      // Winograd's tiny sums are exact multiples of the smallest subnormal (its transforms are stored as
      // float32), so they never round to -0: -0 reaches its Relu only through the Add chains' residual.
      // Its inputs hold no NaN, ∞ or huge values (see buildChain), so its outputs have none either.
      if (strategy === 'winograd') {
        expect({ strategy, nan: nan > 0, negZero: negZero > 0, inf: inf > 0, subnormal: subnormal > 0 }).toEqual({ strategy, nan: false, negZero: false, inf: false, subnormal: true });
      } else {
        expect({ strategy, nan: nan > 0, negZero: negZero > 0, inf: inf > 0, subnormal: subnormal > 0 }).toEqual({ strategy, nan: true, negZero: true, inf: true, subnormal: true });
      }
    }
  });

  for (const strategy of STRATEGIES) {
    for (const threads of [1, 2]) {
      it(`${strategy} conv, ${threads} thread(s): every chain`, () => {
        const workerChunks = workerStats.chunksByWorkers;
        CHAINS.forEach((chain, k) => {
          const b = buildChain(strategy, chain, 100 + k);
          const { fused, unfused, convsFused, nodesFused } = runBoth(b, threads);
          expect({ chain, convsFused, nodesFused }).toEqual({ chain, convsFused: 1, nodesFused: chain.startsWith('add') || chain === 'residualFirstRelu' ? (chain === 'add' ? 1 : 2) : 1 });
          expectSameBits(fused, unfused);
        });
        if (threads > 1) expect(workerStats.chunksByWorkers, 'worker threads ran parts of the convs').toBeGreaterThan(workerChunks);
      });
    }
  }

  it('a conv whose output has another reader is not fused', () => {
    const b = buildChain('pointwise', 'relu', 7);
    b.model.graph.nodes.push(node('Sigmoid', ['c'], ['z']));
    b.model.graph.outputs.push(tensorValueInfo('z', DataType.FLOAT));
    const r = runBoth(b, 1);
    expect(r.convsFused).toBe(0);
    expectSameBits(r.fused, r.unfused);
  });

  it('a conv output that is a graph output is not fused', () => {
    const b = buildChain('im2col', 'relu', 8);
    b.model.graph.outputs.push(tensorValueInfo('c', DataType.FLOAT));
    const r = runBoth(b, 1);
    expect(r.convsFused).toBe(0);
    expect(r.fused.has('c')).toBe(true);
    expectSameBits(r.fused, r.unfused);
  });

  it('an Add output read elsewhere fuses Conv + Add only, and the Relu runs by itself', () => {
    const b = buildChain('pointwise', 'addRelu', 9);
    b.model.graph.nodes.push(node('Sigmoid', ['s'], ['z']));
    b.model.graph.outputs.push(tensorValueInfo('z', DataType.FLOAT));
    const r = runBoth(b, 2);
    expect([r.convsFused, r.nodesFused]).toEqual([1, 1]);
    expectSameBits(r.fused, r.unfused);
  });

  it('a residual also read after the Add is still there for its other reader', () => {
    const b = buildChain('winograd', 'addRelu', 10);
    b.model.graph.nodes.push(node('Mul', ['r', 'y'], ['z']));
    b.model.graph.outputs = [tensorValueInfo('z', DataType.FLOAT)];
    // The residual is produced by a node this time (so the engine's reference count would release it).
    b.model.graph.nodes.unshift(node('Identity', ['r0'], ['r']));
    b.model.graph.inputs[1]!.name = 'r0';
    b.inputs.set('r0', b.inputs.get('r')!);
    b.inputs.delete('r');
    const r = runBoth(b, 1);
    expect([r.convsFused, r.nodesFused]).toEqual([1, 2]);
    expectSameBits(r.fused, r.unfused);
  });

  it('a residual produced after the conv in run order: the conv that produces it fuses instead', () => {
    const rand = rng(11);
    const s = SHAPES.pointwise;
    const dims = [1, s.channels, s.size, s.size];
    const nodes = [convNode(s, 'x', 'c1', 'a'), convNode(s, 'x', 'c2', 'b'), node('Add', ['c1', 'c2'], ['s']), node('Relu', ['s'], ['y'])];
    const model = modelOf(nodes, [['x', dims]], ['y'], [...convParams(rand, s, 'a'), ...convParams(rand, s, 'b')]);
    const b = { model, inputs: new Map([['x', { dtype: DataType.FLOAT, dims, data: specialFloats(rand, dims.reduce((p, q) => p * q)) } as RtTensor]]) };
    const r = runBoth(b, 1);
    // Conv 'a' runs before c2 exists; conv 'b' fuses with Add(c1, ·) and the Relu.
    expect([r.convsFused, r.nodesFused]).toEqual([1, 2]);
    expectSameBits(r.fused, r.unfused);
  });

  it('a residual that broadcasts (not the conv output shape) runs unfused', () => {
    const b = buildChain('pointwise', 'addRelu', 12);
    const c = SHAPES.pointwise.outChannels;
    b.model.graph.inputs[1] = tensorValueInfo('r', DataType.FLOAT, [1, c, 1, 1]);
    b.inputs.set('r', { dtype: DataType.FLOAT, dims: [1, c, 1, 1], data: specialFloats(rng(5), c, 3) });
    const r = runBoth(b, 1);
    expect(r.convsFused).toBe(0);
    expectSameBits(r.fused, r.unfused);
  });

  it('keepAll and per-node hooks turn fusion off, so every value is seen', () => {
    const b = buildChain('im2col', 'addRelu', 13);
    const before = fusionStats.convs;
    const kept = runModel(b.model, b.inputs, { keepAll: true });
    expect([...kept.intermediates!.keys()].sort()).toEqual(['c', 's', 'y']);
    const seen: string[] = [];
    runModel(b.model, b.inputs, { afterNode: (n) => seen.push(n.opType) });
    expect(seen).toEqual(['Conv', 'Add', 'Relu']);
    expect(fusionStats.convs).toBe(before);
  });
});

describe('sgemm epilogue placement', () => {
  /** An epilogue that records how often each element is handed over and its value at that moment. */
  function recorder(length: number): ConvEpilogue & { seen: Uint8Array; value: Float32Array } {
    const seen = new Uint8Array(length);
    const value = new Float32Array(length);
    return {
      seen,
      value,
      apply(out, start, end) {
        for (let i = start; i < end; i++) {
          seen[i]!++;
          value[i] = out[i]!;
        }
      },
    };
  }

  // Shapes: vector cases, several K blocks (K > 256), several column blocks (N > 1020), ragged edges.
  const cases = [
    [1, 50, 30], [40, 1, 300], [7, 5, 3], [33, 1100, 600], [130, 77, 257],
  ] as const;
  for (const [M, N, K] of cases) {
    it(`${M}×${N}×${K}: each element of C handed over once, with its final value`, () => {
      const rand = rng(M * 7 + N);
      const a = Float32Array.from({ length: M * K }, () => rand() - 0.5);
      const b = Float32Array.from({ length: K * N }, () => rand() - 0.5);
      const ldc = N + 3;
      const want = new Float32Array(M * ldc + 5);
      sgemm(M, N, K, 1, { data: a, offset: 0, stride: K }, { data: b, offset: 0, stride: N }, want, 5, ldc);
      const c = new Float32Array(M * ldc + 5);
      const rec = recorder(c.length);
      sgemm(M, N, K, 1, { data: a, offset: 0, stride: K }, { data: b, offset: 0, stride: N }, c, 5, ldc, rec);
      for (let i = 0; i < c.length; i++) {
        const inC = i >= 5 && (i - 5) % ldc < N;
        if (rec.seen[i] !== (inC ? 1 : 0)) throw new Error(`element ${i} handed over ${rec.seen[i]} times`);
        if (inC && !Object.is(rec.value[i], want[i])) throw new Error(`element ${i} was ${rec.value[i]} when handed over, finally ${want[i]}`);
      }
    });
  }

  it('threaded: a spec-less epilogue runs on the calling thread after the job', () => {
    const [M, N, K] = [64, 900, 128];
    const rand = rng(3);
    const a = sharedFloat32(M * K).map(() => rand() - 0.5);
    const b = sharedFloat32(K * N).map(() => rand() - 0.5);
    const want = new Float32Array(M * N);
    sgemm(M, N, K, 1, { data: a, offset: 0, stride: K }, { data: b, offset: 0, stride: N }, want, 0, N);
    const c = sharedFloat32(M * N);
    const rec = recorder(c.length);
    parallelSgemm(2, M, N, K, 1, { data: a, offset: 0, stride: K }, { data: b, offset: 0, stride: N }, c, 0, N, rec);
    expect(rec.seen.every((s) => s === 1)).toBe(true);
    expect(Buffer.compare(Buffer.from(rec.value.buffer), Buffer.from(want.buffer))).toBe(0);
  });
});

describe('fused models against onnxruntime', () => {
  it('Conv + Add + Relu and Conv + Clip(0, 6) agree with onnxruntime-node', async () => {
    const rand = rng(21);
    const s = SHAPES.winograd;
    const p: ConvShape = { ...SHAPES.pointwise, channels: s.outChannels, outChannels: s.outChannels };
    const xDims = [1, s.channels, s.size, s.size];
    const nodes = [
      convNode(s, 'x', 'c1', 'a'), node('Relu', ['c1'], ['h']),
      convNode(p, 'h', 'c2', 'b'), node('Add', ['c2', 'h'], ['s']), node('Relu', ['s'], ['y1']),
      convNode(p, 'y1', 'c3', 'c'), node('Clip', ['c3', 'lo', 'hi'], ['y']),
    ];
    const inits = [...convParams(rand, s, 'a'), ...convParams(rand, p, 'b'), ...convParams(rand, p, 'c'), floatInit('lo', [], Float32Array.of(0)), floatInit('hi', [], Float32Array.of(6))];
    // Finite values only: onnxruntime's own conv arithmetic differs from bnc's in the last bits.
    for (const t of inits) if (t.name.endsWith('.b')) (t.data as Float32Array)[2] = 0.25;
    const x = Float32Array.from({ length: xDims.reduce((q, r) => q * r) }, () => rand() * 2 - 1);
    const model = modelOf(nodes, [['x', xDims]], ['y'], inits);
    const before = fusionStats.nodes;
    const ours = runModel(model, new Map([['x', { dtype: DataType.FLOAT, dims: xDims, data: x }]])).outputs.get('y')!.data as Float32Array;
    expect(fusionStats.nodes - before).toBe(4);
    const theirs = (await runOrt(serializeOnnx(model), { x: { data: x, dims: xDims } })).y!.data;
    expect(ours.length).toBe(theirs.length);
    let worst = 0;
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - theirs[i]!) / (1 + Math.abs(theirs[i]!)));
    expect(worst).toBeLessThan(1e-5);
  });
});
