import { buildZeroShotClassifier, type ClipModel, type Embeddings, retrievalMetrics, zeroShotAccuracy } from '@omnitok/clip';
import type { TokenSequence } from '@omnitok/core';
import type { TF } from '@omnitok/core/runtime';
import type { PreparedSample } from '../data/loader.js';
import { type ModalitySetup, tokenizeValue } from './prepare.js';
import { disposeBatch, stackTokens } from './tensors.js';

export interface RetrievalResult {
  /** `a__b`: queries from a retrieve among b (aToB) and the other way (bToA). */
  readonly pair: string;
  /** Pairs (samples) evaluated. */
  readonly n: number;
  /**
   * Distinct items of each side: samples whose tokens are identical (the same image under 5 captions)
   * are one candidate, and a query is a hit when any of its matches ranks within k. n, n when paired.
   */
  readonly unique: { readonly a: number; readonly b: number };
  readonly aToB: { readonly r1: number; readonly r5: number; readonly r10: number };
  readonly bToA: { readonly r1: number; readonly r5: number; readonly r10: number };
  /** R@1 of a random ranking, a → b: the mean over queries of (its matches ÷ candidates); 1/n when paired. */
  readonly chanceR1: number;
  /** The same for b → a. */
  readonly chanceR1BToA: number;
}

export interface ZeroShotEval {
  readonly modality: string;
  readonly classes: number;
  readonly n: number;
  readonly top1: number;
  readonly top5: number;
  /** 1/C and min(5, C)/C. */
  readonly chanceTop1: number;
  readonly chanceTop5: number;
  /** Accuracy of always answering the most frequent class of this set. */
  readonly majority: number;
}

export interface EvalResult {
  readonly retrieval: readonly RetrievalResult[];
  readonly zeroShot?: ZeroShotEval;
}

export interface ZeroShotSetup {
  readonly classNames: readonly string[];
  readonly templates: readonly string[];
  /** The text modality's setup (prompts are tokenized with it). */
  readonly text: ModalitySetup;
  /** The modality classified (the other side of the first pair with text). */
  readonly modality: string;
}

/** Embeddings of every sample of one modality, `chunk` at a time, in eval mode. */
export async function embedSamples(tf: TF, model: ClipModel, modality: string, rows: readonly TokenSequence[], chunk = 128): Promise<Embeddings> {
  const D = model.config.embedDim;
  const out = new Float32Array(rows.length * D);
  for (let s = 0; s < rows.length; s += chunk) {
    const input = stackTokens(tf, rows.slice(s, s + chunk));
    try {
      const e = await model.embed(modality, input, { batchSize: chunk });
      out.set(e.data, s * D);
    } finally {
      disposeBatch(tf, { x: input });
    }
  }
  return { data: out, shape: [rows.length, D] };
}

/** Encodes prompt texts with the text tower (for zero-shot classifiers). */
export function textEncoder(tf: TF, model: ClipModel, text: ModalitySetup) {
  const cache = new Map<string, TokenSequence>();
  return async (texts: string[]): Promise<Embeddings> => {
    const rows: TokenSequence[] = [];
    for (const t of texts) {
      let tok = cache.get(t);
      if (!tok) cache.set(t, (tok = await tokenizeValue(text, { text: t })));
      rows.push(tok);
    }
    return embedSamples(tf, model, text.modality, rows);
  };
}

