import { KernelContext, kernelError } from './kernel.js';

// Sliding-window geometry shared by Conv, ConvTranspose and the pools. Kernels work on a 3-D spatial
// form (D, H, W): 1-D and 2-D inputs get leading axes of size 1 with kernel 1, stride 1 and no padding,
// so one loop nest serves every supported rank.

export const MAX_SPATIAL_RANK = 3;

export interface WindowGeometry {
  /** Number of spatial axes of the real input (1..3). */
  rank: number;
  /** Spatial sizes in the 3-D form (leading 1s). */
  input: number[];
  output: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  padBegin: number[];
  padEnd: number[];
}

/** Spatial sizes of `geometry.output` for the real rank (what goes into the output dims). */
export function realOutputShape(g: WindowGeometry): number[] {
  return g.output.slice(MAX_SPATIAL_RANK - g.rank);
}

export function product(values: readonly number[]): number {
  let p = 1;
  for (const v of values) p *= v;
  return p;
}

/** Reads strides / dilations / pads with their ONNX defaults and validates their lengths. */
export function readWindowAttributes(
  ctx: KernelContext,
  rank: number,
  kernel: number[],
  options: { dilations?: boolean } = {},
): { strides: number[]; dilations: number[]; pads: number[]; autoPad: string } {
  const a = ctx.attrs;
  const strides = a.ints('strides', new Array<number>(rank).fill(1));
  const dilations = options.dilations === false ? new Array<number>(rank).fill(1) : a.ints('dilations', new Array<number>(rank).fill(1));
  const pads = a.ints('pads', new Array<number>(2 * rank).fill(0));
  const autoPad = a.string('auto_pad', 'NOTSET');
  const check = (name: string, values: number[], length: number, min: number) => {
    if (values.length !== length) throw kernelError(ctx.node, `'${name}' has ${values.length} values, expected ${length} for ${rank} spatial axes`);
    if (values.some((v) => !Number.isInteger(v) || v < min)) throw kernelError(ctx.node, `'${name}' values [${values}] must be integers >= ${min}`);
  };
  if (kernel.length !== rank) throw kernelError(ctx.node, `kernel_shape has ${kernel.length} values, expected ${rank}`);
  if (kernel.some((k) => k < 1)) throw kernelError(ctx.node, `kernel_shape [${kernel}] must be positive`);
  check('strides', strides, rank, 1);
  check('dilations', dilations, rank, 1);
  check('pads', pads, 2 * rank, 0);
  if (!['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'].includes(autoPad)) {
    throw kernelError(ctx.node, `auto_pad '${autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  }
  return { strides, dilations, pads, autoPad };
}

/**
 * Output size and padding of a forward window op (Conv, pools). `ceilMode`: pools round the output size
 * up, dropping a last window that would start in the end padding (as onnxruntime and PyTorch do).
 */
export function forwardGeometry(
  ctx: KernelContext,
  inputSpatial: number[],
  kernel: number[],
  options: { ceilMode?: boolean; dilations?: boolean } = {},
): WindowGeometry {
  const rank = inputSpatial.length;
  if (rank < 1 || rank > MAX_SPATIAL_RANK) {
    throw kernelError(ctx.node, `input has ${rank} spatial axes; bnc runs 1-D, 2-D and 3-D ${ctx.node.opType} only`);
  }
  const { strides, dilations, pads, autoPad } = readWindowAttributes(ctx, rank, kernel, options);
  const output: number[] = [];
  const padBegin: number[] = [];
  const padEnd: number[] = [];
  for (let i = 0; i < rank; i++) {
    const size = inputSpatial[i]!;
    const s = strides[i]!;
    const extent = (kernel[i]! - 1) * dilations[i]! + 1;
    let out: number;
    let begin: number;
    let end: number;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      out = Math.ceil(size / s);
      const total = Math.max(0, (out - 1) * s + extent - size);
      // SAME_UPPER puts the odd pixel of padding at the end, SAME_LOWER at the beginning.
      begin = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
      end = total - begin;
    } else {
      [begin, end] = statedPads(autoPad, pads, i, rank);
      const span = size + begin + end - extent;
      if (span < 0) {
        throw kernelError(ctx.node, `the window (extent ${extent}) is larger than the padded input (${size + begin + end}) on spatial axis ${i}`);
      }
      if (options.ceilMode) {
        out = Math.ceil(span / s) + 1;
        if ((out - 1) * s >= size + begin) out--;
      } else {
        out = Math.floor(span / s) + 1;
      }
    }
    output.push(out);
    padBegin.push(begin);
    padEnd.push(end);
  }
  return to3d({ rank, input: inputSpatial, output, kernel, strides, dilations, padBegin, padEnd });
}

/** Extend a geometry given for `rank` axes to the 3-D form. */
export function to3d(g: WindowGeometry): WindowGeometry {
  const lead = MAX_SPATIAL_RANK - g.rank;
  const pad = (v: number[], fill: number) => [...new Array<number>(lead).fill(fill), ...v];
  return {
    rank: g.rank,
    input: pad(g.input, 1),
    output: pad(g.output, 1),
    kernel: pad(g.kernel, 1),
    strides: pad(g.strides, 1),
    dilations: pad(g.dilations, 1),
    padBegin: pad(g.padBegin, 0),
    padEnd: pad(g.padEnd, 0),
  };
}

/**
 * Range [lo, hi) of output positions o for which the input position o*stride - pad + offset lies inside
 * [0, size): the positions a window tap at `offset` reads from real input rather than padding.
 */
export function validOutputRange(outSize: number, inSize: number, stride: number, pad: number, offset: number): [number, number] {
  const shift = offset - pad;
  // Both ends clamped to [0, outSize]: with pads larger than the kernel or an input smaller than the window,
  // a tap can miss the input for every output position (lo would then pass outSize).
  const lo = Math.min(outSize, Math.max(0, Math.ceil(-shift / stride)));
  const hi = Math.min(outSize, Math.floor((inSize - 1 - shift) / stride) + 1);
  return [lo, Math.max(lo, hi)];
}

/** Padding of spatial axis `i` when it is not computed (auto_pad VALID: none; NOTSET: the `pads` attribute). */
export function statedPads(autoPad: string, pads: readonly number[], i: number, rank: number): [number, number] {
  return autoPad === 'VALID' ? [0, 0] : [pads[i]!, pads[i + rank]!];
}
