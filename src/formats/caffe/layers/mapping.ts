import { Attribute, BncError } from '../../../ir/index.js';
import { GraphBuilder } from '../builder.js';
import { CaffeLayer } from '../net.js';
import { Params } from '../schema.js';

// What every layer mapping is: which weight blobs it has (shapes follow from its parameters and input
// shapes) and how it becomes standard ONNX ops with Caffe's exact TEST-phase semantics. Each family of
// layers has its own file in this folder; index.ts joins them into the one LAYER_MAPPINGS table.
/** What a weight blob is, so random weights can be drawn sensibly (He-normal weights, unit variances...). */
export type BlobRole = 'weight' | 'bias' | 'mean' | 'variance' | 'factor' | 'gamma' | 'beta' | 'slope';

export interface BlobSpec {
  dims: number[];
  role: BlobRole;
  /** Fan-in of a weight (for He-normal random weights). */
  fanIn?: number;
  /** May be absent from the file (NVCaffe's extra BatchNorm blobs). */
  optional?: boolean;
}

export interface MapContext {
  layer: CaffeLayer;
  /** Current value names of the bottoms, and their shapes. */
  inputs: string[];
  shapes: number[][];
  /** Value names the tops must be written to (in top order). */
  outputs: string[];
  /** The layer's weights, checked against blobs(): same count (optional ones may be missing), same size. */
  blobs: Float32Array[];
  b: GraphBuilder;
  opset: number;
  /** The batch axis is symbolic (--batch dynamic): `shapes` hold the prototxt's batch, the data may not. */
  dynamicBatch: boolean;
  warn(message: string): void;
  /** Set when the layer needs ONNX training-mode BatchNormalization (opset >= 15). */
  needsTrainingMode(): void;
}

export interface LayerMapping {
  /** Weight blobs the layer reads, given its parameters and input shapes. Absent: none. */
  blobs?(layer: CaffeLayer, shapes: number[][]): BlobSpec[];
  /** Emit the nodes; returns the shape of each top. */
  map(c: MapContext): number[][];
  /** Number of bottoms accepted: [min, max]. Default [1, 1]. */
  bottoms?: [number, number];
}

export function layerError(layer: CaffeLayer, message: string): BncError {
  return new BncError(`layer '${layer.name}' (${layer.type}): ${message}`, { code: 'BAD_LAYER' });
}

export const param = (c: { layer: CaffeLayer } | CaffeLayer, block: string): Params =>
  ('layer' in c ? c.layer : c).message.message(block);

export const sizeOf = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Caffe's CanonicalAxisIndex: negative axes count from the end; out of range is an error. */
export function canonicalAxis(layer: CaffeLayer, axis: number, rank: number, what = 'axis'): number {
  if (axis < -rank || axis >= rank) throw layerError(layer, `${what} ${axis} is out of range for a ${rank}-D input`);
  return axis < 0 ? axis + rank : axis;
}

/** Dims for a constant that broadcasts over a rank-`rank` input from `axis` on (trailing 1s appended). */
export function broadcastDims(dims: number[], axis: number, rank: number): number[] {
  return [...dims, ...new Array<number>(Math.max(0, rank - axis - dims.length)).fill(1)];
}


/** A one-node layer whose output has the input's shape. */
export function unary(opType: string, attrs: (c: MapContext) => Attribute[] = () => []): LayerMapping {
  return {
    map(c) {
      c.b.node(opType, c.layer.name, [c.inputs[0]!], [c.outputs[0]!], attrs(c));
      return [c.shapes[0]!];
    },
  };
}
