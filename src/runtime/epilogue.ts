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
 */
export interface ConvEpilogue {
  apply(out: Float32Array, start: number, end: number): void;
}
