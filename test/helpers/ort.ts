import * as ort from 'onnxruntime-node';

export type OrtFeeds = Record<string, { data: Float32Array | BigInt64Array | Int32Array | Float64Array | Uint8Array; dims: number[] }>;
export type OrtResult = Record<string, { data: Float32Array; dims: number[] }>;

/** Run a model (bytes) in onnxruntime-node, single-threaded, with all graph optimizations off. */
export async function runOrt(model: Uint8Array, feeds: OrtFeeds): Promise<OrtResult> {
  const session = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const inputs: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) {
    const type =
      t.data instanceof Float32Array ? 'float32' : t.data instanceof BigInt64Array ? 'int64' : t.data instanceof Int32Array ? 'int32' : t.data instanceof Float64Array ? 'float64' : 'uint8';
    inputs[name] = new ort.Tensor(type, t.data as never, t.dims);
  }
  const out = await session.run(inputs);
  const result: OrtResult = {};
  for (const [name, t] of Object.entries(out)) result[name] = { data: t.data as Float32Array, dims: [...t.dims] };
  await session.release();
  return result;
}
