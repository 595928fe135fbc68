export { readOnnxFile, parseOnnx, readModelBytes, MAX_PROTOBUF_BYTES } from './reader.js';
export { serializeOnnx } from './writer.js';
