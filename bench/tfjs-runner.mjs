// Runs a bnc IR model in TensorFlow.js's pure-JS CPU backend, as a peer for bnc's runtime: the same graph
// and weights, node by node. Covers the ops of the benchmark's CNNs (Conv incl. depthwise, BatchNormalization,
// Relu, Clip, Add, MaxPool, GlobalAveragePool, Flatten, Gemm, Constant). tfjs convolutions are NHWC, so the
// input is transposed once and the weights are transposed to HWIO when the runner is built.

/** Load tfjs-core with the CPU backend; throws if the packages are missing. */
export async function loadTfjs() {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  await tf.ready();
  // The CPU backend's first tensor write prints a hint about tfjs-node; that advice is not a benchmark
  // result, so the first write happens here with console.warn silenced.
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    tf.tensor([0]).dispose();
  } finally {
    console.warn = warn;
  }
  return tf;
}

function attr(node, name) {
  return node.attributes.find((a) => a.name === name);
}
function ints(node, name, fallback) {
  return attr(node, name)?.ints ?? fallback;
}
function int(node, name, fallback) {
  return attr(node, name)?.i ?? fallback;
}

/** Explicit NHWC padding from ONNX pads [top, left, bottom, right]. */
function explicitPadding(pads) {
  return [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]];
}

/**
 * Prepare `model` for tfjs: weights become tf tensors in tfjs layouts. Returns run(input: Float32Array,
 * dims NCHW) → { data: Float32Array, dims } for the single graph output, and dispose().
 */
