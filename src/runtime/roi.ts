import { KernelConfig, RtTensor, floatTensor, kernelError, requireFloat, requireInput } from './kernel.js';

// MaxRoiPool (opset 1, 22): max pooling of each region of interest into a fixed pooled_shape grid.
// Semantics: the ONNX reference implementation (onnx/reference/ops/op_max_roi_pool.py), which is Fast R-CNN's
// ROIPooling (rbgirshick/caffe-fast-rcnn roi_pooling_layer.cpp): region corners = C round (half away from
// zero) of coordinate × spatial_scale in float32; region size max(end − start + 1, 1); bin size = size /
// pooled in float32; bin (i) covers [floor(i·bin), ceil((i+1)·bin)) offset by the region start and clipped
// to the input; an empty bin gives 0, any other the true maximum of its values (negative ones too, as
// onnxruntime 1.30 computes it).

const f = Math.fround;

/** C/C++ round(): halves away from zero. */
const roundHalfAway = (v: number) => (v < 0 ? -Math.round(-v) : Math.round(v));

const maxRoiPool: KernelConfig = {
  opType: 'MaxRoiPool',
  run(ctx): RtTensor[] {
    const x = requireInput(ctx, 0, 'input X');
    const r = requireInput(ctx, 1, 'input rois');
    const data = requireFloat(ctx, x, 'input X');
    const rois = requireFloat(ctx, r, 'input rois');
    if (x.dims.length !== 4) throw kernelError(ctx.node, `input X has shape [${x.dims}]; MaxRoiPool needs (N, C, H, W)`);
    if (r.dims.length !== 2 || r.dims[1] !== 5) {
      throw kernelError(ctx.node, `input rois has shape [${r.dims}]; MaxRoiPool needs (num_rois, 5): batch index, x1, y1, x2, y2`);
    }
    const pooled = ctx.attrs.ints('pooled_shape');
    if (!pooled || pooled.length !== 2 || pooled.some((p) => !Number.isSafeInteger(p) || p <= 0)) {
      throw kernelError(ctx.node, `attribute 'pooled_shape' must be two positive integers (height, width), got [${pooled ?? ''}]`);
    }
    const [ph, pw] = pooled as [number, number];
    const scale = f(ctx.attrs.float('spatial_scale', 1));
    const [batch, channels, height, width] = x.dims as [number, number, number, number];
    const numRois = r.dims[0]!;
    const out = floatTensor([numRois, channels, ph, pw]);
    const y = out.data as Float32Array;
    const plane = height * width;
    // Bin bounds depend on the region only: computed once per region, then every channel reuses them.
    const hs = new Int32Array(ph);
    const he = new Int32Array(ph);
    const ws = new Int32Array(pw);
    const we = new Int32Array(pw);
    for (let n = 0; n < numRois; n++) {
      const roi = n * 5;
      const b = Math.trunc(rois[roi]!);
      if (!(b >= 0 && b < batch)) throw kernelError(ctx.node, `region ${n} has batch index ${rois[roi]}, outside the batch of ${batch}`);
      const startW = roundHalfAway(f(rois[roi + 1]! * scale));
      const startH = roundHalfAway(f(rois[roi + 2]! * scale));
      const endW = roundHalfAway(f(rois[roi + 3]! * scale));
      const endH = roundHalfAway(f(rois[roi + 4]! * scale));
      const binH = f(Math.max(endH - startH + 1, 1) / ph);
      const binW = f(Math.max(endW - startW + 1, 1) / pw);
      const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
      for (let i = 0; i < ph; i++) {
        hs[i] = clip(Math.floor(f(i * binH)) + startH, height);
        he[i] = clip(Math.ceil(f((i + 1) * binH)) + startH, height);
      }
      for (let j = 0; j < pw; j++) {
        ws[j] = clip(Math.floor(f(j * binW)) + startW, width);
        we[j] = clip(Math.ceil(f((j + 1) * binW)) + startW, width);
      }
      for (let c = 0; c < channels; c++) {
        const base = (b * channels + c) * plane;
        let o = ((n * channels + c) * ph) * pw;
        for (let i = 0; i < ph; i++) {
          for (let j = 0; j < pw; j++, o++) {
            if (he[i]! <= hs[i]! || we[j]! <= ws[j]!) {
              y[o] = 0;
              continue;
            }
            let m = -Infinity;
            for (let h = hs[i]!; h < he[i]!; h++) {
              const row = base + h * width;
              for (let w = ws[j]!; w < we[j]!; w++) {
                const v = data[row + w]!;
                if (v > m) m = v;
              }
            }
            y[o] = m;
          }
        }
      }
    }
    return [out];
  },
};

export const ROI_KERNELS: KernelConfig[] = [maxRoiPool];
