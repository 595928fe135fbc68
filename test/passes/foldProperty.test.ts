import { describe, expect, it } from 'vitest';
import { Attribute, Model, Node, Tensor, assertValidModel, checkModel, floatAttr, intAttr, intsAttr } from '../../src/ir/index.js';
import { FOLD_BN_PIPELINE, runPasses } from '../../src/passes/index.js';
import { buildModel, cloneModel, countOps, f32, floatInput, node, normal, rng, runModel, uniform, worstRatio } from './graphBuilder.js';

/**
 * Property tests: random Conv / ConvTranspose (grouped, strided, dilated) / Gemm (transB, alpha, beta, every
 * C shape) / MatMul producers followed by a BN with random statistics (negative scales, tiny variances,
 * large epsilons). onnxruntime-node runs the model before and after fold-bn.
 *
 * The bound: both runs compute the same real number y = k*(sum_j w_j x_j + b - mean) + B in float32 with
 * different roundings. With u = 2^-24 and gamma_m = m*u/(1 - m*u), each is within gamma_(n+4) * mag of y,
 * where n is the number of products summed per output (the fan-in) and
 *   mag = |k| * (sum_j |w_j| |x_j| + |b| + |mean|) + |B|
 * (the standard bound for a dot product plus the few elementwise roundings of the bias and BN, and the
 * rounding of the folded weights). So |y_folded - y_bn| <= 2 * gamma_(n+8) * mag, with slack. mag is
 * computed by onnxruntime from the same graph with every parameter and the input replaced by its absolute
 * value. A fold along the wrong axis breaks this bound by orders of magnitude (checked below).
 */
const U = 2 ** -24;
const gamma = (m: number) => (m * U) / (1 - m * U);

interface Case {
  label: string;
  model: Model;
  magnitude: Model;
  feed: { data: Float32Array; dims: number[] };
  fanIn: number;
  producer: string;
}

function bnParams(r: () => number, c: number, tinyVar: boolean) {
  const scale = uniform(r, c, -2, 2);
  const bias = normal(r, c, 1);
  const mean = normal(r, c, 1);
  // Tiny variances make k large (up to 1/sqrt(eps)); a large epsilon dominates the variance instead.
  const variance = tinyVar ? uniform(r, c, 1e-9, 1e-6) : uniform(r, c, 0.1, 3);
  const eps = r() < 0.5 ? 1e-5 : 0.1 + r();
  const k = new Float64Array(c);
  for (let i = 0; i < c; i++) k[i] = scale[i]! / Math.sqrt(variance[i]! + Math.fround(eps));
  return { scale, bias, mean, variance, eps, k };
}

const abs = (a: Float32Array) => a.map(Math.abs);

/** x → producer → BN → y, and the magnitude graph |x| → producer(|params|) → +(|b|+|mean|) → *|k| → +|B|. */
function withBatchNorm(
  r: () => number,
  label: string,
  producer: (abs: boolean) => { nodes: Node[]; inits: Tensor[]; biasAbs?: Float32Array },
  x: { name: string; dims: number[] },
  channels: number,
  outRank: number,
  fanIn: number,
  opType: string,
): Case {
  const bn = bnParams(r, channels, r() < 0.4);
  const p = producer(false);
  const model = buildModel({
    nodes: [...p.nodes, node('BatchNormalization', ['t', 'bn_scale', 'bn_B', 'bn_mean', 'bn_var'], ['y'], [floatAttr('epsilon', bn.eps)], 'bn')],
    inputs: [floatInput(x.name, x.dims)],
    outputs: ['y'],
    initializers: [
      ...p.inits,
      f32('bn_scale', [channels], bn.scale),
      f32('bn_B', [channels], bn.bias),
      f32('bn_mean', [channels], bn.mean),
      f32('bn_var', [channels], bn.variance),
    ],
  });
  const a = producer(true);
  const perChannel = [channels, ...new Array<number>(Math.max(outRank - 2, 0)).fill(1)];
  const pre = new Float32Array(channels);
  for (let c = 0; c < channels; c++) pre[c] = (a.biasAbs?.[c] ?? 0) + Math.abs(bn.mean[c]!);
  const magnitude = buildModel({
    nodes: [...a.nodes, node('Add', ['t', 'm_pre'], ['t1']), node('Mul', ['t1', 'm_k'], ['t2']), node('Add', ['t2', 'm_B'], ['y'])],
    inputs: [floatInput(x.name, x.dims)],
    outputs: ['y'],
    initializers: [...a.inits, f32('m_pre', perChannel, pre), f32('m_k', perChannel, Array.from(bn.k, Math.abs)), f32('m_B', perChannel, abs(bn.bias))],
  });
  let n = 1;
  for (const d of x.dims) n *= d;
  return { label, model, magnitude, feed: { data: normal(r, n, 1.5), dims: x.dims }, fanIn, producer: opType };
}

