import { KernelConfig, KernelContext, RtTensor, floatTensor, kernelError, requireFloat, requireInput } from './kernel.js';
import { sgemm } from './gemmCore.js';
import * as dw from './depthwise.js';
import { im2colChannels } from './im2col.js';
import { ConvAlgorithm, winogradConv3x3, winogradTileFor } from './winograd.js';
import { takeFloat32 } from './bufferPool.js';
import { parallelSgemm, runJob, shareConstant, shareCopy, sharedFloat32, worthThreads } from './parallel.js';
import { ConvEpilogue, epilogueOf } from './epilogue.js';
import {
  MAX_SPATIAL_RANK,
  WindowGeometry,
  forwardGeometry,
  product,
  readWindowAttributes,
  realOutputShape,
  statedPads,
  to3d,
} from './windowGeometry.js';

// Conv and ConvTranspose for 1-D, 2-D and 3-D inputs, all in the 3-D (D, H, W) form of windowGeometry.
// Conv picks one of three strategies per node:
//   - depthwise (one input channel per group): a direct kernel over the few taps, no im2col;
//   - pointwise (1×1, stride 1, no padding): the input already is the GEMM's right operand;
//   - 3×3 stride-1 where winograd.ts's cost rule says it pays: Winograd F(2×2) or F(4×4, 3×3) (winograd.ts);
//   - otherwise im2col per (image, group) and one GEMM: W[g] (Mg × Cg·k) · col (Cg·k × out).
// A Conv the engine fused with the nodes after it (fusion.ts) applies their work (epilogue.ts) to each
// range of its output as the strategy finishes it.
// ConvTranspose is the adjoint: col = W[g]ᵀ · X[g] by GEMM, then col2im scatters into the output.

interface ConvOperands {
  x: RtTensor;
  xData: Float32Array;
  wData: Float32Array;
  bias?: Float32Array;
  batch: number;
  channels: number;
  group: number;
  kernel: number[];
}

function readConvOperands(ctx: KernelContext, weightChannelAxis: 0 | 1): ConvOperands {
  const x = requireInput(ctx, 0, 'input X');
  const w = requireInput(ctx, 1, 'weight W');
  const xData = requireFloat(ctx, x, 'input X');
  const wData = requireFloat(ctx, w, 'weight W');
  if (x.dims.length < 3 || x.dims.length > 2 + MAX_SPATIAL_RANK) {
    throw kernelError(ctx.node, `input X has shape [${x.dims}]; bnc runs 1-D, 2-D and 3-D convolutions (rank 3 to 5)`);
  }
  if (w.dims.length !== x.dims.length) {
    throw kernelError(ctx.node, `weight W has shape [${w.dims}], whose rank does not match input X [${x.dims}]`);
  }
  const kernel = w.dims.slice(2);
  const declared = ctx.attrs.ints('kernel_shape');
  if (declared && (declared.length !== kernel.length || declared.some((k, i) => k !== kernel[i]))) {
    throw kernelError(ctx.node, `kernel_shape [${declared}] does not match the weight's spatial shape [${kernel}]`);
  }
  const group = ctx.attrs.int('group', 1);
  const channels = x.dims[1]!;
  if (group < 1 || channels % group !== 0) throw kernelError(ctx.node, `group ${group} does not divide the ${channels} input channels`);
  const b = ctx.inputs[2];
  let bias: Float32Array | undefined;
  if (b) {
    bias = requireFloat(ctx, b, 'bias B');
    const outChannels = weightChannelAxis === 0 ? w.dims[0]! : w.dims[1]! * group;
    if (b.dims.length !== 1 || b.dims[0] !== outChannels) {
      throw kernelError(ctx.node, `bias B has shape [${b.dims}], expected [${outChannels}]`);
    }
  }
  return { x, xData, wData, bias, batch: x.dims[0]!, channels, group, kernel };
}

