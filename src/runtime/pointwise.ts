// Float32 element loops that kernels either run whole on the calling thread or split by ranges across
// worker threads (a 'pointwise' job, see parallelTasks.ts and runPointwise in parallel.ts). Every element
// is computed by the same expression either way, so threaded results are bit-identical.
// A leaf module: worker threads import it without the kernel tables.

/** Relu, Clip (bounds ≥ 0, as float bit patterns), same-shape Add, and per-channel x·a[c] + b[c]. */
export interface PointwiseJob {
  task: 'pointwise';
  op: 'relu' | 'clip' | 'add' | 'channelAffine';
  /** Input; for relu and clip the float32 bits as an Int32Array view. */
  x: Float32Array | Int32Array;
  /** Second input of add. */
  y?: Float32Array;
  /** Output, the same kind of array as x. */
  out: Float32Array | Int32Array;
  /** clip: lower and upper bound as float32 bit patterns. */
  lo?: number;
  hi?: number;
  /** channelAffine: per-channel factor and offset, the channel count and the elements per channel plane. */
  a?: Float64Array;
  b?: Float64Array;
  channels?: number;
  plane?: number;
  /** Units to cover: elements, or (n, c) planes for channelAffine. */
  count: number;
  chunkSize: number;
}

/** Units [first, last) of the job. */
export function pointwiseRange(job: PointwiseJob, first: number, last: number): void {
  switch (job.op) {
    case 'relu':
      return reluBits(job.x as Int32Array, job.out as Int32Array, first, last);
    case 'clip':
      return clipBits(job.x as Int32Array, job.out as Int32Array, job.lo!, job.hi!, first, last);
    case 'add':
      return addFloat32(job.x as Float32Array, job.y!, job.out as Float32Array, first, last);
    case 'channelAffine':
      return channelAffinePlanes(job.x as Float32Array, job.out as Float32Array, job.a!, job.b!, job.channels!, job.plane!, first, last);
  }
}

// Relu and Clip with a non-negative lower bound run on the IEEE bit patterns as int32: for non-negative
// floats the integer order is the float order, so clamping is branch-free integer math (b & ~(b >> 31)
// sends every negative float to +0). Compare-and-select on random signs mispredicts about half the time:
// this is ~5x faster on activations.
//
// The loops take eight elements per iteration: V8 11 re-checks each typed array's map and reloads its
// data pointer at every iteration, and eight accesses share one such check. Measured on 800K activations:
// Clip 3.95 → 2.31 ns per element, Relu 1.99 → 1.56.
const FLOAT_INFINITY_BITS = 0x7f800000;

/** Relu on bits: max(v, 0) with NaN kept (bits and all, as numpy's maximum and onnxruntime) and -0 to +0. */
function reluBit(b: number): number {
  return (b & 0x7fffffff) > FLOAT_INFINITY_BITS ? b : b & ~(b >> 31);
}

function reluBits(d: Int32Array, o: Int32Array, first: number, last: number): void {
  let i = first;
  for (; i + 8 <= last; i += 8) {
    const b0 = d[i]!, b1 = d[i + 1]!, b2 = d[i + 2]!, b3 = d[i + 3]!, b4 = d[i + 4]!, b5 = d[i + 5]!, b6 = d[i + 6]!, b7 = d[i + 7]!;
    o[i] = reluBit(b0); o[i + 1] = reluBit(b1); o[i + 2] = reluBit(b2); o[i + 3] = reluBit(b3);
    o[i + 4] = reluBit(b4); o[i + 5] = reluBit(b5); o[i + 6] = reluBit(b6); o[i + 7] = reluBit(b7);
  }
  for (; i < last; i++) o[i] = reluBit(d[i]!);
}

