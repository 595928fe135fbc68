import { describe, expect, it } from 'vitest';
import { AttributeType, floatAttr, floatsAttr, intAttr, stringAttr } from '../../src/ir/index.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { NodeCase, compareWithOrt, i32, randomF32, rng, runKernel, runOrtNode, tensorMismatch } from '../helpers/kernelHarness.js';

// RNN, GRU and LSTM kernels against onnxruntime on random weights: every direction, layouts, sequence
// lengths, initial states, peepholes, clip, coupled gates, linear_before_reset and non-default activations.

const rand = rng(2024);
const T = 4;
const B = 3;
const I = 5;
const H = 6;

const stringsAttr = (name: string, values: string[]) => ({
  name,
  type: AttributeType.STRINGS,
  strings: values.map((v) => new TextEncoder().encode(v)),
});

interface Options {
  op: 'RNN' | 'GRU' | 'LSTM';
  direction?: 'forward' | 'reverse' | 'bidirectional';
  layout?: number;
  bias?: boolean;
  lens?: number[];
  initial?: boolean;
  peepholes?: boolean;
  extra?: NodeCase['attrs'];
}

function recurrentCase(o: Options): NodeCase {
  const gates = { RNN: 1, GRU: 3, LSTM: 4 }[o.op];
  const D = o.direction === 'bidirectional' ? 2 : 1;
  const layout = o.layout ?? 0;
  const state = layout ? [B, D, H] : [D, B, H];
  const inputs: NodeCase['inputs'] = [
    randomF32(rand, layout ? [B, T, I] : [T, B, I], -1, 1),
    randomF32(rand, [D, gates * H, I], -0.6, 0.6),
    randomF32(rand, [D, gates * H, H], -0.6, 0.6),
    o.bias ? randomF32(rand, [D, 2 * gates * H], -0.5, 0.5) : undefined,
    o.lens ? i32([B], o.lens) : undefined,
    o.initial ? randomF32(rand, state, -1, 1) : undefined,
  ];
  if (o.op === 'LSTM') inputs.push(o.initial ? randomF32(rand, state, -1, 1) : undefined, o.peepholes ? randomF32(rand, [D, 3 * H], -0.5, 0.5) : undefined);
  while (inputs.length && inputs[inputs.length - 1] === undefined) inputs.pop();
  return {
    op: o.op,
    opset: 14,
    inputs,
    attrs: [intAttr('hidden_size', H), stringAttr('direction', o.direction ?? 'forward'), intAttr('layout', layout), ...(o.extra ?? [])],
    outputs: o.op === 'LSTM' ? 3 : 2,
  };
}

const TOL = { atol: 2e-5, rtol: 1e-4 };

describe('RNN, GRU and LSTM against onnxruntime', () => {
  for (const op of ['RNN', 'GRU', 'LSTM'] as const) {
    for (const direction of ['forward', 'reverse', 'bidirectional'] as const) {
      it(`${op} ${direction} with bias, initial state and sequence lengths [4, 2, 3]`, async () => {
        const c = recurrentCase({ op, direction, bias: true, initial: true, lens: [4, 2, 3], peepholes: true });
        expect(await compareWithOrt(c, TOL)).toBeUndefined();
      });
    }
    it(`${op} layout=1 (batch first), bidirectional: the layout=0 result in onnxruntime, transposed`, async () => {
      // onnxruntime's CPU kernels refuse layout=1; the same numbers in layout 0 are the oracle.
      const batchFirst = recurrentCase({ op, direction: 'bidirectional', layout: 1, bias: true, initial: true, lens: [3, 4, 1] });
      const seqFirst: NodeCase = {
        ...batchFirst,
        inputs: batchFirst.inputs.map((t, i) => (t && (i === 0 || i >= 5) && i !== 7 ? swap01(t) : t)),
        attrs: batchFirst.attrs!.map((a) => (a.name === 'layout' ? intAttr('layout', 0) : a)),
      };
      const want = await runOrtNode(seqFirst);
      const got = runKernel(batchFirst);
      // Y: [B, T, D, H] vs [T, D, B, H]; Y_h / Y_c: [B, D, H] vs [D, B, H].
      expect(tensorMismatch(got[0]!, permute(want[0]!, [2, 0, 1, 3]), TOL)).toBeUndefined();
      for (let k = 1; k < got.length; k++) expect(tensorMismatch(got[k]!, swap01(want[k]!), TOL), `output ${k}`).toBeUndefined();
    });
    it(`${op} defaults: no bias, no initial state, full lengths`, async () => {
      expect(await compareWithOrt(recurrentCase({ op }), TOL)).toBeUndefined();
    });
    it(`${op} with clip 0.5`, async () => {
      expect(await compareWithOrt(recurrentCase({ op, bias: true, extra: [floatAttr('clip', 0.5)] }), TOL)).toBeUndefined();
    });
  }

  it('GRU with linear_before_reset=1, bidirectional, sequence lengths', async () => {
    const c = recurrentCase({ op: 'GRU', direction: 'bidirectional', bias: true, initial: true, lens: [1, 4, 3], extra: [intAttr('linear_before_reset', 1)] });
    expect(await compareWithOrt(c, TOL)).toBeUndefined();
  });

  it('LSTM with input_forget=1 and peepholes', async () => {
    const c = recurrentCase({ op: 'LSTM', bias: true, initial: true, peepholes: true, extra: [intAttr('input_forget', 1)] });
    expect(await compareWithOrt(c, TOL)).toBeUndefined();
  });

  it('activations with alpha/beta consumed in order: RNN LeakyRelu, GRU HardSigmoid+Softsign, LSTM ScaledTanh', async () => {
    const cases = [
      recurrentCase({ op: 'RNN', direction: 'bidirectional', bias: true, extra: [stringsAttr('activations', ['LeakyRelu', 'Tanh']), floatsAttr('activation_alpha', [0.2])] }),
      recurrentCase({
        op: 'GRU',
        bias: true,
        extra: [stringsAttr('activations', ['HardSigmoid', 'Softsign']), floatsAttr('activation_alpha', [0.3]), floatsAttr('activation_beta', [0.4])],
      }),
      recurrentCase({
        op: 'LSTM',
        bias: true,
        extra: [stringsAttr('activations', ['Sigmoid', 'ScaledTanh', 'Tanh']), floatsAttr('activation_alpha', [1.5]), floatsAttr('activation_beta', [0.7])],
      }),
    ];
    for (const c of cases) expect(await compareWithOrt(c, TOL), c.op).toBeUndefined();
  });
});

