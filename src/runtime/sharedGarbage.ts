import * as v8 from 'node:v8';
import * as vm from 'node:vm';

// SharedArrayBuffers are not counted as external memory by V8's collection heuristics, and the runtime's
// kernels allocate almost nothing on the JS heap: a run on worker threads could finish its whole model
// without a collection, keeping the shared activations of every finished node (and, in each worker, the
// buffers every job message named) in memory. Each isolate therefore runs a collection after every
// RELEASE_BYTES of shared memory it allocated or received. A worker receives its buffers in short-lived
// message objects, which a minor collection (a young-generation scavenge, well under a millisecond)
// frees. The calling thread's outputs outlive a scavenge or are allocated old (V8 pretenures hot
// allocation sites): only a full collection frees them (a few ms on the runtime's small heap, once per
// 32 MiB of activations).

/** Shared bytes allocated or received between two collections. */
export const RELEASE_BYTES = 32 * 2 ** 20;

let collect: ((options?: { type: 'minor' | 'major' }) => void) | undefined;
let pendingBytes = 0;

/** Counts of the collections this isolate ran (tests). */
export const sharedGarbageStats = { collections: 0 };

/**
 * Note `bytes` of shared memory allocated (or received from another thread); past RELEASE_BYTES since the
 * last collection, run a collection of the given kind. `gc` is taken from a fresh context once --expose-gc is set for
 * this process (the flag only affects contexts created afterwards, so nothing else sees a global gc).
 */
export function noteSharedBytes(bytes: number, collection: 'minor' | 'major'): void {
  pendingBytes += bytes;
  if (pendingBytes < RELEASE_BYTES) return;
  collectNow(collection);
}

/**
 * A full collection of this isolate now: for a caller that has just dropped a large shared buffer (a
 * model's weights read into shared memory) and is about to allocate another. The calling thread also
 * has the runtime's workers collect (collectGarbageInWorkers in parallel.ts), as their job messages
 * named views of that buffer.
 */
export function collectSharedGarbage(): void {
  collectNow('major');
}

/** Asks a worker for a full collection; it adds 1 to collect[0] (and notifies) when done. */
export interface CollectMessage {
  collect: Int32Array;
}

function collectNow(collection: 'minor' | 'major'): void {
  pendingBytes = 0;
  if (!collect) {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as typeof collect;
  }
  // gc() with no options is a full, synchronous collection ({type: 'major'} is not the same on Node 20).
  if (collection === 'minor') collect!({ type: 'minor' });
  else collect!();
  sharedGarbageStats.collections++;
}