export function buildTfjsRunner(tf, model) {
  const graph = model.graph;
  const initializers = new Map(graph.initializers.map((t) => [t.name, t]));
  const constants = new Map(); // value name → tf tensor, in the layout the consuming op wants
  const owned = [];
  const keep = (t) => {
    owned.push(t);
    return t;
  };
  const constant = (name) => {
    if (!constants.has(name)) {
      const t = initializers.get(name);
      if (!t) throw new Error(`tfjs runner: '${name}' is not an initializer`);
      constants.set(name, keep(tf.tensor(t.data, t.dims, 'float32')));
    }
    return constants.get(name);
  };

  // Plan: one closure per node, weights prepared now.
  const steps = [];
  for (const node of graph.nodes) {
    const [x0] = node.inputs;
    const out = node.outputs[0];
    switch (node.opType) {
      case 'Constant': {
        const t = attr(node, 'value')?.t;
        if (!t) throw new Error(`tfjs runner: Constant '${node.name}' without a tensor value`);
        const value = keep(tf.tensor(t.data, t.dims, 'float32'));
        steps.push((v) => v.set(out, value));
        break;
      }
      case 'Conv': {
        const w = initializers.get(node.inputs[1]);
        const [cout, cinPerGroup, kh, kw] = w.dims;
        const group = int(node, 'group', 1);
        const strides = ints(node, 'strides', [1, 1]);
        const dilations = ints(node, 'dilations', [1, 1]);
        const pad = explicitPadding(ints(node, 'pads', [0, 0, 0, 0]));
        const oihw = tf.tensor(w.data, w.dims, 'float32');
        const bias = node.inputs[2] ? constant(node.inputs[2]) : undefined;
        let conv;
        if (group === 1) {
          const filter = keep(tf.transpose(oihw, [2, 3, 1, 0]));
          conv = (x) => tf.conv2d(x, filter, strides, pad, 'NHWC', dilations);
        } else if (cinPerGroup === 1 && group === cout) {
          const filter = keep(tf.transpose(oihw, [2, 3, 0, 1]));
          conv = (x) => tf.depthwiseConv2d(x, filter, strides, pad, 'NHWC', dilations);
        } else {
          throw new Error(`tfjs runner: grouped Conv '${node.name}' (group ${group}) is not depthwise`);
        }
        oihw.dispose();
        void kh;
        void kw;
        steps.push((v) => {
          const y = conv(v.get(x0));
          v.set(out, bias ? tf.add(y, bias) : y);
        });
        break;
      }
      case 'BatchNormalization': {
        const [, s, b, m, vr] = node.inputs.map((n, i) => (i ? constant(n) : undefined));
        const epsilon = attr(node, 'epsilon')?.f ?? 1e-5;
        steps.push((v) => v.set(out, tf.batchNorm(v.get(x0), m, vr, b, s, epsilon)));
        break;
      }
      case 'Relu':
        steps.push((v) => v.set(out, tf.relu(v.get(x0))));
        break;
      case 'Clip':
        steps.push((v) => {
          const lo = node.inputs[1] ? v.get(node.inputs[1]).dataSync()[0] : -Infinity;
          const hi = node.inputs[2] ? v.get(node.inputs[2]).dataSync()[0] : Infinity;
          v.set(out, tf.clipByValue(v.get(x0), lo, hi));
        });
        break;
      case 'Add':
        steps.push((v) => v.set(out, tf.add(v.get(x0), v.get(node.inputs[1]))));
        break;
      case 'MaxPool': {
        const k = ints(node, 'kernel_shape');
        const strides = ints(node, 'strides', [1, 1]);
        const pads = ints(node, 'pads', [0, 0, 0, 0]);
        // ONNX pads are symmetric here; tfjs maxPool has no explicit padding, so pad with -inf first.
        const padding = explicitPadding(pads);
        steps.push((v) => v.set(out, tf.maxPool(tf.pad(v.get(x0), padding, -Infinity), k, strides, 'valid')));
        break;
      }
      case 'GlobalAveragePool':
        steps.push((v) => v.set(out, tf.mean(v.get(x0), [1, 2], true)));
        break;
      case 'Flatten':
        if (int(node, 'axis', 1) !== 1) throw new Error(`tfjs runner: Flatten '${node.name}' with axis other than 1`);
        // ONNX flattens NCHW order: a spatial map (VGG's pool5) goes back to NCHW first; after a global pool,
        // NHWC [N,1,1,C] and NCHW [N,C,1,1] flatten alike.
        steps.push((v) => {
          const x = v.get(x0);
          const nchw = x.shape[1] === 1 && x.shape[2] === 1 ? x : tf.transpose(x, [0, 3, 1, 2]);
          v.set(out, tf.reshape(nchw, [x.shape[0], x.shape[1] * x.shape[2] * x.shape[3]]));
        });
        break;
      case 'Gemm': {
        const transA = int(node, 'transA', 0) === 1;
        const transB = int(node, 'transB', 0) === 1;
        const alpha = attr(node, 'alpha')?.f ?? 1;
        const beta = attr(node, 'beta')?.f ?? 1;
        if (alpha !== 1 || beta !== 1) throw new Error(`tfjs runner: Gemm '${node.name}' with alpha/beta`);
        const w = constant(node.inputs[1]);
        const bias = node.inputs[2] ? constant(node.inputs[2]) : undefined;
        steps.push((v) => {
          const y = tf.matMul(v.get(x0), w, transA, transB);
          v.set(out, bias ? tf.add(y, bias) : y);
        });
        break;
      }
      default:
        throw new Error(`tfjs runner: no mapping for ${node.opType} (node '${node.name}')`);
    }
  }
  const inputName = graph.inputs.find((vi) => !initializers.has(vi.name)).name;
  const outputName = graph.outputs[0].name;
  const constantValues = new Set(owned);

  // Remaining reads of each computed value, so intermediates are freed after their last reader (as a tfjs
  // model's predict() does) and peak memory stays comparable to bnc's ref-counted engine.
  const readers = new Map();
  for (const node of graph.nodes) for (const name of node.inputs) if (name) readers.set(name, (readers.get(name) ?? 0) + 1);

  function run(data, dims) {
    const values = new Map();
    const left = new Map(readers);
    values.set(inputName, tf.tidy(() => tf.transpose(tf.tensor(data, dims, 'float32'), [0, 2, 3, 1])));
    graph.nodes.forEach((node, i) => {
      // tidy frees a step's temporaries; the output it returns survives.
      tf.tidy(() => {
        steps[i](values);
        return values.get(node.outputs[0]);
      });
      for (const name of node.inputs) {
        if (!name || !values.has(name) || constantValues.has(values.get(name))) continue;
        const n = left.get(name) - 1;
        left.set(name, n);
        if (n === 0 && name !== outputName) {
          values.get(name).dispose();
          values.delete(name);
        }
      }
    });
    const result = values.get(outputName);
    const out = { data: result.dataSync().slice(), dims: result.shape };
    result.dispose();
    return out;
  }
  return { run, dispose: () => owned.forEach((t) => t.dispose()) };
}
