import { floatAttr, intsAttr } from '../../../ir/index.js';
import { LayerMapping, layerError, param } from './mapping.js';

// ---------------------------------------------------------------- ROIPooling (rbgirshick/caffe-fast-rcnn)
// Semantics: rbgirshick/caffe-fast-rcnn src/caffe/layers/roi_pooling_layer.cpp (the fork py-faster-rcnn
// pins). Bottoms: features (N, C, H, W) and rois (R, 5) = (batch index, x1, y1, x2, y2) in input pixels
// (Caffe checks only that C·H·W of the rois blob is 5). Corners = C round() of coordinate × spatial_scale
// in float32, region size max(end − start + 1, 1), bin (i) = [floor(i·bin), ceil((i+1)·bin)) from the region
// start, clipped to the features; empty bins give 0, others their maximum (negative ones too). ONNX
// MaxRoiPool is defined the same way (onnx/reference/ops/op_max_roi_pool.py, and onnxruntime 1.30's CPU
// kernel computes it so, on negative features as well; bnc's runtime follows it): one node, exact.

const roiPooling: LayerMapping = {
  bottoms: [2, 2],
  map(c) {
    const p = param(c, 'roi_pooling_param');
    const [x, r] = c.shapes as [number[], number[]];
    const name = c.layer.name;
    const ph = p.num('pooled_h');
    const pw = p.num('pooled_w');
    // LayerSetUp: CHECK_GT(pooled_h, 0), CHECK_GT(pooled_w, 0).
    if (ph <= 0 || pw <= 0) throw layerError(c.layer, `pooled_h ${ph} and pooled_w ${pw} must both be set and positive in roi_pooling_param`);
    if (x.length !== 4) throw layerError(c.layer, `needs 4-D features (N, C, H, W) as bottom 0, got shape [${x}]`);
    const perRoi = r.slice(1).reduce((a, b) => a * b, 1);
    if (r.length < 1 || perRoi !== 5) {
      throw layerError(c.layer, `bottom 1 (rois) has shape [${r}]; it must hold 5 values per region (batch index, x1, y1, x2, y2)`);
    }
    const numRois = r[0]!;
    let rois = c.inputs[1]!;
    if (r.length !== 2) {
      rois = c.b.unique(`${name}/rois`);
      c.b.node('Reshape', `${name}/rois`, [c.inputs[1]!, c.b.int64s(`${name}.rois_shape`, [-1, 5])], [rois]);
    }
    c.b.node('MaxRoiPool', name, [c.inputs[0]!, rois], [c.outputs[0]!], [
      intsAttr('pooled_shape', [ph, pw]),
      floatAttr('spatial_scale', p.num('spatial_scale')),
    ]);
    return [[numRois, x[1]!, ph, pw]];
  },
};

/** ROIPooling (Fast/Faster R-CNN). */
export const ROI_LAYERS: Record<string, LayerMapping> = {
  ROIPooling: roiPooling,
};
