import { ACTIVATION_LAYERS } from './activation.js';
import { CONV_LAYERS } from './conv.js';
import { DETECTION_LAYERS } from './detection.js';
import { INTERP_LAYERS } from './interp.js';
import { LayerMapping } from './mapping.js';
import { NORM_LAYERS } from './norm.js';
import { POOL_LAYERS } from './pool.js';
import { REDUCTION_LAYERS } from './reduction.js';
import { ROI_LAYERS } from './roi.js';
import { SHAPE_LAYERS } from './shape.js';

export type { BlobRole, BlobSpec, LayerMapping, MapContext } from './mapping.js';
export { layerError } from './mapping.js';
export { caffePooledSize } from './pool.js';

// The one table of Caffe layer types. Each family file exports its mappings and is added here once;
// adding a layer means adding it to its family's file (and a test).
const FAMILIES: Record<string, LayerMapping>[] = [CONV_LAYERS, NORM_LAYERS, ACTIVATION_LAYERS, POOL_LAYERS, SHAPE_LAYERS, REDUCTION_LAYERS, DETECTION_LAYERS, INTERP_LAYERS, ROI_LAYERS];

/** Every supported layer type (as written in `type:`) and its mapping. */
export const LAYER_MAPPINGS: Record<string, LayerMapping> = Object.assign({}, ...FAMILIES);
