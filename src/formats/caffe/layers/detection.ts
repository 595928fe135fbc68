import { Attribute, AttributeType, DataType, Tensor, intAttr, intsAttr } from '../../../ir/index.js';
import { CaffeLayer } from '../net.js';
import { LayerMapping, broadcastDims, layerError, param, sizeOf } from './mapping.js';

// SSD's layers, from weiliu89/caffe branch `ssd` (the fork every SSD deploy prototxt is written for):
// Normalize, PriorBox and DetectionOutput. Parameter blocks: norm_param (206), prior_box_param (203),
// detection_output_param (204) of that fork's caffe.proto. Permute, the fourth SSD layer, is in shape.ts.

const f = Math.fround;

/** Caffe's legacy height()/width(): axes 2 and 3, 1 where the blob has fewer axes; more than 4 is refused. */
function legacyHW(layer: CaffeLayer, dims: number[], what: string): [number, number] {
  if (dims.length > 4) throw layerError(layer, `${what} has ${dims.length} axes [${dims}]; the fork's layer reads it as a 4-D blob (num, channels, height, width)`);
  return [dims.length > 2 ? dims[2]! : 1, dims.length > 3 ? dims[3]! : 1];
}

// ---------------------------------------------------------------- Normalize

/**
 * Normalize (weiliu89/caffe ssd, src/caffe/layers/normalize_layer.cpp, Forward_cpu): L2 normalization
 * over the channels at each position (across_spatial: false), or over all of C·H·W (across_spatial: true,
 * the default), then a learned scale, one per channel or one shared (channel_shared, the default; its blob
 * has shape [] in that fork). eps is added INSIDE the square root: y = x / sqrt(sum x² + eps) · scale.
 * across_spatial multiplies by the reciprocal of the norm, as the source does.
 */
const normalize: LayerMapping = {
  blobs(layer, [x]) {
    const shared = param(layer, 'norm_param').bool('channel_shared');
    return [{ dims: shared ? [] : [x!.length > 1 ? x![1]! : 1], role: 'gamma' }];
  },
  map(c) {
    const x = c.shapes[0]!;
    if (x.length < 2) throw layerError(c.layer, `needs an input of at least 2 axes (num, channels, ...), got [${x}]`);
    legacyHW(c.layer, x, 'the input');
    const p = param(c, 'norm_param');
    const name = c.layer.name;
    const axes = p.bool('across_spatial') ? x.slice(1).map((_, i) => i + 1) : [1];
    const b = c.b;
    const v = (tag: string) => b.unique(`${name}/${tag}`);
    const sq = v('square');
    b.node('Mul', `${name}/square`, [c.inputs[0]!, c.inputs[0]!], [sq]);
    const sum = v('sum');
    b.node('ReduceSum', `${name}/sum`, [sq, b.int64s(`${name}.axes`, axes)], [sum], [intAttr('keepdims', 1)]);
    const plusEps = v('plus_eps');
    b.node('Add', `${name}/plus_eps`, [sum, b.constant(`${name}.eps`, [], Float32Array.of(p.num('eps')))], [plusEps]);
    const norm = v('norm');
    b.node('Sqrt', `${name}/norm`, [plusEps], [norm]);
    const normalized = v('normalized');
    if (p.bool('across_spatial')) {
      const inv = v('inv_norm');
      b.node('Reciprocal', `${name}/inv_norm`, [norm], [inv]);
      b.node('Mul', `${name}/normalized`, [c.inputs[0]!, inv], [normalized]);
    } else {
      b.node('Div', `${name}/normalized`, [c.inputs[0]!, norm], [normalized]);
    }
    const scale = c.blobs[0]!;
    const scaleDims = p.bool('channel_shared') ? [] : broadcastDims([x[1]!], 1, x.length);
    if (sizeOf(scaleDims) !== scale.length) {
      throw layerError(c.layer, `its scale blob holds ${scale.length} values, expected ${sizeOf(scaleDims)} (channel_shared: ${p.bool('channel_shared')})`);
    }
    b.node('Mul', name, [normalized, b.constant(`${name}.scale`, scaleDims, scale)], [c.outputs[0]!]);
    return [x];
  },
};

// ---------------------------------------------------------------- PriorBox

