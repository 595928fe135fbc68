// Conv epilogue fusion (src/runtime/fusion.ts): runModel with fusion on (the default) vs off
// (RunOptions.fuse: false), alternating in one process so machine load hits both alike. Models: the
// seeded ResNet-50 of bench/resnet50.mjs with its BatchNorms folded (as `bnc fold-bn` leaves it), and
// MobileNet v2 from ../shared/models when present. Prints per model and thread count the median time of
// each, their ratio, and how many Convs and other nodes were fused; checks the outputs are bit-identical.
// Besides wall-clock time, the process's CPU time (all threads, process.cpuUsage) is compared: on a shared
// machine it varies less with other processes' load than wall-clock time does.
//
//   node bench/fusion.mjs [--rounds 5] [--threads 1,2] [--models resnet50,mobilenetv2]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataType, readOnnxFile, runModel, runPasses } from '../dist/index.js';
import { FOLD_BN_PIPELINE } from '../dist/passes/index.js';
import { fusionStats } from '../dist/runtime/fusion.js';
import { closeThreadPool } from '../dist/runtime/parallel.js';
import { buildResNet50, mulberry32 } from './resnet50.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const rounds = Number(flag('rounds', '5'));
const threadCounts = flag('threads', '1,2').split(',').map(Number);
const wanted = flag('models', 'resnet50,mobilenetv2').split(',');

function input(dims, seed) {
  const random = mulberry32(seed);
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = random() * 2 - 1;
  return { dtype: DataType.FLOAT, dims, data };
}

const models = [];
if (wanted.includes('resnet50')) {
  const model = buildResNet50();
  runPasses(model, FOLD_BN_PIPELINE);
  models.push({ name: 'ResNet-50 (BN folded)', model, inputs: new Map([['input', input([1, 3, 224, 224], 1)]]) });
}
const mobilenet = path.join(here, '../../shared/models/onnx/mobilenet_v2/model.onnx');
if (wanted.includes('mobilenetv2') && fs.existsSync(mobilenet)) {
  const model = readOnnxFile(mobilenet);
  runPasses(model, FOLD_BN_PIPELINE);
  const vi = model.graph.inputs[0];
  const dims = vi.type.tensor.shape.map((d) => d.value ?? 1);
  models.push({ name: 'MobileNet v2 (BN folded)', model, inputs: new Map([[vi.name, input(dims, 2)]]) });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function sameBits(a, b) {
  for (const [name, t] of a) {
    const x = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    const u = b.get(name).data;
    const y = new Uint32Array(u.buffer, u.byteOffset, u.length);
    if (x.length !== y.length || x.some((v, i) => v !== y[i])) return false;
  }
  return true;
}

for (const { name, model, inputs } of models) {
  const nodes = model.graph.nodes.length;
  const convs = model.graph.nodes.filter((n) => n.opType === 'Conv').length;
  for (const threads of threadCounts) {
    // Warm-up (JIT, worker start-up), and the fused-node count of one run.
    const before = { ...fusionStats };
    const fusedOut = runModel(model, inputs, { threads }).outputs;
    const fused = { convs: fusionStats.convs - before.convs, nodes: fusionStats.nodes - before.nodes };
    const plainOut = runModel(model, inputs, { threads, fuse: false }).outputs;
    const identical = sameBits(fusedOut, plainOut);
    const wall = { fused: [], unfused: [] };
    const cpu = { fused: [], unfused: [] };
    const ratios = [];
    for (let r = 0; r < rounds; r++) {
      const round = {};
      for (const fuse of r % 2 ? [false, true] : [true, false]) {
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        runModel(model, inputs, { threads, fuse });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        const c = process.cpuUsage(c0);
        const key = fuse ? 'fused' : 'unfused';
        wall[key].push(ms);
        cpu[key].push((c.user + c.system) / 1e3);
        round[key] = ms;
      }
      ratios.push(round.fused / round.unfused);
    }
    const f = median(wall.fused);
    const u = median(wall.unfused);
    const fc = median(cpu.fused);
    const uc = median(cpu.unfused);
    console.log(
      `${name}, ${threads} thread(s): wall fused ${f.toFixed(1)} ms, unfused ${u.toFixed(1)} ms, ratio of medians ${(f / u).toFixed(3)}, ` +
        `median of per-round ratios ${median(ratios).toFixed(3)} [${ratios.map((x) => x.toFixed(3)).join(' ')}]; ` +
        `CPU fused ${fc.toFixed(0)} ms, unfused ${uc.toFixed(0)} ms, ratio ${(fc / uc).toFixed(3)}; ` +
        `${fused.convs} of ${convs} Convs fused with ${fused.nodes} nodes (graph: ${nodes} nodes); outputs bit-identical: ${identical}`,
    );
  }
}
await closeThreadPool();
