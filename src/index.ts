// Library entry: the IR, format readers/writers, passes and the runtime, without the CLI.
export * from './ir/index.js';
export { openModel, registerFormat } from './formats/index.js';
export { readOnnxFile, parseOnnx, serializeOnnx } from './formats/onnx/index.js';
export { summarizeModel } from './inspect/summary.js';
export { PASSES, runPasses, analyzeBatchNormFolding } from './passes/index.js';
