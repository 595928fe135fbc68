// FLOPs of a CNN's Conv and Gemm nodes (2 x multiply-adds), from shapes propagated through the graph here,
// independently of bnc's runtime. Covers the ops of the benchmark models; any other op is an error, so the
// count never silently misses work.

function attr(node, name) {
  return node.attributes.find((a) => a.name === name);
}

/** Output spatial size of a window op (ONNX floor rounding, explicit pads). */
function windowOut(size, kernel, stride, padBegin, padEnd, dilation) {
  return Math.floor((size + padBegin + padEnd - dilation * (kernel - 1) - 1) / stride) + 1;
}

function spatialOut(inDims, node, kernel) {
  const rank = kernel.length;
  const strides = attr(node, 'strides')?.ints ?? new Array(rank).fill(1);
  const dilations = attr(node, 'dilations')?.ints ?? new Array(rank).fill(1);
  const pads = attr(node, 'pads')?.ints ?? new Array(2 * rank).fill(0);
  const autoPad = attr(node, 'auto_pad')?.s;
  if (autoPad && new TextDecoder().decode(autoPad) !== 'NOTSET') throw new Error(`flops: auto_pad on '${node.name}' is not handled`);
  return kernel.map((k, i) => windowOut(inDims[2 + i], k, strides[i], pads[i], pads[rank + i], dilations[i]));
}

/**
 * Conv + Gemm FLOPs for an input of `inputDims` (NCHW). Returns { flops, convFlops, gemmFlops }.
 */
export function countFlops(model, inputDims) {
  const graph = model.graph;
  const shapes = new Map();
  for (const t of graph.initializers) shapes.set(t.name, t.dims);
  const initialized = new Set(graph.initializers.map((t) => t.name));
  const input = graph.inputs.find((vi) => !initialized.has(vi.name));
  shapes.set(input.name, inputDims);
  let convFlops = 0;
  let gemmFlops = 0;
  for (const node of graph.nodes) {
    const x = shapes.get(node.inputs[0]);
    let out;
    switch (node.opType) {
      case 'Constant':
        out = attr(node, 'value').t.dims;
        break;
      case 'Conv': {
        const w = shapes.get(node.inputs[1]);
        const spatial = spatialOut(x, node, w.slice(2));
        out = [x[0], w[0], ...spatial];
        // Each output element takes (Cin/group)*kh*kw multiply-adds: exactly the weight's size per Cout.
        const weightSize = w.reduce((a, b) => a * b, 1);
        convFlops += 2 * x[0] * weightSize * spatial.reduce((a, b) => a * b, 1);
        break;
      }
      case 'MaxPool':
      case 'AveragePool':
        out = [x[0], x[1], ...spatialOut(x, node, attr(node, 'kernel_shape').ints)];
        break;
      case 'GlobalAveragePool':
      case 'GlobalMaxPool':
        out = [x[0], x[1], ...x.slice(2).map(() => 1)];
        break;
      case 'Flatten': {
        const axis = attr(node, 'axis')?.i ?? 1;
        const prod = (d) => d.reduce((a, b) => a * b, 1);
        out = [prod(x.slice(0, axis)), prod(x.slice(axis))];
        break;
      }
      case 'Gemm': {
        const transA = (attr(node, 'transA')?.i ?? 0) === 1;
        const transB = (attr(node, 'transB')?.i ?? 0) === 1;
        const b = shapes.get(node.inputs[1]);
        const m = transA ? x[1] : x[0];
        const k = transA ? x[0] : x[1];
        const n = transB ? b[0] : b[1];
        out = [m, n];
        gemmFlops += 2 * m * k * n;
        break;
      }
      case 'BatchNormalization':
      case 'Relu':
      case 'Clip':
      case 'Add':
        // Elementwise on the first input's shape (the benchmark models only add equal shapes).
        out = x;
        break;
      default:
        throw new Error(`flops: no shape rule for ${node.opType} (node '${node.name}')`);
    }
    shapes.set(node.outputs[0], out);
  }
  return { flops: convFlops + gemmFlops, convFlops, gemmFlops };
}
