import { describe, expect, it } from 'vitest';
import { BncError } from '../../src/ir/index.js';
import {
  DEFAULT_TOLERANCE,
  EXACT_TOLERANCE,
  TensorComparator,
  compareTensors,
  isClassScoreShape,
  parseToleranceOptions,
  toleranceFor,
  unravelIndex,
} from '../../src/verify/compare.js';

/** numpy.allclose's rule with a fixed absolute atol, the rule verify deliberately does not use. */
function plainAllclose(a: Float32Array, b: Float32Array, rtol: number, atol: number): boolean {
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i]! - b[i]!) <= atol + rtol * Math.abs(b[i]!))) return false;
  return true;
}

describe('compareTensors: the pass rule |a-b| <= atolRel*max|b| + rtol*|b|', () => {
  it('accepts fold-like rounding on a near-zero element that plain allclose rejects', () => {
    const b = Float32Array.from([10, -3, 1e-3, 5, 0.25, -7]);
    const a = Float32Array.from(b);
    a[2] = 1e-3 + 5e-5; // 5 % relative error on a value 1e-4 of the tensor's range: cancellation noise
    a[0] = 10 * (1 + 2e-7); // an ordinary float32 rounding difference
    expect(plainAllclose(a, b, 1e-4, 1e-5)).toBe(false);
    const r = compareTensors(a, b, [2, 3]);
    expect(r.pass).toBe(true);
    expect(r.violations).toBe(0);
    expect(r.atolEffective).toBeCloseTo(1e-4, 12);
    expect(r.maxRelError).toBeGreaterThan(0.04);
    expect(r.cosineSimilarity).toBeGreaterThan(1 - 1e-9);
    // The worst element is the near-zero one, reported as a multi-index with both values.
    expect(r.worst?.index).toEqual([0, 2]);
    expect(r.worst?.a).toBe(a[2]);
    expect(r.worst?.b).toBe(b[2]);
    expect(r.worst!.ratio).toBeLessThan(1);
    expect(r.identical).toBe(false);
  });

  it('rejects one element scaled by 1.01 and reports where', () => {
    const b = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i + 1) * 3);
    const a = Float32Array.from(b);
    a[17] = b[17]! * 1.01;
    const r = compareTensors(a, b, [2, 3, 4]);
    expect(r.pass).toBe(false);
    expect(r.violations).toBe(1);
    expect(r.worst?.index).toEqual([1, 1, 1]); // 17 = 1*12 + 1*4 + 1
    expect(r.worst!.ratio).toBeGreaterThan(1);
    expect(r.maxAbsError).toBeCloseTo(Math.abs(a[17]! - b[17]!), 12);
    expect(r.maxRelError).toBeCloseTo(0.01, 5);
    expect(r.meanAbsError).toBeCloseTo(Math.abs(a[17]! - b[17]!) / 24, 12);
  });

  it('treats the boundary as passing and just over it as failing', () => {
    const b = Float64Array.from([1, 0]);
    const allowedAtZero = DEFAULT_TOLERANCE.atolRel * 1; // max|b| = 1
    expect(compareTensors(Float64Array.from([1, allowedAtZero]), b, [2]).pass).toBe(true);
    expect(compareTensors(Float64Array.from([1, allowedAtZero * 1.5]), b, [2]).pass).toBe(false);
  });

  it('all-zero reference: only exact zeros pass, relative error is Infinity', () => {
    const b = new Float32Array(4);
    expect(compareTensors(new Float32Array(4), b, [4]).identical).toBe(true);
    const r = compareTensors(Float32Array.from([0, 1e-30, 0, 0]), b, [4]);
    expect(r.pass).toBe(false);
    expect(r.maxRelError).toBe(Infinity);
    expect(r.worst?.ratio).toBe(Infinity);
  });

  it('identical arrays: pass, no worst element, cosine 1', () => {
    const b = Float32Array.from([1, -2, 3]);
    const r = compareTensors(Float32Array.from(b), b, [3]);
    expect(r).toMatchObject({ pass: true, identical: true, violations: 0, maxAbsError: 0, maxRelError: 0, meanAbsError: 0, cosineSimilarity: 1 });
    expect(r.worst).toBeUndefined();
  });

  it('cosine similarity: -1 for negated, 0 for orthogonal or one all-zero, 1 for both all-zero', () => {
    const v = Float32Array.from([1, 2, 3]);
    expect(compareTensors(Float32Array.from(v, (x) => -x), v, [3]).cosineSimilarity).toBeCloseTo(-1, 12);
    expect(compareTensors(Float32Array.from([1, 0]), Float32Array.from([0, 1]), [2]).cosineSimilarity).toBe(0);
    expect(compareTensors(new Float32Array(3), v, [3]).cosineSimilarity).toBe(0);
    expect(compareTensors(new Float32Array(3), new Float32Array(3), [3]).cosineSimilarity).toBe(1);
  });

  it('integer outputs with EXACT_TOLERANCE: any difference fails', () => {
    expect(compareTensors(Int32Array.from([3, 4]), Int32Array.from([3, 4]), [2], EXACT_TOLERANCE).pass).toBe(true);
    expect(compareTensors(Int32Array.from([3, 5]), Int32Array.from([3, 4]), [2], EXACT_TOLERANCE).pass).toBe(false);
  });

  it('refuses arrays whose length does not match the dims (a caller bug, not a verdict)', () => {
    expect(() => compareTensors(new Float32Array(3), new Float32Array(4), [4])).toThrow(/3 and 4 elements/);
  });
});

