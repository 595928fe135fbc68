export { readOnnxFile, parseOnnx, parseTensorProto, readModelBytes, MAX_PROTOBUF_BYTES } from './reader.js';
export { serializeOnnx, serializeOnnxChunks } from './writer.js';
