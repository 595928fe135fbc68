import { describe, expect, it } from 'vitest';
import { CaffeConversion, convertCaffeNet, parseNet } from '../../src/formats/caffe/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { DataType } from '../../src/ir/index.js';
import { runModel } from '../../src/runtime/engine.js';
import { runOrt } from '../helpers/ort.js';
import { bncErrorOf } from '../helpers/errors.js';
import { mulberry32 } from '../../src/util/seededRandom.js';

// weiliu89/caffe (ssd) layers on parameters the shared ssd_head case does not use. Expected values come
// from plain loops in this file that follow the fork's Forward_cpu line by line (normalize_layer.cpp,
// detection_output_layer.cpp + bbox_util.cpp), or are worked by hand (PriorBox); the converted ONNX runs
// in onnxruntime-node and the IR in bnc's runtime, and both must give them.

const f = Math.fround;

function convert(prototxt: string, randomWeights = false): CaffeConversion {
  return convertCaffeNet(parseNet(prototxt, 'test.prototxt', () => undefined), { randomWeights, seed: 3, prototxtFile: 'test.prototxt' });
}

type Feeds = Record<string, { data: Float32Array; dims: number[] }>;

/** The named output from onnxruntime (on the written ONNX) and from bnc's runtime (on the IR). */
async function runBoth(conv: CaffeConversion, feeds: Feeds, output: string): Promise<{ ort: { data: Float32Array; dims: number[] }; bnc: { data: Float32Array; dims: number[] } }> {
  const ort = (await runOrt(serializeOnnx(conv.model), feeds))[output]!;
  const inputs = new Map(Object.entries(feeds).map(([k, v]) => [k, { dtype: DataType.FLOAT, dims: v.dims, data: v.data }]));
  const got = runModel(conv.model, inputs).outputs.get(output)!;
  return { ort, bnc: { data: got.data as Float32Array, dims: got.dims } };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= tol * Math.max(1, Math.abs(want[i]!)))) {
      expect.fail(`element ${i}: ${got[i]} vs expected ${want[i]}`);
    }
  }
}

function randomData(rand: () => number, n: number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
}

// ------------------------------------------------------------------ Normalize

/** normalize_layer.cpp Forward_cpu on one [N, C, H, W] blob. */
function refNormalize(x: Float32Array, [n, c, h, w]: number[], acrossSpatial: boolean, scale: Float32Array, eps: number): Float32Array {
  const out = new Float32Array(x.length);
  const hw = h * w;
  for (let b = 0; b < n; b++) {
    const base = b * c * hw;
    if (acrossSpatial) {
      let sum = 0;
      for (let i = 0; i < c * hw; i++) sum += x[base + i]! ** 2;
      const norm = Math.sqrt(sum + eps);
      for (let i = 0; i < c * hw; i++) out[base + i] = x[base + i]! * (1 / norm);
    } else {
      for (let s = 0; s < hw; s++) {
        let sum = eps;
        for (let ch = 0; ch < c; ch++) sum += x[base + ch * hw + s]! ** 2;
        const norm = Math.sqrt(sum);
        for (let ch = 0; ch < c; ch++) out[base + ch * hw + s] = x[base + ch * hw + s]! / norm;
      }
    }
    for (let ch = 0; ch < c; ch++) for (let s = 0; s < hw; s++) out[base + ch * hw + s]! *= scale.length === 1 ? scale[0]! : scale[ch]!;
  }
  return out;
}