/** Clip on bits, 0 <= lo <= hi (as bits); NaN stays NaN. The differences below stay inside int32. */
function clipBit(b: number, lo: number, hi: number): number {
  if ((b & 0x7fffffff) > FLOAT_INFINITY_BITS) return b; // NaN
  const positive = b & ~(b >> 31);
  const below = (positive - lo) | 0;
  const raised = (positive - (below & (below >> 31))) | 0;
  const above = (raised - hi) | 0;
  return (hi + (above & (above >> 31))) | 0;
}

function clipBits(d: Int32Array, o: Int32Array, lo: number, hi: number, first: number, last: number): void {
  lo |= 0;
  hi |= 0;
  let i = first;
  for (; i + 8 <= last; i += 8) {
    const b0 = d[i]!, b1 = d[i + 1]!, b2 = d[i + 2]!, b3 = d[i + 3]!, b4 = d[i + 4]!, b5 = d[i + 5]!, b6 = d[i + 6]!, b7 = d[i + 7]!;
    o[i] = clipBit(b0, lo, hi); o[i + 1] = clipBit(b1, lo, hi); o[i + 2] = clipBit(b2, lo, hi); o[i + 3] = clipBit(b3, lo, hi);
    o[i + 4] = clipBit(b4, lo, hi); o[i + 5] = clipBit(b5, lo, hi); o[i + 6] = clipBit(b6, lo, hi); o[i + 7] = clipBit(b7, lo, hi);
  }
  for (; i < last; i++) o[i] = clipBit(d[i]!, lo, hi);
}

function addFloat32(x: Float32Array, y: Float32Array, o: Float32Array, first: number, last: number): void {
  let i = first;
  for (; i + 8 <= last; i += 8) {
    const x0 = x[i]!, x1 = x[i + 1]!, x2 = x[i + 2]!, x3 = x[i + 3]!, x4 = x[i + 4]!, x5 = x[i + 5]!, x6 = x[i + 6]!, x7 = x[i + 7]!;
    const y0 = y[i]!, y1 = y[i + 1]!, y2 = y[i + 2]!, y3 = y[i + 3]!, y4 = y[i + 4]!, y5 = y[i + 5]!, y6 = y[i + 6]!, y7 = y[i + 7]!;
    o[i] = x0 + y0; o[i + 1] = x1 + y1; o[i + 2] = x2 + y2; o[i + 3] = x3 + y3;
    o[i + 4] = x4 + y4; o[i + 5] = x5 + y5; o[i + 6] = x6 + y6; o[i + 7] = x7 + y7;
  }
  for (; i < last; i++) o[i] = x[i]! + y[i]!;
}

/** out[p·plane + i] = x[p·plane + i]·a[c] + b[c] for planes p in [first, last), c = p mod channels. */
function channelAffinePlanes(x: Float32Array, out: Float32Array, a: Float64Array, b: Float64Array, channels: number, plane: number, first: number, last: number): void {
  for (let p = first; p < last; p++) {
    const c = p % channels;
    const ac = a[c]!;
    const bc = b[c]!;
    const end = (p + 1) * plane;
    for (let i = p * plane; i < end; i++) out[i] = x[i]! * ac + bc;
  }
}

/**
 * o[i] = min(max(d[i], lo), hi) for i in [start, end), lo <= hi: Clip's float comparison (bounds that the
 * bit-pattern path cannot take). NaN stays NaN (both comparisons are false). Clip and a fused Conv
 * epilogue both run this loop, so they give the same bits.
 */
export function clipFloatRange(d: ArrayLike<number>, o: { [i: number]: number }, lo: number, hi: number, start: number, end: number): void {
  for (let i = start; i < end; i++) {
    const v = d[i]!;
    o[i] = v < lo ? lo : v > hi ? hi : v;
  }
}

/** o[i] = d[i] < 0 ? alpha·d[i] : d[i] for i in [start, end): LeakyRelu, run by its kernel and by fused epilogues. */
export function leakyReluRange(d: ArrayLike<number>, o: { [i: number]: number }, alpha: number, start: number, end: number): void {
  for (let i = start; i < end; i++) o[i] = d[i]! < 0 ? alpha * d[i]! : d[i]!;
}
