// Types for resnet50.mjs.
import type { Model } from '../src/ir/index.js';

export function mulberry32(seed: number): () => number;
export function buildResNet50(options?: { seed?: number; classes?: number }): Model;
