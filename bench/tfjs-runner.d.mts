// Types for tfjs-runner.mjs; the tfjs module is passed through untyped.
import type { Model } from '../src/ir/index.js';

export type Tfjs = typeof import('@tensorflow/tfjs-core');
export function loadTfjs(): Promise<Tfjs>;
export function buildTfjsRunner(
  tf: Tfjs,
  model: Model,
): { run(data: Float32Array, dims: number[]): { data: Float32Array; dims: number[] }; dispose(): void };
