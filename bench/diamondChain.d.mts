// Types for diamondChain.mjs.
import type { Model } from '../src/ir/index.js';

export function buildDiamondChain(options?: { units?: number; channels?: number; size?: number; seed?: number; opset?: number }): Model;