describe('Normalize (weiliu89/caffe ssd)', () => {
  const variants: [boolean, boolean, number[]][] = [
    [true, false, [2, 3, 4, 5]], // across_spatial with a per-channel scale
    [false, true, [2, 3, 4, 5]], // per position with one shared scale
    [true, true, [3, 6]], // a 2-D blob: height and width read as 1
    [false, false, [1, 4, 3]],
  ];
  for (const [across, shared, dims] of variants) {
    it(`across_spatial ${across}, channel_shared ${shared}, input [${dims}], eps 0.01 inside the sqrt`, async () => {
      const conv = convert(`
        input: "x" input_shape { ${dims.map((d) => `dim: ${d}`).join(' ')} }
        layer { name: "norm" type: "Normalize" bottom: "x" top: "y"
          norm_param { across_spatial: ${across} channel_shared: ${shared} eps: 0.01 } }`, true);
      const scaleInit = conv.model.graph.initializers.find((t) => t.name === 'norm.scale')!;
      expect(scaleInit.dims).toEqual(shared ? [] : [dims[1]!, ...new Array(dims.length - 2).fill(1)]);
      const x = randomData(mulberry32(5), dims.reduce((a, b) => a * b, 1), -0.2, 0.2);
      const legacy = [...dims, 1, 1].slice(0, 4);
      const want = refNormalize(x, legacy, across, scaleInit.data as Float32Array, 0.01);
      const { ort, bnc } = await runBoth(conv, { x: { data: x, dims } }, 'y');
      expectClose(ort.data, want);
      expectClose(bnc.data, want);
    });
  }
});

// ------------------------------------------------------------------ PriorBox

describe('PriorBox (weiliu89/caffe ssd), worked by hand', () => {
  it('two min/max sizes truncated to int, aspect ratios with a duplicate, flip, clip, one variance, step from the image size', async () => {
    // Feature 1x2 over a 6x8 (h x w) image: step_w = 8/2 = 4, step_h = 6/1 = 6; offset 0.5 → centers (2, 3), (6, 3).
    // min_size 2.9 → 2, max_size 4.5 → 4; aspect_ratio 2 and 2.0000001 (a duplicate within 1e-6) with flip → {1, 2, 1/2}.
    const conv = convert(`
      input: "feat" input_shape { dim: 1 dim: 3 dim: 1 dim: 2 }
      input: "img" input_shape { dim: 1 dim: 3 dim: 6 dim: 8 }
      layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "priors"
        prior_box_param { min_size: 2.9 max_size: 4.5 aspect_ratio: 2 aspect_ratio: 2.0000001 flip: true clip: true variance: 0.25 } }`);
    expect(conv.shapes.get('priors')).toEqual([1, 2, 2 * 4 * 4]);
    const r2 = Math.SQRT2;
    const boxes = (cx: number, cy: number) => [
      [cx - 1, cy - 1, cx + 1, cy + 1], // min_size 2
      [cx - r2, cy - r2, cx + r2, cy + r2], // sqrt(2·4)
      [cx - r2, cy - r2 / 2, cx + r2, cy + r2 / 2], // ar 2: w 2·√2, h 2/√2
      [cx - r2 / 2, cy - r2, cx + r2 / 2, cy + r2], // ar 1/2
    ];
    const clip = (v: number) => Math.min(Math.max(v, 0), 1);
    const want: number[] = [];
    for (const b of [...boxes(2, 3), ...boxes(6, 3)]) want.push(clip(b[0]! / 8), clip(b[1]! / 6), clip(b[2]! / 8), clip(b[3]! / 6));
    want.push(...new Array(32).fill(0.25));
    const feeds = { feat: { data: new Float32Array(6), dims: [1, 3, 1, 2] }, img: { data: new Float32Array(144), dims: [1, 3, 6, 8] } };
    const { ort, bnc } = await runBoth(conv, feeds, 'priors');
    expectClose(ort.data, want, 1e-6);
    expectClose(bnc.data, want, 1e-6);
  });

  it('img_h/img_w, step_h/step_w, offset 0, four variances, no flip, no clip', async () => {
    const conv = convert(`
      input: "feat" input_shape { dim: 1 dim: 3 dim: 2 dim: 1 }
      input: "img" input_shape { dim: 1 dim: 3 dim: 9 dim: 9 }
      layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "priors"
        prior_box_param { min_size: 4 aspect_ratio: 3 flip: false img_h: 10 img_w: 20 step_h: 5 step_w: 7 offset: 0
          variance: 0.1 variance: 0.2 variance: 0.3 variance: 0.4 } }`);
    // Centers (0, 0) and (0, 5); boxes min 4 and ar 3 (w 4·√3, h 4/√3); normalized by 20 (x) and 10 (y).
    const r3 = Math.sqrt(3);
    const want: number[] = [];
    for (const cy of [0, 5]) {
      want.push(-2 / 20, (cy - 2) / 10, 2 / 20, (cy + 2) / 10);
      want.push((-2 * r3) / 20, (cy - 2 / r3) / 10, (2 * r3) / 20, (cy + 2 / r3) / 10);
    }
    for (let i = 0; i < 4; i++) want.push(0.1, 0.2, 0.3, 0.4);
    const feeds = { feat: { data: new Float32Array(6), dims: [1, 3, 2, 1] }, img: { data: new Float32Array(243), dims: [1, 3, 9, 9] } };
    const { ort, bnc } = await runBoth(conv, feeds, 'priors');
    expectClose(ort.data, want, 1e-6);
    expectClose(bnc.data, want, 1e-6);
  });

  it('a max_size not above its min_size is an error naming the layer', () => {
    const e = bncErrorOf(() =>
      convert(`
        input: "feat" input_shape { dim: 1 dim: 3 dim: 2 dim: 2 }
        input: "img" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
        layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "priors" prior_box_param { min_size: 4 max_size: 3 } }`),
    );
    expect(e.message).toMatch(/layer 'pb' \(PriorBox\): max_size 3 must be greater than min_size 4/);
  });
});

