import * as path from 'node:path';
import { Model } from '../ir/index.js';
import { caffeFormat } from './caffe/index.js';
import { ModelFormat, OpenOptions } from './format.js';
import { readOnnxFile } from './onnx/index.js';

export type { ModelFormat, OpenOptions } from './format.js';

// ONNX first: it is also the fallback for files no format claims.
const formats: ModelFormat[] = [
  {
    name: 'onnx',
    match: (f) => path.extname(f).toLowerCase() === '.onnx',
    open: (f, o) => readOnnxFile(f, { onProgress: o.onProgress, sharedMemory: o.sharedMemory }),
  },
  caffeFormat,
];

export function registerFormat(format: ModelFormat): void {
  formats.push(format);
}

/** Open a model in any format bnc reads, chosen by the file name. */
export function openModel(file: string, options: OpenOptions = {}): Model {
  // ONNX files also come as .pb or without an extension: anything unclaimed is tried as ONNX, whose
  // reader says clearly when the bytes are not a model.
  const format = formats.find((f) => f.match(file)) ?? formats[0]!;
  return format.open(file, options);
}
