import { fillNormal, mulberry32 } from '../../util/seededRandom.js';
import { BlobSpec } from './layers/index.js';

// Seeded random weights for a prototxt: for benchmarks and for nets published without weights. Each
// layer's stream is seeded from the seed and the layer name, so a layer's weights do not depend on the
// layers before it. Values are chosen to keep activations in a sane range through deep nets: He-normal
// convolution/IP weights, BatchNorm with unit-ish variance and s = 1, Scale gamma near 1.

/** FNV-1a of the layer name mixed with the seed. */
function layerSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function fillUniform(out: Float32Array, rand: () => number, lo: number, hi: number): void {
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * rand();
}

/** Random blobs for one layer's specs. */
export function randomBlobs(specs: BlobSpec[], seed: number, layerName: string): Float32Array[] {
  const rand = mulberry32(layerSeed(seed, layerName));
  return specs.map((spec) => {
    const out = new Float32Array(spec.dims.reduce((a, b) => a * b, 1));
    switch (spec.role) {
      case 'weight':
        fillNormal(out, rand, 0, Math.sqrt(2 / Math.max(1, spec.fanIn ?? 1)));
        break;
      case 'bias':
        fillNormal(out, rand, 0, 0.05);
        break;
      case 'mean':
        fillNormal(out, rand, 0, 0.1);
        break;
      case 'variance':
        fillUniform(out, rand, 0.5, 1.5);
        break;
      case 'factor':
        out.fill(1);
        break;
      case 'gamma':
        fillUniform(out, rand, 0.5, 1.5);
        break;
      case 'beta':
        fillNormal(out, rand, 0, 0.1);
        break;
      case 'slope':
        out.fill(0.25);
        break;
    }
    return out;
  });
}
