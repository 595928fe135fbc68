import * as fs from 'node:fs';
import { WireWriter } from '../protobuf/wire.js';
import { BlobSpec } from './layers/index.js';
import { CaffeLayer, parseNet } from './net.js';
import { convertCaffeNet } from './reader.js';

// A .caffemodel of seeded random weights for a prototxt (randomBlobs.ts draws them), for benchmarks and
// for nets published without weights.

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
  const layers: { name: string; type: string; blobs: BlobToWrite[]; specs: BlobSpec[] }[] = [];
  const { model } = convertCaffeNet(net, {
    prototxtFile,
    randomWeights: true,
    seed,
    warn,
    onRandomWeights: (layer: CaffeLayer, blobs: Float32Array[], specs: BlobSpec[]) => {
      layers.push({ name: layer.name, type: layer.type, specs, blobs: blobs.map((data, i) => ({ dims: specs[i]!.dims, data })) });
    },
  });
  // Calibration wrote BatchNorm statistics into the converted model (classifier blobs are the model's
  // own arrays): copy them back, with the moving-average factor 1 they were converted with.
  const batchNorms = new Map(model.graph.nodes.filter((n) => n.opType === 'BatchNormalization').map((n) => [n.name, n]));
  const initializers = new Map(model.graph.initializers.map((t) => [t.name, t.data]));
  for (const layer of layers) {
    const bn = batchNorms.get(layer.name);
    if (!bn) continue;
    layer.specs.forEach((spec, i) => {
      const source = spec.role === 'mean' ? bn.inputs[3] : spec.role === 'variance' ? bn.inputs[4] : undefined;
      const data = initializers.get(source ?? '');
      if (data instanceof Float32Array && layer.blobs[i] && data.length === layer.blobs[i]!.data.length) layer.blobs[i]!.data.set(data);
    });
  }
  return encodeCaffemodel(net.name, layers);
}
