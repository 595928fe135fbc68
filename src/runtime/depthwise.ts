import type { ConvEpilogue } from './epilogue.js';

// Depthwise convolution (one input channel per group): each output plane reads one input plane through
// its own few taps. Geometry travels as an Int32Array (it is also sent to worker threads), in the 3-D
// (D, H, W) form of windowGeometry.ts.
//
// Every output is one sum in a double: the bias already in `out`, then the taps in (kd, kh, kw) order,
// skipping taps in the padding, rounded to float32 once. For 3×3 kernels (MobileNet's case) the columns
// whose window lies inside the input take unrolled paths with the nine weights in registers (a sliding
// window at stride 1; only the kernel rows inside the input at the top and bottom); the border columns
// and other kernels take the general loop. All add the same terms in the same order, so the result does
// not depend on the path.

export const DW_IN_D = 0;
export const DW_IN_H = 1;
export const DW_IN_W = 2;
export const DW_OUT_D = 3;
export const DW_OUT_H = 4;
export const DW_OUT_W = 5;
export const DW_K_D = 6;
export const DW_K_H = 7;
export const DW_K_W = 8;
export const DW_S_D = 9;
export const DW_S_H = 10;
export const DW_S_W = 11;
export const DW_D_D = 12;
export const DW_D_H = 13;
export const DW_D_W = 14;
export const DW_P_D = 15;
export const DW_P_H = 16;
export const DW_P_W = 17;
/** Input channels (C) and output channels (M) of the node, and output channels per group (M / C). */
export const DW_CHANNELS = 18;
export const DW_OUT_CHANNELS = 19;
export const DW_GROUP_OUT = 20;
export const DW_GEOMETRY_LENGTH = 21;

/**
 * Output planes [first, last) of the flattened (n, m) axis; `out` holds the bias (or 0) on entry. A fused
 * Conv's epilogue (epilogue.ts) is applied to each plane right after it is computed.
 */
export function depthwisePlanes(
  g: Int32Array, src: Float32Array, w: Float32Array, out: Float32Array, first: number, last: number, epilogue?: ConvEpilogue,
): void {
  const inPlane = g[DW_IN_D]! * g[DW_IN_H]! * g[DW_IN_W]!;
  const outPlane = g[DW_OUT_D]! * g[DW_OUT_H]! * g[DW_OUT_W]!;
  const taps = g[DW_K_D]! * g[DW_K_H]! * g[DW_K_W]!;
  const channels = g[DW_CHANNELS]!;
  const outChannels = g[DW_OUT_CHANNELS]!;
  const groupOut = g[DW_GROUP_OUT]!;
  for (let q = first; q < last; q++) {
    const n = Math.floor(q / outChannels);
    const m = q - n * outChannels;
    const inBase = (n * channels + Math.floor(m / groupOut)) * inPlane;
    depthwisePlane(g, src, inBase, w, m * taps, out, q * outPlane);
    epilogue?.apply(out, q * outPlane, (q + 1) * outPlane);
  }
}

function depthwisePlane(g: Int32Array, src: Float32Array, inBase: number, w: Float32Array, wBase: number, out: Float32Array, outBase: number): void {
  const inD = g[DW_IN_D]!, inH = g[DW_IN_H]!, inW = g[DW_IN_W]!;
  const outD = g[DW_OUT_D]!, outH = g[DW_OUT_H]!, outW = g[DW_OUT_W]!;
  const kD = g[DW_K_D]!, kH = g[DW_K_H]!, kW = g[DW_K_W]!;
  const sD = g[DW_S_D]!, sH = g[DW_S_H]!, sW = g[DW_S_W]!;
  const dD = g[DW_D_D]!, dH = g[DW_D_H]!, dW = g[DW_D_W]!;
  const pD = g[DW_P_D]!, pH = g[DW_P_H]!, pW = g[DW_P_W]!;
  // Output columns whose whole window row lies inside the input.
  const interiorLo = Math.min(outW, Math.ceil(pW / sW));
  const interiorHi = Math.max(interiorLo, Math.min(outW, Math.floor((inW - 1 - (kW - 1) * dW + pW) / sW) + 1));
  const unrolled3x3 = kD === 1 && kH === 3 && kW === 3;
  for (let od = 0; od < outD; od++) {
    const id0 = od * sD - pD;
    for (let oh = 0; oh < outH; oh++) {
      const ih0 = oh * sH - pH;
      const o = outBase + (od * outH + oh) * outW;
      // The kernel rows [khLo, khHi) that fall inside the input on this output row.
      let khLo = 0;
      while (khLo < 3 && ih0 + khLo * dH < 0) khLo++;
      let khHi = 3;
      while (khHi > khLo && ih0 + (khHi - 1) * dH >= inH) khHi--;
      if (!unrolled3x3 || id0 < 0 || id0 >= inD || khLo === khHi) {
        generalOutputs(g, src, inBase, w, wBase, out, o, od, oh, 0, outW);
        continue;
      }
      generalOutputs(g, src, inBase, w, wBase, out, o, od, oh, 0, interiorLo);
      // Input index of tap (khLo, 0) at ow = 0.
      const r0 = inBase + (id0 * inH + ih0 + khLo * dH) * inW - pW;
      if (khLo > 0 || khHi < 3) {
        interior3Rows(src, r0, inW * dH, khHi - khLo, sW, dW, w, wBase + 3 * khLo, out, o, interiorLo, interiorHi);
      } else if (sW === 1 && dW === 1) {
        interior3x3Sliding(src, r0, inW, w, wBase, out, o, interiorLo, interiorHi);
      } else {
        interior3x3(src, r0, inW * dH, sW, dW, w, wBase, out, o, interiorLo, interiorHi);
      }
      generalOutputs(g, src, inBase, w, wBase, out, o, od, oh, interiorHi, outW);
    }
  }
}

