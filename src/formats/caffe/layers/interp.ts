import { intAttr, stringAttr } from '../../../ir/index.js';
import { LayerMapping, layerError, param } from './mapping.js';

// ---------------------------------------------------------------- Interp (hszhao/PSPNet)
// Semantics: hszhao/PSPNet src/caffe/layers/interp_layer.cpp (Reshape: output size; Forward: crop by
// pad_beg/pad_end, then caffe_cpu_interp2) and src/caffe/util/interp.cpp (caffe_cpu_interp2, and
// caffe_gpu_interp2 in interp.cu, which computes the same): bilinear with the corners aligned, source
// coordinate = out_index · (in−1)/(out−1) (0 when out is 1), the last row/column reusing itself; equal sizes
// copy. That is ONNX Resize linear with coordinate_transformation_mode=align_corners. Caffe forms the ratio
// first in float32 and then multiplies, onnxruntime multiplies first: the source coordinates can differ in
// the last float32 bit (a relative error near 1e-7).

const interp: LayerMapping = {
  map(c) {
    const p = param(c, 'interp_param');
    const x = c.shapes[0]!;
    const name = c.layer.name;
    if (x.length !== 4) throw layerError(c.layer, `needs a 4-D input (N, C, H, W), got shape [${x}]`);
    const [n, ch, h, w] = x as [number, number, number, number];
    const padBeg = p.num('pad_beg');
    const padEnd = p.num('pad_end');
    // interp_layer.cpp LayerSetUp: "Only supports non-pos padding (cropping) for now".
    if (padBeg > 0 || padEnd > 0) {
      throw layerError(c.layer, `pad_beg ${padBeg} / pad_end ${padEnd}: the Interp layer only crops (values <= 0), as its fork's Caffe checks`);
    }
    const hEff = h + padBeg + padEnd;
    const wEff = w + padBeg + padEnd;
    if (hEff <= 0 || wEff <= 0) {
      throw layerError(c.layer, `pad_beg ${padBeg} and pad_end ${padEnd} crop the ${h}x${w} input to nothing`);
    }
    const zoom = p.has('zoom_factor');
    const shrink = p.has('shrink_factor');
    const zoomFactor = p.num('zoom_factor');
    const shrinkFactor = p.num('shrink_factor');
    if (zoom && zoomFactor < 1) throw layerError(c.layer, `zoom_factor ${zoomFactor} must be 1 or more`);
    if (shrink && shrinkFactor < 1) throw layerError(c.layer, `shrink_factor ${shrinkFactor} must be 1 or more`);
    const zoomed = (d: number) => d + (d - 1) * (zoomFactor - 1);
    const shrunk = (d: number) => Math.trunc((d - 1) / shrinkFactor) + 1;
    // Reshape's order of precedence: shrink alone, zoom alone, height and width, shrink then zoom.
    let outH: number;
    let outW: number;
    if (shrink && !zoom) [outH, outW] = [shrunk(hEff), shrunk(wEff)];
    else if (zoom && !shrink) [outH, outW] = [zoomed(hEff), zoomed(wEff)];
    else if (p.has('height') && p.has('width')) [outH, outW] = [p.num('height'), p.num('width')];
    else if (shrink && zoom) [outH, outW] = [zoomed(shrunk(hEff)), zoomed(shrunk(wEff))];
    else throw layerError(c.layer, 'gives no output size: set zoom_factor, shrink_factor (or both), or height and width in interp_param');
    if (outH <= 0 || outW <= 0) throw layerError(c.layer, `output size ${outH}x${outW} must be positive`);

    let v = c.inputs[0]!;
    if (padBeg !== 0 || padEnd !== 0) {
      // Both axes start at −pad_beg (interp_layer.cpp passes −pad_beg as the x and the y offset).
      const cropped = outH === hEff && outW === wEff ? c.outputs[0]! : c.b.unique(`${name}/crop`);
      c.b.node('Slice', `${name}/crop`, [
        v,
        c.b.int64s(`${name}.starts`, [-padBeg, -padBeg]),
        c.b.int64s(`${name}.ends`, [-padBeg + hEff, -padBeg + wEff]),
        c.b.int64s(`${name}.axes`, [2, 3]),
      ], [cropped]);
      if (cropped === c.outputs[0]) return [[n, ch, outH, outW]];
      v = cropped;
    }
    if (outH === hEff && outW === wEff) {
      c.b.node('Identity', name, [v], [c.outputs[0]!]);
    } else {
      let sizes: string;
      if (c.dynamicBatch) {
        // N comes from the data: sizes = Shape(x)[0:2] ++ [outH, outW].
        const shape = c.b.unique(`${name}/shape`);
        c.b.node('Shape', `${name}/shape`, [v], [shape]);
        const nc = c.b.unique(`${name}/nc`);
        c.b.node('Slice', `${name}/nc`, [shape, c.b.int64s(`${name}.nc_starts`, [0]), c.b.int64s(`${name}.nc_ends`, [2])], [nc]);
        sizes = c.b.unique(`${name}/sizes`);
        c.b.node('Concat', `${name}/sizes`, [nc, c.b.int64s(`${name}.hw`, [outH, outW])], [sizes], [intAttr('axis', 0)]);
      } else {
        sizes = c.b.int64s(`${name}.sizes`, [n, ch, outH, outW]);
      }
      c.b.node('Resize', name, [v, '', '', sizes], [c.outputs[0]!], [
        stringAttr('mode', 'linear'),
        stringAttr('coordinate_transformation_mode', 'align_corners'),
      ]);
    }
    return [[n, ch, outH, outW]];
  },
};

/** Interp (hszhao/PSPNet; also DeepLab's forks, same interp_param). */
export const INTERP_LAYERS: Record<string, LayerMapping> = {
  Interp: interp,
};
