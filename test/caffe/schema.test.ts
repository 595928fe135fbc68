import { describe, expect, it } from 'vitest';
import { parseTextFormat } from '../../src/formats/caffe/prototxt.js';
import { caffeType } from '../../src/formats/caffe/schema.js';

// bnc's caffe.proto against BVLC Caffe's own (BVLC/caffe master src/caffe/proto/caffe.proto, copied by
// hand into the tables below) and the forks' blocks: a BVLC or known-fork block parses without a
// warning; only a truly unknown field warns.

/** Every LayerParameter field of BVLC Caffe: name → field number. */
const BVLC_LAYER_FIELDS: Record<string, number> = {
  name: 1, type: 2, bottom: 3, top: 4, phase: 10, loss_weight: 5, param: 6, blobs: 7, propagate_down: 11,
  include: 8, exclude: 9, transform_param: 100, loss_param: 101, accuracy_param: 102, argmax_param: 103,
  batch_norm_param: 139, bias_param: 141, clip_param: 148, concat_param: 104, contrastive_loss_param: 105,
  convolution_param: 106, crop_param: 144, data_param: 107, dropout_param: 108, dummy_data_param: 109,
  eltwise_param: 110, elu_param: 140, embed_param: 137, exp_param: 111, flatten_param: 135,
  hdf5_data_param: 112, hdf5_output_param: 113, hinge_loss_param: 114, image_data_param: 115,
  infogain_loss_param: 116, inner_product_param: 117, input_param: 143, log_param: 134, lrn_param: 118,
  memory_data_param: 119, mvn_param: 120, parameter_param: 145, pooling_param: 121, power_param: 122,
  prelu_param: 131, python_param: 130, recurrent_param: 146, reduction_param: 136, relu_param: 123,
  reshape_param: 133, scale_param: 142, sigmoid_param: 124, softmax_param: 125, spp_param: 132,
  slice_param: 126, swish_param: 147, tanh_param: 127, threshold_param: 128, tile_param: 138,
  window_data_param: 129,
};

/** Every V1LayerParameter field of BVLC Caffe. */
const BVLC_V1_FIELDS: Record<string, number> = {
  bottom: 2, top: 3, name: 4, include: 32, exclude: 33, type: 5, blobs: 6, param: 1001, blob_share_mode: 1002,
  blobs_lr: 7, weight_decay: 8, loss_weight: 35, accuracy_param: 27, argmax_param: 23, concat_param: 9,
  contrastive_loss_param: 40, convolution_param: 10, data_param: 11, dropout_param: 12, dummy_data_param: 26,
  eltwise_param: 24, exp_param: 41, hdf5_data_param: 13, hdf5_output_param: 14, hinge_loss_param: 29,
  image_data_param: 15, infogain_loss_param: 16, inner_product_param: 17, lrn_param: 18, memory_data_param: 22,
  mvn_param: 34, pooling_param: 19, power_param: 21, relu_param: 30, sigmoid_param: 38, softmax_param: 39,
  slice_param: 31, tanh_param: 37, threshold_param: 25, window_data_param: 20, transform_param: 36, loss_param: 42,
  layer: 1,
};

/** Fork fields: YOLO (eric612/MobileNet-YOLO), ShuffleNet (farmingyard/ShuffleNet), NVIDIA/caffe. */
const FORK_LAYER_FIELDS: Record<string, number> = {
  relu6_param: 211, reorg_param: 149, upsample_param: 150, region_loss_param: 600, yolo_detection_output_param: 601,
  yolov3_detection_output_param: 602, yolov3_param: 603, yolo_seg_param: 604, segmentation_evaluate_param: 605,
  shuffle_channel_param: 164, detectnet_groundtruth_param: 6801, detectnet_augmentation_param: 6802,
};

