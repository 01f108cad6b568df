import { InvalidArgumentError } from '@omnitok/core';
import { checkEmbeddings, type Embeddings, normalizeRows, scoreBlock } from './embeddings.js';

/** A prompt template: a string with `{}` where the class name goes, or a function of the class name. */
export type PromptTemplate = string | ((className: string) => string);

/**
 * The prompts of every class under every template, class-major (open_clip's order): row c·T + t is
 * template t applied to class c.
 */
export function zeroShotPrompts(classNames: readonly string[], templates: readonly PromptTemplate[]): string[] {
  if (classNames.length === 0) throw new InvalidArgumentError('classNames', classNames, 'at least one class name');
  if (templates.length === 0) throw new InvalidArgumentError('templates', templates, 'at least one template');
  return classNames.flatMap((name) => templates.map((t) => (typeof t === 'string' ? t.replaceAll('{}', name) : t(name))));
}

/**
 * Zero-shot classifier weights from prompt embeddings (open_clip `build_zero_shot_classifier`):
 * `prompts` is [C·T, d] in `zeroShotPrompts` order; each row is L2-normalized (a no-op for tower
 * outputs), the T rows of a class are averaged and the mean re-normalized → [C, d].
 */
export function zeroShotClassifier(prompts: Embeddings, numClasses: number): Embeddings {
  const { n, d } = checkEmbeddings(prompts, 'prompts');
  if (!Number.isInteger(numClasses) || numClasses < 1 || n % numClasses !== 0) {
    throw new InvalidArgumentError('numClasses', numClasses, `a positive divisor of the ${n} prompt rows (classes × templates)`);
  }
  const T = n / numClasses;
  const unit = normalizeRows(prompts).data;
  const mean = new Float32Array(numClasses * d);
  for (let c = 0; c < numClasses; c++) {
    for (let t = 0; t < T; t++) for (let k = 0; k < d; k++) mean[c * d + k]! += unit[(c * T + t) * d + k]! / T;
  }
  return normalizeRows({ data: mean, shape: [numClasses, d] });
}

/**
 * Builds the classifier by encoding prompts in batches of `classesPerBatch` classes (default 10), so a
 * 1000-class × 80-template set never sits in one forward. `encode` returns [texts.length, d].
 */
export async function buildZeroShotClassifier(options: {
  readonly classNames: readonly string[];
  readonly templates: readonly PromptTemplate[];
  readonly encode: (texts: string[]) => Embeddings | Promise<Embeddings>;
  readonly classesPerBatch?: number;
  /** Called after each batch of classes with the prompts encoded so far and in all. */
  readonly onProgress?: (prompts: number, total: number) => void;
}): Promise<Embeddings> {
  const { classNames, templates, encode } = options;
  const per = options.classesPerBatch ?? 10;
  const parts: Embeddings[] = [];
  for (let c0 = 0; c0 < classNames.length; c0 += per) {
    const names = classNames.slice(c0, c0 + per);
    const texts = zeroShotPrompts(names, templates);
    const e = await encode(texts);
    const { n } = checkEmbeddings(e, 'encode(texts)');
    if (n !== texts.length) throw new InvalidArgumentError('encode(texts)', `${n} rows`, `${texts.length} rows, one per prompt`);
    parts.push(zeroShotClassifier(e, names.length));
    options.onProgress?.(Math.min(c0 + per, classNames.length) * templates.length, classNames.length * templates.length);
  }
  const d = parts[0]!.shape[1]!;
  const data = new Float32Array(classNames.length * d);
  let off = 0;
  for (const p of parts) {
    data.set(p.data, off);
    off += p.data.length;
  }
  return { data, shape: [classNames.length, d] };
}

export interface ZeroShotResult {
  /** Fraction of samples whose label is the best-scoring class. */
  readonly top1: number;
  /** Fraction whose label is among the 5 best (all classes count when there are fewer than 5). */
  readonly top5: number;
  /** Predicted class of each sample (arg max; the lowest index wins a tie). */
  readonly predictions: Int32Array;
  readonly n: number;
}

