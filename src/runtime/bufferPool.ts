// Float32 buffers of released intermediate values, handed out again for new kernel outputs of the same
// length within one runModel. A fresh ArrayBuffer costs a page fault per 4 KiB on first touch (about
// 1 ms per MB on the reference machine, more than a Relu over the same elements); a reused one costs a
// fill(0). CNN graphs make many tensors of few sizes, so most outputs find a released buffer.
// A leaf module: parallel.ts asks it before allocating; engine.ts gives it buffers nothing reads any more.

/** Released buffers by kind and byte length ('s' shared, 'p' plain). */
let free: Map<string, ArrayBufferLike[]> | undefined;
let heldBytes = 0;
/** Released buffers beyond this many bytes are left to the garbage collector. */
const MAX_HELD_BYTES = 512 * 1024 * 1024;

/** Counts since the process started (tests, diagnostics). */
export const bufferPoolStats = { reused: 0, released: 0 };

const keyOf = (shared: boolean, bytes: number) => `${shared ? 's' : 'p'}${bytes}`;

/**
 * Run `body` with a pool of released buffers (runModel does, when no hook or keepAll can still see its
 * intermediates). Released buffers are dropped when `body` returns. Nested calls share the outer pool.
 */
export function withBufferPool<T>(on: boolean, body: () => T): T {
  if (!on || free) return body();
  free = new Map();
  try {
    return body();
  } finally {
    free = undefined;
    heldBytes = 0;
  }
}

/** Whether released buffers are being collected (inside withBufferPool(true, ...)). */
export function poolActive(): boolean {
  return free !== undefined;
}

/**
 * A zero-filled Float32Array of `length` over a released buffer of that size and kind, or undefined when
 * none is free. The view is new: caches keyed by a released array's identity never see it again.
 */
export function takeFloat32(length: number, shared: boolean): Float32Array | undefined {
  if (!free) return undefined;
  const bytes = length * Float32Array.BYTES_PER_ELEMENT;
  const list = free.get(keyOf(shared, bytes));
  const buffer = list?.pop();
  if (!buffer) return undefined;
  heldBytes -= bytes;
  bufferPoolStats.reused++;
  return new Float32Array(buffer, 0, length).fill(0);
}

/**
 * Give back the buffer under `data` for reuse. The caller guarantees that nothing will read or write it
 * again (no live value, view or pending job refers to it). Only whole-buffer Float32Arrays are kept.
 */
export function releaseBuffer(data: ArrayBufferView): void {
  if (!free || !(data instanceof Float32Array) || data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || data.byteLength === 0) return;
  if (heldBytes + data.byteLength > MAX_HELD_BYTES) return;
  const key = keyOf(data.buffer instanceof SharedArrayBuffer, data.byteLength);
  let list = free.get(key);
  if (!list) free.set(key, (list = []));
  list.push(data.buffer);
  heldBytes += data.byteLength;
  bufferPoolStats.released++;
}
