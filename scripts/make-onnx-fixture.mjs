// Writes fixtures/onnx/small_cnn.onnx: two Conv+BatchNormalization+Relu blocks, global average pooling
// and a Gemm classifier, with seeded weights and BN statistics. Run `npm run build` first.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataType, createTensor, emptyGraph, intAttr, intsAttr, floatAttr, tensorValueInfo, serializeOnnx } from '../dist/index.js';
import { mulberry32 } from '../dist/util/seededRandom.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// A seeded PRNG (mulberry32), so the fixture is byte-identical on every run.
const rand = mulberry32(2026);
const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
const tensor = (name, dims, fill) => {
  const t = createTensor(name, DataType.FLOAT, dims);
  for (let i = 0; i < t.data.length; i++) t.data[i] = fill(i);
  return t;
};

const g = emptyGraph('small_cnn');
g.inputs.push(tensorValueInfo('input', DataType.FLOAT, ['N', 3, 32, 32]));
let x = 'input';
let cin = 3;
for (const [i, cout] of [[1, 8], [2, 16]]) {
  const fanIn = cin * 9;
  g.initializers.push(
    tensor(`conv${i}.weight`, [cout, cin, 3, 3], () => normal() * Math.sqrt(2 / fanIn)),
    tensor(`conv${i}.bias`, [cout], () => normal() * 0.1),
    tensor(`bn${i}.scale`, [cout], () => 0.5 + rand()),
    tensor(`bn${i}.bias`, [cout], () => normal() * 0.2),
    tensor(`bn${i}.mean`, [cout], () => normal() * 0.3),
    tensor(`bn${i}.var`, [cout], () => 0.5 + rand()),
  );
  g.nodes.push(
    { name: `conv${i}`, opType: 'Conv', domain: '', inputs: [x, `conv${i}.weight`, `conv${i}.bias`], outputs: [`conv${i}_out`],
      attributes: [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1]), intsAttr('strides', [i, i])] },
    { name: `bn${i}`, opType: 'BatchNormalization', domain: '',
      inputs: [`conv${i}_out`, `bn${i}.scale`, `bn${i}.bias`, `bn${i}.mean`, `bn${i}.var`], outputs: [`bn${i}_out`],
      attributes: [floatAttr('epsilon', 1e-5)] },
    { name: `relu${i}`, opType: 'Relu', domain: '', inputs: [`bn${i}_out`], outputs: [`relu${i}_out`], attributes: [] },
  );
  x = `relu${i}_out`;
  cin = cout;
}
g.initializers.push(
  tensor('fc.weight', [10, 16], () => normal() * 0.3),
  tensor('fc.bias', [10], () => normal() * 0.1),
);
g.nodes.push(
  { name: 'gap', opType: 'GlobalAveragePool', domain: '', inputs: [x], outputs: ['gap_out'], attributes: [] },
  { name: 'flatten', opType: 'Flatten', domain: '', inputs: ['gap_out'], outputs: ['flat'], attributes: [intAttr('axis', 1)] },
  { name: 'fc', opType: 'Gemm', domain: '', inputs: ['flat', 'fc.weight', 'fc.bias'], outputs: ['logits'], attributes: [intAttr('transB', 1)] },
);
g.outputs.push(tensorValueInfo('logits', DataType.FLOAT, ['N', 10]));

const model = {
  irVersion: 8,
  opsetImports: [{ domain: '', version: 13 }],
  producerName: 'bnc scripts/make-onnx-fixture.mjs',
  metadataProps: [],
  graph: g,
};
const out = path.join(root, 'fixtures/onnx/small_cnn.onnx');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, serializeOnnx(model));
console.log(`wrote ${path.relative(root, out)}`);