// ------------------------------------------------------------------ DetectionOutput

interface DetParams {
  numClasses: number;
  shareLocation: boolean;
  background: number;
  /** 1 CORNER, 2 CENTER_SIZE, 3 CORNER_SIZE */
  codeType: number;
  varianceInTarget: boolean;
  keepTopK: number;
  confidence?: number;
  nms: number;
  topK: number;
}

type Box = { xmin: number; ymin: number; xmax: number; ymax: number; size: number };

function bboxSize(b: { xmin: number; ymin: number; xmax: number; ymax: number }): number {
  if (b.xmax < b.xmin || b.ymax < b.ymin) return 0;
  return f(f(b.xmax - b.xmin) * f(b.ymax - b.ymin));
}

/** bbox_util.cpp DecodeBBox in float32 steps. */
function decode(prior: number[], v: number[], loc: number[], code: number, inTarget: boolean): Box {
  const [pxmin, pymin, pxmax, pymax] = prior as [number, number, number, number];
  const vv = inTarget ? [1, 1, 1, 1] : v;
  let b: { xmin: number; ymin: number; xmax: number; ymax: number };
  if (code === 1) {
    b = { xmin: f(pxmin + f(vv[0]! * loc[0]!)), ymin: f(pymin + f(vv[1]! * loc[1]!)), xmax: f(pxmax + f(vv[2]! * loc[2]!)), ymax: f(pymax + f(vv[3]! * loc[3]!)) };
  } else if (code === 2) {
    const pw = f(pxmax - pxmin);
    const ph = f(pymax - pymin);
    const pcx = f(f(pxmin + pxmax) / 2);
    const pcy = f(f(pymin + pymax) / 2);
    const cx = f(f(f(vv[0]! * loc[0]!) * pw) + pcx);
    const cy = f(f(f(vv[1]! * loc[1]!) * ph) + pcy);
    const w = f(f(Math.exp(f(vv[2]! * loc[2]!))) * pw);
    const h = f(f(Math.exp(f(vv[3]! * loc[3]!))) * ph);
    b = { xmin: f(cx - w / 2), ymin: f(cy - h / 2), xmax: f(cx + w / 2), ymax: f(cy + h / 2) };
  } else {
    const pw = f(pxmax - pxmin);
    const ph = f(pymax - pymin);
    b = {
      xmin: f(pxmin + f(f(vv[0]! * loc[0]!) * pw)),
      ymin: f(pymin + f(f(vv[1]! * loc[1]!) * ph)),
      xmax: f(pxmax + f(f(vv[2]! * loc[2]!) * pw)),
      ymax: f(pymax + f(f(vv[3]! * loc[3]!) * ph)),
    };
  }
  return { ...b, size: bboxSize(b) };
}

