// Whether a built dist/ honours RunOptions.convAlgorithm ('direct' turns Winograd off): checked by
// behaviour, not by name, so an option the engine silently ignores is not mistaken for one it applies.
import { mulberry32 } from './resnet50.mjs';

/**
 * Run one 3x3 stride-1 64->64 convolution on a 56x56 map (ResNet-50's first 3x3 layer, where the auto
 * choice is Winograd) with and without { convAlgorithm: 'direct' }. Winograd and the direct path round
 * differently, so bit-identical outputs mean the option was ignored. Returns { honoured, why }.
 */
export function checkConvAlgorithmOption(bnc, engine) {
  const c = 64;
  const s = 56;
  const random = mulberry32(3);
  const fill = (n) => Float32Array.from({ length: n }, () => random() - 0.5);
  const graph = bnc.emptyGraph('conv_algorithm_probe');
  graph.inputs.push(bnc.tensorValueInfo('x', bnc.DataType.FLOAT, [1, c, s, s]));
  graph.outputs.push(bnc.tensorValueInfo('y', bnc.DataType.FLOAT, [1, c, s, s]));
  graph.initializers.push({ name: 'w', dtype: bnc.DataType.FLOAT, dims: [c, c, 3, 3], data: fill(c * c * 9) });
  graph.nodes.push({
    name: 'conv',
    opType: 'Conv',
    domain: '',
    inputs: ['x', 'w'],
    outputs: ['y'],
    attributes: [bnc.intsAttr('kernel_shape', [3, 3]), bnc.intsAttr('pads', [1, 1, 1, 1])],
  });
  const model = { irVersion: 8, opsetImports: [{ domain: '', version: 13 }], producerName: 'bnc-bench', producerVersion: '0', metadataProps: [], graph };
  const feeds = new Map([['x', { dtype: bnc.DataType.FLOAT, dims: [1, c, s, s], data: fill(c * s * s) }]]);
  let direct;
  try {
    direct = engine.runModel(model, feeds, { threads: 1, convAlgorithm: 'direct' }).outputs.get('y').data;
  } catch (e) {
    return { honoured: false, why: `runModel refused { convAlgorithm: 'direct' }: ${String(e.message).split('\n')[0]}` };
  }
  const auto = engine.runModel(model, feeds, { threads: 1 }).outputs.get('y').data;
  for (let i = 0; i < auto.length; i++) if (auto[i] !== direct[i]) return { honoured: true };
  return {
    honoured: false,
    why: "this build ignores RunOptions.convAlgorithm: a 3x3 64@56 conv gives bit-identical outputs with { convAlgorithm: 'direct' } and without",
  };
}
