import { buildZeroShotClassifier, type ClipModel, type Embeddings, retrievalMetrics, zeroShotAccuracy } from '@omnitok/clip';
import type { TokenSequence } from '@omnitok/core';
import type { TF } from '@omnitok/core/runtime';
import type { PreparedSample } from '../data/loader.js';
import { type ModalitySetup, tokenizeValue } from './prepare.js';
import { disposeBatch, stackTokens } from './tensors.js';

export interface RetrievalResult {
  /** `a__b`: queries from a retrieve among b (aToB) and the other way (bToA). */
  readonly pair: string;
  readonly n: number;
  readonly aToB: { readonly r1: number; readonly r5: number; readonly r10: number };
  readonly bToA: { readonly r1: number; readonly r5: number; readonly r10: number };
  /** R@1 of a random ranking: 1/n. */
  readonly chanceR1: number;
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
    const r = retrievalMetrics(await embOf(p.a), await embOf(p.b));
    const pick = (x: { r1: number; r5: number; r10: number }) => ({ r1: x.r1, r5: x.r5, r10: x.r10 });
    retrieval.push({ pair: p.key, n: samples.length, aToB: pick(r.aToB), bToA: pick(r.bToA), chanceR1: 1 / samples.length });
  }
  let zs: ZeroShotEval | undefined;
  if (zeroShot) {
    const index = new Map(zeroShot.classNames.map((c, i) => [c, i]));
    const rows = samples.map((s, i) => ({ i, y: s.label === undefined ? undefined : index.get(s.label) })).filter((r) => r.y !== undefined);
    if (rows.length > 0) {
      const classifier = await buildZeroShotClassifier({ classNames: zeroShot.classNames, templates: zeroShot.templates, encode: textEncoder(tf, model, zeroShot.text) });
      const all = await embOf(zeroShot.modality);
      const D = all.shape[1]!;
      const data = new Float32Array(rows.length * D);
      rows.forEach((r, k) => data.set(all.data.subarray(r.i * D, (r.i + 1) * D), k * D));
      const labels = rows.map((r) => r.y!);
      const acc = zeroShotAccuracy({ data, shape: [rows.length, D] }, classifier, labels);
      const counts = new Map<number, number>();
      for (const y of labels) counts.set(y, (counts.get(y) ?? 0) + 1);
      const C = zeroShot.classNames.length;
      zs = { modality: zeroShot.modality, classes: C, n: rows.length, top1: acc.top1, top5: acc.top5, chanceTop1: 1 / C, chanceTop5: Math.min(5, C) / C, majority: Math.max(...counts.values()) / rows.length };
    }
  }
  return { retrieval, zeroShot: zs };
}
