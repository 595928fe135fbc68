import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, kernelError, requireInput } from './kernel.js';

// TfIdfVectorizer (opset 9) on integer token ids: counts of the pool's n-grams in each row.

/**
 * TfIdfVectorizer-9: for each row of X ([C] or [N, C], int32/int64), count every n-gram of the pool with
 * min_gram_length ≤ n ≤ max_gram_length, whose tokens are `skip + 1` apart for skip in 0..max_skip_count
 * (a unigram once). Pool: pool_int64s, n-grams of length n starting at ngram_counts[n - 1]; the j-th pool
 * n-gram counts into column ngram_indexes[j]. mode TF gives counts, IDF weights[j] where the count is
 * non-zero, TFIDF count·weight (weights default to 1). String pools are not supported.
 */
const tfIdfVectorizer: KernelConfig = {
  opType: 'TfIdfVectorizer',
  run(ctx) {
    const x = requireInput(ctx, 0, 'X');
    if (x.dtype !== DataType.INT32 && x.dtype !== DataType.INT64) throw kernelError(ctx.node, `X has type ${dtypeName(x.dtype)}; bnc runs TfIdfVectorizer on int32/int64 tokens`);
    if (x.dims.length !== 1 && x.dims.length !== 2) throw kernelError(ctx.node, 'X must be [C] or [N, C]');
    const a = ctx.attrs;
    const minN = a.int('min_gram_length', 1);
    const maxN = a.int('max_gram_length', 1);
    const maxSkip = a.int('max_skip_count', 0);
    const mode = a.string('mode', 'TF');
    if (!['TF', 'IDF', 'TFIDF'].includes(mode)) throw kernelError(ctx.node, `mode '${mode}' is not TF, IDF or TFIDF`);
    const counts = a.ints('ngram_counts', []);
    const indexes = a.ints('ngram_indexes', []);
    const pool = a.ints('pool_int64s');
    if (!pool) throw kernelError(ctx.node, 'needs pool_int64s (string pools are not supported)');
    const weights = a.floats('weights');
    // Pool n-gram (as "n:t1,t2,...") → column.
    const columns = new Map<string, number>();
    let j = 0;
    counts.forEach((start, k) => {
      const n = k + 1;
      const end = k + 1 < counts.length ? counts[k + 1]! : pool.length;
      for (let p = start; p + n <= end; p += n, j++) {
        if (j >= indexes.length) throw kernelError(ctx.node, 'ngram_indexes has fewer entries than the pool has n-grams');
        columns.set(`${n}:${pool.slice(p, p + n).join(',')}`, indexes[j]!);
      }
    });
    const width = indexes.length ? Math.max(...indexes) + 1 : 0;
    const rows = x.dims.length === 2 ? x.dims[0]! : 1;
    const c = x.dims[x.dims.length - 1]!;
    const tokens = Array.from(x.data, Number);
    const out = new Float32Array(rows * width);
    for (let r = 0; r < rows; r++) {
      const row = tokens.slice(r * c, (r + 1) * c);
      for (let n = Math.max(minN, 1); n <= maxN; n++) {
        for (let skip = 0; skip <= (n === 1 ? 0 : maxSkip); skip++) {
          const step = skip + 1;
          for (let s = 0; s + (n - 1) * step < c; s++) {
            const gram: number[] = [];
            for (let t = 0; t < n; t++) gram.push(row[s + t * step]!);
            const col = columns.get(`${n}:${gram.join(',')}`);
            if (col !== undefined) out[r * width + col]!++;
          }
        }
      }
      for (let k = 0; k < width; k++) {
        const count = out[r * width + k]!;
        const weight = weights ? weights[k]! : 1;
        if (mode === 'IDF') out[r * width + k] = count > 0 ? weight : 0;
        else if (mode === 'TFIDF') out[r * width + k] = count * weight;
      }
    }
    return [{ dtype: DataType.FLOAT, dims: x.dims.length === 2 ? [rows, width] : [width], data: out }];
  },
};

export const NGRAM_KERNELS: KernelConfig[] = [tfIdfVectorizer];
