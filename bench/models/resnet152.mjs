// ResNet-152 deploy prototxt, as published in KaimingHe/deep-residual-networks
// prototxt/ResNet-152-deploy.prototxt (~60 M parameters, 241 MB of float32 weights, 151 BatchNorm +
// Scale pairs). The text is generated block by block and equals that file byte for byte (checked against
// the repository's snapshot at commit a7026cb).

const T = '\t';

function layer(lines, body = '') {
  return `layer {\n${lines.map((l) => `${T}${l}\n`).join('')}${body}}\n\n`;
}
function conv(bottom, name, numOutput, kernel, pad, stride) {
  return layer([`bottom: "${bottom}"`, `top: "${name}"`, `name: "${name}"`, 'type: "Convolution"'],
    `${T}convolution_param {\n${T}${T}num_output: ${numOutput}\n${T}${T}kernel_size: ${kernel}\n${T}${T}pad: ${pad}\n${T}${T}stride: ${stride}\n${T}${T}bias_term: false\n${T}}\n`);
}
function bnScale(blob, bnName, scaleName) {
  return (
    layer([`bottom: "${blob}"`, `top: "${blob}"`, `name: "${bnName}"`, 'type: "BatchNorm"'], `${T}batch_norm_param {\n${T}${T}use_global_stats: true\n${T}}\n`) +
    layer([`bottom: "${blob}"`, `top: "${blob}"`, `name: "${scaleName}"`, 'type: "Scale"'], `${T}scale_param {\n${T}${T}bias_term: true\n${T}}\n`)
  );
}
/** A ReLU inside a branch: the published file lists its top before its bottom. */
const branchRelu = (blob) => layer([`top: "${blob}"`, `bottom: "${blob}"`, `name: "${blob}_relu"`, 'type: "ReLU"']);

/** One bottleneck unit `res<id>` (e.g. 3b4): 1×1 → 3×3 → 1×1 (×4 width), the shortcut projected in unit a. */
function unit(stage, suffix, bottom, width, stride) {
  const id = `${stage}${suffix}`;
  const out = [];
  let shortcut = bottom;
  if (suffix === 'a') {
    shortcut = `res${id}_branch1`;
    out.push(conv(bottom, shortcut, 4 * width, 1, 0, stride), bnScale(shortcut, `bn${id}_branch1`, `scale${id}_branch1`));
  }
  const a = `res${id}_branch2a`;
  const b = `res${id}_branch2b`;
  const c = `res${id}_branch2c`;
  // The stride sits on the first 1×1 convolution, as in the MSRA models.
  out.push(conv(bottom, a, width, 1, 0, stride), bnScale(a, `bn${id}_branch2a`, `scale${id}_branch2a`), branchRelu(a));
  out.push(conv(a, b, width, 3, 1, 1), bnScale(b, `bn${id}_branch2b`, `scale${id}_branch2b`), branchRelu(b));
  out.push(conv(b, c, 4 * width, 1, 0, 1), bnScale(c, `bn${id}_branch2c`, `scale${id}_branch2c`));
  out.push(layer([`bottom: "${shortcut}"`, `bottom: "${c}"`, `top: "res${id}"`, `name: "res${id}"`, 'type: "Eltwise"']));
  out.push(layer([`bottom: "res${id}"`, `top: "res${id}"`, `name: "res${id}_relu"`, 'type: "ReLU"']));
  return out.join('');
}

/** The deploy prototxt text (input `data` 1×3×224×224, output `prob` 1×1000). */
export function resnet152Prototxt() {
  const parts = ['name: "ResNet-152"\ninput: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 224\ninput_dim: 224\n\n'];
  parts.push(layer(['bottom: "data"', 'top: "conv1"', 'name: "conv1"', 'type: "Convolution"'],
    `${T}convolution_param {\n${T}${T}num_output: 64\n${T}${T}kernel_size: 7\n${T}${T}pad: 3\n${T}${T}stride: 2\n${T}${T}bias_term: false\n${T}}\n`));
  parts.push(bnScale('conv1', 'bn_conv1', 'scale_conv1'), branchRelu('conv1'));
  parts.push(layer(['bottom: "conv1"', 'top: "pool1"', 'name: "pool1"', 'type: "Pooling"'],
    `${T}pooling_param {\n${T}${T}kernel_size: 3\n${T}${T}stride: 2\n${T}${T}pool: MAX\n${T}}\n`));
  // Units per stage: 3, 8, 36, 3; the first stage's units are a, b, c, the deeper ones a, b1, b2, ...
  const stages = [[2, 3, 64, 1], [3, 8, 128, 2], [4, 36, 256, 2], [5, 3, 512, 2]];
  let bottom = 'pool1';
  for (const [stage, units, width, stride] of stages) {
    for (let u = 0; u < units; u++) {
      const suffix = u === 0 ? 'a' : stage === 2 || stage === 5 ? 'abc'[u] : `b${u}`;
      parts.push(unit(stage, suffix, bottom, width, u === 0 ? stride : 1));
      bottom = `res${stage}${suffix}`;
    }
  }
  parts.push(layer(['bottom: "res5c"', 'top: "pool5"', 'name: "pool5"', 'type: "Pooling"'],
    `${T}pooling_param {\n${T}${T}kernel_size: 7\n${T}${T}stride: 1\n${T}${T}pool: AVE\n${T}}\n`));
  parts.push(layer(['bottom: "pool5"', 'top: "fc1000"', 'name: "fc1000"', 'type: "InnerProduct"'], `${T}inner_product_param {\n${T}${T}num_output: 1000\n${T}}\n`));
  parts.push(layer(['bottom: "fc1000"', 'top: "prob"', 'name: "prob"', 'type: "Softmax"']));
  return parts.join('');
}
