import { decodeNpy, decodeSafetensors } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import { encodeEmbeddings, type Embeddings, normalizeRows } from './embeddings.js';
import { rankMetrics, retrievalMetrics } from './retrieval.js';
import { createHash } from 'node:crypto';
import { CLASS_NAME_SETS, IMAGENET_CLASSNAMES } from './imagenet-classnames.js';
import { OPENAI_IMAGENET_TEMPLATES, PROMPT_TEMPLATE_SETS, SIMPLE_IMAGENET_TEMPLATES } from './templates.js';
import { buildZeroShotClassifier, zeroShotAccuracy, zeroShotClassifier, zeroShotProbabilities, zeroShotPrompts } from './zero-shot.js';

const emb = (rows: number[][]): Embeddings => ({ data: Float32Array.from(rows.flat()), shape: [rows.length, rows[0]!.length] });
const identity = (n: number): Embeddings => emb(Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))));
/** With a = I, score(a_i, b_j) = b_j[i]: b = Sᵀ realises any score matrix S. */
const fromScores = (S: number[][]): Embeddings => emb(S[0]!.map((_, j) => S.map((row) => row[j]!)));

/** Independent reference: full matrix, stable descending sort, position of the match. */
function naiveRanks(a: Embeddings, b: Embeddings): { aToB: number[]; bToA: number[] } {
  const n = a.shape[0]!;
  const d = a.shape[1]!;
  const S = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => {
    let s = 0;
    for (let k = 0; k < d; k++) s += a.data[i * d + k]! * b.data[j * d + k]!;
    return Math.fround(s);
  }));
  const rank = (scores: number[], target: number) => scores.map((s, j) => [s, j] as const).sort((x, y) => y[0] - x[0] || x[1] - y[1]).findIndex(([, j]) => j === target);
  return { aToB: S.map((row, i) => rank(row, i)), bToA: S.map((_, j) => rank(S.map((row) => row[j]!), j)) };
}

describe('retrievalMetrics', () => {
  it('designed scores give the designed ranks, R@k, mean and median rank', () => {
    const n = 12;
    // Query i: its match scores 0.5, exactly i other candidates score 0.9 (the next i, cyclically), the rest 0.1.
    const S = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 0.5 : (j - i + n) % n <= i ? 0.9 : 0.1)));
    const m = retrievalMetrics(identity(n), fromScores(S), { chunkSize: 5 });
    expect(Array.from(m.aToB.ranks)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(m.aToB.r1).toBeCloseTo(1 / 12, 12);
    expect(m.aToB.r5).toBeCloseTo(5 / 12, 12);
    expect(m.aToB.r10).toBeCloseTo(10 / 12, 12);
    expect(m.aToB.meanRank).toBeCloseTo(6.5, 12);
    expect(m.aToB.medianRank).toBe(6); // floor(median(0..11) = 5.5) + 1
    const columnCounts = S.map((_, j) => S.filter((row, i) => i !== j && row[j]! > S[j]![j]!).length);
    expect(Array.from(m.bToA.ranks)).toEqual(columnCounts);
  });
  it('perfect pairs: every rank 0', () => {
    const e = normalizeRows(emb(Array.from({ length: 30 }, (_, i) => [Math.cos(i), Math.sin(i * 1.3), 0.3 * i])));
    const m = retrievalMetrics(e, e, { chunkSize: 7 });
    expect(m.aToB.r1).toBe(1);
    expect(m.bToA.r1).toBe(1);
    expect(m.aToB.medianRank).toBe(1);
  });
  it('chunked ranks equal a full-matrix stable sort, ties included, for every chunk size', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const n = 40;
    // Coarse values so that many scores tie.
    const a = emb(Array.from({ length: n }, () => Array.from({ length: 3 }, () => Math.round(rnd() * 2))));
    const b = emb(Array.from({ length: n }, () => Array.from({ length: 3 }, () => Math.round(rnd() * 2))));
    const ref = naiveRanks(a, b);
    for (const chunkSize of [1, 3, 16, 40, 1000]) {
      const m = retrievalMetrics(a, b, { chunkSize });
      expect(Array.from(m.aToB.ranks)).toEqual(ref.aToB);
      expect(Array.from(m.bToA.ranks)).toEqual(ref.bToA);
    }
  });
  it('several matches per query (5 captions per image): ranks of the best match equal a brute-force recall@k, ties included', () => {
    let seed = 11;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const images = 9;
    const captions = 5 * images - 3; // the last image has 2 captions
    const a = emb(Array.from({ length: images }, () => Array.from({ length: 3 }, () => Math.round(rnd() * 2))));
    const b = emb(Array.from({ length: captions }, () => Array.from({ length: 3 }, () => Math.round(rnd() * 2))));
    const imageOf = Array.from({ length: captions }, (_, j) => Math.min(Math.floor(j / 5), images - 1));
    const dot = (i: number, j: number) => [0, 1, 2].reduce((acc, k) => acc + a.data[i * 3 + k]! * b.data[j * 3 + k]!, 0);
    // brute force: sort every candidate (score desc, index asc); rank = position of the first match
    const firstMatch = (scores: number[], isMatch: (j: number) => boolean) =>
      scores.map((sc, j) => [sc, j] as const).sort((x, y) => y[0] - x[0] || x[1] - y[1]).findIndex(([, j]) => isMatch(j));
    const refA = Array.from({ length: images }, (_, i) => firstMatch(Array.from({ length: captions }, (_, j) => dot(i, j)), (j) => imageOf[j] === i));
    const refB = Array.from({ length: captions }, (_, j) => firstMatch(Array.from({ length: images }, (_, i) => dot(i, j)), (i) => imageOf[j] === i));
    for (const chunkSize of [1, 4, 1000]) {
      const m = retrievalMetrics(a, b, { chunkSize, positives: { a: imageOf, b: imageOf.map((_, j) => j) } });
      expect(Array.from(m.aToB.ranks)).toEqual(refA);
      expect(Array.from(m.bToA.ranks)).toEqual(refB);
      expect(m.queriesA).toHaveLength(images);
      expect(m.queriesB).toHaveLength(captions);
    }
    // a row with no match is no query
    const m = retrievalMetrics(a, b, { positives: { a: [0, 2], b: [1, 7] } });
    expect(Array.from(m.queriesA)).toEqual([0, 2]);
    expect(Array.from(m.queriesB)).toEqual([1, 7]);
    expect(() => retrievalMetrics(a, b, { positives: { a: [0], b: [captions] } })).toThrow(/positives\.b\[0\]/);
  });
  it('rankMetrics: median of an even count averages the middle two before flooring', () => {
    expect(rankMetrics(Int32Array.from([0, 3, 4, 100])).medianRank).toBe(4); // floor(3.5) + 1
    expect(rankMetrics(Int32Array.from([2])).r1).toBe(0);
  });
  it('rejects unpaired shapes', () => {
    expect(() => retrievalMetrics(identity(3), identity(4))).toThrow(/b/);
  });
});

