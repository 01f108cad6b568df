import { type DenseArray, encodeNpy, encodeSafetensors, InvalidArgumentError } from '@omnitok/core';

/** n embeddings of width d, row-major: `{ data: Float32Array(n·d), shape: [n, d] }`. */
export type Embeddings = DenseArray<Float32Array>;

/** Checks an [n, d] float32 embedding matrix and returns n and d. */
export function checkEmbeddings(e: Embeddings, argument: string): { n: number; d: number } {
  if (!e || !(e.data instanceof Float32Array) || e.shape.length !== 2 || e.shape[0]! * e.shape[1]! !== e.data.length) {
    throw new InvalidArgumentError(argument, e && e.shape ? `shape [${e.shape.join(', ')}] with ${e.data?.length} values` : e, 'an [n, d] Float32Array embedding matrix');
  }
  return { n: e.shape[0]!, d: e.shape[1]! };
}

/** A copy with every row scaled to unit L2 norm (all-zero rows stay zero). */
export function normalizeRows(e: Embeddings): Embeddings {
  const { n, d } = checkEmbeddings(e, 'embeddings');
  const out = new Float32Array(e.data.length);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += e.data[i * d + k]! ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let k = 0; k < d; k++) out[i * d + k] = e.data[i * d + k]! * inv;
  }
  return { data: out, shape: [n, d] };
}

/**
 * Scores of rows [r0, r1) of `a` against rows [c0, c1) of `b` (dot products, float64 accumulation),
 * written row-major into `out` ((r1 − r0) × (c1 − c0)). Every score in this package is computed here,
 * so a pair's score is bit-identical wherever it is needed (ties are then decided by index).
 */
export function scoreBlock(a: Embeddings, r0: number, r1: number, b: Embeddings, c0: number, c1: number, out: Float32Array): void {
  const d = a.shape[1]!;
  const A = a.data;
  const B = b.data;
  const w = c1 - c0;
  for (let i = r0; i < r1; i++) {
    const ai = i * d;
    for (let j = c0; j < c1; j++) {
      const bj = j * d;
      let s = 0;
      for (let k = 0; k < d; k++) s += A[ai + k]! * B[bj + k]!;
      out[(i - r0) * w + (j - c0)] = s;
    }
  }
}

export type EmbeddingFormat = 'npy' | 'safetensors';

/**
 * Serializes embeddings: `npy` takes exactly one matrix (NumPy `.npy`, as `numpy.save`); `safetensors`
 * any number by name (e.g. `{ image: …, text: … }`) plus string metadata (model, checkpoint step…).
 * Both via @omnitok/core's writers; returns the file's bytes.
 */
export function encodeEmbeddings(format: EmbeddingFormat, embeddings: Record<string, Embeddings>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(embeddings);
  for (const name of names) checkEmbeddings(embeddings[name]!, `embeddings.${name}`);
  if (format === 'npy') {
    if (names.length !== 1) throw new InvalidArgumentError('embeddings', `${names.length} arrays (${names.join(', ')})`, 'exactly one array for .npy (use safetensors for several)');
    return encodeNpy(embeddings[names[0]!]!);
  }
  if (format === 'safetensors') return encodeSafetensors(embeddings, metadata);
  throw new InvalidArgumentError('format', format, '"npy" or "safetensors"');
}