function fillBias(out: Float32Array, bias: Float32Array | undefined, batch: number, channels: number, planeSize: number): void {
  if (!bias) return;
  for (let n = 0; n < batch; n++) {
    for (let m = 0; m < channels; m++) {
      const start = (n * channels + m) * planeSize;
      out.fill(bias[m]!, start, start + planeSize);
    }
  }
}

const conv: KernelConfig = {
  opType: 'Conv',
  run(ctx) {
    const op = readConvOperands(ctx, 0);
    const w = ctx.inputs[1]!;
    const { batch, channels, group, kernel } = op;
    const outChannels = w.dims[0]!;
    const groupIn = channels / group;
    if (w.dims[1] !== groupIn) {
      throw kernelError(ctx.node, `weight W has shape [${w.dims}]: ${w.dims[1]} input channels per group, but input X has ${channels} channels in ${group} group(s)`);
    }
    if (outChannels % group !== 0) throw kernelError(ctx.node, `group ${group} does not divide the ${outChannels} output channels`);
    const g = forwardGeometry(ctx, op.x.dims.slice(2), kernel);
    const outPlane = product(g.output);
    // Large convolutions run on worker threads: their operands and output live in shared memory.
    const threaded = worthThreads(ctx.threads, batch * outChannels * outPlane * groupIn * product(g.kernel));
    const outSize = batch * outChannels * outPlane;
    // A released buffer of the same size is reused (bufferPool.ts): a fresh one costs page faults.
    const out = threaded ? sharedFloat32(outSize) : (takeFloat32(outSize, false) ?? new Float32Array(outSize));
    fillBias(out, op.bias, batch, outChannels, outPlane);
    const dims = [batch, outChannels, ...realOutputShape(g)];
    const args: ConvArgs = { ...op, outChannels, groupIn, groupOut: outChannels / group, g, out, threads: threaded ? ctx.threads : 1 };
    if (threaded) {
      args.xData = shareCopy(op.xData);
      args.wData = shareConstant(op.wData);
    }
    const spec = ctx.convEpilogue?.(dims);
    if (spec) {
      // Worker threads read the residual in place: it must be shared (outputs of a threaded run are).
      args.epilogue = epilogueOf(threaded && spec.residual ? { ...spec, residual: shareCopy(spec.residual) } : spec);
    }
    if (groupIn === 1) convDepthwise(args);
    else if (isPointwise(g)) convPointwise(args);
    else if (winogradTileFor(g, groupIn, args.groupOut, batch, args.threads, ctx.convAlgorithm)) convWinograd(args, op.wData, ctx.convAlgorithm, args.epilogue);
    else convIm2col(args);
    return [floatTensor(dims, out)];
  },
};

interface ConvArgs extends ConvOperands {
  outChannels: number;
  groupIn: number;
  groupOut: number;
  g: WindowGeometry;
  out: Float32Array;
  /** Threads to use; > 1 only when xData, wData and out are shared. */
  threads: number;
  /** Fused work on the output (epilogue.ts), applied to each finished range. */
  epilogue?: ConvEpilogue;
}

function isPointwise(g: WindowGeometry): boolean {
  for (let i = 0; i < MAX_SPATIAL_RANK; i++) {
    if (g.kernel[i] !== 1 || g.strides[i] !== 1 || g.padBegin[i] !== 0 || g.padEnd[i] !== 0) return false;
  }
  return true;
}

/** 1×1 stride-1 convolution: Y[n, g] = W[g] · X[n, g], the input read in place. */
function convPointwise(a: ConvArgs): void {
  const plane = product(a.g.input);
  for (let n = 0; n < a.batch; n++) {
    for (let gi = 0; gi < a.group; gi++) {
      parallelSgemm(
        a.threads, a.groupOut, plane, a.groupIn, 1,
        { data: a.wData, offset: gi * a.groupOut * a.groupIn, stride: a.groupIn },
        { data: a.xData, offset: (n * a.channels + gi * a.groupIn) * plane, stride: plane },
        a.out, (n * a.outChannels + gi * a.groupOut) * plane, plane, a.epilogue,
      );
    }
  }
}

