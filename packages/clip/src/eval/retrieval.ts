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
  /**
   * Which rows the ranks belong to: `aToB.ranks[q]` is row `queriesA[q]` of `a` (rows of `a` with at
   * least one positive), likewise `queriesB` for `bToA`. Every row when the data is paired.
   */
  readonly queriesA: Int32Array;
  readonly queriesB: Int32Array;
}

/** Matching pairs (row `a[k]` of `a` matches row `b[k]` of `b`), for data that is not one-to-one. */
export interface RetrievalPositives {
  readonly a: ArrayLike<number>;
  readonly b: ArrayLike<number>;
}

export interface RetrievalOptions {
  /** Tile side: scores are computed in chunkSize × chunkSize blocks (default 1024), never n × n. */
  readonly chunkSize?: number;
  /**
   * The matching pairs when `a` and `b` are not paired row by row — e.g. 5 captions per image (COCO,
   * Flickr30k): `a` holds each image once, `b` every caption, positives (image of caption k, k). A query
   * is a hit at k when any of its matches is among the top k (CLIP_benchmark's recall@k): its rank is
   * the number of candidates scoring above its best-scoring match. Default: row i matches row i.
   */
  readonly positives?: RetrievalPositives;
}

/**
 * Retrieval metrics both directions, as open_clip_train/metrics.py `get_clip_metrics` for paired rows
 * (row i of `a` matches row i of `b`): the rank of query i is the number of candidates scoring higher
 * than its match, a tie counting as higher when the candidate's index is lower. R@k = fraction with
 * rank < k. With `positives` (several matches per query), a query's rank is that of its best-scoring
 * match, the same tie rule applied to the match's index; rows with no match are no query.
 * Scores are dot products (pass unit rows for cosine; a positive logit scale changes no rank).
 * Memory: O(chunkSize²) for the score tile plus O(n) for ranks, so 100k × 100k never materializes.
 */
export function retrievalMetrics(a: Embeddings, b: Embeddings, options: RetrievalOptions = {}): RetrievalMetrics {
  const { n: na, d } = checkEmbeddings(a, 'a');
  const sb = checkEmbeddings(b, 'b');
  const nb = sb.n;
  if (sb.d !== d) throw new InvalidArgumentError('b', `shape [${b.shape.join(', ')}]`, `[n, ${d}] (the width of a)`);
  if (!options.positives && nb !== na) throw new InvalidArgumentError('b', `shape [${b.shape.join(', ')}]`, `[${na}, ${d}], the shape of a (paired rows), or options.positives`);
  const chunk = options.chunkSize ?? 1024;
  if (!Number.isInteger(chunk) || chunk < 1) throw new InvalidArgumentError('chunkSize', chunk, 'a positive integer');
  // each query's best-scoring match: its score and index (the lower index among equal scores)
  const bestA = new Float32Array(na).fill(-Infinity);
  const bestAIndex = new Int32Array(na).fill(-1);
  const bestB = new Float32Array(nb).fill(-Infinity);
  const bestBIndex = new Int32Array(nb).fill(-1);
  const one = new Float32Array(1);
  const consider = (i: number, j: number) => {
    scoreBlock(a, i, i + 1, b, j, j + 1, one);
    const s = one[0]!;
    if (bestAIndex[i]! < 0 || s > bestA[i]! || (s === bestA[i]! && j < bestAIndex[i]!)) {
      bestA[i] = s;
      bestAIndex[i] = j;
    }
    if (bestBIndex[j]! < 0 || s > bestB[j]! || (s === bestB[j]! && i < bestBIndex[j]!)) {
      bestB[j] = s;
      bestBIndex[j] = i;
    }
  };
  if (options.positives) {
    const { a: pa, b: pb } = options.positives;
    if (pa.length !== pb.length || pa.length === 0) throw new InvalidArgumentError('options.positives', `${pa.length} a-rows and ${pb.length} b-rows`, 'two equally long, non-empty index lists');
    for (let k = 0; k < pa.length; k++) {
      const i = pa[k]!;
      const j = pb[k]!;
      if (!(Number.isInteger(i) && i >= 0 && i < na)) throw new InvalidArgumentError(`options.positives.a[${k}]`, i, `a row of a (0…${na - 1})`);
      if (!(Number.isInteger(j) && j >= 0 && j < nb)) throw new InvalidArgumentError(`options.positives.b[${k}]`, j, `a row of b (0…${nb - 1})`);
      consider(i, j);
    }
  } else {
    for (let i = 0; i < na; i++) consider(i, i);
  }
  const rankA = new Int32Array(na);
  const rankB = new Int32Array(nb);
  const tile = new Float32Array(Math.min(chunk, na) * Math.min(chunk, nb));
  for (let r0 = 0; r0 < na; r0 += chunk) {
    const r1 = Math.min(r0 + chunk, na);
    for (let c0 = 0; c0 < nb; c0 += chunk) {
      const c1 = Math.min(c0 + chunk, nb);
      const w = c1 - c0;
      scoreBlock(a, r0, r1, b, c0, c1, tile);
      for (let i = r0; i < r1; i++) {
        const ti = bestA[i]!;
        const ki = bestAIndex[i]!;
        const row = (i - r0) * w;
        let count = 0;
        for (let j = c0; j < c1; j++) {
          const s = tile[row + j - c0]!;
          if (s > ti || (s === ti && j < ki)) count++;
          const tj = bestB[j]!;
          if (s > tj || (s === tj && i < bestBIndex[j]!)) rankB[j]!++;
        }
        rankA[i]! += count;
      }
    }
  }
  const queriesA = indicesWhere(bestAIndex);
  const queriesB = indicesWhere(bestBIndex);
  return { aToB: rankMetrics(pick(rankA, queriesA)), bToA: rankMetrics(pick(rankB, queriesB)), queriesA, queriesB };
}

function indicesWhere(best: Int32Array): Int32Array {
  const out: number[] = [];
  best.forEach((k, i) => k >= 0 && out.push(i));
  return Int32Array.from(out);
}

function pick(ranks: Int32Array, rows: Int32Array): Int32Array {
  return rows.length === ranks.length ? ranks : Int32Array.from(rows, (i) => ranks[i]!);
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
