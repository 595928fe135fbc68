import { describe, expect, it } from 'vitest';
import { pointwiseRange } from '../../src/runtime/pointwise.js';
import { rng } from '../helpers/kernelHarness.js';

// The element loops behind Relu, Clip and same-shape Add take eight elements per iteration and finish the
// rest one at a time. These run them on ranges that start and end off the eight-element grid, over values
// that stress the bit-pattern tricks, against a plain float reference written out here.

const SPECIAL = [NaN, -NaN, -0, 0, Infinity, -Infinity, 1e-40, -1e-40, 6, 6.000001, 5.999999, 0.25, -0.25, 3.4e38, -3.4e38];

function values(count: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = Float32Array.from({ length: count }, () => (r() - 0.5) * 16);
  SPECIAL.forEach((v, i) => (x[(i * 7) % count] = v));
  // A NaN with a payload and the sign bit set: Clip must keep its bits.
  new Int32Array(x.buffer)[count - 2] = 0xffc01234 | 0;
  return x;
}

const bits = (a: Float32Array) => new Int32Array(a.buffer, a.byteOffset, a.length);
const SENTINEL = 12345.5;

/** Runs `op` over [first, last) and returns the output, sentinel outside the range. */
function run(op: 'relu' | 'clip' | 'add', x: Float32Array, first: number, last: number, extra: { y?: Float32Array; lo?: number; hi?: number } = {}): Float32Array {
  const out = new Float32Array(x.length).fill(SENTINEL);
  const asBits = op !== 'add';
  pointwiseRange(
    { task: 'pointwise', op, x: asBits ? bits(x) : x, y: extra.y, out: asBits ? bits(out) : out, lo: extra.lo, hi: extra.hi, count: x.length, chunkSize: x.length },
    first,
    last,
  );
  return out;
}

function floatBits(v: number): number {
  return new Int32Array(Float32Array.of(v).buffer)[0]!;
}

describe('pointwise element loops', () => {
  const count = 61;
  const ranges: [number, number][] = [[0, count], [3, 58], [5, 12], [9, 10], [20, 20]];

  it('Relu: max(v, 0) with NaN kept bit for bit (numpy, onnxruntime) and -0 to +0, on every range', () => {
    const x = values(count, 1);
    const bits = new Int32Array(x.buffer, x.byteOffset, x.length);
    for (const [first, last] of ranges) {
      const got = run('relu', x, first, last);
      const gotBits = new Int32Array(got.buffer, got.byteOffset, got.length);
      for (let i = 0; i < count; i++) {
        if (i >= first && i < last && Number.isNaN(x[i]!)) {
          expect(gotBits[i], `[${first}, ${last}) element ${i}: NaN bits`).toBe(bits[i]);
          continue;
        }
        const want = i < first || i >= last ? SENTINEL : x[i]! > 0 ? x[i]! : 0;
        expect(Object.is(got[i], want), `[${first}, ${last}) element ${i}: ${x[i]} → ${got[i]}, want ${want}`).toBe(true);
      }
    }
  });

  it('Clip with 0 <= lo <= hi: clamped, -0 to lo, NaN bits kept, on every range', () => {
    const x = values(count, 2);
    for (const [lo, hi] of [[0, 6], [0.25, 0.25], [1e-40, Infinity]] as const) {
      for (const [first, last] of ranges) {
        const got = run('clip', x, first, last, { lo: floatBits(lo), hi: floatBits(hi) });
        for (let i = 0; i < count; i++) {
          const v = x[i]!;
          if (i < first || i >= last) {
            expect(got[i]).toBe(SENTINEL);
          } else if (Number.isNaN(v)) {
            expect(bits(got)[i], `element ${i}`).toBe(bits(x)[i]);
          } else {
            const want = v <= lo ? lo : v >= hi ? hi : v;
            expect(Object.is(got[i], Math.fround(want)), `lo ${lo} hi ${hi} [${first}, ${last}) element ${i}: ${v} → ${got[i]}`).toBe(true);
          }
        }
      }
    }
  });

  it('same-shape Add, on every range', () => {
    const x = values(count, 3);
    const y = values(count, 4).reverse();
    for (const [first, last] of ranges) {
      const got = run('add', x, first, last, { y });
      for (let i = 0; i < count; i++) {
        const want = i < first || i >= last ? SENTINEL : Math.fround(x[i]! + y[i]!);
        expect(Object.is(got[i], want), `[${first}, ${last}) element ${i}`).toBe(true);
      }
    }
  });
});