/** General convolution: im2col of each (image, group), then one GEMM with the group's weights. */
function convIm2col(a: ConvArgs): void {
  const g = a.g;
  const inPlane = product(g.input);
  const outPlane = product(g.output);
  const taps = product(g.kernel);
  const depth = a.groupIn * taps;
  const col = a.threads > 1 ? sharedFloat32(depth * outPlane) : new Float32Array(depth * outPlane);
  for (let n = 0; n < a.batch; n++) {
    for (let gi = 0; gi < a.group; gi++) {
      im2col(a, (n * a.channels + gi * a.groupIn) * inPlane, col);
      parallelSgemm(
        a.threads, a.groupOut, outPlane, depth, 1,
        { data: a.wData, offset: gi * a.groupOut * depth, stride: depth },
        { data: col, offset: 0, stride: outPlane },
        a.out, (n * a.outChannels + gi * a.groupOut) * outPlane, outPlane, a.epilogue,
      );
    }
  }
}

/**
 * 3×3 stride-1 convolution by Winograd F(tile×tile, 3×3), all images and groups at once (tiles of every
 * image share each GEMM): see winograd.ts. `epilogue` runs on each finished output range.
 */
function convWinograd(a: ConvArgs, weights: Float32Array, algorithm: ConvAlgorithm | undefined, epilogue?: ConvEpilogue): void {
  const tile = winogradTileFor(a.g, a.groupIn, a.groupOut, a.batch, a.threads, algorithm);
  if (!tile) throw new Error('convWinograd called for a layer that takes the direct path');
  winogradConv3x3({
    // The original weight array keys the transform cache (a.wData may be a per-run shared copy).
    x: a.xData, w: weights, out: a.out,
    channels: a.groupIn, outChannels: a.groupOut, batch: a.batch, group: a.group,
    g: a.g, tile, threads: a.threads, epilogue,
  });
}

/** The column matrix of one (image, group), on worker threads too when the conv is threaded. */
function im2col(a: ConvArgs, srcOffset: number, col: Float32Array): void {
  const chunks = Math.min(a.groupIn, a.threads * 4);
  if (a.threads > 1 && chunks > 1) {
    runJob({ task: 'im2col', geometry: a.g, src: a.xData, srcOffset, col, channels: a.groupIn, chunkSize: Math.floor(a.groupIn / chunks) }, chunks, a.threads);
  } else {
    im2colChannels(a.xData, srcOffset, a.g, col, 0, a.groupIn);
  }
}

/** One input channel per group (depthwise, and any Conv with C/group = 1): see depthwise.ts. */
function convDepthwise(a: ConvArgs): void {
  const g = a.g;
  const geometry = new Int32Array(dw.DW_GEOMETRY_LENGTH);
  geometry.set(g.input, dw.DW_IN_D);
  geometry.set(g.output, dw.DW_OUT_D);
  geometry.set(g.kernel, dw.DW_K_D);
  geometry.set(g.strides, dw.DW_S_D);
  geometry.set(g.dilations, dw.DW_D_D);
  geometry.set(g.padBegin, dw.DW_P_D);
  geometry[dw.DW_CHANNELS] = a.channels;
  geometry[dw.DW_OUT_CHANNELS] = a.outChannels;
  geometry[dw.DW_GROUP_OUT] = a.groupOut;
  const planes = a.batch * a.outChannels;
  const chunks = Math.min(planes, a.threads * 4);
  if (a.threads > 1 && chunks > 1) {
    const epilogue = a.epilogue?.spec;
    runJob({ task: 'depthwise', geometry, src: a.xData, weights: a.wData, out: a.out, planes, chunkSize: Math.floor(planes / chunks), epilogue }, chunks, a.threads);
    // An epilogue without a spec cannot travel to the workers: it runs here, after the whole conv.
    if (a.epilogue && !epilogue) a.epilogue.apply(a.out, 0, a.out.length);
  } else {
    dw.depthwisePlanes(geometry, a.xData, a.wData, a.out, 0, planes, a.epilogue);
  }
}