function convCase(seed: number): Case {
  const r = rng(seed);
  const group = 1 + Math.floor(r() * 3);
  const cin = group * (1 + Math.floor(r() * 3));
  const cout = group * (1 + Math.floor(r() * 3));
  const oneD = r() < 0.25;
  const kernel = oneD ? [1 + Math.floor(r() * 3)] : [1 + Math.floor(r() * 3), 1 + Math.floor(r() * 3)];
  const spatial = kernel.map(() => 6 + Math.floor(r() * 4));
  const dil = kernel.map(() => 1 + Math.floor(r() * 2));
  const strides = kernel.map(() => 1 + Math.floor(r() * 2));
  const pads = [...kernel.map(() => Math.floor(r() * 2)), ...kernel.map(() => Math.floor(r() * 2))];
  const hasBias = r() < 0.5;
  const wDims = [cout, cin / group, ...kernel];
  const w = normal(r, wDims.reduce((a, b) => a * b, 1), 0.5);
  const b = normal(r, cout, 0.5);
  const attrs: Attribute[] = [intAttr('group', group), intsAttr('dilations', dil), intsAttr('strides', strides), intsAttr('pads', pads)];
  const label = `Conv g${group} ${cin}→${cout} k[${kernel}] d[${dil}] s[${strides}]${hasBias ? ' bias' : ''}`;
  return withBatchNorm(
    r,
    label,
    (isAbs) => ({
      nodes: [node('Conv', ['x', 'W', ...(hasBias && !isAbs ? ['b'] : [])], ['t'], attrs, 'conv')],
      inits: [f32('W', wDims, isAbs ? abs(w) : w), ...(hasBias && !isAbs ? [f32('b', [cout], b)] : [])],
      biasAbs: hasBias ? abs(b) : undefined,
    }),
    { name: 'x', dims: [1 + Math.floor(r() * 2), cin, ...spatial] },
    cout,
    2 + kernel.length,
    (cin / group) * kernel.reduce((a, c) => a * c, 1),
    'Conv',
  );
}

function convTransposeCase(seed: number, forceGroups?: number): Case {
  const r = rng(seed);
  const group = forceGroups ?? 1 + Math.floor(r() * 3);
  const cin = group * (1 + Math.floor(r() * 3));
  const coutPerGroup = 1 + Math.floor(r() * 3);
  const cout = group * coutPerGroup;
  const kernel = [1 + Math.floor(r() * 3), 1 + Math.floor(r() * 3)];
  const strides = kernel.map(() => 1 + Math.floor(r() * 2));
  const dil = kernel.map(() => 1 + Math.floor(r() * 2));
  const outPad = strides.map((s, i) => (r() < 0.5 ? 0 : Math.max(0, Math.min(s, dil[i]!) - 1)));
  const pads = [0, 0, 0, 0].map(() => Math.floor(r() * 2));
  const hasBias = r() < 0.5;
  const wDims = [cin, coutPerGroup, ...kernel];
  const w = normal(r, wDims.reduce((a, b) => a * b, 1), 0.5);
  const b = normal(r, cout, 0.5);
  const attrs: Attribute[] = [
    intAttr('group', group),
    intsAttr('strides', strides),
    intsAttr('dilations', dil),
    intsAttr('pads', pads),
    intsAttr('output_padding', outPad),
  ];
  const label = `ConvTranspose g${group} ${cin}→${cout} k[${kernel}] s[${strides}] d[${dil}] op[${outPad}]${hasBias ? ' bias' : ''}`;
  return withBatchNorm(
    r,
    label,
    (isAbs) => ({
      nodes: [node('ConvTranspose', ['x', 'W', ...(hasBias && !isAbs ? ['b'] : [])], ['t'], attrs, 'deconv')],
      inits: [f32('W', wDims, isAbs ? abs(w) : w), ...(hasBias && !isAbs ? [f32('b', [cout], b)] : [])],
      biasAbs: hasBias ? abs(b) : undefined,
    }),
    { name: 'x', dims: [1, cin, 4 + Math.floor(r() * 3), 4 + Math.floor(r() * 3)] },
    cout,
    4,
    (cin / group) * kernel[0]! * kernel[1]!,
    'ConvTranspose',
  );
}

