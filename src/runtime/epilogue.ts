import { PointwiseJob, clipFloatRange, leakyReluRange, pointwiseRange } from './pointwise.js';

// A leaf module like pointwise.ts: worker threads import it to apply an epilogue from its description.

/**
 * Work a convolution applies to its own output as it stores it, in place of the nodes that followed it in
 * the graph (Conv → Add(residual) → Relu / Clip, planned where the intermediate values have no other
 * reader). Results must stay bit-identical to running those nodes one by one.
 *
 * Contract for conv strategies (im2col, pointwise, Winograd, depthwise): once a contiguous range
 * [start, end) of the conv's output tensor holds its final conv value (bias and every channel's sum in it,
 * stored as float32), call `apply(out, start, end)` exactly once for that range, ideally while it is still
 * in cache. Ranges may come in any order and from any thread that can see `out`; together they must cover
 * the whole output once.
 *
 * `spec`, when present, describes the same work as plain data (structured-cloneable) so that worker
 * threads, which cannot call a closure of the calling thread, can rebuild it with `epilogueOf`. A threaded
 * kernel given an epilogue without `spec` applies it on the calling thread after the job.
 */
export interface ConvEpilogue {
  apply(out: Float32Array, start: number, end: number): void;
  spec?: EpilogueSpec;
}

/**
 * The fused nodes as data. Every element goes through exactly the code the unfused nodes run:
 *   1. residual (optional): out = out + residual (Add(conv, r)), or residual + out (Add(r, conv)): same
 *      shape float32, as the same-shape path of the Add kernel (pointwise 'add');
 *   2. activation: 'relu' and 'clipBits' on the float32 bit patterns as the Relu and Clip kernels run them
 *      (pointwise 'relu' / 'clip'; clipBits bounds are float32 bit patterns, 0 <= lo <= hi), 'clip' the
 *      float comparison Clip uses for other bounds (lo <= hi), 'leakyRelu' the LeakyRelu kernel's loop.
 * The residual must be in shared memory when the epilogue is sent to worker threads.
 */
export interface EpilogueSpec {
  residual?: Float32Array;
  /** The residual is the Add's first input: out = residual + out (kept in operand order for NaN payloads). */
  residualFirst?: boolean;
  activation: 'none' | 'relu' | 'clipBits' | 'clip' | 'leakyRelu';
  /** clipBits: float32 bit patterns; clip: float values. */
  lo?: number;
  hi?: number;
  /** leakyRelu: slope for negative inputs. */
  alpha?: number;
}

/** Build the epilogue that applies `spec` (on any thread: the calling one or a worker). */
export function epilogueOf(spec: EpilogueSpec): ConvEpilogue {
  return new SpecEpilogue(spec);
}

/**
 * One class for every epilogue, so the strategies' `apply` call sites stay monomorphic (one target V8
 * can inline) however many convs run. Views and pointwise jobs over the output are made once per output
 * array, not per range.
 */
class SpecEpilogue implements ConvEpilogue {
  private viewOf: Float32Array | undefined;
  private addJob: PointwiseJob | undefined;
  private activationJob: PointwiseJob | undefined;

  constructor(readonly spec: EpilogueSpec) {}

  apply(out: Float32Array, start: number, end: number): void {
    if (out !== this.viewOf) this.prepare(out);
    if (this.addJob) pointwiseRange(this.addJob, start, end);
    if (this.activationJob) pointwiseRange(this.activationJob, start, end);
    else if (this.spec.activation === 'clip') clipFloatRange(out, out, this.spec.lo!, this.spec.hi!, start, end);
    else if (this.spec.activation === 'leakyRelu') leakyReluRange(out, out, this.spec.alpha!, start, end);
  }

  private prepare(out: Float32Array): void {
    const spec = this.spec;
    this.viewOf = out;
    if (spec.residual) {
      const [x, y] = spec.residualFirst ? [spec.residual, out] : [out, spec.residual];
      this.addJob = { task: 'pointwise', op: 'add', x, y, out, count: out.length, chunkSize: 0 };
    }
    if (spec.activation === 'relu' || spec.activation === 'clipBits') {
      const bits = new Int32Array(out.buffer, out.byteOffset, out.length);
      const op = spec.activation === 'relu' ? 'relu' : 'clip';
      this.activationJob = { task: 'pointwise', op, x: bits, out: bits, lo: spec.lo, hi: spec.hi, count: out.length, chunkSize: 0 };
    }
  }
}
