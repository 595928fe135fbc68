// Models with Conv + BatchNormalization inside If branches and a Loop body, for the pass and runtime tests.
import {
  AttributeType,
  DataType,
  Graph,
  Model,
  Node,
  Tensor,
  ValueInfo,
  createTensor,
  emptyGraph,
  intAttr,
  intsAttr,
  tensorValueInfo,
} from '../../src/ir/index.js';
import { buildModel, f32, floatInput, node, normal, rng, uniform } from './graphBuilder.js';

export const C = 4;
const r = rng(7);
export const X_DIMS = [1, 3, 6, 6];
export const x = normal(r, 108, 1);

export function bnInits(p: string, c = C): Tensor[] {
  return [
    f32(`${p}_scale`, [c], uniform(r, c, 0.5, 1.5)),
    f32(`${p}_B`, [c], normal(r, c, 0.3)),
    f32(`${p}_mean`, [c], normal(r, c, 0.3)),
    f32(`${p}_var`, [c], uniform(r, c, 0.2, 2)),
  ];
}
export const bnNode = (p: string, input: string, output: string) =>
  node('BatchNormalization', [input, `${p}_scale`, `${p}_B`, `${p}_mean`, `${p}_var`], [output], [], p);
export const convNode = (name: string, input: string, w: string, output: string) =>
  node('Conv', [input, w], [output], [intsAttr('pads', [1, 1, 1, 1]), intsAttr('kernel_shape', [3, 3])], name);
export const weight = (name: string, cin = 3) => f32(name, [C, cin, 3, 3], normal(r, C * cin * 9, 0.3));

export function subgraph(name: string, opts: { nodes: Node[]; inputs?: ValueInfo[]; outputs: ValueInfo[]; initializers?: Tensor[] }): Graph {
  const g = emptyGraph(name);
  g.nodes = opts.nodes;
  g.inputs = opts.inputs ?? [];
  g.outputs = opts.outputs;
  g.initializers = opts.initializers ?? [];
  return g;
}
export const graphAttr = (name: string, g: Graph) => ({ name, type: AttributeType.GRAPH, g });
export const floatOut = (name: string) => tensorValueInfo(name, DataType.FLOAT, undefined);

/**
 * Main: y0 = BN(Conv(x)); If(flag > 0): then = Relu(BN_t(Conv(x, W_outer))) with the BN parameters in the
 * main graph, else = BN_e(Conv(x, W_e)) with everything in the branch. Output: the If's result and y0.
 */
export function ifModel(): Model {
  const thenG = subgraph('then', {
    nodes: [convNode('conv_t', 'x', 'W_outer', 't_c'), bnNode('bn_t', 't_c', 't_bn'), node('Relu', ['t_bn'], ['t_out'])],
    outputs: [floatOut('t_out')],
  });
  const elseG = subgraph('else', {
    nodes: [convNode('conv_e', 'x', 'W_e', 'e_c'), bnNode('bn_e', 'e_c', 'e_out')],
    outputs: [floatOut('e_out')],
    initializers: [weight('W_e'), ...bnInits('bn_e')],
  });
  return buildModel({
    nodes: [
      convNode('conv0', 'x', 'W0', 'c0'),
      bnNode('bn0', 'c0', 'y0'),
      node('Cast', ['flag'], ['cond'], [intAttr('to', DataType.BOOL)]),
      { ...node('If', ['cond'], ['y'], [], 'if0'), attributes: [graphAttr('then_branch', thenG), graphAttr('else_branch', elseG)] },
    ],
    inputs: [floatInput('x', X_DIMS), floatInput('flag', [])],
    outputs: ['y', 'y0'],
    initializers: [weight('W0'), ...bnInits('bn0'), weight('W_outer'), ...bnInits('bn_t')],
  });
}

/** Loop 3 times: s ← s + BN(Conv(s)) (weights in the body), with the per-step state as a scan output. */
export function loopModel(): Model {
  const body = subgraph('body', {
    inputs: [tensorValueInfo('i', DataType.INT64, []), tensorValueInfo('cond_in', DataType.BOOL, []), floatOut('s')],
    nodes: [
      convNode('conv_b', 's', 'W_b', 'b_c'),
      bnNode('bn_b', 'b_c', 'b_bn'),
      node('Add', ['s', 'b_bn'], ['s_next']),
      node('Identity', ['cond_in'], ['cond_out']),
      node('Identity', ['s_next'], ['s_scan']),
    ],
    outputs: [tensorValueInfo('cond_out', DataType.BOOL, []), floatOut('s_next'), floatOut('s_scan')],
    initializers: [weight('W_b', C), ...bnInits('bn_b')],
  });
  return buildModel({
    nodes: [
      convNode('conv_in', 'x', 'W_in', 's0'),
      { ...node('Loop', ['M', 'go', 's0'], ['s_final', 'steps'], [], 'loop0'), attributes: [graphAttr('body', body)] },
    ],
    inputs: [floatInput('x', X_DIMS)],
    outputs: ['s_final', 'steps'],
    initializers: [
      weight('W_in'),
      createTensor('M', DataType.INT64, [], BigInt64Array.of(3n)),
      createTensor('go', DataType.BOOL, [], Uint8Array.of(1)),
    ],
  });
}

