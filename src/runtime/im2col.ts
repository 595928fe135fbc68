import { WindowGeometry, product, validOutputRange } from './windowGeometry.js';

// im2col for the general Conv path (conv.ts). Split by input channel so that worker threads can each fill
// their own rows of the column matrix (a 'im2col' job in parallelTasks.ts).

/**
 * Rows of channels [first, last) of
 * col[(c, kd, kh, kw), (od, oh, ow)] = X[c, od·sd - pd + kd·dd, oh·sh - ph + kh·dh, ow·sw - pw + kw·dw],
 * 0 where that falls in the padding. Rows are filled a W-run at a time with the valid range precomputed.
 */
export function im2colChannels(src: Float32Array, srcOffset: number, g: WindowGeometry, col: Float32Array, first: number, last: number): void {
  const [inD, inH, inW] = g.input as [number, number, number];
  const [outD, outH, outW] = g.output as [number, number, number];
  const [kD, kH, kW] = g.kernel as [number, number, number];
  const [sD, sH, sW] = g.strides as [number, number, number];
  const [dD, dH, dW] = g.dilations as [number, number, number];
  const [pD, pH, pW] = g.padBegin as [number, number, number];
  let o = first * product(g.kernel) * outD * outH * outW;
  for (let c = first; c < last; c++) {
    const channelBase = srcOffset + c * inD * inH * inW;
    for (let kd = 0; kd < kD; kd++) {
      for (let kh = 0; kh < kH; kh++) {
        for (let kw = 0; kw < kW; kw++) {
          const [wLo, wHi] = validOutputRange(outW, inW, sW, pW, kw * dW);
          const wShift = kw * dW - pW;
          for (let od = 0; od < outD; od++) {
            const id = od * sD - pD + kd * dD;
            if (id < 0 || id >= inD) {
              col.fill(0, o, o + outH * outW);
              o += outH * outW;
              continue;
            }
            for (let oh = 0; oh < outH; oh++) {
              const ih = oh * sH - pH + kh * dH;
              if (ih < 0 || ih >= inH) {
                col.fill(0, o, o + outW);
                o += outW;
                continue;
              }
              const rowBase = channelBase + (id * inH + ih) * inW + wShift;
              let ow = 0;
              for (; ow < wLo; ow++) col[o++] = 0;
              if (sW === 1) {
                col.set(src.subarray(rowBase + wLo, rowBase + wHi), o);
                o += wHi - wLo;
                ow = wHi;
              } else {
                for (let iw = rowBase + wLo * sW; ow < wHi; ow++, iw += sW) col[o++] = src[iw]!;
              }
              for (; ow < outW; ow++) col[o++] = 0;
            }
          }
        }
      }
    }
  }
}