const C_SHAPES = ['none', 'scalar', '[N]', '[1,N]', '[M,N]', '[M,1]'] as const;

function gemmCase(seed: number): Case {
  const r = rng(seed);
  const m = 1 + Math.floor(r() * 4);
  const k = 1 + Math.floor(r() * 12);
  const n = 1 + Math.floor(r() * 8);
  const transB = r() < 0.5 ? 1 : 0;
  const alpha = 0.5 + 1.5 * r();
  const beta = 0.5 + 1.5 * r();
  const cShape = C_SHAPES[Math.floor(r() * C_SHAPES.length)]!;
  const cDims = { none: [], scalar: [], '[N]': [n], '[1,N]': [1, n], '[M,N]': [m, n], '[M,1]': [m, 1] }[cShape];
  const cCount = cDims.reduce((a, b) => a * b, 1);
  const w = normal(r, k * n, 0.5);
  const c = normal(r, cCount, 0.5);
  const wDims = transB ? [n, k] : [k, n];
  const label = `Gemm ${m}x${k}→${n} transB=${transB} alpha=${alpha.toFixed(2)} beta=${beta.toFixed(2)} C ${cShape}`;
  return withBatchNorm(
    r,
    label,
    (isAbs) => {
      const attrs = [intAttr('transB', transB), floatAttr('alpha', alpha), ...(isAbs ? [] : [floatAttr('beta', beta)])];
      if (!isAbs) {
        const hasC = cShape !== 'none';
        return { nodes: [node('Gemm', ['x', 'W', ...(hasC ? ['C'] : [])], ['t'], attrs, 'gemm')], inits: [f32('W', wDims, w), ...(hasC ? [f32('C', cDims, c)] : [])] };
      }
      // |beta*C| broadcast to [M, N] is added as its own node; |b| below is then 0.
      const cAbs = new Float32Array(m * n);
      if (cShape !== 'none') {
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            const idx = cDims.length === 2 ? (cDims[0] === 1 ? 0 : i) * cDims[1]! + (cDims[1] === 1 ? 0 : j) : cDims.length === 1 ? j : 0;
            cAbs[i * n + j] = Math.abs(beta * c[idx]!);
          }
        }
      }
      return {
        nodes: [node('Gemm', ['x', 'W'], ['g'], attrs, 'gemm'), node('Add', ['g', 'Cabs'], ['t'])],
        inits: [f32('W', wDims, abs(w)), f32('Cabs', [m, n], cAbs)],
      };
    },
    { name: 'x', dims: [m, k] },
    n,
    2,
    k,
    'Gemm',
  );
}

function matMulCase(seed: number): Case {
  const r = rng(seed);
  const m = 1 + Math.floor(r() * 4);
  const k = 1 + Math.floor(r() * 12);
  const n = 1 + Math.floor(r() * 8);
  const w = normal(r, k * n, 0.5);
  return withBatchNorm(
    r,
    `MatMul ${m}x${k}→${n}`,
    (isAbs) => ({ nodes: [node('MatMul', ['x', 'W'], ['t'], [], 'matmul')], inits: [f32('W', [k, n], isAbs ? abs(w) : w)] }),
    { name: 'x', dims: [m, k] },
    n,
    2,
    k,
    'MatMul',
  );
}