describe('zero-shot classification', () => {
  it("ships CLIP's ImageNet prompt sets: 80 templates (the notebook's order) and the 7 of its subset, each with one {}", () => {
    expect(OPENAI_IMAGENET_TEMPLATES).toHaveLength(80);
    expect(SIMPLE_IMAGENET_TEMPLATES).toEqual(['itap of a {}.', 'a bad photo of the {}.', 'a origami {}.', 'a photo of the large {}.', 'a {} in a video game.', 'art of the {}.', 'a photo of the small {}.']);
    expect([OPENAI_IMAGENET_TEMPLATES[0], OPENAI_IMAGENET_TEMPLATES[39], OPENAI_IMAGENET_TEMPLATES[79]]).toEqual(['a bad photo of a {}.', 'a photo of a {}.', 'a tattoo of the {}.']);
    for (const t of [...OPENAI_IMAGENET_TEMPLATES, ...SIMPLE_IMAGENET_TEMPLATES]) expect(t.split('{}')).toHaveLength(2);
    expect(new Set(OPENAI_IMAGENET_TEMPLATES).size).toBe(80);
    for (const t of SIMPLE_IMAGENET_TEMPLATES) expect(OPENAI_IMAGENET_TEMPLATES).toContain(t);
    expect(PROMPT_TEMPLATE_SETS.openai).toBe(OPENAI_IMAGENET_TEMPLATES);
  });

  it("ships open_clip's 1 000 ImageNet class names in class-index order (SHA-256 of the list equals open_clip's)", () => {
    expect(IMAGENET_CLASSNAMES).toHaveLength(1000);
    // sha256('\n'.join(open_clip.zero_shot_metadata.IMAGENET_CLASSNAMES)), open_clip 89fb801
    expect(createHash('sha256').update(IMAGENET_CLASSNAMES.join('\n')).digest('hex')).toBe('571ae1c583b4be7da87519494c52bf405a46af05d5815627c7a0dee997068b60');
    expect([IMAGENET_CLASSNAMES[0], IMAGENET_CLASSNAMES[999]]).toEqual(['tench', 'toilet paper']);
    expect(CLASS_NAME_SETS.imagenet).toBe(IMAGENET_CLASSNAMES);
  });

  it('zeroShotProbabilities: a softmax of exp(scale)·cos over classes (CLIP), an independent sigmoid of exp(scale)·cos + bias (SigLIP)', () => {
    const samples = emb([[1, 0], [0.6, 0.8]]);
    const classes = emb([[1, 0], [0, 1], [-1, 0]]);
    const p = zeroShotProbabilities(samples, classes, { objective: 'clip', logitScale: Math.log(10) });
    expect(p.shape).toEqual([2, 3]);
    const soft = (z: number[]) => z.map((x) => Math.exp(x) / z.reduce((s, y) => s + Math.exp(y), 0));
    const want = [...soft([10, 0, -10]), ...soft([6, 8, -6])];
    want.forEach((w, i) => expect(p.data[i]).toBeCloseTo(w, 6));
    const s = zeroShotProbabilities(samples, classes, { objective: 'siglip', logitScale: Math.log(10), logitBias: -5 });
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    [sig(5), sig(-5), sig(-15), sig(1), sig(3), sig(-11)].forEach((w, i) => expect(s.data[i]).toBeCloseTo(w, 6));
    expect(() => zeroShotProbabilities(samples, emb([[1, 0, 0]]), { objective: 'clip', logitScale: 0 })).toThrow(/classifier/);
  });

  it('prompts are class-major, with {} or a function', () => {
    expect(zeroShotPrompts(['cat', 'dog'], ['a photo of a {}.', (c) => `art of ${c}`])).toEqual(['a photo of a cat.', 'art of cat', 'a photo of a dog.', 'art of dog']);
  });
  it('averages the templates of a class and re-normalizes', () => {
    // class c, template t: e_c ± 0.5·e_3 → normalized, mean ∝ e_c → e_c after re-normalization.
    const rows = [0, 1, 2].flatMap((c) => [1, -1].map((sign) => [0, 1, 2, 3].map((k) => (k === c ? 2 : k === 3 ? sign : 0))));
    const w = zeroShotClassifier(emb(rows), 3);
    expect(w.shape).toEqual([3, 4]);
    const expected = identity(4).data.slice(0, 12);
    for (let i = 0; i < 12; i++) expect(w.data[i]).toBeCloseTo(expected[i]!, 6);
  });
  it('averages unit rows (a long prompt embedding does not dominate)', () => {
    const w = zeroShotClassifier(emb([[100, 0], [0, 1]]), 1);
    expect(w.data[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(w.data[1]).toBeCloseTo(Math.SQRT1_2, 6);
  });
  it('top-1 / top-5 from designed scores', () => {
    const C = 8;
    // Sample i has label 0; its label is beaten by exactly i classes.
    const S = Array.from({ length: 8 }, (_, i) => Array.from({ length: C }, (_, c) => (c === 0 ? 0.5 : c <= i ? 0.8 : 0.2)));
    const r = zeroShotAccuracy(emb(S), identity(C), new Array(8).fill(0), { chunkSize: 3 });
    expect(r.top1).toBe(1 / 8);
    expect(r.top5).toBe(5 / 8);
    expect(Array.from(r.predictions)).toEqual([0, 1, 1, 1, 1, 1, 1, 1]);
  });
  it('buildZeroShotClassifier batches classes and equals the one-shot classifier', async () => {
    const table = new Map<string, number[]>();
    const vec = (text: string) => {
      if (!table.has(text)) table.set(text, Array.from({ length: 5 }, (_, k) => Math.sin(text.length * (k + 1) + text.charCodeAt(text.length - 2))));
      return table.get(text)!;
    };
    const encode = (texts: string[]) => emb(texts.map(vec));
    const classNames = ['red circle', 'blue square', 'green triangle'];
    const templates = ['a {}', 'a drawing of a {}'];
    const batched = await buildZeroShotClassifier({ classNames, templates, encode, classesPerBatch: 2 });
    const whole = zeroShotClassifier(encode(zeroShotPrompts(classNames, templates)), 3);
    expect(Array.from(batched.data)).toEqual(Array.from(whole.data));
    // Samples equal to their class weights classify perfectly.
    expect(zeroShotAccuracy(whole, whole, [0, 1, 2]).top1).toBe(1);
  });
  it('rejects bad labels', () => {
    expect(() => zeroShotAccuracy(identity(3), identity(3), [0, 1, 3])).toThrow(/labels\[2\]/);
  });
});

describe('embedding export', () => {
  const e = emb([[1, 2, 3], [4, 5, 6]]);
  it('npy round-trips through @omnitok/core', () => {
    const back = decodeNpy(encodeEmbeddings('npy', { image: e }));
    expect(back.shape).toEqual([2, 3]);
    expect(Array.from(back.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });
  it('safetensors holds several named matrices and metadata', () => {
    const file = decodeSafetensors(encodeEmbeddings('safetensors', { image: e, text: normalizeRows(e) }, { model: 'tiny' }));
    expect(Object.keys(file.tensors).sort()).toEqual(['image', 'text']);
    expect(file.metadata?.model).toBe('tiny');
    expect(Array.from(file.tensors.image!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });
  it('npy refuses several arrays', () => {
    expect(() => encodeEmbeddings('npy', { a: e, b: e })).toThrow(/exactly one/);
  });
});
