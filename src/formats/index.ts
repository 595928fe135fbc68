import * as path from 'node:path';
import { Model } from '../ir/index.js';
import { readOnnxFile } from './onnx/index.js';

/** The model formats bnc reads; each reader registers a test for its files and an open function. */
export interface ModelFormat {
  name: string;
  /** Whether this reader handles the path (by extension; content sniffing is the reader's own check). */
  match(file: string): boolean;
  open(file: string, options: OpenOptions): Model;
}

export interface OpenOptions {
  /** Caffe: the weights file, when not beside the prototxt. */
  weights?: string;
  /** Caffe: generate seeded random weights instead of reading a caffemodel. */
  randomWeights?: boolean;
  seed?: number;
  /** Warnings the reader wants shown (weights without a layer, unknown fields). */
  warn?: (message: string) => void;
}

const formats: ModelFormat[] = [
  { name: 'onnx', match: (f) => path.extname(f).toLowerCase() === '.onnx', open: (f) => readOnnxFile(f) },
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
