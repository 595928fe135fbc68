// Seeded pseudo-random numbers, so generated inputs and weights are the same on every machine and run.

/** mulberry32: a small, fast, well-mixed 32-bit generator. Returns uniforms in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fill with normal values by Box-Muller: each pair of uniforms gives two independent values. */
export function fillNormal(out: Float32Array | Float64Array, random: () => number, mean = 0, std = 1): void {
  for (let i = 0; i < out.length; i += 2) {
    // 1 - u keeps the logarithm's argument in (0, 1].
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    out[i] = mean + std * radius * Math.cos(angle);
    if (i + 1 < out.length) out[i + 1] = mean + std * radius * Math.sin(angle);
  }
}

/**
 * MT19937 seeded as numpy's legacy `np.random.seed(seed)` (init_genrand), returning doubles in [0, 1) as
 * `np.random.random_sample` / `uniform(0, 1)` do (53 bits from two outputs). Used where ONNX's reference
 * draws random numbers (training-mode Dropout), so that bnc reproduces its outputs.
 */
export function numpyLegacyUniform(seed: number): () => number {
  const mt = new Uint32Array(624);
  mt[0] = seed >>> 0;
  for (let i = 1; i < 624; i++) {
    const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
    // 1812433253 * prev + i, modulo 2^32, without losing bits to float rounding.
    mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
  }
  let index = 624;
  const next32 = (): number => {
    if (index >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (mt[k]! & 0x80000000) | (mt[(k + 1) % 624]! & 0x7fffffff);
        mt[k] = mt[(k + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      index = 0;
    }
    let y = mt[index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  };
  return () => {
    const a = next32() >>> 5;
    const b = next32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  };
}
