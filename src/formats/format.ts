import { BncError, Model } from '../ir/index.js';
import { WireError } from './protobuf/wire.js';

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
  /**
   * Read weight files into a SharedArrayBuffer, so tensors that view the file reach worker threads without
   * a copy (the CLI sets this when it runs models on more than one thread).
   */
  sharedMemory?: boolean;
  /** Caffe: build the net only up to these blobs, which become the outputs (--outputs). */
  outputs?: string[];
  /**
   * Caffe: net input name → shape replacing the declared one (--input-shape; same rank). ONNX models keep
   * their declared shapes; their symbolic dims are set when inputs are generated.
   */
  inputShapes?: Record<string, number[]>;
}

/**
 * Run a binary decoder for `file`: wire-format damage becomes one CORRUPT error saying the file is
 * `notWhat` (e.g. "not a valid ONNX model"), and every bnc error names the file.
 */
export function decodingFile<T>(file: string, notWhat: string, decode: () => T): T {
  try {
    return decode();
  } catch (e) {
    if (e instanceof WireError) {
      throw new BncError(`${file}: ${notWhat} (${e.message}); the file may be truncated or corrupted`, { file, code: 'CORRUPT' });
    }
    if (e instanceof BncError) {
      e.file ??= file;
      if (!e.message.startsWith(file)) e.message = `${file}: ${e.message}`;
    }
    throw e;
  }
}
