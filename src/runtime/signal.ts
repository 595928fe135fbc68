import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, requireInput } from './kernel.js';
import { NumberArray, allocate, integerValues } from './broadcast.js';

// Signal windows (opset 17): HannWindow, HammingWindow, BlackmanWindow. Each is a cosine sum
// w[n] = a0 - a1·cos(2πn/N) + a2·cos(4πn/N), N = size when periodic (the default), size - 1 otherwise.

function windowKernel(opType: string, a0: number, a1: number, a2: number): KernelConfig {
  return {
    opType,
    run(ctx: KernelContext): RtTensor[] {
      const sizes = integerValues(ctx.node, requireInput(ctx, 0, 'size'), 'size');
      if (sizes.length !== 1 || !(sizes[0]! >= 0)) throw kernelError(ctx.node, 'size must be one non-negative integer');
      const size = sizes[0]!;
      const dtype = ctx.attrs.int('output_datatype', DataType.FLOAT) as DataType;
      if (![DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16].includes(dtype)) {
        throw kernelError(ctx.node, `output_datatype ${dtypeName(dtype)} is not supported (float, double, float16)`);
      }
      const periodic = ctx.attrs.int('periodic', 1) !== 0;
      const n = periodic ? size : size - 1;
      const out = allocate(ctx.node, dtype, size) as NumberArray;
      for (let i = 0; i < size; i++) {
        const t = n === 0 ? 0 : (2 * Math.PI * i) / n;
        out[i] = a0 - a1 * Math.cos(t) + a2 * Math.cos(2 * t);
      }
      return [{ dtype: dtype === DataType.FLOAT16 ? DataType.FLOAT : dtype, dims: [size], data: out }];
    },
  };
}

export const SIGNAL_KERNELS: KernelConfig[] = [
  windowKernel('HannWindow', 0.5, 0.5, 0),
  windowKernel('HammingWindow', 25 / 46, 21 / 46, 0),
  windowKernel('BlackmanWindow', 0.42, 0.5, 0.08),
];