/**
 * interior3x3 for stride 1 and dilation 1: neighbouring outputs share two of their three window columns,
 * so each output loads only its new column and the other six values move along in locals.
 */
function interior3x3Sliding(src: Float32Array, r0: number, rowStep: number, w: Float32Array, wb: number, out: Float32Array, o: number, lo: number, hi: number): void {
  if (lo >= hi) return;
  const w00 = w[wb]!, w01 = w[wb + 1]!, w02 = w[wb + 2]!;
  const w10 = w[wb + 3]!, w11 = w[wb + 4]!, w12 = w[wb + 5]!;
  const w20 = w[wb + 6]!, w21 = w[wb + 7]!, w22 = w[wb + 8]!;
  let i0 = r0 + lo;
  let i1 = i0 + rowStep;
  let i2 = i1 + rowStep;
  let x00 = src[i0]!, x01 = src[i0 + 1]!;
  let x10 = src[i1]!, x11 = src[i1 + 1]!;
  let x20 = src[i2]!, x21 = src[i2 + 1]!;
  let ow = lo;
  // Two outputs per iteration: they share V8's per-iteration typed-array checks (see pointwise.ts).
  for (; ow + 1 < hi; ow += 2, i0 += 2, i1 += 2, i2 += 2) {
    const x02 = src[i0 + 2]!, x12 = src[i1 + 2]!, x22 = src[i2 + 2]!;
    const x03 = src[i0 + 3]!, x13 = src[i1 + 3]!, x23 = src[i2 + 3]!;
    const b0 = out[o + ow]!, b1 = out[o + ow + 1]!;
    out[o + ow] =
      b0 +
      w00 * x00 + w01 * x01 + w02 * x02 +
      w10 * x10 + w11 * x11 + w12 * x12 +
      w20 * x20 + w21 * x21 + w22 * x22;
    out[o + ow + 1] =
      b1 +
      w00 * x01 + w01 * x02 + w02 * x03 +
      w10 * x11 + w11 * x12 + w12 * x13 +
      w20 * x21 + w21 * x22 + w22 * x23;
    x00 = x02; x01 = x03;
    x10 = x12; x11 = x13;
    x20 = x22; x21 = x23;
  }
  if (ow < hi) {
    out[o + ow] =
      out[o + ow]! +
      w00 * x00 + w01 * x01 + w02 * src[i0 + 2]! +
      w10 * x10 + w11 * x11 + w12 * src[i1 + 2]! +
      w20 * x20 + w21 * x21 + w22 * src[i2 + 2]!;
  }
}

/**
 * Outputs [lo, hi) of a row where only `rows` consecutive kernel rows (1 or 2, starting at the weights
 * from wb) fall inside the input: the top and bottom rows of a plane. Same terms in the same order as
 * generalOutputs, without its per-tap bounds checks.
 */
function interior3Rows(
  src: Float32Array, r0: number, rowStep: number, rows: number, sW: number, dW: number,
  w: Float32Array, wb: number, out: Float32Array, o: number, lo: number, hi: number,
): void {
  const d2 = 2 * dW;
  for (let ow = lo; ow < hi; ow++) {
    let sum = out[o + ow]!;
    let i = r0 + ow * sW;
    for (let r = 0, t = wb; r < rows; r++, t += 3, i += rowStep) {
      sum = sum + w[t]! * src[i]! + w[t + 1]! * src[i + dW]! + w[t + 2]! * src[i + d2]!;
    }
    out[o + ow] = sum;
  }
}

