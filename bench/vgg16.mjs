// VGG-16 (configuration D of Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
// Recognition", 2015, table 1) built with bnc's IR and seeded weights, so the benchmark has the classic
// Winograd-friendly network (13 3x3 stride-1 convolutions, 138 M parameters, 553 MB float32) without
// downloading one. As exported for inference: Conv with bias + Relu, 2x2 max pooling, three Gemm layers
// (dropout is the identity at inference); the batch axis is symbolic.
import { intAttr, intsAttr } from '../dist/index.js';
import { mulberry32 } from '../dist/util/seededRandom.js';
import { classifierGraph, uniform } from './resnet50.mjs';

/** Configuration D: output channels of each 3x3 conv, 'M' for a 2x2 stride-2 max pool. */
export const VGG16_LAYERS = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];

/**
 * Build the model for 224x224 RGB input. Weights: He-uniform (variance 2/fanIn), which keeps activations
 * O(1) through the 13 conv + Relu layers, so output agreement between runtimes is a meaningful test;
 * biases ~ U(-0.05, 0.05).
 */
export function buildVgg16({ seed = 16, classes = 1000 } = {}) {
  const random = mulberry32(seed);
  const { graph, init, node } = classifierGraph('vgg16', classes);

  let x = 'input';
  let cin = 3;
  let block = 1;
  let conv = 1;
  for (const layer of VGG16_LAYERS) {
    if (layer === 'M') {
      const name = `pool${block}`;
      node('MaxPool', name, [x], [`${name}.out`], [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])]);
      x = `${name}.out`;
      block++;
      conv = 1;
      continue;
    }
    const name = `conv${block}_${conv++}`;
    const fanIn = cin * 9;
    const bound = Math.sqrt(6 / fanIn);
    init(`${name}.weight`, [layer, cin, 3, 3], uniform(layer * fanIn, random, -bound, bound));
    init(`${name}.bias`, [layer], uniform(layer, random, -0.05, 0.05));
    node('Conv', name, [x, `${name}.weight`, `${name}.bias`], [`${name}.out`], [
      intsAttr('kernel_shape', [3, 3]),
      intsAttr('strides', [1, 1]),
      intsAttr('pads', [1, 1, 1, 1]),
      intsAttr('dilations', [1, 1]),
      intAttr('group', 1),
    ]);
    node('Relu', `${name}.relu`, [`${name}.out`], [`${name}.relu.out`]);
    x = `${name}.relu.out`;
    cin = layer;
  }
  node('Flatten', 'flatten', [x], ['flatten.out'], [intAttr('axis', 1)]);
  x = 'flatten.out';
  let width = cin * 7 * 7;
  [4096, 4096, classes].forEach((out, i) => {
    const name = `fc${6 + i}`;
    // He-uniform before a Relu, and the classifier's fan-in scale 1/sqrt(fanIn) on the last layer.
    const bound = i < 2 ? Math.sqrt(6 / width) : 1 / Math.sqrt(width);
    init(`${name}.weight`, [out, width], uniform(out * width, random, -bound, bound));
    init(`${name}.bias`, [out], uniform(out, random, -0.05, 0.05));
    const y = i < 2 ? `${name}.out` : 'output';
    node('Gemm', name, [x, `${name}.weight`, `${name}.bias`], [y], [intAttr('transB', 1)]);
    if (i < 2) {
      node('Relu', `${name}.relu`, [y], [`${name}.relu.out`]);
      x = `${name}.relu.out`;
    }
    width = out;
  });

  return {
    irVersion: 8,
    opsetImports: [{ domain: '', version: 13 }],
    producerName: 'bnc-bench',
    producerVersion: '0',
    metadataProps: [],
    graph,
  };
}