const convTranspose: KernelConfig = {
  opType: 'ConvTranspose',
  run(ctx) {
    const op = readConvOperands(ctx, 1);
    const w = ctx.inputs[1]!;
    const { batch, channels, group, kernel } = op;
    if (w.dims[0] !== channels) {
      throw kernelError(ctx.node, `weight W has shape [${w.dims}]: its first axis must equal the ${channels} input channels`);
    }
    const groupIn = channels / group;
    const groupOut = w.dims[1]!;
    const outChannels = groupOut * group;
    const g = transposeGeometry(ctx, op.x.dims.slice(2), kernel, outChannels);
    const outPlane = product(g.output);
    const out = new Float32Array(batch * outChannels * outPlane);
    const inPlane = product(g.input);
    const taps = product(g.kernel);
    const rows = groupOut * taps;
    const col = new Float32Array(rows * inPlane);
    for (let n = 0; n < batch; n++) {
      for (let gi = 0; gi < group; gi++) {
        col.fill(0);
        // col (Mg·k × in) = W[g]ᵀ · X[n, g], with W[g] stored as (Cg × Mg·k).
        sgemm(
          rows, inPlane, groupIn, 1,
          { data: op.wData, offset: gi * groupIn * rows, stride: rows, transposed: true },
          { data: op.xData, offset: (n * channels + gi * groupIn) * inPlane, stride: inPlane },
          col, 0, inPlane,
        );
        col2im(col, groupOut, g, out, (n * outChannels + gi * groupOut) * outPlane);
      }
    }
    if (op.bias) {
      for (let n = 0; n < batch; n++) {
        for (let m = 0; m < outChannels; m++) {
          const bv = op.bias[m]!;
          const start = (n * outChannels + m) * outPlane;
          for (let i = start; i < start + outPlane; i++) out[i] += bv;
        }
      }
    }
    return [floatTensor([batch, outChannels, ...realOutputShape(g)], out)];
  },
};

/**
 * ConvTranspose output size and padding. Without output_shape:
 *   full = stride·(in-1) + output_padding + (k-1)·dilation + 1,   out = full - pad_begin - pad_end.
 * With output_shape (pads ignored, as the spec says) the total padding is full - output_shape, split as the
 * spec says: from opset 11, SAME_UPPER puts the odd pixel at the end and every other auto_pad at the
 * beginning; ConvTranspose-1 (opsets 1 to 10) the other way round (onnxruntime uses opset 11's split for
 * every opset). An
 * output_shape beyond `full` (onnxruntime allows up to stride - 1 more) pads nothing and leaves the extra
 * elements at the end with the bias only, as onnxruntime does. auto_pad SAME_* without output_shape asks
 * for out = in·stride in the same way, except that a full output smaller than that is kept as it is
 * (total padding 0), as onnx's shape inference and onnxruntime do.
 */
export function transposeGeometry(ctx: KernelContext, inputSpatial: number[], kernel: number[], outChannels: number): WindowGeometry {
  const rank = inputSpatial.length;
  const { strides, dilations, pads, autoPad } = readWindowAttributes(ctx, rank, kernel);
  const outputPadding = ctx.attrs.ints('output_padding', new Array<number>(rank).fill(0));
  if (outputPadding.length !== rank) throw kernelError(ctx.node, `output_padding has ${outputPadding.length} values, expected ${rank}`);
  if (outputPadding.some((p) => !Number.isInteger(p) || p < 0)) throw kernelError(ctx.node, `output_padding [${outputPadding}] must be integers >= 0`);
  const outputShape = convTransposeOutputShape(ctx, rank, outChannels);
  const output: number[] = [];
  const padBegin: number[] = [];
  const padEnd: number[] = [];
  for (let i = 0; i < rank; i++) {
    const full = strides[i]! * (inputSpatial[i]! - 1) + outputPadding[i]! + (kernel[i]! - 1) * dilations[i]! + 1;
    let begin: number;
    let end: number;
    let out: number;
    if (outputShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const wanted = outputShape ? outputShape[i]! : inputSpatial[i]! * strides[i]!;
      const total = Math.max(0, full - wanted);
      const small = Math.floor(total / 2);
      // ConvTranspose-1 (opsets 1 to 10) split an output_shape's padding the other way round.
      const upperFirst = outputShape && ctx.opset < 11 ? autoPad !== 'SAME_UPPER' : autoPad === 'SAME_UPPER';
      begin = upperFirst ? small : total - small;
      end = total - begin;
      out = outputShape ? wanted : full - total;
    } else {
      [begin, end] = statedPads(autoPad, pads, i, rank);
      out = full - begin - end;
    }
    if (out < 1) {
      throw kernelError(ctx.node, `output size ${out} on spatial axis ${i} is not positive (full size ${full}, pads ${begin} + ${end})`);
    }
    output.push(out);
    padBegin.push(begin);
    padEnd.push(end);
  }
  return to3d({ rank, input: inputSpatial, output, kernel, strides, dilations, padBegin, padEnd });
}

