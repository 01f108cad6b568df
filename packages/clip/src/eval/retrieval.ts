import { InvalidArgumentError } from '@omnitok/core';
import { checkEmbeddings, type Embeddings, scoreBlock } from './embeddings.js';

/** Rank statistics of one retrieval direction (ranks are 0-based: 0 = the true match came first). */
export interface RankMetrics {
  /** Mean of (rank + 1). */
  readonly meanRank: number;
  /** floor(median(rank)) + 1, as open_clip (NumPy's median: mean of the middle two for even counts). */
  readonly medianRank: number;
  readonly r1: number;
  readonly r5: number;
  readonly r10: number;
  /** The 0-based rank of every query's true match. */
  readonly ranks: Int32Array;
}

export interface RetrievalMetrics {
  /** Queries from `a` retrieving among all of `b` (open_clip's image_to_text). */
  readonly aToB: RankMetrics;
  /** Queries from `b` retrieving among all of `a` (text_to_image). */
  readonly bToA: RankMetrics;
}

export interface RetrievalOptions {
  /** Tile side: scores are computed in chunkSize × chunkSize blocks (default 1024), never n × n. */
  readonly chunkSize?: number;
}

/**
 * Paired retrieval metrics both directions, as open_clip_train/metrics.py `get_clip_metrics`: row i of
 * `a` matches row i of `b`; the rank of query i is the number of candidates scoring higher than its
 * match, a tie counting as higher when the candidate's index is lower. R@k = fraction with rank < k.
 * Scores are dot products (pass unit rows for cosine; a positive logit scale changes no rank).
 * Memory: O(chunkSize²) for the score tile plus O(n) for ranks, so 100k × 100k never materializes.
 */
export function retrievalMetrics(a: Embeddings, b: Embeddings, options: RetrievalOptions = {}): RetrievalMetrics {
  const { n, d } = checkEmbeddings(a, 'a');
  const sb = checkEmbeddings(b, 'b');
  if (sb.n !== n || sb.d !== d) throw new InvalidArgumentError('b', `shape [${b.shape.join(', ')}]`, `[${n}, ${d}], the shape of a (paired rows)`);
  const chunk = options.chunkSize ?? 1024;
  if (!Number.isInteger(chunk) || chunk < 1) throw new InvalidArgumentError('chunkSize', chunk, 'a positive integer');
  const target = new Float32Array(n);
  const one = new Float32Array(1);
  for (let i = 0; i < n; i++) {
    scoreBlock(a, i, i + 1, b, i, i + 1, one);
    target[i] = one[0]!;
  }
  const rankA = new Int32Array(n);
  const rankB = new Int32Array(n);
  const tile = new Float32Array(Math.min(chunk, n) * Math.min(chunk, n));
  for (let r0 = 0; r0 < n; r0 += chunk) {
    const r1 = Math.min(r0 + chunk, n);
    for (let c0 = 0; c0 < n; c0 += chunk) {
      const c1 = Math.min(c0 + chunk, n);
      const w = c1 - c0;
      scoreBlock(a, r0, r1, b, c0, c1, tile);
      for (let i = r0; i < r1; i++) {
        const ti = target[i]!;
        const row = (i - r0) * w;
        let count = 0;
        for (let j = c0; j < c1; j++) {
          const s = tile[row + j - c0]!;
          if (s > ti || (s === ti && j < i)) count++;
          const tj = target[j]!;
          if (s > tj || (s === tj && i < j)) rankB[j]!++;
        }
        rankA[i]! += count;
      }
    }
  }
  return { aToB: rankMetrics(rankA), bToA: rankMetrics(rankB) };
}

/** Mean/median rank and R@1/5/10 from 0-based ranks. */
export function rankMetrics(ranks: Int32Array): RankMetrics {
  const n = ranks.length;
  if (n === 0) throw new InvalidArgumentError('ranks', 'an empty list', 'at least one query');
  const sorted = Int32Array.from(ranks).sort();
  const median = n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  let sum = 0;
  let r1 = 0;
  let r5 = 0;
  let r10 = 0;
  for (const r of ranks) {
    sum += r;
    if (r < 1) r1++;
    if (r < 5) r5++;
    if (r < 10) r10++;
  }
  return { meanRank: sum / n + 1, medianRank: Math.floor(median) + 1, r1: r1 / n, r5: r5 / n, r10: r10 / n, ranks };
}
