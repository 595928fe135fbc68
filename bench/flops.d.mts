// Types for flops.mjs (the benchmark is plain JS; tests import it from TypeScript).
import type { Model } from '../src/ir/index.js';

export function countFlops(model: Model, inputDims: number[]): { flops: number; convFlops: number; gemmFlops: number };
