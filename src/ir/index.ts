export * from './dtype.js';
export * from './tensor.js';
export * from './graph.js';
export * from './query.js';
export * from './validate.js';
export * from './errors.js';
export * from './clone.js';
export * from './subgraphs.js';