/**
 * The prior boxes of one PriorBox layer, exactly as weiliu89/caffe ssd's prior_box_layer.cpp computes them
 * (LayerSetUp checks, then Forward_cpu): [1, 2, H·W·numPriors·4] — channel 0 the boxes (xmin, ymin, xmax,
 * ymax) normalized by the image size, channel 1 the variances. Per cell: for each min_size (truncated to
 * int: `int min_size_ = min_sizes_[s]`), the square min_size box, then sqrt(min·max) (max also truncated),
 * then one box per aspect ratio other than 1 (flip adds 1/ar). Float steps follow the source's float and
 * double arithmetic. `feature` and `image` are the (height, width) of the two bottoms.
 */
export function priorBoxes(layer: CaffeLayer, feature: [number, number], image: [number, number]): Float32Array {
  const p = param(layer, 'prior_box_param');
  const minSizes = p.nums('min_size');
  if (!minSizes.length) throw layerError(layer, 'prior_box_param needs at least one min_size');
  if (minSizes.some((s) => !(s > 0))) throw layerError(layer, `min_size [${minSizes}] must be positive`);
  const flip = p.bool('flip');
  const ratios: number[] = [1];
  for (const a of p.nums('aspect_ratio')) {
    const ar = f(a);
    if (ratios.some((r) => Math.abs(ar - r) < 1e-6)) continue;
    ratios.push(ar);
    if (flip) ratios.push(f(1 / ar));
  }
  const maxSizes = p.nums('max_size');
  if (maxSizes.length && maxSizes.length !== minSizes.length) {
    throw layerError(layer, `has ${maxSizes.length} max_size values for ${minSizes.length} min_size values; give one per min_size, or none`);
  }
  maxSizes.forEach((m, i) => {
    if (!(m > minSizes[i]!)) throw layerError(layer, `max_size ${m} must be greater than min_size ${minSizes[i]}`);
  });
  const numPriors = ratios.length * minSizes.length + maxSizes.length;
  const variance = p.nums('variance');
  if (variance.length !== 0 && variance.length !== 1 && variance.length !== 4) throw layerError(layer, `has ${variance.length} variance values; give 1 or 4`);
  if (variance.some((x) => !(x > 0))) throw layerError(layer, `variance [${variance}] must be positive`);
  if (!variance.length) variance.push(0.1);

  let imgH: number;
  let imgW: number;
  if (p.has('img_h') || p.has('img_w')) {
    if (p.has('img_size')) throw layerError(layer, 'give either img_size or img_h/img_w, not both');
    imgH = p.num('img_h');
    imgW = p.num('img_w');
    if (!(imgH > 0 && imgW > 0)) throw layerError(layer, `img_h ${imgH} and img_w ${imgW} must both be positive`);
  } else if (p.has('img_size')) {
    imgH = imgW = p.num('img_size');
    if (!(imgH > 0)) throw layerError(layer, `img_size ${imgH} must be positive`);
  } else {
    [imgH, imgW] = image;
  }
  let stepH: number;
  let stepW: number;
  if (p.has('step_h') || p.has('step_w')) {
    if (p.has('step')) throw layerError(layer, 'give either step or step_h/step_w, not both');
    stepH = f(p.num('step_h'));
    stepW = f(p.num('step_w'));
    if (!(stepH > 0 && stepW > 0)) throw layerError(layer, `step_h ${stepH} and step_w ${stepW} must both be positive`);
  } else if (p.has('step')) {
    stepH = stepW = f(p.num('step'));
    if (!(stepH > 0)) throw layerError(layer, `step ${stepH} must be positive`);
  } else {
    stepH = f(imgH / feature[0]);
    stepW = f(imgW / feature[1]);
  }
  const offset = f(p.num('offset'));
  const [height, width] = feature;
  const dim = height * width * numPriors * 4;
  if (dim === 0) throw layerError(layer, `its input has an empty spatial size [${feature}], so there are no priors`);
  const out = new Float32Array(2 * dim);
  let idx = 0;
  const put = (cx: number, cy: number, bw: number, bh: number) => {
    out[idx++] = (cx - bw / 2) / imgW;
    out[idx++] = (cy - bh / 2) / imgH;
    out[idx++] = (cx + bw / 2) / imgW;
    out[idx++] = (cy + bh / 2) / imgH;
  };
  for (let h = 0; h < height; h++) {
    for (let w = 0; w < width; w++) {
      const cx = f(f(w + offset) * stepW);
      const cy = f(f(h + offset) * stepH);
      minSizes.forEach((m, s) => {
        const minSize = Math.trunc(m);
        put(cx, cy, minSize, minSize);
        if (maxSizes.length) {
          const side = f(Math.sqrt(minSize * Math.trunc(maxSizes[s]!)));
          put(cx, cy, side, side);
        }
        for (const ar of ratios) {
          if (Math.abs(ar - 1) < 1e-6) continue;
          const root = f(Math.sqrt(ar));
          put(cx, cy, f(minSize * root), f(minSize / root));
        }
      });
    }
  }
  if (p.bool('clip')) for (let d = 0; d < dim; d++) out[d] = Math.min(Math.max(out[d]!, 0), 1);
  for (let d = 0; d < dim; d++) out[dim + d] = variance.length === 1 ? variance[0]! : variance[d % 4]!;
  return out;
}

