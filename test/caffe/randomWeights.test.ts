import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCaffe, readCaffeFiles } from '../../src/formats/caffe/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { DataType, tensorValueInfo } from '../../src/ir/index.js';
import { fillNormal, mulberry32 } from '../../src/util/seededRandom.js';
import { REPO } from '../helpers/cli.js';
import { runOrt } from '../helpers/ort.js';
import { HAVE_SHARED, SKIP_SHARED_MESSAGE, caseDir, sharedCases } from '../helpers/shared.js';

// --random-weights must give a well-conditioned net, or a --verify on it compares a one-hot softmax with
// another and proves nothing. Outputs are computed by onnxruntime on the converted file (independent of
// bnc's runtime, which did the calibration).

function normalInput(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  fillNormal(x, mulberry32(seed));
  return x;
}

describe('--random-weights calibration', () => {
  it('BatchNorm outputs of the fixture are standardized per channel on fresh inputs (not only the calibration batch)', async () => {
    const conv = readCaffeFiles(path.join(REPO, 'fixtures/caffe/small_bn_net.prototxt'), undefined, { randomWeights: true, seed: 3 });
    const bn = conv.model.graph.nodes.find((n) => n.opType === 'BatchNormalization')!;
    const model = { ...conv.model, graph: { ...conv.model.graph, outputs: [...conv.model.graph.outputs, tensorValueInfo(bn.outputs[0]!, DataType.FLOAT)] } };
    const x = normalInput(3 * 15 * 15, 99);
    const r = await runOrt(serializeOnnx(model), { data: { data: x, dims: [1, 3, 15, 15] } });
    const y = r[bn.outputs[0]!]!;
    const [, c, h, w] = y.dims as number[];
    for (let ch = 0; ch < c!; ch++) {
      let sum = 0;
      let sq = 0;
      for (let i = 0; i < h! * w!; i++) {
        const v = y.data[ch * h! * w! + i]!;
        sum += v;
        sq += v * v;
      }
      const mean = sum / (h! * w!);
      const std = Math.sqrt(sq / (h! * w!) - mean * mean);
      expect(Math.abs(mean), `channel ${ch} mean`).toBeLessThan(0.4);
      expect(std, `channel ${ch} std`).toBeGreaterThan(0.7);
      expect(std, `channel ${ch} std`).toBeLessThan(1.4);
    }
  });

  it.skipIf(!HAVE_SHARED || !sharedCases('caffe').includes('resnet50_prototxt_only'))(
    `ResNet-50 (prototxt only) with random weights gives a softmax that is not saturated${HAVE_SHARED ? '' : ` (${SKIP_SHARED_MESSAGE})`}`,
    async () => {
      const conv = openCaffe(path.join(caseDir('caffe', 'resnet50_prototxt_only'), 'net.prototxt'), { randomWeights: true, seed: 7 });
      const x = normalInput(3 * 224 * 224, 12345);
      const r = await runOrt(serializeOnnx(conv.model), { data: { data: x, dims: [1, 3, 224, 224] } });
      const prob = r[conv.outputs[0]!]!.data;
      let max = 0;
      let entropy = 0;
      let above = 0;
      for (const p of prob) {
        max = Math.max(max, p);
        if (p > 0) entropy -= p * Math.log(p);
        if (p > 1e-4) above++;
      }
      // Logits of std 2 over 1000 classes: the top class well under 1, hundreds of classes alive, and an
      // entropy far from both 0 (one-hot) and ln(1000) = 6.9 (uniform).
      expect(max).toBeLessThan(0.5);
      expect(above).toBeGreaterThan(300);
      expect(entropy).toBeGreaterThan(3);
      expect(entropy).toBeLessThan(6.8);
    },
  );
});