/** Retrieval for every pair of the model, and zero-shot accuracy when a setup is given. */
export async function evaluate(tf: TF, model: ClipModel, samples: readonly PreparedSample[], zeroShot?: ZeroShotSetup, options: { retrieval?: boolean } = {}): Promise<EvalResult> {
  const embs = new Map<string, Embeddings>();
  const embOf = async (m: string) => {
    let e = embs.get(m);
    if (!e) embs.set(m, (e = await embedSamples(tf, model, m, samples.map((s) => s.tokens[m]!))));
    return e;
  };
  const retrieval: RetrievalResult[] = [];
  for (const p of options.retrieval === false ? [] : model.pairs) {
    const ua = distinctRows(samples.map((s) => s.tokens[p.a]!));
    const ub = distinctRows(samples.map((s) => s.tokens[p.b]!));
    // unique (a, b) matches: a sample repeated verbatim adds nothing
    const seen = new Set<number>();
    const pa: number[] = [];
    const pb: number[] = [];
    samples.forEach((_, k) => {
      const key = ua.of[k]! * ub.first.length + ub.of[k]!;
      if (seen.has(key)) return;
      seen.add(key);
      pa.push(ua.of[k]!);
      pb.push(ub.of[k]!);
    });
    const [ea, eb] = [selectRows(await embOf(p.a), ua.first), selectRows(await embOf(p.b), ub.first)];
    const r = retrievalMetrics(ea, eb, { positives: { a: pa, b: pb } });
    const pick = (x: { r1: number; r5: number; r10: number }) => ({ r1: x.r1, r5: x.r5, r10: x.r10 });
    retrieval.push({
      pair: p.key,
      n: samples.length,
      unique: { a: ua.first.length, b: ub.first.length },
      aToB: pick(r.aToB),
      bToA: pick(r.bToA),
      chanceR1: pa.length / r.queriesA.length / ub.first.length,
      chanceR1BToA: pa.length / r.queriesB.length / ua.first.length,
    });
  }
  let zs: ZeroShotEval | undefined;
  if (zeroShot) {
    const index = new Map(zeroShot.classNames.map((c, i) => [c, i]));
    const rows = samples.map((s, i) => ({ i, y: s.label === undefined ? undefined : index.get(s.label) })).filter((r) => r.y !== undefined);
    if (rows.length > 0) {
      const classifier = await buildZeroShotClassifier({ classNames: zeroShot.classNames, templates: zeroShot.templates, encode: textEncoder(tf, model, zeroShot.text) });
      const labelled = selectRows(await embOf(zeroShot.modality), rows.map((r) => r.i));
      const labels = rows.map((r) => r.y!);
      const acc = zeroShotAccuracy(labelled, classifier, labels);
      const counts = new Map<number, number>();
      for (const y of labels) counts.set(y, (counts.get(y) ?? 0) + 1);
      const C = zeroShot.classNames.length;
      zs = { modality: zeroShot.modality, classes: C, n: rows.length, top1: acc.top1, top5: acc.top5, chanceTop1: 1 / C, chanceTop5: Math.min(5, C) / C, majority: Math.max(...counts.values()) / rows.length };
    }
  }
  return { retrieval, zeroShot: zs };
}

/** Rows of an embedding matrix, in the order given. */
function selectRows(e: Embeddings, rows: readonly number[]): Embeddings {
  const D = e.shape[1]!;
  if (rows.length === e.shape[0] && rows.every((r, i) => r === i)) return e;
  const data = new Float32Array(rows.length * D);
  rows.forEach((r, k) => data.set(e.data.subarray(r * D, (r + 1) * D), k * D));
  return { data, shape: [rows.length, D] };
}

/**
 * Groups identical token sequences: `first[u]` is the first sample of distinct item u, `of[k]` the
 * item of sample k. Compared on content (a hash, then the values), not on the source name.
 */
export function distinctRows(rows: readonly TokenSequence[]): { first: number[]; of: Int32Array } {
  const values = (t: TokenSequence): ArrayLike<number> => (t.kind === 'continuous' ? t.data : t.ids);
  const same = (x: TokenSequence, y: TokenSequence) => {
    if (x.kind !== y.kind || x.shape.join() !== y.shape.join()) return false;
    const [u, v] = [values(x), values(y)];
    if (u.length !== v.length) return false;
    for (let i = 0; i < u.length; i++) if (u[i] !== v[i] && !(Number.isNaN(u[i]) && Number.isNaN(v[i]))) return false;
    return true;
  };
  const buckets = new Map<string, number[]>();
  const first: number[] = [];
  const of = new Int32Array(rows.length);
  rows.forEach((t, k) => {
    const key = `${t.kind}:${t.shape.join('x')}:${hashValues(values(t))}`;
    const bucket = buckets.get(key) ?? [];
    const hit = bucket.find((u) => same(rows[first[u]!]!, t));
    if (hit !== undefined) {
      of[k] = hit;
      return;
    }
    of[k] = first.length;
    bucket.push(first.length);
    buckets.set(key, bucket);
    first.push(k);
  });
  return { first, of };
}

/** FNV-1a over the 32-bit patterns of the values (floats through their bits). */
function hashValues(v: ArrayLike<number>): number {
  const bits = v instanceof Float32Array ? new Uint32Array(v.buffer, v.byteOffset, v.length) : v;
  let h = 0x811c9dc5;
  for (let i = 0; i < bits.length; i++) {
    h ^= bits[i]! >>> 0;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
