import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import type * as jpegJs from 'jpeg-js';
import type * as pngJs from 'pngjs';
import { BncError, DataType, ValueInfo, dtypeName } from '../ir/index.js';
import { RtTensor } from '../runtime/kernel.js';

// `--image NAME=file.jpg|png`: decode (pure-JavaScript decoders, no native addon), resize, normalise and lay
// out an image the way a vision model's own preprocessing does, as Caffe's transform_param, OpenCV's
// blobFromImage and torchvision's transforms describe it.

/** Decoded pixels: RGBA, 8 bits per channel, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * How pixels become the input tensor, in this order:
 *   1. resize to [height, width] (bilinear, pixel centres aligned as cv2.resize INTER_LINEAR and
 *      PIL's bilinear without antialiasing do);
 *   2. channel order RGB, or BGR with bgr (Caffe and OpenCV models);
 *   3. y = (x − mean[c]) · scale / std[c], with x the 0..255 pixel and mean/std in the same 0..255 units
 *      (Caffe: mean 104,117,123 and scale 0.017; torchvision's Normalize(mean=[0.485,0.456,0.406],
 *      std=[0.229,0.224,0.225]) after ToTensor is mean 123.675,116.28,103.53 and std 58.395,57.12,57.375);
 *   4. layout NCHW or NHWC; a model input with 1 channel gets the gray value 0.299R + 0.587G + 0.114B.
 */
export interface Preprocessing {
  resize?: [height: number, width: number];
  mean: number[];
  std: number[];
  scale: number;
  bgr: boolean;
  layout?: 'nchw' | 'nhwc';
}

export const DEFAULT_PREPROCESSING: Preprocessing = { mean: [0], std: [1], scale: 1, bgr: false };

/** Largest image bnc decodes (megapixels): a photo is far below it, a hostile header far above. */
const MAX_MEGAPIXELS = 100;

/** Decode a JPEG or PNG file (by its first bytes) to RGBA. Errors name the file. */
export function decodeImage(file: string): RgbaImage {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BncError(`${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : 'cannot read the file'}`, { file, code: 'NOT_FOUND' });
  }
  const isPng = bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  try {
    if (isPng) {
      // Required here, not imported: the decoders take ~30 ms to load and most commands read no image.
      const { PNG } = createRequire(import.meta.url)('pngjs') as typeof pngJs;
      const png = PNG.sync.read(bytes);
      if (png.width * png.height > MAX_MEGAPIXELS * 1e6) throw new Error(`${png.width}×${png.height} is larger than ${MAX_MEGAPIXELS} megapixels`);
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    }
    if (isJpeg) {
      const jpeg = createRequire(import.meta.url)('jpeg-js') as typeof jpegJs;
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_MEGAPIXELS, maxMemoryUsageInMB: 1024 });
      return { width: img.width, height: img.height, data: img.data };
    }
  } catch (e) {
    throw new BncError(`${file}: cannot decode the ${isPng ? 'PNG' : 'JPEG'} image (${(e as Error).message ?? e})`, { file, code: 'BAD_INPUT' });
  }
  throw new BncError(`${file}: not a JPEG or PNG image (bnc reads those two; convert others, or pass a tensor with --input NAME=file.npy)`, {
    file,
    code: 'BAD_INPUT',
  });
}

/**
 * Bilinear resize of one RGBA image to outH × outW, source coordinate (x + 0.5)·in/out − 0.5 clamped to the
 * image (cv2.resize INTER_LINEAR's rule). Returns float RGBA values 0..255.
 */
export function resizeBilinear(img: RgbaImage, outH: number, outW: number): Float32Array {
  const out = new Float32Array(outH * outW * 4);
  const sy = img.height / outH;
  const sx = img.width / outW;
  for (let y = 0; y < outH; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), img.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, img.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < outW; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), img.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, img.width - 1);
      const wx = fx - x0;
      for (let c = 0; c < 4; c++) {
        const p = (yy: number, xx: number) => img.data[(yy * img.width + xx) * 4 + c]!;
        const top = p(y0, x0) * (1 - wx) + p(y0, x1) * wx;
        const bottom = p(y1, x0) * (1 - wx) + p(y1, x1) * wx;
        out[(y * outW + x) * 4 + c] = top * (1 - wy) + bottom * wy;
      }
    }
  }
  return out;
}

/** The value of a dim the model fixes, or undefined when it is symbolic/unknown. */
function fixedDim(vi: ValueInfo, i: number): number | undefined {
  const d = vi.type?.tensor?.shape?.[i];
  return d && d.value !== undefined && d.value >= 0 ? d.value : undefined;
}

