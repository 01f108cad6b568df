import { createHash } from 'node:crypto';
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
  /** The class embeddings, when built already (`zeroShotClassifierFor`); else built from the prompts. */
  readonly classifier?: Embeddings;
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
/**
 * A set of samples as evaluation needs it, without their tokens: each modality's unit embeddings (row k =
 * sample k), which samples share identical inputs (`groups`: the same image under 5 captions is one
 * candidate), and the labels. Built from prepared samples (`embedPrepared`) or streamed from a data
 * source (`embedRecords`), whose memory then holds one batch of tokens at a time.
 */
export interface EmbeddedSet {
  readonly n: number;
  readonly labels: readonly (string | undefined)[];
  /** Each sample's zero-shot class by index, where the labels are not class names (class folders given names by their order). */
  readonly classIndices?: readonly (number | undefined)[];
  readonly embeddings: ReadonlyMap<string, Embeddings>;
  readonly groups: ReadonlyMap<string, { readonly first: readonly number[]; readonly of: Int32Array }>;
}

/** Embeds the given modalities of prepared samples (all the samples' modalities by default). */
export async function embedPrepared(tf: TF, model: ClipModel, samples: readonly PreparedSample[], modalities = Object.keys(samples[0]?.tokens ?? {})): Promise<EmbeddedSet> {
  const embeddings = new Map<string, Embeddings>();
  const groups = new Map<string, { first: number[]; of: Int32Array }>();
  for (const m of modalities) {
    const rows = samples.map((s) => s.tokens[m]!);
    embeddings.set(m, await embedSamples(tf, model, m, rows));
    groups.set(m, distinctRows(rows));
  }
  return { n: samples.length, labels: samples.map((s) => s.label), embeddings, groups };
}

/** Retrieval over every pair of the model (unless `retrieval: false`) and zero-shot classification. */
export async function evaluate(tf: TF, model: ClipModel, samples: readonly PreparedSample[], zeroShot?: ZeroShotSetup, options: { retrieval?: boolean } = {}): Promise<EvalResult> {
  const modalities = options.retrieval === false ? (zeroShot ? [zeroShot.modality] : []) : [...new Set([...model.pairs.flatMap((p) => [p.a, p.b]), ...(zeroShot ? [zeroShot.modality] : [])])];
  return evaluateEmbedded(tf, model, await embedPrepared(tf, model, samples, modalities), zeroShot, options);
}

/** `evaluate` on an embedded set (which holds the modalities the pairs and zero-shot need). */
export async function evaluateEmbedded(tf: TF, model: ClipModel, set: EmbeddedSet, zeroShot?: ZeroShotSetup, options: { retrieval?: boolean } = {}): Promise<EvalResult> {
  const need = <T>(map: ReadonlyMap<string, T>, m: string): T => {
    const v = map.get(m);
    if (!v) throw new Error(`evaluation set has no ${m} embeddings`);
    return v;
  };
  const retrieval: RetrievalResult[] = [];
  for (const p of options.retrieval === false ? [] : model.pairs) {
    const ua = need(set.groups, p.a);
    const ub = need(set.groups, p.b);
    // unique (a, b) matches: a sample repeated verbatim adds nothing
    const seen = new Set<number>();
    const pa: number[] = [];
    const pb: number[] = [];
    for (let k = 0; k < set.n; k++) {
      const key = ua.of[k]! * ub.first.length + ub.of[k]!;
      if (seen.has(key)) continue;
      seen.add(key);
      pa.push(ua.of[k]!);
      pb.push(ub.of[k]!);
    }
    const [ea, eb] = [selectRows(need(set.embeddings, p.a), ua.first), selectRows(need(set.embeddings, p.b), ub.first)];
    const r = retrievalMetrics(ea, eb, { positives: { a: pa, b: pb } });
    const pick = (x: { r1: number; r5: number; r10: number }) => ({ r1: x.r1, r5: x.r5, r10: x.r10 });
    retrieval.push({
      pair: p.key,
      n: set.n,
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
    const classOf = (label: string | undefined, i: number) => (set.classIndices ? set.classIndices[i] : label === undefined ? undefined : index.get(label));
    const rows = set.labels.map((label, i) => ({ i, y: classOf(label, i) })).filter((r) => r.y !== undefined);
    if (rows.length > 0) {
      const classifier = zeroShot.classifier ?? (await buildZeroShotClassifier({ classNames: zeroShot.classNames, templates: zeroShot.templates, encode: textEncoder(tf, model, zeroShot.text) }));
      const labelled = selectRows(need(set.embeddings, zeroShot.modality), rows.map((r) => r.i));
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
 * item of sample k. Compared on content (`tokenDigest`), not on the source name.
 */
export function distinctRows(rows: readonly TokenSequence[]): { first: number[]; of: Int32Array } {
  return groupDigests(rows.map(tokenDigest));
}

/** `distinctRows` over precomputed digests. */
export function groupDigests(digests: readonly string[]): { first: number[]; of: Int32Array } {
  const index = new Map<string, number>();
  const first: number[] = [];
  const of = new Int32Array(digests.length);
  digests.forEach((d, k) => {
    let u = index.get(d);
    if (u === undefined) {
      u = first.length;
      index.set(d, u);
      first.push(k);
    }
    of[k] = u;
  });
  return { first, of };
}

/** A content digest of a token sequence: kind, shape and the SHA-1 of its values' bytes (the source name left out). */
export function tokenDigest(t: TokenSequence): string {
  const v = t.kind === 'continuous' ? t.data : t.ids;
  const hash = createHash('sha1').update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)).digest('base64');
  return `${t.kind}:${t.shape.join('x')}:${hash}`;
}
