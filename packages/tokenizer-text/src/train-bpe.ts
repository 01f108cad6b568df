import { readFile } from 'node:fs/promises';
import { DecodeError, InvalidArgumentError } from '@omnitok/core';
import type { BpeVocabulary, Merge } from './bpe-model.js';
import { BpeTokenizer, type BpeTokenizerOptions } from './bpe-tokenizer.js';
import { toByteLevel } from './byte-unicode.js';
import { CLIP_PRETOKENIZE, clipNormalize } from './clean-text.js';
import { clipVocabulary, END_OF_TEXT, END_OF_WORD, START_OF_TEXT } from './vocab-files.js';
import { BinaryHeap } from './binary-heap.js';

export interface TrainBpeOptions {
  /**
   * Total ids of the trained tokenizer: 512 byte tokens (alone and with `</w>`) + merges + 2
   * specials, so `vocabSize - 514` merges are learned (fewer if the corpus runs out of pairs).
   */
  readonly vocabSize: number;
  /** Pairs seen fewer times than this are never merged. Default 2. */
  readonly minFrequency?: number;
}

export interface TrainedBpe {
  /** The learned merges, rank order; save them with `saveMerges`. */
  readonly merges: Merge[];
  /** The CLIP-layout vocabulary of those merges (`514 + merges.length` ids). */
  readonly vocabulary: BpeVocabulary;
  /** A tokenizer over the trained vocabulary (CLIP text pipeline, SOT/EOT at the end). */
  tokenizer(options?: BpeTokenizerOptions): BpeTokenizer;
}

const PAIR_BASE = 0x100000;

/**
 * Learns a byte-level BPE from texts (captions, lines, documents), with CLIP's pipeline so the
 * result plugs into {@link BpeTokenizer}: each text is normalized like CLIP (ftfy-style fixes, HTML
 * unescape, whitespace, lowercase), cut by CLIP's pre-tokenizer, and every pre-token becomes its
 * UTF-8 byte characters with `</w>` on the last one. Special tokens typed in the corpus are skipped.
 *
 * Each step merges the most frequent adjacent pair (counted over every occurrence in every word,
 * weighted by word frequency). Ties are broken deterministically and independently of corpus order:
 * the pair whose first symbol is smaller wins, then the one whose second symbol is smaller, comparing
 * the symbols' byte-level strings by UTF-16 code units (JavaScript `<`). Merging replaces
 * occurrences left to right without overlap, exactly as encoding applies merges.
 */
