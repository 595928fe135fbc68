import * as path from 'node:path';
import { OpenOptions, openModel } from '../formats/index.js';
import { Model } from '../ir/index.js';
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