/** bbox_util.cpp JaccardOverlap (normalized boxes). */
function jaccard(a: Box, b: Box): number {
  if (b.xmin > a.xmax || b.xmax < a.xmin || b.ymin > a.ymax || b.ymax < a.ymin) return 0;
  const w = f(Math.min(a.xmax, b.xmax) - Math.max(a.xmin, b.xmin));
  const h = f(Math.min(a.ymax, b.ymax) - Math.max(a.ymin, b.ymin));
  if (!(w > 0 && h > 0)) return 0;
  const inter = f(w * h);
  return f(inter / f(f(a.size + b.size) - inter));
}

/** detection_output_layer.cpp Forward_cpu (eta 1): rows of 7. */
function refDetectionOutput(loc: Float32Array, conf: Float32Array, prior: Float32Array, num: number, numPriors: number, p: DetParams): number[][] {
  const locClasses = p.shareLocation ? 1 : p.numClasses;
  const threshold = p.confidence ?? -3.4028234663852886e38;
  const perImage: [number, number[]][][] = [];
  let numKept = 0;
  const decoded: Box[][][] = [];
  for (let i = 0; i < num; i++) {
    const byLabel: Box[][] = [];
    for (let c = 0; c < locClasses; c++) {
      byLabel.push(
        Array.from({ length: numPriors }, (_, q) => {
          const l = Array.from({ length: 4 }, (_, k) => loc[((i * numPriors + q) * locClasses + c) * 4 + k]!);
          const pr = Array.from({ length: 4 }, (_, k) => prior[q * 4 + k]!);
          const v = Array.from({ length: 4 }, (_, k) => prior[(numPriors + q) * 4 + k]!);
          return decode(pr, v, l, p.codeType, p.varianceInTarget);
        }),
      );
    }
    decoded.push(byLabel);
    const indices = new Map<number, number[]>();
    let numDet = 0;
    for (let c = 0; c < p.numClasses; c++) {
      if (c === p.background) continue;
      const scores = Array.from({ length: numPriors }, (_, q) => conf[(i * numPriors + q) * p.numClasses + c]!);
      const boxes = byLabel[p.shareLocation ? 0 : c]!;
      let sv = scores.map((s, q) => [s, q] as [number, number]).filter(([s]) => s > threshold);
      sv = sv.sort((a, b) => b[0] - a[0] || a[1] - b[1]); // stable_sort by descending score
      if (p.topK > -1 && p.topK < sv.length) sv.length = p.topK;
      const kept: number[] = [];
      for (const [, idx] of sv) {
        let keep = true;
        for (const k of kept) {
          if (!keep) break;
          keep = jaccard(boxes[idx]!, boxes[k]!) <= f(p.nms);
        }
        if (keep) kept.push(idx);
      }
      indices.set(c, kept);
      numDet += kept.length;
    }
    let finalIdx = indices;
    if (p.keepTopK > -1 && numDet > p.keepTopK) {
      const pairs: [number, number, number][] = [];
      for (const [label, list] of indices) for (const idx of list) pairs.push([conf[(i * numPriors + idx) * p.numClasses + label]!, label, idx]);
      pairs.sort((a, b) => b[0] - a[0]);
      pairs.length = p.keepTopK;
      finalIdx = new Map();
      for (const [, label, idx] of pairs) finalIdx.set(label, [...(finalIdx.get(label) ?? []), idx]);
      numKept += p.keepTopK;
    } else {
      numKept += numDet;
    }
    perImage.push([...finalIdx.entries()].sort((a, b) => a[0] - b[0]));
  }
  if (numKept === 0) return Array.from({ length: num }, (_, i) => [i, -1, -1, -1, -1, -1, -1]);
  const rows: number[][] = [];
  perImage.forEach((labels, i) => {
    for (const [label, list] of labels) {
      for (const idx of list) {
        const b = decoded[i]![p.shareLocation ? 0 : label]![idx]!;
        rows.push([i, label, conf[(i * numPriors + idx) * p.numClasses + label]!, b.xmin, b.ymin, b.xmax, b.ymax]);
      }
    }
  });
  return rows;
}