/**
 * The input tensor for `vi` from a decoded image. The size is --resize, else the model's fixed H and W, else
 * the image's own. Layout: --layout, else NHWC when the model's input ends in 1 or 3 channels and its dim 1
 * does not, else NCHW. The batch dim (fixed N, else 1) repeats the image. Float inputs get the normalised
 * values; uint8 inputs the resized pixels, rounded. Returns the tensor and a one-line description.
 */
export function imageTensor(img: RgbaImage, vi: ValueInfo, p: Preprocessing, file: string): { tensor: RtTensor; description: string } {
  const rank = vi.type?.tensor?.shape?.length;
  const elemType = vi.type?.tensor?.elemType ?? DataType.FLOAT;
  if (rank !== undefined && rank !== 4) {
    throw new BncError(`--image ${vi.name}=${file}: input '${vi.name}' has ${rank} dims; an image feeds a 4-D input [N, C, H, W] or [N, H, W, C]`, { code: 'USAGE' });
  }
  if (elemType !== DataType.FLOAT && elemType !== DataType.DOUBLE && elemType !== DataType.UINT8 && elemType !== DataType.FLOAT16) {
    throw new BncError(`--image ${vi.name}=${file}: input '${vi.name}' is ${dtypeName(elemType)}; images feed float or uint8 inputs`, { code: 'USAGE' });
  }
  const looksNhwc = (fixedDim(vi, 3) === 3 || fixedDim(vi, 3) === 1) && fixedDim(vi, 1) !== 3 && fixedDim(vi, 1) !== 1;
  const layout = p.layout ?? (looksNhwc ? 'nhwc' : 'nchw');
  const [cAxis, hAxis, wAxis] = layout === 'nchw' ? [1, 2, 3] : [3, 1, 2];
  const channels = fixedDim(vi, cAxis) ?? 3;
  if (channels !== 3 && channels !== 1) {
    throw new BncError(`--image ${vi.name}=${file}: input '${vi.name}' has ${channels} channels in ${layout.toUpperCase()} (an image has 3, or 1 as gray); check --layout`, {
      code: 'USAGE',
    });
  }
  const [h, w] = p.resize ?? [fixedDim(vi, hAxis) ?? img.height, fixedDim(vi, wAxis) ?? img.width];
  const batch = fixedDim(vi, 0) ?? 1;
  const per = (values: number[], what: string) => {
    if (values.length !== 1 && values.length !== channels) {
      throw new BncError(`--${what} ${values.join(',')}: give 1 value or ${channels} (one per channel)`, { code: 'USAGE' });
    }
    return (c: number) => values[values.length === 1 ? 0 : c]!;
  };
  const mean = per(p.mean, 'mean');
  const std = per(p.std, 'std');
  const pixels = resizeBilinear(img, h, w);
  const n = batch * channels * h * w;
  const uint8 = elemType === DataType.UINT8;
  const data = uint8 ? new Uint8Array(n) : elemType === DataType.DOUBLE ? new Float64Array(n) : new Float32Array(n);
  const order = p.bgr ? [2, 1, 0] : [0, 1, 2];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const at = (y * w + x) * 4;
      for (let c = 0; c < channels; c++) {
        const raw = channels === 1 ? 0.299 * pixels[at]! + 0.587 * pixels[at + 1]! + 0.114 * pixels[at + 2]! : pixels[at + order[c]!]!;
        const v = uint8 ? Math.min(255, Math.max(0, Math.round(raw))) : ((raw - mean(c)) * p.scale) / std(c);
        const i = layout === 'nchw' ? (c * h + y) * w + x : (y * w + x) * channels + c;
        data[i] = v;
      }
    }
  }
  for (let b = 1; b < batch; b++) data.copyWithin(b * channels * h * w, 0, channels * h * w);
  const dims = layout === 'nchw' ? [batch, channels, h, w] : [batch, h, w, channels];
  const steps = [
    `${img.width}x${img.height} → ${w}x${h}`,
    channels === 1 ? 'gray' : p.bgr ? 'BGR' : 'RGB',
    uint8 ? 'uint8 pixels' : `(x - ${fmtList(p.mean)}) * ${fmt(p.scale)} / ${fmtList(p.std)}`,
    layout.toUpperCase(),
  ];
  return { tensor: { dtype: uint8 ? DataType.UINT8 : elemType === DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT, dims, data }, description: steps.join(', ') };
}

function fmt(x: number): string {
  return String(Number(x.toPrecision(6)));
}

function fmtList(values: number[]): string {
  return values.length === 1 ? fmt(values[0]!) : `[${values.map(fmt).join(',')}]`;
}
