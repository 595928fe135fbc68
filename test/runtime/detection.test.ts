import { describe, expect, it } from 'vitest';
import { intAttr } from '../../src/ir/index.js';
import { NodeCase, compareWithOrt, describeCase, f32, i64, randomInt, rng, runKernel } from '../helpers/kernelHarness.js';
import { HAVE_ONNX_NODE_TESTS, onnxNodeCases, runOnnxNodeCase } from '../helpers/onnxNodeTests.js';
import { bncErrorOf } from '../helpers/errors.js';

async function expectMatch(c: NodeCase): Promise<void> {
  expect(await compareWithOrt(c), describeCase(c)).toBeUndefined();
}

/** Boxes clustered on a small grid so that many overlap; corner order randomly flipped; some empty boxes. */
function randomBoxes(rand: () => number, batches: number, n: number, center: boolean) {
  const data: number[] = [];
  for (let i = 0; i < batches * n; i++) {
    const cx = randomInt(rand, 4) * 0.25 + rand() * 0.1;
    const cy = randomInt(rand, 4) * 0.25 + rand() * 0.1;
    const w = rand() < 0.05 ? 0 : 0.1 + rand() * 0.4;
    const h = 0.1 + rand() * 0.4;
    if (center) data.push(cx, cy, w, h);
    else if (rand() < 0.5) data.push(cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2);
    else data.push(cy + h / 2, cx + w / 2, cy - h / 2, cx - w / 2);
  }
  return f32([batches, n, 4], data);
}

/** Scores from a few levels, so equal scores (ties by box index) are common. */
function randomScores(rand: () => number, batches: number, classes: number, n: number) {
  return f32([batches, classes, n], Array.from({ length: batches * classes * n }, () => randomInt(rand, 12) / 12));
}

describe('NonMaxSuppression against onnxruntime', () => {
  const rand = rng(23);
  it('random overlapping boxes, ties, both box formats, thresholds and limits (opsets 10, 11)', async () => {
    for (let trial = 0; trial < 30; trial++) {
      const batches = 1 + randomInt(rand, 2);
      const classes = 1 + randomInt(rand, 3);
      const n = 1 + randomInt(rand, 40);
      const center = rand() < 0.3;
      const inputs = [
        randomBoxes(rand, batches, n, center),
        randomScores(rand, batches, classes, n),
        i64([1], [randomInt(rand, n + 2)]),
        f32([1], [[0, 0.2, 0.45, 0.7, 1][randomInt(rand, 5)]!]),
        ...(rand() < 0.7 ? [f32([1], [rand() * 0.6])] : []),
      ];
      await expectMatch({ op: 'NonMaxSuppression', opset: trial % 2 ? 11 : 10, inputs, attrs: [intAttr('center_point_box', center ? 1 : 0)] });
    }
  });
  it('omitted optional inputs select nothing; omitted score_threshold keeps every box', async () => {
    const boxes = randomBoxes(rand, 1, 10, false);
    const scores = randomScores(rand, 1, 2, 10);
    await expectMatch({ op: 'NonMaxSuppression', opset: 11, inputs: [boxes, scores] });
    await expectMatch({ op: 'NonMaxSuppression', opset: 11, inputs: [boxes, scores, i64([1], [10])] });
    await expectMatch({ op: 'NonMaxSuppression', opset: 11, inputs: [boxes, scores, i64([1], [10]), f32([1], [0.3])] });
  });
  it('hand-worked: IoU exactly at the threshold is kept (suppression needs IoU > threshold)', () => {
    // Boxes [0,0,1,1] and [0,0,1,0.5]... as [y1,x1,y2,x2]: intersection 0.5, union 1, IoU 0.5.
    const boxes = f32([1, 2, 4], [0, 0, 1, 1, 0, 0, 1, 0.5]);
    const scores = f32([1, 1, 2], [0.9, 0.8]);
    const run = (thr: number) => Array.from(runKernel({ op: 'NonMaxSuppression', opset: 11, inputs: [boxes, scores, i64([1], [5]), f32([1], [thr])] })[0]!.data as BigInt64Array, Number);
    expect(run(0.5)).toEqual([0, 0, 0, 0, 0, 1]);
    expect(run(0.49)).toEqual([0, 0, 0]);
  });
  it('mismatched scores are an error naming the node', () => {
    const e = bncErrorOf(() => runKernel({ op: 'NonMaxSuppression', opset: 11, inputs: [randomBoxes(rand, 1, 5, false), randomScores(rand, 1, 2, 6)] }));
    expect(e.message).toMatch(/NonMaxSuppression node 'NonMaxSuppression_under_test': scores must be/);
  });
});

describe.skipIf(!HAVE_ONNX_NODE_TESTS)("the ONNX project's node tests (libonnx-testdata)", () => {
  for (const name of onnxNodeCases('test_nonmaxsuppression')) {
    it(name, () => {
      expect(runOnnxNodeCase(name)).toBeUndefined();
    });
  }
});
