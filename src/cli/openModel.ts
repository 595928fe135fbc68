import * as path from 'node:path';
import { OpenOptions, openModel } from '../formats/index.js';
import { BncError, Model } from '../ir/index.js';
import { Output } from './output.js';
import { progressReporter } from './progress.js';

/** openModel with a progress bar while a large file is read (only on a TTY; see progress.ts). */
export function openModelShowingProgress(out: Output, file: string, options: OpenOptions = {}): Model {
  const progress = progressReporter(`reading ${path.basename(file)}`, out);
  try {
    return openModel(file, { ...options, onProgress: progress.onProgress });
  } finally {
    progress.finish();
  }
}

export const RANDOM_WEIGHTS_HELP = 'Caffe: generate seeded random weights (seed 0) instead of reading a caffemodel';

/**
 * The weight options of a command that opens a model: `--weights <file>` or `--random-weights` (Caffe
 * nets only, as in `convert`), so a prototxt without its caffemodel can still be inspected, optimized or
 * run, as the reader's "no weights given" message advises.
 * @throws BncError USAGE when both are given, or --random-weights is given for a model that is not Caffe.
 */
export function weightOptions(file: string, opts: { weights?: string; randomWeights?: boolean }): Pick<OpenOptions, 'weights' | 'randomWeights'> {
  if (!opts.randomWeights) return { weights: opts.weights };
  if (opts.weights) throw new BncError(`--random-weights and --weights ${opts.weights} were both given; choose one`, { code: 'USAGE' });
  if (path.extname(file).toLowerCase() !== '.prototxt') {
    throw new BncError(`${file}: --random-weights applies to Caffe nets (.prototxt) only; an ONNX model carries its weights`, { file, code: 'USAGE' });
  }
  return { randomWeights: true };
}

export const OUTPUTS_HELP = 'Caffe: build the net only up to these blobs (comma-separated), which become the outputs: cuts off e.g. a Python layer after them';

/**
 * --outputs BLOB[,BLOB...] (repeatable) as OpenOptions.outputs. It cuts Caffe nets (the reader builds the TEST
 * net only up to the blobs); an ONNX model is not rebuilt, so with no prototxt among `files` it is an error.
 */
export function outputsOption(values: string[] | undefined, files: string[]): string[] | undefined {
  if (!values) return undefined;
  const names = values.flatMap((v) => v.split(',')).map((n) => n.trim());
  if (names.some((n) => !n)) throw new BncError(`--outputs ${JSON.stringify(values.join(','))}: expected blob names separated by commas`, { code: 'USAGE' });
  if (!files.some((f) => f.toLowerCase().endsWith('.prototxt'))) {
    throw new BncError(`--outputs cuts Caffe nets (a .prototxt) at the named blobs; ${files.join(' and ')} ${files.length > 1 ? 'are' : 'is'} not one`, { code: 'USAGE' });
  }
  return names;
}
