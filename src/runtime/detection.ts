import { DataType } from '../ir/index.js';
import { KernelConfig, kernelError, requireFloat, requireInput } from './kernel.js';
import { floatValues, formatDims, integerValues } from './broadcast.js';

// Detection post-processing ops: NonMaxSuppression.

const f = Math.fround;

/**
 * Intersection over union of boxes a and b of `boxes` (4 floats each), in float32 steps as onnxruntime's
 * kernel computes it. Corner boxes ([y1, x1, y2, x2], either diagonal) are put in min/max order first;
 * center boxes are [x_center, y_center, width, height]. Disjoint, touching or empty boxes give 0.
 */
function iou(boxes: Float32Array, a: number, b: number, centerPointBox: boolean): number {
  let ay0: number, ax0: number, ay1: number, ax1: number, by0: number, bx0: number, by1: number, bx1: number;
  const p = a * 4;
  const q = b * 4;
  if (centerPointBox) {
    const aw = f(boxes[p + 2]! / 2);
    const ah = f(boxes[p + 3]! / 2);
    const bw = f(boxes[q + 2]! / 2);
    const bh = f(boxes[q + 3]! / 2);
    ax0 = f(boxes[p]! - aw);
    ax1 = f(boxes[p]! + aw);
    ay0 = f(boxes[p + 1]! - ah);
    ay1 = f(boxes[p + 1]! + ah);
    bx0 = f(boxes[q]! - bw);
    bx1 = f(boxes[q]! + bw);
    by0 = f(boxes[q + 1]! - bh);
    by1 = f(boxes[q + 1]! + bh);
  } else {
    ay0 = Math.min(boxes[p]!, boxes[p + 2]!);
    ay1 = Math.max(boxes[p]!, boxes[p + 2]!);
    ax0 = Math.min(boxes[p + 1]!, boxes[p + 3]!);
    ax1 = Math.max(boxes[p + 1]!, boxes[p + 3]!);
    by0 = Math.min(boxes[q]!, boxes[q + 2]!);
    by1 = Math.max(boxes[q]!, boxes[q + 2]!);
    bx0 = Math.min(boxes[q + 1]!, boxes[q + 3]!);
    bx1 = Math.max(boxes[q + 1]!, boxes[q + 3]!);
  }
  const iw = f(Math.min(ax1, bx1) - Math.max(ax0, bx0));
  const ih = f(Math.min(ay1, by1) - Math.max(ay0, by0));
  if (!(iw > 0 && ih > 0)) return 0;
  const inter = f(iw * ih);
  const areaA = f(f(ax1 - ax0) * f(ay1 - ay0));
  const areaB = f(f(bx1 - bx0) * f(by1 - by0));
  const union = f(f(areaA + areaB) - inter);
  if (!(areaA > 0 && areaB > 0 && union > 0)) return 0;
  return f(inter / union);
}

/**
 * NonMaxSuppression (ONNX opsets 10, 11): boxes [B, N, 4], scores [B, C, N], optional
 * max_output_boxes_per_class (int64, one value; absent or 0 selects nothing), iou_threshold (float, default
 * 0), score_threshold (float; absent keeps every box). For each batch and class: the boxes whose score is
 * strictly above score_threshold, by descending score (equal scores by lower box index), each kept unless
 * its IoU with an already kept box is strictly above iou_threshold, until max_output_boxes_per_class are
 * kept. Output: selected_indices [num_selected, 3] int64 rows (batch, class, box), batch-major, then class,
 * then the order of selection — onnxruntime's order.
 */
const nonMaxSuppression: KernelConfig = {
  opType: 'NonMaxSuppression',
  run(ctx) {
    const boxesT = requireInput(ctx, 0, 'boxes');
    const scoresT = requireInput(ctx, 1, 'scores');
    const boxes = requireFloat(ctx, boxesT, 'boxes');
    const scores = requireFloat(ctx, scoresT, 'scores');
    if (boxesT.dims.length !== 3 || boxesT.dims[2] !== 4) throw kernelError(ctx.node, `boxes must be [num_batches, spatial_dimension, 4], got ${formatDims(boxesT.dims)}`);
    const [batches, n] = boxesT.dims as [number, number];
    if (scoresT.dims.length !== 3 || scoresT.dims[0] !== batches || scoresT.dims[2] !== n) {
      throw kernelError(ctx.node, `scores must be [num_batches, num_classes, spatial_dimension] = [${batches}, C, ${n}] for boxes ${formatDims(boxesT.dims)}, got ${formatDims(scoresT.dims)}`);
    }
    const classes = scoresT.dims[1]!;
    const one = (index: number, what: string, read: (t: NonNullable<(typeof ctx.inputs)[number]>) => number[]) => {
      const t = ctx.inputs[index];
      if (!t) return undefined;
      const v = read(t);
      if (v.length !== 1) throw kernelError(ctx.node, `${what} must hold one value, got ${v.length}`);
      return v[0]!;
    };
    const maxOut = one(2, 'max_output_boxes_per_class', (t) => integerValues(ctx.node, t, 'max_output_boxes_per_class')) ?? 0;
    const iouThreshold = one(3, 'iou_threshold', floatValues) ?? 0;
    const scoreThreshold = one(4, 'score_threshold', floatValues);
    if (!(iouThreshold >= 0 && iouThreshold <= 1)) throw kernelError(ctx.node, `iou_threshold ${iouThreshold} is outside [0, 1]`);
    const centerPointBox = ctx.attrs.int('center_point_box', 0);
    if (centerPointBox !== 0 && centerPointBox !== 1) throw kernelError(ctx.node, `center_point_box must be 0 or 1, got ${centerPointBox}`);
    const threshold = f(iouThreshold);

    const rows: number[] = [];
    const candidates: number[] = [];
    const kept: number[] = [];
    for (let b = 0; b < batches && maxOut > 0; b++) {
      const boxBase = b * n;
      for (let c = 0; c < classes; c++) {
        const s = (b * classes + c) * n;
        candidates.length = 0;
        for (let i = 0; i < n; i++) if (scoreThreshold === undefined || scores[s + i]! > scoreThreshold) candidates.push(i);
        candidates.sort((x, y) => scores[s + y]! - scores[s + x]! || x - y);
        kept.length = 0;
        for (const i of candidates) {
          if (kept.length >= maxOut) break;
          let keep = true;
          for (const k of kept) {
            if (iou(boxes, boxBase + i, boxBase + k, centerPointBox === 1) > threshold) {
              keep = false;
              break;
            }
          }
          if (keep) {
            kept.push(i);
            rows.push(b, c, i);
          }
        }
      }
    }
    return [{ dtype: DataType.INT64, dims: [rows.length / 3, 3], data: BigInt64Array.from(rows, (v) => BigInt(v)) }];
  },
};

export const DETECTION_KERNELS: KernelConfig[] = [nonMaxSuppression];
