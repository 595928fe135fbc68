import { describe, expect, it } from 'vitest';
import { floatAttr, intsAttr } from '../../src/ir/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { FOLD_BN_PIPELINE, runPasses } from '../../src/passes/index.js';
import { buildModel, cloneModel, f32, floatInput, node, normal, rng, uniform } from './graphBuilder.js';

// fold-bn with inPlace (what `bnc fold-bn` without --verify uses): a folded weight is written into the
// array of the initializer it replaces, so the old and the folded weights are never both in memory. The
// written model must be byte for byte the one a fold into new arrays gives.

/** x → Conv a (its own weight) → BN → Conv b, c (one weight shared by both) → BN each → Add. */
function net() {
  const r = rng(7);
  const bn = (p: string, c: number) => [
    f32(`${p}_s`, [c], uniform(r, c, 0.5, 1.5)),
    f32(`${p}_b`, [c], uniform(r, c, -0.2, 0.2)),
    f32(`${p}_m`, [c], uniform(r, c, -0.2, 0.2)),
    f32(`${p}_v`, [c], uniform(r, c, 0.5, 1.5)),
  ];
  const bnNode = (p: string, x: string, y: string) => node('BatchNormalization', [x, `${p}_s`, `${p}_b`, `${p}_m`, `${p}_v`], [y], [floatAttr('epsilon', 1e-5)], p);
  return buildModel({
    nodes: [
      node('Conv', ['x', 'wa'], ['a'], [intsAttr('pads', [1, 1, 1, 1])], 'conv_a'),
      bnNode('bn_a', 'a', 'an'),
      node('Conv', ['an', 'ws'], ['b'], [], 'conv_b'),
      node('Conv', ['an', 'ws'], ['c'], [], 'conv_c'),
      bnNode('bn_b', 'b', 'bn'),
      bnNode('bn_c', 'c', 'cn'),
      node('Add', ['bn', 'cn'], ['y'], [], 'add'),
    ],
    inputs: [floatInput('x', [1, 3, 8, 8])],
    outputs: ['y'],
    initializers: [f32('wa', [4, 3, 3, 3], normal(r, 108)), f32('ws', [4, 4, 1, 1], normal(r, 16)), ...bn('bn_a', 4), ...bn('bn_b', 4), ...bn('bn_c', 4)],
  });
}

describe('fold-bn in place', () => {
  it("writes a node's own folded weight into its array; a weight still shared is not written", () => {
    const model = net();
    const expected = cloneModel(model);
    runPasses(expected, FOLD_BN_PIPELINE, { allowWeightCopy: true });
    const wa = model.graph.initializers.find((t) => t.name === 'wa')!.data as Float32Array;
    const ws = model.graph.initializers.find((t) => t.name === 'ws')!.data as Float32Array;
    runPasses(model, FOLD_BN_PIPELINE, { allowWeightCopy: true, inPlace: true });

    const conv = (name: string) => model.graph.nodes.find((n) => n.name === name)!;
    const weightOf = (name: string) => model.graph.initializers.find((t) => t.name === conv(name).inputs[1])!.data;
    expect(weightOf('conv_a')).toBe(wa); // the same array, now holding the folded values
    // conv_b folds first and gets a private copy; then conv_c is the only reader of ws, which it folds in
    // place. Had ws been written while shared, conv_b's weight would be folded twice: the bytes would differ.
    expect(weightOf('conv_b')).not.toBe(ws);
    expect(weightOf('conv_c')).toBe(ws);
    expect(Buffer.from(serializeOnnx(model)).equals(Buffer.from(serializeOnnx(expected)))).toBe(true);
  });
});
