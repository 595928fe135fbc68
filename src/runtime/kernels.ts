import { KernelConfig } from './kernel.js';
import { ELEMENTWISE_KERNELS } from './elementwise.js';
import { ACTIVATION_KERNELS } from './activation.js';
import { TENSOR_KERNELS } from './tensor.js';
import { CONV_KERNELS } from './conv.js';
import { GEMM_KERNELS } from './gemm.js';
import { POOL_KERNELS } from './pool.js';
import { NORMALIZATION_KERNELS } from './normalization.js';
import { REDUCTION_KERNELS } from './reduction.js';
import { RESIZE_KERNELS } from './resize.js';
import { SELECTION_KERNELS } from './selection.js';
import { DETECTION_KERNELS } from './detection.js';
import { ROI_KERNELS } from './roi.js';
import { LOSS_KERNELS } from './loss.js';
import { INDEXING_KERNELS } from './indexing.js';
import { QUANTIZE_KERNELS } from './quantize.js';
import { LINALG_KERNELS } from './linalg.js';
import { SIGNAL_KERNELS } from './signal.js';
import { TRAINING_KERNELS } from './training.js';
import { NGRAM_KERNELS } from './ngram.js';
import { CONTROL_FLOW_KERNELS } from './controlFlow.js';
import { RECURRENT_KERNELS } from './recurrent.js';

// The one kernel table: each op-family file exports its list of KernelConfig and is added here once.
// Adding an op means adding it to its family's list (and a test); this file changes only for a new family.
const FAMILIES: KernelConfig[][] = [
  ELEMENTWISE_KERNELS,
  ACTIVATION_KERNELS,
  TENSOR_KERNELS,
  CONV_KERNELS,
  GEMM_KERNELS,
  POOL_KERNELS,
  NORMALIZATION_KERNELS,
  REDUCTION_KERNELS,
  RESIZE_KERNELS,
  SELECTION_KERNELS,
  DETECTION_KERNELS,
  ROI_KERNELS,
  LOSS_KERNELS,
  INDEXING_KERNELS,
  QUANTIZE_KERNELS,
  LINALG_KERNELS,
  SIGNAL_KERNELS,
  TRAINING_KERNELS,
  NGRAM_KERNELS,
  CONTROL_FLOW_KERNELS,
  RECURRENT_KERNELS,
];

const TABLE = new Map<string, KernelConfig>();
for (const family of FAMILIES) for (const k of family) TABLE.set(`${k.domain ?? ''}::${k.opType}`, k);

export function findKernel(opType: string, domain = ''): KernelConfig | undefined {
  return TABLE.get(`${domain === 'ai.onnx' ? '' : domain}::${opType}`);
}
