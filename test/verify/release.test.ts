import { describe, expect, it } from 'vitest';
import { Model } from '../../src/ir/index.js';
import { parseToleranceOptions } from '../../src/verify/compare.js';
import { DeferredModel, verifyModels, VerifyOptions } from '../../src/verify/verify.js';
import { CHANNELS, convNet, scaleConvChannel } from './nets.js';

// verifyModels with a deferred model B and releaseA: A runs on every sample, lets go of its weights, and
// only then is B loaded, so `bnc verify` and `convert --verify` never hold both models' weights. The
// report must be the one verifying with both models at once gives.

function options(extra: Partial<VerifyOptions> = {}): VerifyOptions {
  return { fileA: 'a.onnx', fileB: 'b.onnx', tolerance: parseToleranceOptions([], []), ...extra };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** Model A, and weak references to its weight arrays (made here, so the test holds no strong one). */
function modelWithWeakWeights(): { model: Model; weights: WeakRef<object>[] } {
  const model = convNet();
  return { model, weights: model.graph.initializers.map((t) => new WeakRef(t.data as object)) };
}

describe('verify releases model A before loading model B', () => {
  it("B's loader runs after A has run, when A's weights have been collected", async () => {
    const { model: a, weights } = modelWithWeakWeights();
    expect(weights).toHaveLength(5);
    // A WeakRef's target is kept for the rest of the job that made or read it: let that job end.
    await tick();
    let heldAtLoad = -1;
    let initializerDataAtLoad = -1;
    const b: DeferredModel = {
      load: () => {
        heldAtLoad = weights.filter((w) => w.deref() !== undefined).length;
        initializerDataAtLoad = a.graph.initializers.reduce((n, t) => n + (t.data as ArrayLike<number>).length, 0);
        return convNet();
      },
    };
    const report = verifyModels(a, b, options({ releaseA: true, samples: 2 }));
    expect(report.verdict).toBe('equivalent');
    // A keeps its structure (names, initializer list) but no element of its weights...
    expect(a.graph.initializers.map((t) => t.name)).toEqual(['w1', 'b1', 'scale', 'shift', 'w2']);
    expect(initializerDataAtLoad).toBe(0);
    // ...and the arrays themselves were collected (verify runs a full collection after the release).
    expect(heldAtLoad).toBe(0);
  });

  it('gives the report verifying with both models at once gives (outputs, every tensor, a difference)', () => {
    const base = convNet();
    const changed = scaleConvChannel(base, 'conv1', CHANNELS - 1, 1.01);
    for (const extra of [{ samples: 3, seed: 4 }, { allTensors: true }] as Partial<VerifyOptions>[]) {
      const atOnce = verifyModels(convNet(), scaleConvChannel(convNet(), 'conv1', CHANNELS - 1, 1.01), options(extra));
      const inTurn = verifyModels(convNet(), { load: () => changed }, options({ ...extra, releaseA: true }));
      expect(atOnce.verdict).toBe('different');
      expect(inTurn).toEqual(atOnce);
    }
  });

  it("without releaseA, A keeps its weights and can run again", () => {
    const a = convNet();
    const before = a.graph.initializers.map((t) => t.data);
    verifyModels(a, { load: () => convNet() }, options());
    expect(a.graph.initializers.map((t) => t.data)).toEqual(before);
    expect(verifyModels(a, convNet(), options()).verdict).toBe('equivalent');
  });

  it("a deferred B whose outputs do not pair is refused once it is loaded", () => {
    const other = convNet();
    other.graph.outputs[0]!.name = 'other';
    other.graph.nodes[other.graph.nodes.length - 1]!.outputs[0] = 'other';
    other.graph.outputs.push({ ...other.graph.outputs[0]!, name: 'r2' });
    expect(() => verifyModels(convNet(), { load: () => other }, options({ releaseA: true }))).toThrow(/cannot pair the outputs/);
  });
});
