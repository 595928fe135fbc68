import * as fs from 'node:fs';
import * as path from 'node:path';
import { Model } from '../../ir/index.js';
import { ModelFormat, OpenOptions } from '../format.js';
import { CaffeConversion, CaffeReadOptions, readCaffeFiles } from './reader.js';

export { readCaffeFiles, convertCaffeNet, DEFAULT_OPSET, TRAINING_MODE_OPSET } from './reader.js';
export type { CaffeConversion, CaffeReadOptions } from './reader.js';
export { parseCaffemodel } from './caffemodel.js';
export { parseNet } from './net.js';
export { parseTextFormat } from './prototxt.js';
export { randomCaffemodelFor, encodeCaffemodel, randomBlobs } from './randomWeights.js';
export { LAYER_MAPPINGS } from './layers.js';

/** The .caffemodel beside a prototxt: same base name (net.prototxt → net.caffemodel), if it exists. */
export function siblingCaffemodel(prototxt: string): string | undefined {
  const candidate = path.join(path.dirname(prototxt), `${path.basename(prototxt, path.extname(prototxt))}.caffemodel`);
  return fs.existsSync(candidate) ? candidate : undefined;
}

/** Open a Caffe net: the prototxt plus its weights (given, beside it, or generated). */
export function openCaffe(prototxt: string, options: OpenOptions & Pick<CaffeReadOptions, 'opset' | 'batch'> = {}): CaffeConversion {
  const weights = options.randomWeights ? undefined : (options.weights ?? siblingCaffemodel(prototxt));
  return readCaffeFiles(prototxt, weights, {
    randomWeights: options.randomWeights,
    seed: options.seed,
    warn: options.warn,
    onProgress: options.onProgress,
    sharedMemory: options.sharedMemory,
    opset: options.opset,
    batch: options.batch,
    // Fixes the declared input shape (--input-shape); read by readCaffeFiles once it knows the option.
    ...{ inputShapes: options.inputShapes },
  });
}

export const caffeFormat: ModelFormat = {
  name: 'caffe',
  match: (file) => path.extname(file).toLowerCase() === '.prototxt',
  open: (file, options): Model => openCaffe(file, options).model,
};