/** Priors on a coarse grid with similar sizes (so decoded boxes overlap), and variances. */
function gridPriors(rand: () => number, numPriors: number): Float32Array {
  const out = new Float32Array(numPriors * 8);
  for (let q = 0; q < numPriors; q++) {
    const cx = 0.2 + 0.3 * (q % 3) + 0.02 * rand();
    const cy = 0.2 + 0.3 * (Math.floor(q / 3) % 3) + 0.02 * rand();
    const w = 0.3 + 0.1 * rand();
    const h = 0.3 + 0.1 * rand();
    out.set([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], q * 4);
    out.set([0.1, 0.1, 0.2, 0.2], (numPriors + q) * 4);
  }
  return out;
}

function detectionNet(num: number, numPriors: number, p: DetParams, eta = 1): string {
  const locClasses = p.shareLocation ? 1 : p.numClasses;
  const code = ['', 'CORNER', 'CENTER_SIZE', 'CORNER_SIZE'][p.codeType];
  return `
    input: "loc" input_shape { dim: ${num} dim: ${numPriors * locClasses * 4} }
    input: "conf" input_shape { dim: ${num} dim: ${numPriors * p.numClasses} }
    input: "prior" input_shape { dim: 1 dim: 2 dim: ${numPriors * 4} }
    layer { name: "det" type: "DetectionOutput" bottom: "loc" bottom: "conf" bottom: "prior" top: "det"
      detection_output_param {
        num_classes: ${p.numClasses} share_location: ${p.shareLocation} background_label_id: ${p.background}
        nms_param { nms_threshold: ${p.nms} ${p.topK > -1 ? `top_k: ${p.topK}` : ''} eta: ${eta} }
        code_type: ${code} variance_encoded_in_target: ${p.varianceInTarget} keep_top_k: ${p.keepTopK}
        ${p.confidence !== undefined ? `confidence_threshold: ${p.confidence}` : ''} } }`;
}

async function checkDetection(p: DetParams, num: number, numPriors: number, seed: number, scoreRange: [number, number] = [0, 1], image1Scale = 1): Promise<number[][]> {
  const rand = mulberry32(seed);
  const locClasses = p.shareLocation ? 1 : p.numClasses;
  const loc = randomData(rand, num * numPriors * locClasses * 4, -0.5, 0.5);
  const conf = randomData(rand, num * numPriors * p.numClasses, ...scoreRange);
  const prior = gridPriors(rand, numPriors);
  for (let i = numPriors * p.numClasses; i < 2 * numPriors * p.numClasses && i < conf.length; i++) conf[i]! *= image1Scale;
  const want = refDetectionOutput(loc, conf, prior, num, numPriors, p);
  const conv = convert(detectionNet(num, numPriors, p));
  const feeds = { loc: { data: loc, dims: [num, numPriors * locClasses * 4] }, conf: { data: conf, dims: [num, numPriors * p.numClasses] }, prior: { data: prior, dims: [1, 2, numPriors * 4] } };
  const { ort, bnc } = await runBoth(conv, feeds, 'det');
  for (const got of [ort, bnc]) {
    expect(got.dims).toEqual([1, 1, want.length, 7]);
    expectClose(got.data, want.flat(), 1e-5);
  }
  return want;
}

