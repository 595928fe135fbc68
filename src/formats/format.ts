import { Model } from '../ir/index.js';

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
  /** Bytes read so far of the model's files (large ones only), for a progress bar. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}
