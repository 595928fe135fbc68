// Library entry: the IR, format readers/writers, passes, the runtime and verification, without the CLI.
export * from './ir/index.js';
export { openModel, registerFormat } from './formats/index.js';
export type { ModelFormat, OpenOptions } from './formats/index.js';
export { readOnnxFile, parseOnnx, serializeOnnx } from './formats/onnx/index.js';
export { readCaffeFiles, randomCaffemodelFor } from './formats/caffe/index.js';
export { summarizeModel } from './inspect/summary.js';
export { PASSES, runPasses, analyzeBatchNormFolding } from './passes/index.js';
export type { Pass, PassOptions, PassReport } from './passes/index.js';
export { runModel, checkSupported, modelInputs } from './runtime/engine.js';
export type { RtTensor } from './runtime/kernel.js';
export { generateInputs } from './runtime/inputs.js';
export { setWinogradWeightCache } from './runtime/winograd.js';
export { verifyModels } from './verify/verify.js';
export type { VerifyReport } from './verify/report.js';
export { readNpy, encodeNpy, parseNpy } from './io/npy.js';