/** PriorBox: shapes are static, so the priors are computed here and written as a Constant node. */
const priorBox: LayerMapping = {
  bottoms: [2, 2],
  map(c) {
    const feature = legacyHW(c.layer, c.shapes[0]!, 'the feature map (bottom 0)');
    const image = legacyHW(c.layer, c.shapes[1]!, 'the image (bottom 1)');
    const data = priorBoxes(c.layer, feature, image);
    const dims = [1, 2, data.length / 2];
    const value: Tensor = { name: `${c.layer.name}.priors`, dtype: DataType.FLOAT, dims, data };
    c.b.node('Constant', c.layer.name, [], [c.outputs[0]!], [{ name: 'value', type: AttributeType.TENSOR, t: value }]);
    return [dims];
  },
};

// ---------------------------------------------------------------- DetectionOutput

const CODE_TYPES: Record<number, string> = { 1: 'CORNER', 2: 'CENTER_SIZE', 3: 'CORNER_SIZE' };

/**
 * DetectionOutput (weiliu89/caffe ssd, src/caffe/layers/detection_output_layer.cpp Forward_cpu with
 * src/caffe/util/bbox_util.cpp: GetLocPredictions, GetConfidenceScores, GetPriorBBoxes, DecodeBBox,
 * ApplyNMSFast, GetMaxScoreIndex, JaccardOverlap), written as standard ONNX ops:
 *
 * - Decode every prior's box (CORNER, CENTER_SIZE or CORNER_SIZE; variances from the prior blob unless
 *   variance_encoded_in_target), not clipped (the layer passes clip_bbox = false).
 * - Per image and foreground class: TopK(top_k) of the class scores, then NonMaxSuppression on those
 *   candidates, one NMS batch per class. ApplyNMSFast takes the top_k scores BEFORE suppression, which
 *   ONNX's max_output_boxes_per_class (a limit on the output) does not; gathering the TopK candidates first
 *   gives the fork's semantics. Both keep a box with score strictly above confidence_threshold, visit
 *   equal scores by lower index (the fork's stable_sort, TopK's tie rule), and suppress on IoU strictly
 *   above the threshold with the same float32 IoU of valid (normalized) boxes.
 * - keep_top_k: when an image has more detections, the keep_top_k best scores (TopK), put back in the
 *   rows' order (labels ascending, scores descending: a TopK of the row indices, smallest first).
 * - Output [1, 1, N, 7], rows (image_id, label, score, xmin, ymin, xmax, ymax); N depends on the data
 *   (the top's shape is [1, 1, -1, 7]). With no detection at all, one row (i, -1, -1, -1, -1, -1, -1) per
 *   image i, as the fork writes.
 *
 * Not expressible with one NonMaxSuppression: the adaptive threshold (nms_param.eta < 1 with
 * nms_threshold > 0.5 shrinks the threshold after every kept box); such a layer is refused. Not matched:
 * a box whose exp() overflows to an infinite size has IoU NaN, which the fork counts as overlapping
 * (`NaN <= threshold` is false) and ONNX as not; ties at the keep_top_k cut are broken by the lower row
 * (the fork's std::sort leaves them unspecified).
 */