async function checkFold(c: Case): Promise<{ worst: number; folded: Model }> {
  const folded = cloneModel(c.model);
  const reports = runPasses(folded, FOLD_BN_PIPELINE);
  assertValidModel(folded, c.label, checkModel(c.model));
  const fold = reports.find((r) => r.pass === 'fold-bn')!;
  expect(fold.changed, `${c.label}: ${JSON.stringify(fold.skipped)}`).toBe(1);
  expect(fold.counts).toEqual({ [c.producer]: 1 });
  expect(countOps(folded, 'BatchNormalization')).toBe(0);
  expect(folded.graph.nodes.length).toBe(1);
  expect(folded.graph.nodes[0]!.outputs[0]).toBe('y');
  return { worst: await compareWithBound(c, folded), folded };
}

async function compareWithBound(c: Case, candidate: Model): Promise<number> {
  const feeds = { x: c.feed };
  const absFeeds = { x: { data: abs(c.feed.data), dims: c.feed.dims } };
  const [ref, got, mag] = await Promise.all([runModel(c.model, feeds), runModel(candidate, feeds), runModel(c.magnitude, absFeeds)]);
  const g2 = 2 * gamma(c.fanIn + 8);
  expect(got.y!.dims).toEqual(ref.y!.dims);
  return worstRatio(got.y!.data, ref.y!.data, (i) => g2 * mag.y!.data[i]! + Number.MIN_VALUE);
}

const SEEDS = Array.from({ length: 12 }, (_, i) => 1000 + i);

describe('fold-bn agrees with the unfolded model in onnxruntime within float32 rounding (bound: 2·γ(n+8)·mag)', () => {
  it.each(SEEDS.map((s) => [s, convCase(s).label]))('Conv seed %i: %s', async (seed) => {
    const { worst } = await checkFold(convCase(seed as number));
    expect(worst).toBeLessThanOrEqual(1);
  });
  it.each(SEEDS.map((s) => [s, convTransposeCase(s).label]))('ConvTranspose seed %i: %s', async (seed) => {
    const { worst } = await checkFold(convTransposeCase(seed as number));
    expect(worst).toBeLessThanOrEqual(1);
  });
  it.each(SEEDS.map((s) => [s, gemmCase(s).label]))('Gemm seed %i: %s', async (seed) => {
    const { worst } = await checkFold(gemmCase(seed as number));
    expect(worst).toBeLessThanOrEqual(1);
  });
  it.each(SEEDS.map((s) => [s, matMulCase(s).label]))('MatMul seed %i: %s (rewritten as Gemm)', async (seed) => {
    const { worst, folded } = await checkFold(matMulCase(seed as number));
    expect(folded.graph.nodes[0]!.opType).toBe('Gemm');
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('the bound catches a grouped ConvTranspose folded without the group offset (the classic wrong fold)', async () => {
    const c = convTransposeCase(7, 2);
    const { folded } = await checkFold(c);
    // Fold again by hand the wrong way: output channel j of every group scaled by k[j], as if group 0.
    const wrong = cloneModel(c.model);
    const get = (name: string) => wrong.graph.initializers.find((t) => t.name === name)!;
    const W = get('W');
    const [scale, variance] = [get('bn_scale').data as Float32Array, get('bn_var').data as Float32Array];
    const eps = wrong.graph.nodes[1]!.attributes.find((a) => a.name === 'epsilon')!.f!;
    const [cin, coutPerGroup] = [W.dims[0]!, W.dims[1]!];
    const per = (W.data as Float32Array).length / (cin * coutPerGroup);
    const wData = W.data as Float32Array;
    for (let ci = 0; ci < cin; ci++) {
      for (let j = 0; j < coutPerGroup; j++) {
        for (let s = 0; s < per; s++) wData[(ci * coutPerGroup + j) * per + s]! *= scale[j]! / Math.sqrt(variance[j]! + eps);
      }
    }
    const foldedNode = folded.graph.nodes[0]!;
    const rightBias = folded.graph.initializers.find((t) => t.name === foldedNode.inputs[2])!;
    wrong.graph.nodes = [{ ...foldedNode, inputs: ['x', 'W', 'b_right'] }];
    wrong.graph.initializers = [W, { ...rightBias, name: 'b_right' }];
    expect(await compareWithBound(c, wrong)).toBeGreaterThan(10);
  });
});
