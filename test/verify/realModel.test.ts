import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model } from '../../src/ir/index.js';
import { readOnnxFile } from '../../src/formats/onnx/index.js';
import { foldBatchNorms } from '../../src/cli/commands/foldBn.js';
import { parseToleranceOptions } from '../../src/verify/compare.js';
import { VerifyOptions, verifyModels } from '../../src/verify/verify.js';
import { HAVE_SHARED, SHARED_MODELS, SKIP_SHARED_MESSAGE } from '../helpers/shared.js';
import { clone, convNet, scaleConvChannel } from './nets.js';

// The acceptance case of `bnc verify`: a real network (the shared mobilenet_v2 when present, else the
// built conv net) with ONE output channel of ONE conv scaled by 1.01 must fail, name the output, and
// --all-tensors must name that conv's output as the first diverging tensor. Correct BN folds must pass.

const MOBILENET = path.join(SHARED_MODELS, 'onnx/mobilenet_v2');

interface Subject {
  label: string;
  model: Model;
  /** The Conv to break: the 10th of mobilenet (a block in the middle), conv2 of the built net. */
  conv: string;
}

function subject(): Subject {
  if (!HAVE_SHARED) {
    console.warn(`${SKIP_SHARED_MESSAGE}; using the built conv net instead of mobilenet_v2`);
    return { label: 'built conv net', model: convNet(5), conv: 'conv2' };
  }
  const model = readOnnxFile(path.join(MOBILENET, 'model.onnx'));
  const convs = model.graph.nodes.filter((n) => n.opType === 'Conv');
  const conv = convs[9]!;
  // Name the node if the exporter did not, so scaleConvChannel can find it.
  conv.name ||= 'conv_under_test';
  return { label: 'mobilenet_v2', model, conv: conv.name };
}

const options = (extra: Partial<VerifyOptions> = {}): VerifyOptions => ({
  fileA: 'a.onnx',
  fileB: 'b.onnx',
  tolerance: parseToleranceOptions([], []),
  ...extra,
});

describe('verify on a real network', () => {
  const s = subject();

  it(`${s.label}: one channel of one conv scaled by 1.01 fails, and --all-tensors finds that conv`, () => {
    const broken = scaleConvChannel(s.model, s.conv, 1, 1.01);
    const r = verifyModels(s.model, broken, options({ allTensors: true }));
    expect(r.verdict).toBe('different');
    expect(r.exitCode).toBe(1);
    const failing = r.outputs.filter((o) => !o.pass).map((o) => o.name);
    expect(failing).toEqual(s.model.graph.outputs.map((o) => o.name));
    const convOutput = s.model.graph.nodes.find((n) => n.name === s.conv)!.outputs[0]!;
    const first = r.allTensors!.firstDiverging!;
    expect(first.name).toBe(convOutput);
    expect(first.producer).toBe(`Conv node '${s.conv}'`);
    // Only output channel 1 of that conv changed, so its worst element is in channel 1.
    expect(first.metrics.worst!.index[1]).toBe(1);
    // Everything computed before it is bitwise the same in both runs.
    expect(r.allTensors!.equal).toBeGreaterThanOrEqual(first.position);
  });

  it(`${s.label}: bnc's own BatchNorm fold verifies as equivalent`, () => {
    const folded = clone(s.model);
    foldBatchNorms(folded, {});
    const r = verifyModels(s.model, folded, options({ samples: 2 }));
    expect(r.verdict).toBe('equivalent');
    expect(r.outputs.every((o) => o.metrics!.violations === 0)).toBe(true);
  });

  it.skipIf(!HAVE_SHARED)("mobilenet_v2: torch's fold passes though its max relative error is far above rtol (near-zero logits)", () => {
    const torchFolded = readOnnxFile(path.join(MOBILENET, 'model_folded_by_torch.onnx'));
    const r = verifyModels(s.model, torchFolded, options());
    expect(r.verdict).toBe('equivalent');
    const m = r.outputs[0]!.metrics!;
    expect(m.cosineSimilarity as number).toBeGreaterThan(1 - 1e-9);
    expect(m.top1Agreement).toBe(1);
    // Why the rule scales atol by max|b|: plain elementwise rtol 1e-4 would have rejected this fold.
    expect(m.maxRelError as number).toBeGreaterThan(1e-4);
  });
});