// One block per BVLC parameter message, with fields (not only defaults) as BVLC's caffe.proto names them.
const BVLC_BLOCKS = `
  transform_param { scale: 0.5 mirror: true crop_size: 3 mean_file: "m" mean_value: 1 force_color: true force_gray: false }
  loss_param { ignore_label: 2 normalization: BATCH_SIZE normalize: true }
  accuracy_param { top_k: 5 axis: 1 ignore_label: 0 }
  argmax_param { out_max_val: true top_k: 2 axis: 1 }
  batch_norm_param { use_global_stats: true moving_average_fraction: 0.9 eps: 1e-3 }
  bias_param { axis: 1 num_axes: 1 filler { type: "constant" value: 0 } }
  clip_param { min: -1 max: 1 }
  concat_param { axis: 1 concat_dim: 1 }
  contrastive_loss_param { margin: 2 legacy_version: true }
  convolution_param { num_output: 4 bias_term: false pad: 1 kernel_size: 3 stride: 1 dilation: 1 group: 1
    weight_filler { type: "xavier" } bias_filler { type: "constant" } engine: CAFFE axis: 1 force_nd_im2col: false }
  crop_param { axis: 2 offset: 1 offset: 2 }
  data_param { source: "db" batch_size: 4 rand_skip: 1 backend: LMDB scale: 1 mean_file: "m" crop_size: 0
    mirror: false force_encoded_color: false prefetch: 4 }
  dropout_param { dropout_ratio: 0.3 }
  dummy_data_param { data_filler { type: "gaussian" } shape { dim: 1 dim: 3 } num: 1 channels: 3 height: 4 width: 4 }
  eltwise_param { operation: MAX coeff: 1 stable_prod_grad: true }
  elu_param { alpha: 0.5 }
  embed_param { num_output: 6 input_dim: 10 bias_term: true weight_filler { type: "uniform" } bias_filler { value: 0 } }
  exp_param { base: 2 scale: 1 shift: 0 }
  flatten_param { axis: 1 end_axis: -1 }
  hdf5_data_param { source: "list.txt" batch_size: 2 shuffle: true }
  hdf5_output_param { file_name: "out.h5" }
  hinge_loss_param { norm: L2 }
  image_data_param { source: "l" batch_size: 1 rand_skip: 0 shuffle: true new_height: 8 new_width: 8 is_color: true
    scale: 1 mean_file: "m" crop_size: 0 mirror: false root_folder: "r/" }
  infogain_loss_param { source: "h" axis: 1 }
  inner_product_param { num_output: 3 bias_term: true axis: 1 transpose: false }
  input_param { shape { dim: 1 dim: 3 } }
  log_param { base: 10 scale: 1 shift: 0 }
  lrn_param { local_size: 5 alpha: 1 beta: 0.75 norm_region: WITHIN_CHANNEL k: 2 engine: DEFAULT }
  memory_data_param { batch_size: 1 channels: 3 height: 4 width: 4 }
  mvn_param { normalize_variance: false across_channels: true eps: 1e-6 }
  parameter_param { shape { dim: 2 } }
  pooling_param { pool: AVE pad: 1 kernel_size: 3 stride: 2 engine: CAFFE global_pooling: false round_mode: FLOOR }
  power_param { power: 2 scale: 1 shift: 0 }
  prelu_param { filler { value: 0.25 } channel_shared: false }
  python_param { module: "m" layer: "L" param_str: "{}" share_in_parallel: false }
  recurrent_param { num_output: 8 weight_filler { type: "xavier" } bias_filler { value: 0 } debug_info: false expose_hidden: true }
  reduction_param { operation: SUMSQ axis: 1 coeff: 0.5 }
  relu_param { negative_slope: 0.1 engine: CUDNN }
  reshape_param { shape { dim: 0 dim: -1 } axis: 0 num_axes: -1 }
  scale_param { axis: 1 num_axes: 1 filler { value: 1 } bias_term: true bias_filler { value: 0 } }
  sigmoid_param { engine: CAFFE }
  softmax_param { engine: CAFFE axis: 1 }
  spp_param { pyramid_height: 3 pool: AVE engine: CAFFE }
  slice_param { axis: 1 slice_point: 2 slice_dim: 1 }
  swish_param { beta: 1.5 }
  tanh_param { engine: CAFFE }
  threshold_param { threshold: 0.5 }
  tile_param { axis: 1 tiles: 3 }
  window_data_param { source: "w" scale: 1 mean_file: "m" batch_size: 8 crop_size: 227 mirror: true fg_threshold: 0.5
    bg_threshold: 0.5 fg_fraction: 0.25 context_pad: 16 crop_mode: "square" cache_images: false root_folder: "" }
`;

const FORK_BLOCKS = `
  relu6_param { negative_slope: 0 }
  reorg_param { stride: 2 reverse: false }
  upsample_param { scale: 2 }
  region_loss_param { side: 13 num_class: 20 coords: 4 num: 5 softmax: 1 biases: 1.08 biases: 1.19 }
  yolo_detection_output_param { side: 13 num_classes: 20 num_box: 5 confidence_threshold: 0.01 nms_threshold: 0.45 biases: 1 }
  yolov3_detection_output_param { num_classes: 20 num_box: 3 confidence_threshold: 0.01 nms_threshold: 0.45
    biases: 10 biases: 14 anchors_scale: 32 anchors_scale: 16 mask_group_num: 2 mask: 3 mask: 4 gaussian_box: false }
  yolov3_param { side: 13 num_class: 20 num: 3 anchors_scale: 32 biases: 10 mask: 0 iou_loss: GIOU label_smooth_eps: 0.1 }
  yolo_seg_param { num_class: 1 object_scale: 5 use_hardsigmoid: true }
  segmentation_evaluate_param { num_classes: 2 threshold: 0.5 }
  shuffle_channel_param { group: 3 }
  detectnet_groundtruth_param { stride: 16 scale_cvg: 0.4 gridbox_type: GRIDBOX_MIN object_class { src: 1 dst: 0 } }
  detectnet_augmentation_param { crop_prob: 1 shift_x: 32 flip_prob: 0.5 desaturation_max: 0.5 }
`;

function parseWarnings(text: string, type = 'NetParameter'): string[] {
  const warnings: string[] = [];
  parseTextFormat(text, caffeType(type), { file: 'net.prototxt', warn: (w) => warnings.push(w) });
  return warnings;
}

