// A ResNet-50 (torchvision v1.5 layout: stride on the 3x3 conv of each bottleneck) built with bnc's IR and
// seeded weights, so the benchmark has a ~100 MB float32 model without downloading one. Every conv is
// Conv(no bias) + BatchNormalization (+ Relu), as exporters emit before folding; the batch axis is symbolic.
import { DataType, emptyGraph, intAttr, intsAttr, floatAttr, tensorValueInfo } from '../dist/index.js';
import { mulberry32 } from '../dist/util/seededRandom.js';

export { mulberry32 };

/** n float32 values uniform in [lo, hi) from `random`. */
export function uniform(n, random, lo, hi) {
  const out = new Float32Array(n);
  const span = hi - lo;
  for (let i = 0; i < n; i++) out[i] = lo + span * random();
  return out;
}

/**
 * An empty image classifier graph: input [N, 3, 224, 224] float, output [N, classes], with helpers that add
 * a float32 initializer and a default-domain node.
 */
export function classifierGraph(name, classes) {
  const graph = emptyGraph(name);
  graph.inputs.push(tensorValueInfo('input', DataType.FLOAT, ['N', 3, 224, 224]));
  graph.outputs.push(tensorValueInfo('output', DataType.FLOAT, ['N', classes]));
  const init = (tensorName, dims, data) => graph.initializers.push({ name: tensorName, dtype: DataType.FLOAT, dims, data });
  const node = (opType, nodeName, inputs, outputs, attributes = []) =>
    graph.nodes.push({ name: nodeName, opType, domain: '', inputs, outputs, attributes });
  return { graph, init, node };
}

/**
 * Build the model. Weights: He-uniform convolutions (variance 2/fanIn); BN running stats mean ~ U(-0.1, 0.1),
 * var ~ U(0.5, 1.5), gamma ~ U(0.5, 1.5), except the last BN of each residual branch, whose gamma ~ U(0.1, 0.3)
 * keeps the residual sums from growing through 16 blocks (activations stay O(1), so output agreement between
 * runtimes is a meaningful test).
 */
export function buildResNet50({ seed = 50, classes = 1000 } = {}) {
  const random = mulberry32(seed);
  const { graph, init, node } = classifierGraph('resnet50', classes);

  /** Conv (no bias) + BN (+ Relu); returns the output value name. */
  function convBn(x, name, cin, cout, k, stride, pad, { relu = true, smallGamma = false } = {}) {
    const fanIn = cin * k * k;
    const bound = Math.sqrt(6 / fanIn);
    init(`${name}.weight`, [cout, cin, k, k], uniform(cout * fanIn, random, -bound, bound));
    node('Conv', name, [x, `${name}.weight`], [`${name}.out`], [
      intsAttr('kernel_shape', [k, k]),
      intsAttr('strides', [stride, stride]),
      intsAttr('pads', [pad, pad, pad, pad]),
      intsAttr('dilations', [1, 1]),
      intAttr('group', 1),
    ]);
    const bn = `${name}.bn`;
    init(`${bn}.scale`, [cout], smallGamma ? uniform(cout, random, 0.1, 0.3) : uniform(cout, random, 0.5, 1.5));
    init(`${bn}.bias`, [cout], uniform(cout, random, -0.1, 0.1));
    init(`${bn}.mean`, [cout], uniform(cout, random, -0.1, 0.1));
    init(`${bn}.var`, [cout], uniform(cout, random, 0.5, 1.5));
    node('BatchNormalization', bn, [`${name}.out`, `${bn}.scale`, `${bn}.bias`, `${bn}.mean`, `${bn}.var`], [`${bn}.out`], [
      floatAttr('epsilon', 1e-5),
      floatAttr('momentum', 0.9),
    ]);
    if (!relu) return `${bn}.out`;
    node('Relu', `${name}.relu`, [`${bn}.out`], [`${name}.relu.out`]);
    return `${name}.relu.out`;
  }

  let x = convBn('input', 'conv1', 3, 64, 7, 2, 3);
  node('MaxPool', 'maxpool', [x], ['maxpool.out'], [
    intsAttr('kernel_shape', [3, 3]),
    intsAttr('strides', [2, 2]),
    intsAttr('pads', [1, 1, 1, 1]),
  ]);
  x = 'maxpool.out';
  let cin = 64;
  const stages = [
    { blocks: 3, width: 64, stride: 1 },
    { blocks: 4, width: 128, stride: 2 },
    { blocks: 6, width: 256, stride: 2 },
    { blocks: 3, width: 512, stride: 2 },
  ];
  stages.forEach((stage, s) => {
    for (let b = 0; b < stage.blocks; b++) {
      const name = `layer${s + 1}.${b}`;
      const stride = b === 0 ? stage.stride : 1;
      const cout = stage.width * 4;
      let y = convBn(x, `${name}.conv1`, cin, stage.width, 1, 1, 0);
      y = convBn(y, `${name}.conv2`, stage.width, stage.width, 3, stride, 1);
      y = convBn(y, `${name}.conv3`, stage.width, cout, 1, 1, 0, { relu: false, smallGamma: true });
      const shortcut = b === 0 ? convBn(x, `${name}.downsample`, cin, cout, 1, stride, 0, { relu: false }) : x;
      node('Add', `${name}.add`, [y, shortcut], [`${name}.add.out`]);
      node('Relu', `${name}.relu`, [`${name}.add.out`], [`${name}.out`]);
      x = `${name}.out`;
      cin = cout;
    }
  });
  node('GlobalAveragePool', 'avgpool', [x], ['avgpool.out']);
  node('Flatten', 'flatten', ['avgpool.out'], ['flatten.out'], [intAttr('axis', 1)]);
  const fcBound = 1 / Math.sqrt(cin);
  init('fc.weight', [classes, cin], uniform(classes * cin, random, -fcBound, fcBound));
  init('fc.bias', [classes], uniform(classes, random, -fcBound, fcBound));
  node('Gemm', 'fc', ['flatten.out', 'fc.weight', 'fc.bias'], ['output'], [intAttr('transB', 1)]);

  return {
    irVersion: 8,
    opsetImports: [{ domain: '', version: 13 }],
    producerName: 'bnc-bench',
    producerVersion: '0',
    metadataProps: [],
    graph,
  };
}