/**
 * Zero-shot accuracy: logits = samples · classifierᵀ; a sample is right at k when fewer than k classes
 * beat its label (a tie counts as beating when the class index is lower, as for retrieval).
 * Computed in blocks of `chunkSize` samples (default 1024).
 */
export function zeroShotAccuracy(samples: Embeddings, classifier: Embeddings, labels: ArrayLike<number>, options: { chunkSize?: number } = {}): ZeroShotResult {
  const { n, d } = checkEmbeddings(samples, 'samples');
  const cls = checkEmbeddings(classifier, 'classifier');
  if (cls.d !== d) throw new InvalidArgumentError('classifier', `width ${cls.d}`, `width ${d}, the samples' width`);
  if (labels.length !== n) throw new InvalidArgumentError('labels', `${labels.length} labels`, `${n}, one per sample`);
  const C = cls.n;
  const chunk = options.chunkSize ?? 1024;
  const block = new Float32Array(Math.min(chunk, n) * C);
  const predictions = new Int32Array(n);
  let top1 = 0;
  let top5 = 0;
  for (let r0 = 0; r0 < n; r0 += chunk) {
    const r1 = Math.min(r0 + chunk, n);
    scoreBlock(samples, r0, r1, classifier, 0, C, block);
    for (let i = r0; i < r1; i++) {
      const y = labels[i]!;
      if (!Number.isInteger(y) || y < 0 || y >= C) throw new InvalidArgumentError(`labels[${i}]`, y, `a class index in [0, ${C})`);
      const row = (i - r0) * C;
      const sy = block[row + y]!;
      let rank = 0;
      let best = 0;
      for (let c = 0; c < C; c++) {
        const s = block[row + c]!;
        if (s > sy || (s === sy && c < y)) rank++;
        if (s > block[row + best]!) best = c;
      }
      predictions[i] = best;
      if (rank < 1) top1++;
      if (rank < 5) top5++;
    }
  }
  return { top1: top1 / n, top5: top5 / n, predictions, n };
}

/**
 * Class probabilities of each sample, as the models were trained to score them (transformers'
 * zero-shot pipelines): `clip` — softmax over classes of exp(logitScale) · cos; `siglip` — an
 * independent sigmoid per class of exp(logitScale) · cos + logitBias. `logitScale` is the log
 * temperature (the model's parameter). Returns [n, C] row-major.
 */
export function zeroShotProbabilities(
  samples: Embeddings,
  classifier: Embeddings,
  options: { readonly objective: 'clip' | 'siglip'; readonly logitScale: number; readonly logitBias?: number },
): Embeddings {
  const { n, d } = checkEmbeddings(samples, 'samples');
  const cls = checkEmbeddings(classifier, 'classifier');
  if (cls.d !== d) throw new InvalidArgumentError('classifier', `width ${cls.d}`, `width ${d}, the samples' width`);
  if (!Number.isFinite(options.logitScale)) throw new InvalidArgumentError('options.logitScale', options.logitScale, 'a finite number');
  const C = cls.n;
  const scores = new Float32Array(n * C);
  scoreBlock(samples, 0, n, classifier, 0, C, scores);
  const t = Math.exp(options.logitScale);
  const bias = options.logitBias ?? 0;
  for (let i = 0; i < n; i++) {
    const row = scores.subarray(i * C, (i + 1) * C);
    if (options.objective === 'siglip') {
      for (let c = 0; c < C; c++) row[c] = 1 / (1 + Math.exp(-(t * row[c]! + bias)));
      continue;
    }
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, t * row[c]!);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += (row[c] = Math.exp(t * row[c]! - max));
    for (let c = 0; c < C; c++) row[c]! /= sum;
  }
  return { data: scores, shape: [n, C] };
}