/** Outputs [lo, hi) of one row, every tap of a 3×3 window inside the input; r0 = input index of tap (0, 0) at ow = 0. */
function interior3x3(
  src: Float32Array, r0: number, rowStep: number, sW: number, dW: number,
  w: Float32Array, wb: number, out: Float32Array, o: number, lo: number, hi: number,
): void {
  const w00 = w[wb]!, w01 = w[wb + 1]!, w02 = w[wb + 2]!;
  const w10 = w[wb + 3]!, w11 = w[wb + 4]!, w12 = w[wb + 5]!;
  const w20 = w[wb + 6]!, w21 = w[wb + 7]!, w22 = w[wb + 8]!;
  const d2 = 2 * dW;
  let i0 = r0 + lo * sW;
  let ow = lo;
  // Two outputs per iteration, as in interior3x3Sliding.
  for (; ow + 1 < hi; ow += 2, i0 += 2 * sW) {
    const i1 = i0 + rowStep;
    const i2 = i1 + rowStep;
    const j0 = i0 + sW, j1 = i1 + sW, j2 = i2 + sW;
    const b0 = out[o + ow]!, b1 = out[o + ow + 1]!;
    out[o + ow] =
      b0 +
      w00 * src[i0]! + w01 * src[i0 + dW]! + w02 * src[i0 + d2]! +
      w10 * src[i1]! + w11 * src[i1 + dW]! + w12 * src[i1 + d2]! +
      w20 * src[i2]! + w21 * src[i2 + dW]! + w22 * src[i2 + d2]!;
    out[o + ow + 1] =
      b1 +
      w00 * src[j0]! + w01 * src[j0 + dW]! + w02 * src[j0 + d2]! +
      w10 * src[j1]! + w11 * src[j1 + dW]! + w12 * src[j1 + d2]! +
      w20 * src[j2]! + w21 * src[j2 + dW]! + w22 * src[j2 + d2]!;
  }
  if (ow < hi) {
    const i1 = i0 + rowStep;
    const i2 = i1 + rowStep;
    out[o + ow] =
      out[o + ow]! +
      w00 * src[i0]! + w01 * src[i0 + dW]! + w02 * src[i0 + d2]! +
      w10 * src[i1]! + w11 * src[i1 + dW]! + w12 * src[i1 + d2]! +
      w20 * src[i2]! + w21 * src[i2 + dW]! + w22 * src[i2 + d2]!;
  }
}

/** Outputs [lo, hi) of row (od, oh), checking every tap against the input bounds. */
function generalOutputs(
  g: Int32Array, src: Float32Array, inBase: number, w: Float32Array, wBase: number,
  out: Float32Array, o: number, od: number, oh: number, lo: number, hi: number,
): void {
  if (lo >= hi) return; // before reading 18 geometry values: most rows have no right border
  const inD = g[DW_IN_D]!, inH = g[DW_IN_H]!, inW = g[DW_IN_W]!;
  const kD = g[DW_K_D]!, kH = g[DW_K_H]!, kW = g[DW_K_W]!;
  const sD = g[DW_S_D]!, sH = g[DW_S_H]!, sW = g[DW_S_W]!;
  const dD = g[DW_D_D]!, dH = g[DW_D_H]!, dW = g[DW_D_W]!;
  const pD = g[DW_P_D]!, pH = g[DW_P_H]!, pW = g[DW_P_W]!;
  for (let ow = lo; ow < hi; ow++) {
    let sum = out[o + ow]!;
    let t = wBase;
    for (let kd = 0; kd < kD; kd++) {
      const id = od * sD - pD + kd * dD;
      if (id < 0 || id >= inD) {
        t += kH * kW;
        continue;
      }
      for (let kh = 0; kh < kH; kh++) {
        const ih = oh * sH - pH + kh * dH;
        if (ih < 0 || ih >= inH) {
          t += kW;
          continue;
        }
        const row = inBase + (id * inH + ih) * inW;
        for (let kw = 0; kw < kW; kw++, t++) {
          const iw = ow * sW - pW + kw * dW;
          if (iw >= 0 && iw < inW) sum += w[t]! * src[row + iw]!;
        }
      }
    }
    out[o + ow] = sum;
  }
}