describe('compareTensors: NaN and infinities', () => {
  it('NaN in one model and not the other fails and is the worst element', () => {
    const b = Float32Array.from([1, 2, 3, 4]);
    const a = Float32Array.from([1, NaN, 3, 4.0001]);
    const r = compareTensors(a, b, [4]);
    expect(r.pass).toBe(false);
    expect(r.nanMismatches).toBe(1);
    expect(r.violations).toBe(1);
    expect(r.worst?.index).toEqual([1]);
    expect(Number.isNaN(r.worst!.a)).toBe(true);
    expect(r.worst!.b).toBe(2);
  });

  it('NaN in the reference only also fails', () => {
    const r = compareTensors(Float32Array.from([1, 2]), Float32Array.from([1, NaN]), [2]);
    expect(r).toMatchObject({ pass: false, nanMismatches: 1 });
  });

  it('NaN in both at the same place agrees', () => {
    const r = compareTensors(Float32Array.from([NaN, 2]), Float32Array.from([NaN, 2]), [2]);
    expect(r).toMatchObject({ pass: true, identical: true, nanMismatches: 0 });
  });

  it('infinities: equal ones agree, and do not inflate the absolute allowance', () => {
    const b = Float32Array.from([Infinity, 1, 0.5]);
    expect(compareTensors(Float32Array.from([Infinity, 1, 0.5]), b, [3]).pass).toBe(true);
    // If max|b| counted the infinity, atol_eff would be infinite and 0.7 vs 0.5 would pass.
    expect(compareTensors(Float32Array.from([Infinity, 1, 0.7]), b, [3]).pass).toBe(false);
    const opposite = compareTensors(Float32Array.from([-Infinity, 1, 0.5]), b, [3]);
    expect(opposite).toMatchObject({ pass: false, violations: 1, maxAbsError: Infinity });
    expect(opposite.worst?.index).toEqual([0]);
    expect(compareTensors(Float32Array.from([1e30, 1, 0.5]), b, [3]).pass).toBe(false);
  });
});

describe('top-1 / top-5 agreement on class scores', () => {
  it('knows class-score shapes', () => {
    expect(isClassScoreShape([1, 1000])).toBe(true);
    expect(isClassScoreShape([4, 2])).toBe(true);
    expect(isClassScoreShape([2, 10, 1, 1])).toBe(true);
    expect(isClassScoreShape([4, 1])).toBe(false);
    expect(isClassScoreShape([1, 10, 2, 1])).toBe(false);
    expect(isClassScoreShape([2, 3, 4])).toBe(false);
    expect(compareTensors(new Float32Array(6), new Float32Array(6), [2, 3, 1]).top1Agreement).toBeUndefined();
  });

  it('counts rows whose arg-max and top-5 sets agree', () => {
    // 3 rows of 7 classes. Row 0: same order. Row 1: top-1 swapped (top-5 set unchanged).
    // Row 2: top-1 same, the 5th and 6th swapped (top-5 set differs).
    const b = Float32Array.from([
      [7, 6, 5, 4, 3, 2, 1],
      [1, 9, 8, 2, 3, 4, 0],
      [0.9, 0.1, 0.5, 0.4, 0.3, 0.2, 0.25],
    ].flat());
    const a = Float32Array.from(b);
    a[7 + 1] = 8; // row 1: class 1 now 8 ...
    a[7 + 2] = 9; // ... and class 2 is 9: arg-max moves from 1 to 2
    a[14 + 5] = 0.26; // row 2: class 5 (0.2) now beats class 6 (0.25) → enters the top 5
    const r = compareTensors(a, b, [3, 7]);
    expect(r.topKRows).toBe(3);
    expect(r.top1Agreement).toBeCloseTo(2 / 3, 12);
    expect(r.top5Agreement).toBeCloseTo(2 / 3, 12);
  });

  it('[N, C, 1, 1] is read per row; top-5 is left out when there are 5 classes or fewer', () => {
    const b = Float32Array.from([1, 2, 3, 3, 2, 1]);
    const a = Float32Array.from([1, 2, 3, 1, 2, 3]);
    const r = compareTensors(a, b, [2, 3, 1, 1]);
    expect(r.top1Agreement).toBe(0.5);
    expect(r.top5Agreement).toBeUndefined();
  });

  it('ties keep the lower class index; NaN ranks last', () => {
    const b = Float32Array.from([5, 5, 1, NaN, 0, 0]);
    const a = Float32Array.from([5, 5, 1, 0, NaN, 0]);
    const r = compareTensors(a, b, [1, 6]);
    expect(r.top1Agreement).toBe(1);
    expect(r.top5Agreement).toBe(0); // b's top 5 is {0,1,2,4,5}, a's is {0,1,2,3,5}
  });
});

