// node ortcmp.mjs a.onnx b.onnx : runs both in onnxruntime (optimizations off) on one seeded input, prints max abs diff per output
import { createRequire } from 'node:module';
const require = createRequire(new URL('../../package.json', import.meta.url));
const ort = require('onnxruntime-node');
const [a, b] = process.argv.slice(2);
const sa = await ort.InferenceSession.create(a, { graphOptimizationLevel: 'disabled' });
const sb = await ort.InferenceSession.create(b, { graphOptimizationLevel: 'disabled' });
const meta = sa.inputMetadata?.[0];
const name = sa.inputNames[0];
const dims = (meta?.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
let s = 1; const n = dims.reduce((p, d) => p * d, 1); const x = new Float32Array(n);
for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; x[i] = s / 2147483648 * 2 - 1; }
const feeds = { [name]: new ort.Tensor('float32', x, dims) };
const ra = await sa.run(feeds), rb = await sb.run(feeds);
for (const o of sa.outputNames) { const p = ra[o].data, q = rb[o].data; let m = 0, mx = 0; for (let i = 0; i < p.length; i++) { m = Math.max(m, Math.abs(p[i] - q[i])); mx = Math.max(mx, Math.abs(p[i])); } console.log(o, 'max abs diff', m, 'max |a|', mx, 'dims', ra[o].dims); }
