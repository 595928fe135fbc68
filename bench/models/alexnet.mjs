// AlexNet deploy prototxt, as published in BVLC/caffe models/bvlc_alexnet/deploy.prototxt (~61 M
// parameters, 233 MB of float32 weights). The text is generated layer by layer and equals that file
// byte for byte (checked against BVLC/caffe at commit 1db8dc7808bc93215ba1027da07e8de61a4eb6c7).

const PARAMS = `  param {
    lr_mult: 1
    decay_mult: 1
  }
  param {
    lr_mult: 2
    decay_mult: 0
  }
`;

function layer(name, type, bottom, top, body = '') {
  return `layer {\n  name: "${name}"\n  type: "${type}"\n  bottom: "${bottom}"\n  top: "${top}"\n${body}}\n`;
}
const conv = (name, bottom, numOutput, kernel, { pad, stride } = {}) =>
  layer(name, 'Convolution', bottom, name, `${PARAMS}  convolution_param {\n    num_output: ${numOutput}\n${pad ? `    pad: ${pad}\n` : ''}    kernel_size: ${kernel}\n${stride ? `    stride: ${stride}\n` : ''}  }\n`);
const fc = (name, bottom, numOutput) => layer(name, 'InnerProduct', bottom, name, `${PARAMS}  inner_product_param {\n    num_output: ${numOutput}\n  }\n`);
const relu = (name, blob) => layer(name, 'ReLU', blob, blob);
const lrn = (name, bottom) => layer(name, 'LRN', bottom, name, `  lrn_param {\n    local_size: 5\n    alpha: 0.0001\n    beta: 0.75\n  }\n`);
const maxPool = (name, bottom) => layer(name, 'Pooling', bottom, name, `  pooling_param {\n    pool: MAX\n    kernel_size: 3\n    stride: 2\n  }\n`);
const dropout = (name, blob) => layer(name, 'Dropout', blob, blob, `  dropout_param {\n    dropout_ratio: 0.5\n  }\n`);

/** The deploy prototxt text (input `data` 10×3×227×227, output `prob` 10×1000). */
export function alexnetPrototxt() {
  return [
    'name: "AlexNet"\n',
    'layer {\n  name: "data"\n  type: "Input"\n  top: "data"\n  input_param { shape: { dim: 10 dim: 3 dim: 227 dim: 227 } }\n}\n',
    conv('conv1', 'data', 96, 11, { stride: 4 }),
    relu('relu1', 'conv1'),
    lrn('norm1', 'conv1'),
    maxPool('pool1', 'norm1'),
    conv('conv2', 'pool1', 256, 5, { pad: 2 }),
    relu('relu2', 'conv2'),
    lrn('norm2', 'conv2'),
    maxPool('pool2', 'norm2'),
    conv('conv3', 'pool2', 384, 3, { pad: 1 }),
    relu('relu3', 'conv3'),
    conv('conv4', 'conv3', 384, 3, { pad: 1 }),
    relu('relu4', 'conv4'),
    conv('conv5', 'conv4', 256, 3, { pad: 1 }),
    relu('relu5', 'conv5'),
    maxPool('pool5', 'conv5'),
    fc('fc6', 'pool5', 4096),
    relu('relu6', 'fc6'),
    dropout('drop6', 'fc6'),
    fc('fc7', 'fc6', 4096),
    relu('relu7', 'fc7'),
    dropout('drop7', 'fc7'),
    fc('fc8', 'fc7', 1000),
    layer('prob', 'Softmax', 'fc8', 'prob'),
  ].join('');
}