describe('TensorComparator over several samples', () => {
  it('judges each sample by its own max|b| and aggregates worst-case metrics', () => {
    const c = new TensorComparator([2, 2]);
    // Sample 0: small values, an error of 1e-3 on a 1-scaled tensor (atol_eff 1e-5): fails.
    c.addSample(Float32Array.from([1, 0.5, 0.25, 0.001 + 1e-3]), Float32Array.from([1, 0.5, 0.25, 0.001]));
    // Sample 1: large values, the same absolute error is within its 1e-2 atol_eff.
    c.addSample(Float32Array.from([1000, 1, 1, 1 + 1e-3]), Float32Array.from([1000, 1, 1, 1]));
    const r = c.result();
    expect(r.samples).toBe(2);
    expect(r.violations).toBe(1);
    expect(r.pass).toBe(false);
    expect(r.worst).toMatchObject({ sample: 0, index: [1, 1] });
    expect(r.atolEffective).toBeCloseTo(1000 * 1e-5, 9);
    expect(r.meanAbsError).toBeCloseTo(2e-3 / 8, 7);
  });

  it('a later, worse sample replaces the worst element', () => {
    const c = new TensorComparator([3]);
    const b = Float32Array.from([1, 2, 3]);
    c.addSample(Float32Array.from([1, 2, 3.00001]), b);
    c.addSample(Float32Array.from([1.5, 2, 3]), b);
    expect(c.result().worst).toMatchObject({ sample: 1, index: [0], a: 1.5, b: 1 });
  });
});

describe('tolerance options', () => {
  it('plain numbers set the default; name:number sets one tensor (name up to the last colon)', () => {
    const spec = parseToleranceOptions(['1e-3', 'logits:0.01'], ['output:0:2e-4']);
    expect(spec.default).toEqual({ rtol: 1e-3, atolRel: DEFAULT_TOLERANCE.atolRel });
    expect(toleranceFor(spec, 'logits')).toEqual({ rtol: 0.01, atolRel: DEFAULT_TOLERANCE.atolRel });
    expect(toleranceFor(spec, 'output:0')).toEqual({ rtol: 1e-3, atolRel: 2e-4 });
    expect(toleranceFor(spec, 'other')).toEqual({ rtol: 1e-3, atolRel: DEFAULT_TOLERANCE.atolRel });
    // Positional pairs: A's name or B's name.
    expect(toleranceFor(spec, 'a_name', 'logits').rtol).toBe(0.01);
  });

  it('defaults are rtol 1e-4, atol 1e-5 (relative to max|b|)', () => {
    expect(parseToleranceOptions([], []).default).toEqual({ rtol: 1e-4, atolRel: 1e-5 });
  });

  it.each([['abc'], ['-1'], [''], ['out:'], [':1e-3'], ['out:x']])('rejects %j with a usage error', (text) => {
    expect(() => parseToleranceOptions([text], [])).toThrow(BncError);
  });
});

describe('unravelIndex', () => {
  it('turns a C-order flat index into a multi-index', () => {
    expect(unravelIndex(0, [2, 3, 4])).toEqual([0, 0, 0]);
    expect(unravelIndex(23, [2, 3, 4])).toEqual([1, 2, 3]);
    expect(unravelIndex(5, [6])).toEqual([5]);
    expect(unravelIndex(0, [])).toEqual([]);
  });
});