/** out[i_perm...] = t[...]: output axis k is input axis perm[k]. */
function permute(t: RtTensor, perm: number[]): RtTensor {
  const dims = perm.map((p) => t.dims[p]!);
  const inStrides = t.dims.map((_, i) => t.dims.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(t.data.length);
  const idx = new Array<number>(dims.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let k = 0; k < dims.length; k++) src += idx[k]! * inStrides[perm[k]!]!;
    out[o] = (t.data as Float32Array)[src]!;
    for (let k = dims.length - 1; k >= 0 && ++idx[k]! === dims[k]; k--) idx[k] = 0;
  }
  return { dtype: t.dtype, dims, data: out };
}

const swap01 = (t: RtTensor) => permute(t, [1, 0, ...t.dims.slice(2).map((_, i) => i + 2)]);

describe('shape rules for RNN, GRU, LSTM', () => {
  it('give the shapes the kernels produce, in both layouts', async () => {
    const { inferShapes } = await import('../../src/runtime/shapeInference.js');
    const { emptyGraph, tensorValueInfo, DataType } = await import('../../src/ir/index.js');
    for (const layout of [0, 1]) {
      const c = recurrentCase({ op: 'LSTM', direction: 'bidirectional', layout, bias: true });
      const g = emptyGraph('shapes');
      const names = ['X', 'W', 'R', 'B'];
      g.inputs = names.map((n) => tensorValueInfo(n, DataType.FLOAT, undefined));
      g.nodes = [{ name: 'lstm', opType: 'LSTM', domain: '', inputs: names, outputs: ['Y', 'Y_h', 'Y_c'], attributes: c.attrs! }];
      const shapes = inferShapes(
        { irVersion: 8, opsetImports: [{ domain: '', version: 14 }], metadataProps: [], graph: g },
        new Map(names.map((n, i) => [n, c.inputs[i]!.dims])),
      );
      const got = runKernel(c);
      expect(shapes.get('Y')).toEqual(got[0]!.dims);
      expect(shapes.get('Y_h')).toEqual(got[1]!.dims);
      expect(shapes.get('Y_c')).toEqual(got[2]!.dims);
    }
  });
});

describe('malformed recurrent nodes are user errors naming the node', () => {
  it('W of the wrong shape, an unknown activation, too few activations, sequence_lens past the sequence', () => {
    const base = recurrentCase({ op: 'LSTM', bias: true });
    const wrongW: NodeCase = { ...base, inputs: [base.inputs[0], randomF32(rand, [1, 4 * H, I + 1]), ...base.inputs.slice(2)] };
    expect(() => runKernel(wrongW)).toThrowError(/LSTM node .*: W has shape \[1, 24, 6\], expected \[1, 24, 5\]/);
    const badAct: NodeCase = { ...base, attrs: [...base.attrs!, stringsAttr('activations', ['Sigmoid', 'Swish', 'Tanh'])] };
    expect(() => runKernel(badAct)).toThrowError(/activation 'Swish' is not one the ONNX spec defines/);
    const fewActs: NodeCase = { ...base, attrs: [...base.attrs!, stringsAttr('activations', ['Sigmoid'])] };
    expect(() => runKernel(fewActs)).toThrowError(/activations lists 1 functions, expected 3/);
    const lens: NodeCase = { ...base, inputs: [...base.inputs.slice(0, 4), i32([B], [1, 9, 2])] };
    expect(() => runKernel(lens)).toThrowError(/sequence_lens \[1, 9, 2\] must hold 3 lengths between 0 and 4/);
  });
});