export function trainBpe(corpus: Iterable<string>, options: TrainBpeOptions): TrainedBpe {
  const { vocabSize } = options;
  const minFrequency = options.minFrequency ?? 2;
  if (!Number.isInteger(vocabSize) || vocabSize < 514 || vocabSize >= PAIR_BASE) {
    throw new InvalidArgumentError('options.vocabSize', vocabSize, `an integer in [514, ${PAIR_BASE - 1}] (512 byte tokens + 2 specials + merges)`);
  }
  if (!Number.isInteger(minFrequency) || minFrequency < 1) throw new InvalidArgumentError('options.minFrequency', minFrequency, 'a positive integer');
  if (corpus === null || typeof corpus !== 'object' || typeof (corpus as Iterable<string>)[Symbol.iterator] !== 'function') {
    throw new InvalidArgumentError('corpus', corpus, 'an iterable of strings');
  }

  const wordCounts = new Map<string, number>();
  let index = 0;
  for (const text of corpus) {
    if (typeof text !== 'string') throw new InvalidArgumentError(`corpus[${index}]`, text, 'a string');
    index++;
    for (const word of clipNormalize(text).match(CLIP_PRETOKENIZE) ?? []) {
      if (word === START_OF_TEXT || word === END_OF_TEXT) continue;
      const bytes = toByteLevel(word);
      wordCounts.set(bytes, (wordCounts.get(bytes) ?? 0) + 1);
    }
  }

  // Symbols are ids into `symbols`; a string made twice (by different pairs) keeps one id.
  const base = clipVocabulary([], 'base').tokens.slice(0, 512);
  const symbols: string[] = [...base];
  const symbolId = new Map<string, number>(symbols.map((s, i) => [s, i]));
  const words: Int32Array[] = [];
  const counts: number[] = [];
  for (const [bytes, count] of wordCounts) {
    const syms = new Int32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) syms[i] = symbolId.get(i === bytes.length - 1 ? bytes[i] + END_OF_WORD : bytes[i]!)!;
    words.push(syms);
    counts.push(count);
  }

  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (w: number, sign: 1 | -1, touched: Set<number>) => {
    const syms = words[w]!;
    for (let i = 0; i + 1 < syms.length; i++) {
      const key = syms[i]! * PAIR_BASE + syms[i + 1]!;
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + sign * counts[w]!);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(w);
      }
      touched.add(key);
    }
  };
  const initial = new Set<number>();
  for (let w = 0; w < words.length; w++) addPairs(w, 1, initial);

  const heap = new BinaryHeap<Entry>((a, b) => a.count > b.count || (a.count === b.count && pairLess(symbols, a.key, b.key)));
  for (const key of initial) heap.push({ key, count: pairCounts.get(key)! });

  const merges: Merge[] = [];
  const target = vocabSize - 514;
  while (merges.length < target) {
    const top = heap.pop();
    if (!top) break;
    if (pairCounts.get(top.key) !== top.count) continue; // stale
    if (top.count < minFrequency) break;
    const a = Math.floor(top.key / PAIR_BASE);
    const b = top.key % PAIR_BASE;
    const merged = symbols[a]! + symbols[b]!;
    let m = symbolId.get(merged);
    if (m === undefined) {
      m = symbols.length;
      symbols.push(merged);
      symbolId.set(merged, m);
    }
    merges.push([symbols[a]!, symbols[b]!]);
    const touched = new Set<number>();
    for (const w of pairWords.get(top.key) ?? []) {
      const syms = words[w]!;
      let has = false;
      for (let i = 0; i + 1 < syms.length; i++) if (syms[i] === a && syms[i + 1] === b) has = true;
      if (!has) continue;
      addPairs(w, -1, touched);
      const out: number[] = [];
      for (let i = 0; i < syms.length; ) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          out.push(m);
          i += 2;
        } else out.push(syms[i++]!);
      }
      words[w] = Int32Array.from(out);
      addPairs(w, 1, touched);
    }
    pairWords.delete(top.key);
    for (const key of touched) {
      const count = pairCounts.get(key)!;
      if (count > 0) heap.push({ key, count });
      else pairCounts.delete(key);
    }
  }

  const vocabulary = clipVocabulary(merges, 'trained BPE');
  return {
    merges,
    vocabulary,
    tokenizer: (tokenizerOptions = {}) => new BpeTokenizer(vocabulary, { ...tokenizerOptions, kind: 'bpe' }),
  };
}

/**
 * {@link trainBpe} over text files: every line of every file (UTF-8) is one text. A missing file
 * throws `DecodeError` naming it.
 */
export async function trainBpeFromFiles(paths: readonly string[], options: TrainBpeOptions): Promise<TrainedBpe> {
  if (!Array.isArray(paths)) throw new InvalidArgumentError('paths', paths, 'an array of file paths');
  const lines: string[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new DecodeError(path, 'text', code === 'ENOENT' ? 'no such file' : (error as Error).message, { cause: error });
    }
    for (const line of text.split('\n')) lines.push(line);
  }
  return trainBpe(lines, options);
}

function pairLess(symbols: readonly string[], x: number, y: number): boolean {
  const xa = symbols[Math.floor(x / PAIR_BASE)]!;
  const ya = symbols[Math.floor(y / PAIR_BASE)]!;
  if (xa !== ya) return xa < ya;
  return symbols[x % PAIR_BASE]! < symbols[y % PAIR_BASE]!;
}

interface Entry {
  key: number;
  count: number;
}

