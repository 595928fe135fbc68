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
