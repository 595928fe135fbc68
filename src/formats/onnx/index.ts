export { readOnnxFile, parseOnnx, parseTensorProto } from './reader.js';
export { readModelBytes, MAX_PROTOBUF_BYTES } from '../modelFile.js';
export { serializeOnnx, serializeOnnxChunks } from './writer.js';