describe("caffe.proto knows BVLC Caffe's fields", () => {
  it('has every BVLC LayerParameter field with its BVLC field number', () => {
    const fields = caffeType('LayerParameter').fields;
    for (const [name, id] of Object.entries(BVLC_LAYER_FIELDS)) expect(fields[name]?.id, name).toBe(id);
  });

  it('has every BVLC V1LayerParameter field with its BVLC field number', () => {
    const fields = caffeType('V1LayerParameter').fields;
    for (const [name, id] of Object.entries(BVLC_V1_FIELDS)) expect(fields[name]?.id, name).toBe(id);
  });

  it("has the YOLO, ShuffleNet and NVIDIA forks' LayerParameter fields with their numbers", () => {
    const fields = caffeType('LayerParameter').fields;
    for (const [name, id] of Object.entries(FORK_LAYER_FIELDS)) expect(fields[name]?.id, name).toBe(id);
  });

  it("parses every BVLC parameter block, with BVLC's field names, without a warning", () => {
    expect(parseWarnings(`layer { name: "l" type: "T" ${BVLC_BLOCKS} }`)).toEqual([]);
  });

  it("parses the forks' parameter blocks without a warning", () => {
    expect(parseWarnings(`layer { name: "l" type: "T" ${FORK_BLOCKS} }`)).toEqual([]);
  });

  it('parses every BVLC V1 block (and a nested V0 layer) without a warning', () => {
    const text = `layers { name: "l" type: MVN blob_share_mode: PERMISSIVE
      contrastive_loss_param { margin: 1 } dummy_data_param { num: 1 } hdf5_data_param { source: "s" }
      hdf5_output_param { file_name: "f" } hinge_loss_param { norm: L1 } image_data_param { source: "s" }
      infogain_loss_param { source: "s" } memory_data_param { batch_size: 1 } mvn_param { eps: 1e-9 }
      window_data_param { source: "s" } relu6_param { negative_slope: 0 }
      layer { name: "v0" type: "conv" num_output: 4 biasterm: false kernelsize: 3 pool: AVE det_crop_mode: "warp" concat_dim: 1 } }`;
    expect(parseWarnings(text)).toEqual([]);
  });

  it('keeps BVLC defaults for fields left out', () => {
    const m = parseTextFormat('crop_param {} reduction_param {} mvn_param {} tile_param {} swish_param {} spp_param {} embed_param {}', caffeType('LayerParameter'));
    expect(m.crop_param).toEqual({});
    const def = (type: string, field: string) => caffeType(type).fields[field]!.typeDefault;
    expect(def('CropParameter', 'axis')).toBe(2);
    expect(def('ReductionParameter', 'operation')).toBe(1);
    expect(def('ReductionParameter', 'axis')).toBe(0);
    expect(def('ReductionParameter', 'coeff')).toBe(1);
    expect(def('MVNParameter', 'normalize_variance')).toBe(true);
    expect(def('MVNParameter', 'eps')).toBeCloseTo(1e-9, 15);
    expect(def('TileParameter', 'axis')).toBe(1);
    expect(def('SwishParameter', 'beta')).toBe(1);
    expect(def('EmbedParameter', 'bias_term')).toBe(true);
    expect(def('SPPParameter', 'pool')).toBe(0);
    expect(def('UpsampleParameter', 'scale')).toBe(1);
    expect(def('ShuffleChannelParameter', 'group')).toBe(1);
    expect(def('DataParameter', 'prefetch')).toBe(4);
  });

  it("parses NVIDIA Caffe's net-level types and its BatchNorm/Convolution/data extras without a warning", () => {
    const text = `default_forward_type: FLOAT16 default_backward_type: FLOAT default_forward_math: FLOAT global_grad_scale: 8
      global_grad_scale_adaptive: true reduce_buckets: 6 eltwise_mem_sharing: false
      layer { name: "bn" type: "BatchNorm" batch_norm_param { scale_bias: true scale_filler { value: 1 } bias_filler { value: 0 } engine: CUDNN }
        convolution_param { cudnn_convolution_algo_seeker: GET conv_algos_override: "1,-1,-1" }
        data_param { threads: 4 parser_threads: 2 cache: true shuffle: true precache: false }
        image_data_param { short_side: 256 threads: 4 dataset_share_per_node: 1 } loss_param { label_smoothing: 0.1 } }`;
    expect(parseWarnings(text)).toEqual([]);
    expect(caffeType('NetParameter').fields.default_forward_type!.id).toBe(11);
    expect(caffeType('BatchNormParameter').fields.scale_bias!.id).toBe(7);
  });

  it('still warns for a truly unknown block or field, naming it', () => {
    const warnings = parseWarnings('layer { name: "l" type: "T" my_fork_param { a: 1 } crop_param { axis: 1 bogus: 2 } }');
    expect(warnings).toEqual([
      expect.stringMatching(/unknown field 'my_fork_param' in LayerParameter \(a parameter block of a custom Caffe fork\)/),
      expect.stringMatching(/unknown field 'bogus' in CropParameter/),
    ]);
  });
});
