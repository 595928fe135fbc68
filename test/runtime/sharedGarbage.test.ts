import { afterAll, describe, expect, it } from 'vitest';
import { DataType, Model, Node, emptyGraph, tensorValueInfo } from '../../src/ir/index.js';
import { runModel } from '../../src/runtime/engine.js';
import { closeThreadPool, threadsAvailable } from '../../src/runtime/parallel.js';

// On worker threads every large kernel output lives in a SharedArrayBuffer, which V8's collection
// heuristics do not count: without help, a run that allocates little on the JS heap keeps the dead
// activations of every finished node until it ends. The runtime collects after each RELEASE_BYTES
// (32 MiB) of shared memory it allocates, so the outputs the engine has let go of are freed during the run.

/** A chain of `length` Relu nodes on a [1, elements] float input. */
function reluChain(length: number, elements: number): Model {
  const graph = emptyGraph('relu_chain');
  graph.inputs.push(tensorValueInfo('x0', DataType.FLOAT, [1, elements]));
  for (let i = 0; i < length; i++) {
    const node: Node = { name: `relu${i}`, opType: 'Relu', domain: '', inputs: [`x${i}`], outputs: [`x${i + 1}`], attributes: [] };
    graph.nodes.push(node);
  }
  graph.outputs.push(tensorValueInfo(`x${length}`, DataType.FLOAT, [1, elements]));
  return { irVersion: 8, opsetImports: [{ domain: '', version: 13 }], metadataProps: [], graph };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('shared activations are freed during a threaded run', () => {
  afterAll(() => closeThreadPool());

  it('most dead shared outputs of a 24-node chain are collected before the run ends', async () => {
    expect(threadsAvailable(2)).toBe(true);
    const elements = 4 * 2 ** 20; // 16 MiB per activation, 384 MiB over the chain
    const model = reluChain(24, elements);
    let finalized = 0;
    const registry = new FinalizationRegistry(() => finalized++);
    let shared = 0;
    const x = new Float32Array(elements).fill(1);
    const result = runModel(model, new Map([['x0', { dtype: DataType.FLOAT, dims: [1, elements], data: x }]]), {
      threads: 2,
      afterNode(_node, outputs) {
        const buffer = (outputs[0]!.data as Float32Array).buffer;
        if (buffer instanceof SharedArrayBuffer) {
          shared++;
          registry.register(buffer, undefined);
        }
      },
    });
    expect(result.outputs.get('x24')!.dims).toEqual([1, elements]);
    // Finalization callbacks run as tasks after the collections that found the buffers dead.
    for (let i = 0; i < 5; i++) await tick();
    expect(shared).toBe(24);
    // 384 MiB allocated: a collection every 2 outputs at most, each freeing every output dead by then
    // (all but the one being read and the one being written), so at least 16 of the 23 dead are gone.
    expect(finalized).toBeGreaterThanOrEqual(16);
  });
});
