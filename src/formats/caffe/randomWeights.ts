import * as fs from 'node:fs';
import { fillNormal, mulberry32 } from '../../util/seededRandom.js';
import { WireWriter } from '../protobuf/wire.js';
import { BlobSpec } from './layers/index.js';
import { CaffeLayer, parseNet } from './net.js';
import { convertCaffeNet } from './reader.js';

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

export interface BlobToWrite {
  dims: number[];
  data: Float32Array;
}

/**
 * Encode layers and their blobs as a .caffemodel (NetParameter with `layer {name type blobs}`). Blob data
 * is written as packed floats straight from the typed arrays (no per-value encoding).
 */
export function encodeCaffemodel(netName: string, layers: { name: string; type: string; blobs: BlobToWrite[] }[]): Uint8Array {
  const w = new WireWriter();
  w.string(1, netName);
  for (const layer of layers) {
    w.message(100, (l) => {
      l.string(1, layer.name);
      l.string(2, layer.type);
      for (const blob of layer.blobs) {
        l.message(7, (bw) => {
          bw.message(7, (shape) => shape.packedVarints(1, blob.dims));
          bw.packedFixed(5, blob.data);
        });
      }
    });
  }
  return w.finish();
}

/**
 * A caffemodel with seeded random weights for every learnable layer of the prototxt's TEST net (the
 * helper behind --random-weights files and benchmarks). Returns the encoded bytes.
 */
export function randomCaffemodelFor(prototxtFile: string, seed: number, warn: (m: string) => void = () => undefined): Uint8Array {
  const net = parseNet(fs.readFileSync(prototxtFile, 'utf8'), prototxtFile, warn);
  const layers: { name: string; type: string; blobs: BlobToWrite[] }[] = [];
  convertCaffeNet(net, {
    prototxtFile,
    randomWeights: true,
    seed,
    warn,
    onRandomWeights: (layer: CaffeLayer, blobs: Float32Array[], specs: BlobSpec[]) => {
      layers.push({ name: layer.name, type: layer.type, blobs: blobs.map((data, i) => ({ dims: specs[i]!.dims, data })) });
    },
  });
  return encodeCaffemodel(net.name, layers);
}
