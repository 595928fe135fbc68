// A MobileNetV3-style chain of HardSwish and residual diamonds, the shape of graph that made bn-to-affine
// hang on a real text detector: each unit is
//   t = Conv(x) → u = BatchNormalization(t) → HardSwish written out as h = u · Clip(u + 3, 0, 6) / 6
//   → s = h + x (residual) → y = BatchNormalization(s) → next unit
// so u feeds both sides of the Mul and x both the Conv and the residual Add: every value is reachable from
// the next BN along several paths, which doubles (here triples) per unit for an analysis without a memo.
// The first BN of each unit folds into its Conv; the second (after an Add) can only become Mul + Add, and
// bn-to-affine must learn its input's rank by walking up to the declared graph input. No value_info.
import { DataType, emptyGraph, tensorValueInfo } from '../dist/index.js';
import { mulberry32 } from '../dist/util/seededRandom.js';

export function buildDiamondChain({ units = 300, channels = 4, size = 6, seed = 13, opset = 13 } = {}) {
  const random = mulberry32(seed);
  const uniform = (n, lo, hi) => Float32Array.from({ length: n }, () => lo + (hi - lo) * random());
  const graph = emptyGraph('diamond_chain');
  graph.inputs.push(tensorValueInfo('x0', DataType.FLOAT, [1, channels, size, size]));
  const init = (name, dims, data) => graph.initializers.push({ name, dtype: DataType.FLOAT, dims, data });
  const node = (opType, name, inputs, outputs) => graph.nodes.push({ name, opType, domain: '', inputs, outputs, attributes: [] });
  init('three', [], Float32Array.of(3));
  init('zero', [], Float32Array.of(0));
  init('six', [], Float32Array.of(6));
  // The BN after each residual sum halves it (scale 0.3 to 0.6), so activations stay O(1) over any length.
  const bn = (name, x, y, scale = [0.5, 1.5]) => {
    init(`${name}.scale`, [channels], uniform(channels, scale[0], scale[1]));
    init(`${name}.B`, [channels], uniform(channels, -0.1, 0.1));
    init(`${name}.mean`, [channels], uniform(channels, -0.1, 0.1));
    init(`${name}.var`, [channels], uniform(channels, 0.5, 1.5));
    node('BatchNormalization', name, [x, `${name}.scale`, `${name}.B`, `${name}.mean`, `${name}.var`], [y]);
  };
  let x = 'x0';
  for (let i = 0; i < units; i++) {
    const p = `u${i}`;
    // 1×1 conv, weights scaled so the activations stay O(1) through hundreds of units.
    init(`${p}.w`, [channels, channels, 1, 1], uniform(channels * channels, -0.5 / channels, 0.5 / channels));
    node('Conv', `${p}.conv`, [x, `${p}.w`], [`${p}.t`]);
    bn(`${p}.bn1`, `${p}.t`, `${p}.u`);
    node('Add', `${p}.add3`, [`${p}.u`, 'three'], [`${p}.a`]);
    node('Clip', `${p}.relu6`, [`${p}.a`, 'zero', 'six'], [`${p}.r`]);
    node('Mul', `${p}.mul`, [`${p}.u`, `${p}.r`], [`${p}.m`]);
    node('Div', `${p}.div6`, [`${p}.m`, 'six'], [`${p}.h`]);
    node('Add', `${p}.residual`, [`${p}.h`, x], [`${p}.s`]);
    bn(`${p}.bn2`, `${p}.s`, `${p}.y`, [0.3, 0.6]);
    x = `${p}.y`;
  }
  graph.outputs.push(tensorValueInfo(x, DataType.FLOAT, [1, channels, size, size]));
  return {
    irVersion: opset >= 15 ? 8 : 7,
    opsetImports: [{ domain: '', version: opset }],
    producerName: 'bnc bench/diamondChain.mjs',
    metadataProps: [],
    graph,
  };
}
