// Types for vgg16.mjs.
import type { Model } from '../src/ir/index.js';

export const VGG16_LAYERS: (number | 'M')[];
export function buildVgg16(options?: { seed?: number; classes?: number }): Model;
