// VGG-16 deploy prototxt (configuration D of Simonyan & Zisserman, "Very Deep Convolutional Networks for
// Large-Scale Image Recognition"; ~138 M parameters, 553 MB of float32 weights), in the legacy V1
// `layers {}` form it was published in: gist ksimonyan/211839e770f7b538e2d8,
// VGG_ILSVRC_16_layers_deploy.prototxt (copied, up to fc7, in
// weihancug/SSGF-for-HRRS-scene-classification model_protext/VGG_ILSVRC_16_layers/VGG_ILSVRC_16_layers_deploy_svm.prototxt,
// which this text matches byte for byte up to there; the gist ends with fc8 INNER_PRODUCT 1000 and prob SOFTMAX).

function layers(bottom, top, name, type, body = '') {
  return `layers {\n  bottom: "${bottom}"\n  top: "${top}"\n  name: "${name}"\n  type: ${type}\n${body}}\n`;
}
const conv = (name, bottom, numOutput) => layers(bottom, name, name, 'CONVOLUTION', `  convolution_param {\n    num_output: ${numOutput}\n    pad: 1\n    kernel_size: 3\n  }\n`);
const relu = (name, blob) => layers(blob, blob, name, 'RELU');
const pool = (name, bottom) => layers(bottom, name, name, 'POOLING', `  pooling_param {\n    pool: MAX\n    kernel_size: 2\n    stride: 2\n  }\n`);
const fc = (name, bottom, numOutput) => layers(bottom, name, name, 'INNER_PRODUCT', `  inner_product_param {\n    num_output: ${numOutput}\n  }\n`);
const dropout = (name, blob) => layers(blob, blob, name, 'DROPOUT', `  dropout_param {\n    dropout_ratio: 0.5\n  }\n`);

/** The deploy prototxt text (input `data` 10×3×224×224, output `prob` 10×1000). */
export function vgg16Prototxt() {
  const parts = ['name: "VGG_ILSVRC_16_layers"\ninput: "data"\ninput_dim: 10\ninput_dim: 3\ninput_dim: 224\ninput_dim: 224\n'];
  // Configuration D: conv blocks of 2, 2, 3, 3, 3 3×3 convolutions, each block ending in a 2×2 max pool.
  const blocks = [[64, 2], [128, 2], [256, 3], [512, 3], [512, 3]];
  let bottom = 'data';
  blocks.forEach(([width, count], b) => {
    for (let i = 1; i <= count; i++) {
      const name = `conv${b + 1}_${i}`;
      parts.push(conv(name, bottom, width), relu(`relu${b + 1}_${i}`, name));
      bottom = name;
    }
    parts.push(pool(`pool${b + 1}`, bottom));
    bottom = `pool${b + 1}`;
  });
  parts.push(fc('fc6', 'pool5', 4096), relu('relu6', 'fc6'), dropout('drop6', 'fc6'));
  parts.push(fc('fc7', 'fc6', 4096), relu('relu7', 'fc7'), dropout('drop7', 'fc7'));
  parts.push(fc('fc8', 'fc7', 1000), layers('fc8', 'prob', 'prob', 'SOFTMAX'));
  return parts.join('');
}
