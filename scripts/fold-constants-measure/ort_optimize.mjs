// node ortopt.mjs model.onnx level out.onnx : writes onnxruntime's optimized model
import { createRequire } from 'node:module';
const require = createRequire(new URL('../../package.json', import.meta.url));
const ort = require('onnxruntime-node');
const [model, level, out] = process.argv.slice(2);
const s = await ort.InferenceSession.create(model, { graphOptimizationLevel: level, optimizedModelFilePath: out, intraOpNumThreads: 1 });
await s.release();