/** The spatial part of ConvTranspose's output_shape attribute (given with or without N and C), if set. */
function convTransposeOutputShape(ctx: KernelContext, rank: number, outChannels: number | undefined): number[] | undefined {
  let outputShape = ctx.attrs.ints('output_shape');
  if (!outputShape) return undefined;
  if (outputShape.length === rank + 2) {
    if (outChannels !== undefined && outputShape[1] !== outChannels) {
      throw kernelError(ctx.node, `output_shape [${outputShape}] does not have ${outChannels} channels`);
    }
    outputShape = outputShape.slice(2);
  }
  if (outputShape.length !== rank) throw kernelError(ctx.node, `output_shape has ${outputShape.length} values, expected ${rank}`);
  if (outputShape.some((d) => !Number.isInteger(d) || d < 1)) throw kernelError(ctx.node, `output_shape [${outputShape}] must be positive integers`);
  return outputShape;
}

/**
 * Adjoint of im2col: Y[m, id·sd - pd + kd·dd, ih·sh - ph + kh·dh, iw·sw - pw + kw·dw] += col[(m, kd, kh, kw), (id, ih, iw)]
 * for positions inside the output.
 */
function col2im(col: Float32Array, channels: number, g: WindowGeometry, out: Float32Array, outOffset: number): void {
  const [inD, inH, inW] = g.input as [number, number, number];
  const [outD, outH, outW] = g.output as [number, number, number];
  const [kD, kH, kW] = g.kernel as [number, number, number];
  const [sD, sH, sW] = g.strides as [number, number, number];
  const [dD, dH, dW] = g.dilations as [number, number, number];
  const [pD, pH, pW] = g.padBegin as [number, number, number];
  const outPlane = outD * outH * outW;
  let r = 0;
  for (let m = 0; m < channels; m++) {
    const channelBase = outOffset + m * outPlane;
    for (let kd = 0; kd < kD; kd++) {
      for (let kh = 0; kh < kH; kh++) {
        for (let kw = 0; kw < kW; kw++) {
          // Input positions iw whose target iw·sw - pw + kw·dw lies inside [0, outW).
          const shift = kw * dW - pW;
          const lo = Math.max(0, Math.ceil(-shift / sW));
          const hi = Math.min(inW, Math.floor((outW - 1 - shift) / sW) + 1);
          for (let id = 0; id < inD; id++) {
            const od = id * sD - pD + kd * dD;
            if (od < 0 || od >= outD) {
              r += inH * inW;
              continue;
            }
            for (let ih = 0; ih < inH; ih++, r += inW) {
              const oh = ih * sH - pH + kh * dH;
              if (oh < 0 || oh >= outH) continue;
              const rowBase = channelBase + (od * outH + oh) * outW + shift;
              let ow = rowBase + lo * sW;
              for (let iw = lo; iw < hi; iw++, ow += sW) out[ow] += col[r + iw]!;
            }
          }
        }
      }
    }
  }
}

export const CONV_KERNELS: KernelConfig[] = [conv, convTranspose];