const detectionOutput: LayerMapping = {
  bottoms: [3, 3],
  map(c) {
    const p = param(c, 'detection_output_param');
    const nmsParam = p.message('nms_param');
    const layer = c.layer;
    if (!p.has('num_classes')) throw layerError(layer, 'detection_output_param needs num_classes');
    const numClasses = p.num('num_classes');
    const shareLocation = p.bool('share_location');
    const locClasses = shareLocation ? 1 : numClasses;
    const background = p.num('background_label_id');
    const codeType = p.num('code_type');
    if (!CODE_TYPES[codeType]) throw layerError(layer, `code_type ${codeType} is not CORNER, CENTER_SIZE or CORNER_SIZE`);
    const varianceInTarget = p.bool('variance_encoded_in_target');
    const keepTopK = p.num('keep_top_k');
    const confidence = p.has('confidence_threshold') ? p.num('confidence_threshold') : undefined;
    const nmsThreshold = nmsParam.num('nms_threshold');
    if (!(nmsThreshold >= 0)) throw layerError(layer, `nms_threshold ${nmsThreshold} must be non-negative`);
    const eta = nmsParam.num('eta');
    if (!(eta > 0 && eta <= 1)) throw layerError(layer, `nms_param.eta ${eta} must be in (0, 1]`);
    if (eta < 1 && f(nmsThreshold) > 0.5) {
      throw layerError(
        layer,
        `nms_param.eta ${eta} makes the NMS threshold adaptive (it shrinks after every kept box while above 0.5), which ONNX NonMaxSuppression cannot express; set eta: 1 or nms_threshold <= 0.5 to convert`,
      );
    }
    const topK = nmsParam.has('top_k') ? nmsParam.num('top_k') : -1;
    if (p.bool('visualize') || p.message('save_output_param').str('output_directory')) {
      c.warn(`layer '${layer.name}' (DetectionOutput): visualize / save_output_param only display or save results in Caffe; not converted`);
    }

    const [loc, conf, prior] = c.shapes as [number[], number[], number[]];
    const numPriors = prior.length >= 3 ? prior[2]! / 4 : NaN;
    if (prior.length !== 3 || prior[0] !== 1 || prior[1] !== 2 || !Number.isInteger(numPriors)) {
      throw layerError(layer, `the prior blob (bottom 2) must be [1, 2, 4·num_priors] as PriorBox writes it, got [${prior}]`);
    }
    const num = loc[0]!;
    if (conf[0] !== num) throw layerError(layer, `loc (bottom 0) has ${num} images but conf (bottom 1) has ${conf[0]}`);
    if (sizeOf(loc.slice(1)) !== numPriors * locClasses * 4) {
      throw layerError(layer, `loc (bottom 0) [${loc}] must hold ${numPriors} priors × ${locClasses} location classes × 4 values per image`);
    }
    if (sizeOf(conf.slice(1)) !== numPriors * numClasses) {
      throw layerError(layer, `conf (bottom 1) [${conf}] must hold ${numPriors} priors × ${numClasses} classes per image`);
    }

    const b = c.b;
    const name = layer.name;
    const fake = new Float32Array(num * 7).fill(-1);
    for (let i = 0; i < num; i++) fake[i * 7] = i;
    const foreground = Array.from({ length: numClasses }, (_, i) => i).filter((cl) => cl !== background);
    const k = topK < 0 ? numPriors : Math.min(topK, numPriors);
    if (!foreground.length || k === 0) {
      // No class can have a detection: the fork always writes its "no detection" rows.
      const value: Tensor = { name: `${name}.none`, dtype: DataType.FLOAT, dims: [1, 1, num, 7], data: fake };
      b.node('Constant', name, [], [c.outputs[0]!], [{ name: 'value', type: AttributeType.TENSOR, t: value }]);
      return [[1, 1, num, 7]];
    }

    const op = (opType: string, tag: string, inputs: string[], attrs: Attribute[] = [], outputs = 1): string[] => {
      const outs = Array.from({ length: outputs }, (_, i) => b.unique(`${name}/${tag}${outputs > 1 ? `_${i}` : ''}`));
      b.node(opType, `${name}/${tag}`, inputs, outs, attrs);
      return outs;
    };
    const one = (opType: string, tag: string, inputs: string[], attrs: Attribute[] = []) => op(opType, tag, inputs, attrs)[0]!;
    const ints = (tag: string, values: number[]) => b.int64s(`${name}.${tag}`, values);
    const scalarInt = (tag: string, value: number) => b.constant(`${name}.${tag}`, [], BigInt64Array.of(BigInt(value)));
    const floats = (tag: string, dims: number[], values: ArrayLike<number>) => b.constant(`${name}.${tag}`, dims, Float32Array.from(values));
    const slice = (tag: string, x: string, start: number, end: number, axis: number) => one('Slice', tag, [x, ints(`${tag}.start`, [start]), ints(`${tag}.end`, [end]), ints(`${tag}.axis`, [axis])]);

    // ---- decode all boxes: [num, P, locClasses, 4] as (xmin, ymin, xmax, ymax)
    const locR = one('Reshape', 'loc', [c.inputs[0]!, ints('loc_shape', [num, numPriors, locClasses, 4])]);
    const priorR = one('Reshape', 'prior', [c.inputs[2]!, ints('prior_shape', [2, numPriors, 1, 4])]);
    const pbox = slice('prior_box', priorR, 0, 1, 0);
    const pvar = slice('prior_variance', priorR, 1, 2, 0);
    const pmin = slice('prior_min', pbox, 0, 2, 3);
    const pmax = slice('prior_max', pbox, 2, 4, 3);
    const size = one('Sub', 'prior_size', [pmax, pmin]);
    const two = floats('two', [], [2]);
    const scaled = (tag: string, v: string, l: string) => (varianceInTarget ? l : one('Mul', tag, [v, l]));
    let boxes: string;
    if (codeType === 2) {
      const center = one('Div', 'prior_center', [one('Add', 'prior_min_plus_max', [pmin, pmax]), two]);
      const lxy = slice('loc_xy', locR, 0, 2, 3);
      const lwh = slice('loc_wh', locR, 2, 4, 3);
      const dxy = scaled('var_loc_xy', slice('var_xy', pvar, 0, 2, 3), lxy);
      const dwh = scaled('var_loc_wh', slice('var_wh', pvar, 2, 4, 3), lwh);
      const ctr = one('Add', 'center', [one('Mul', 'center_offset', [dxy, size]), center]);
      const half = one('Div', 'half_size', [one('Mul', 'box_size', [one('Exp', 'exp', [dwh]), size]), two]);
      boxes = one('Concat', 'boxes', [one('Sub', 'box_min', [ctr, half]), one('Add', 'box_max', [ctr, half])], [intAttr('axis', 3)]);
    } else if (codeType === 1) {
      boxes = one('Add', 'boxes', [pbox, scaled('var_loc', pvar, locR)]);
    } else {
      const size4 = one('Concat', 'prior_size4', [size, size], [intAttr('axis', 3)]);
      boxes = one('Add', 'boxes', [pbox, one('Mul', 'box_offset', [scaled('var_loc', pvar, locR), size4])]);
    }
    const flatShape = ints('boxes_flat_shape', [num * numPriors * locClasses, 4]);
    const boxesFlat = one('Reshape', 'boxes_flat', [boxes, flatShape]);
    // CORNER offsets can turn a box inside out (xmax < xmin). The fork gives such a box IoU 0 with every
    // box; onnxruntime's NMS would reorder its corners and overlap it. NMS gets it collapsed to zero
    // width/height instead (max(xmax, xmin)), which onnxruntime also scores as IoU 0; the output keeps the
    // decoded corners. CENTER_SIZE boxes have width and height exp(·)·prior size >= 0, never inside out.
    let nmsBoxesFlat = boxesFlat;
    if (codeType !== 2) {
      const bmin = slice('box_min', boxes, 0, 2, 3);
      const bmax = one('Max', 'box_max_upright', [slice('box_max', boxes, 2, 4, 3), bmin]);
      nmsBoxesFlat = one('Reshape', 'nms_boxes_flat', [one('Concat', 'nms_boxes', [bmin, bmax], [intAttr('axis', 3)]), flatShape]);
    }

    // ---- scores of the foreground classes: [num, C', P]
    const confR = one('Reshape', 'conf', [c.inputs[1]!, ints('conf_shape', [num, numPriors, numClasses])]);
    const confT = one('Transpose', 'conf_by_class', [confR], [intsAttr('perm', [0, 2, 1])]);
    const fgScores = one('Gather', 'foreground', [confT, ints('foreground_classes', foreground)], [intAttr('axis', 1)]);

    const fg = foreground.length;
    const kInput = ints('top_k', [k]);
    const nmsInputs = [ints('max_output', [k]), floats('nms_threshold', [1], [nmsThreshold])];
    if (confidence !== undefined) nmsInputs.push(floats('confidence_threshold', [1], [confidence]));
    const labels = floats('labels', [fg], foreground);
    const colAxis = ints('col_axis', [1]);
    const imageRows: string[] = [];
    for (let i = 0; i < num; i++) {
      const t = `image${i}`;
      const scores = one('Gather', `${t}/scores`, [fgScores, scalarInt(`${t}.index`, i)], [intAttr('axis', 0)]);
      const [vals, idx] = op('TopK', `${t}/top_k`, [scores, kInput], [intAttr('axis', 1)], 2) as [string, string];
      // Row of each candidate in boxesFlat: ((i·P + prior)·locClasses + loc class).
      const offsets = foreground.map((cl) => i * numPriors * locClasses + (shareLocation ? 0 : cl));
      const scaledIdx = shareLocation ? idx : one('Mul', `${t}/prior_row`, [idx, scalarInt('loc_classes', locClasses)]);
      const flat = one('Add', `${t}/box_row`, [scaledIdx, b.constant(`${name}.${t}.box_offsets`, [fg, 1], BigInt64Array.from(offsets, BigInt))]);
      const cand = one('Gather', `${t}/candidates`, [boxesFlat, flat], [intAttr('axis', 0)]);
      const nmsCand = nmsBoxesFlat === boxesFlat ? cand : one('Gather', `${t}/nms_candidates`, [nmsBoxesFlat, flat], [intAttr('axis', 0)]);
      const nmsScores = one('Unsqueeze', `${t}/nms_scores`, [vals, colAxis]);
      const sel = one('NonMaxSuppression', `${t}/nms`, [nmsCand, nmsScores, ...nmsInputs]);
      const selClass = one('Gather', `${t}/selected_class`, [sel, scalarInt('zero', 0)], [intAttr('axis', 1)]);
      const selCand = one('Gather', `${t}/selected_candidate`, [sel, scalarInt('two_i', 2)], [intAttr('axis', 1)]);
      const pos = one('Add', `${t}/selected_pos`, [one('Mul', `${t}/class_start`, [selClass, scalarInt('k', k)]), selCand]);
      const score = one('Gather', `${t}/score`, [one('Reshape', `${t}/vals_flat`, [vals, ints('flat', [-1])]), pos], [intAttr('axis', 0)]);
      const box = one('Gather', `${t}/box`, [one('Reshape', `${t}/cand_flat`, [cand, ints('flat4', [-1, 4])]), pos], [intAttr('axis', 0)]);
      const label = one('Gather', `${t}/label`, [labels, selClass], [intAttr('axis', 0)]);
      const image = one('Gather', `${t}/image_id`, [floats(`${t}.image_ids`, [fg], new Array<number>(fg).fill(i)), selClass], [intAttr('axis', 0)]);
      const col = (tag: string, v: string) => one('Unsqueeze', `${t}/${tag}_col`, [v, colAxis]);
      let rows = one('Concat', `${t}/rows`, [col('image_id', image), col('label', label), col('score', score), box], [intAttr('axis', 1)]);
      if (keepTopK > -1) {
        const count = one('Shape', `${t}/count`, [score]);
        const kk = one('Min', `${t}/keep_count`, [count, ints('keep_top_k', [keepTopK])]);
        const [, best] = op('TopK', `${t}/keep_top_k`, [score, kk], [intAttr('axis', 0)], 2) as [string, string];
        const [inOrder] = op('TopK', `${t}/keep_in_row_order`, [best, kk], [intAttr('axis', 0), intAttr('largest', 0)], 2) as [string, string];
        rows = one('Gather', `${t}/kept_rows`, [rows, inOrder], [intAttr('axis', 0)]);
      }
      imageRows.push(rows);
    }
    const all = imageRows.length === 1 ? imageRows[0]! : one('Concat', 'all_rows', imageRows, [intAttr('axis', 0)]);
    // No detection in any image: the fork's placeholder rows instead (end = R + num·(R == 0)).
    const total = slice('total', one('Shape', 'shape', [all]), 0, 1, 0);
    const none = one('Sub', 'none', [ints('one', [1]), one('Min', 'any', [total, ints('one_', [1])])]);
    const end = one('Add', 'end', [total, one('Mul', 'placeholder_count', [none, ints('num', [num])])]);
    const withFake = one('Concat', 'with_placeholders', [all, floats('placeholders', [num, 7], fake)], [intAttr('axis', 0)]);
    const rows = one('Slice', 'rows', [withFake, ints('rows_start', [0]), end, ints('rows_axis', [0])]);
    b.node('Reshape', name, [rows, ints('out_shape', [1, 1, -1, 7])], [c.outputs[0]!]);
    return [[1, 1, -1, 7]];
  },
};

/** weiliu89/caffe (ssd) layers. */
export const DETECTION_LAYERS: Record<string, LayerMapping> = {
  Normalize: normalize,
  PriorBox: priorBox,
  DetectionOutput: detectionOutput,
};