describe('DetectionOutput (weiliu89/caffe ssd) against a loop port of the fork', () => {
  const base: DetParams = { numClasses: 4, shareLocation: true, background: 0, codeType: 2, varianceInTarget: false, keepTopK: -1, confidence: 0.3, nms: 0.45, topK: -1 };

  it('CENTER_SIZE, two images, top_k before NMS, keep_top_k cutting across labels', async () => {
    const rows = await checkDetection({ ...base, topK: 6, keepTopK: 7 }, 2, 27, 11);
    // The case must exercise the cut: both images full at keep_top_k, labels ascending within an image.
    expect(rows.filter((r) => r[0] === 0).length).toBe(7);
    expect(rows.filter((r) => r[0] === 1).length).toBe(7);
  });
  it('top_k limits the candidates BEFORE suppression (fewer kept than top_k), not the kept boxes', async () => {
    const p = { ...base, topK: 5, confidence: 0.05 };
    const rows = await checkDetection(p, 1, 27, 17);
    // Some label keeps fewer than top_k boxes although more than top_k candidates pass the threshold.
    const perLabel = [1, 2, 3].map((l) => rows.filter((r) => r[1] === l).length);
    expect(Math.max(...perLabel)).toBeLessThanOrEqual(5);
    expect(Math.min(...perLabel)).toBeLessThan(5);
  });
  it('share_location false (one box per class), no background (-1), no confidence_threshold, no top_k', async () => {
    await checkDetection({ ...base, shareLocation: false, background: -1, confidence: undefined, nms: 0.3 }, 1, 18, 12);
  });
  it('CORNER with variances from the prior blob; CORNER_SIZE with variance_encoded_in_target; background 2', async () => {
    await checkDetection({ ...base, codeType: 1, keepTopK: 5 }, 1, 18, 13);
    await checkDetection({ ...base, codeType: 3, varianceInTarget: true, background: 2, nms: 0.6 }, 2, 18, 14);
  });
  it('CORNER boxes turned inside out by large offsets neither suppress nor are suppressed (the fork gives them IoU 0)', async () => {
    // variance_encoded_in_target: offsets up to ±0.5 against priors 0.3-0.4 wide, so many boxes invert.
    const p = { ...base, codeType: 1, varianceInTarget: true, nms: 0.2, confidence: 0.1 };
    await checkDetection(p, 1, 27, 18);
    await checkDetection({ ...p, codeType: 3 }, 1, 27, 19);
  });
  it('an image without detections adds no rows; no detection at all gives one (i, -1, ...) row per image', async () => {
    // Image 1's scores all lie below the threshold (scaled to [0, 0.4]).
    const rows = await checkDetection({ ...base, confidence: 0.5 }, 2, 9, 15, [0, 1], 0.4);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r[0] === 0)).toBe(true);
    const none = await checkDetection({ ...base, confidence: 0.9 }, 2, 9, 16, [0, 0.8]);
    expect(none).toEqual([
      [0, -1, -1, -1, -1, -1, -1],
      [1, -1, -1, -1, -1, -1, -1],
    ]);
  });
  it('the adaptive NMS threshold (eta < 1 with nms_threshold > 0.5) is refused with a way out; with 0.5 or less it has no effect', () => {
    const e = bncErrorOf(() => convert(detectionNet(1, 9, { ...base, nms: 0.6 }, 0.9)));
    expect(e.message).toMatch(/layer 'det' \(DetectionOutput\): nms_param.eta 0.9 makes the NMS threshold adaptive.*set eta: 1 or nms_threshold <= 0.5/);
    expect(() => convert(detectionNet(1, 9, { ...base, nms: 0.45 }, 0.9))).not.toThrow();
  });
});
