import { InvalidArgumentError } from '@omnitok/core';
import { BYTE_TO_UNICODE, UNICODE_TO_BYTE } from './byte-unicode.js';
import { BinaryHeap } from './binary-heap.js';

/** A merge: two symbols (byte-level strings) that become one. Its rank is its index in a list. */
export type Merge = readonly [first: string, second: string];

/**
 * A BPE vocabulary: the token strings by id and the ranked merges. Symbols are byte-level strings
 * (see `BYTE_TO_UNICODE`); the last symbol of a word carries `endOfWord` (`</w>` for CLIP).
 */
export interface BpeVocabulary {
  /** Token string of each id; ids are the indices. */
  readonly tokens: readonly string[];
  /** Merges in rank order (rank 0 first). */
  readonly merges: readonly Merge[];
  /** Suffix of the last symbol of every word: `</w>` for CLIP, `` for GPT-2-style vocabularies. */
  readonly endOfWord: string;
  /** Special token strings that the pre-tokenizer emits whole and that map straight to an id. */
  readonly specials: readonly string[];
  /** Where the vocabulary came from, for messages. */
  readonly source: string;
}

const PAIR_BASE = 0x100000;

/**
 * The BPE merge engine over ids: ranks keyed by pair of ids, a bounded cache of word → ids.
 *
 * Merging follows CLIP's `bpe()` exactly: repeatedly take the lowest-ranked adjacent pair and merge
 * every occurrence of it left to right, until no ranked pair is left. Short words use that loop
 * directly; long words (above `heapThreshold` symbols) use an equivalent heap over positions that
 * finishes one rank before it looks at pairs created by it, so 1 MB "words" stay O(n log n).
 */
export class BpeModel {
  readonly vocabulary: BpeVocabulary;
  readonly encoder: ReadonlyMap<string, number>;
  /** Pair key (`a * 2^20 + b`) → rank. */
  private readonly ranks = new Map<number, number>();
  /** Rank → id of the merged symbol. */
  private readonly mergedId: Int32Array;
  /** Id of each byte character alone (`[0..255]`) and with `endOfWord` (`[256..511]`). */
  private readonly byteIds: Int32Array;
  private readonly cache = new Map<string, Int32Array>();
  readonly cacheSize: number;
  heapThreshold = 128;

  constructor(vocabulary: BpeVocabulary, options: { cacheSize?: number } = {}) {
    this.vocabulary = vocabulary;
    this.cacheSize = options.cacheSize ?? 65_536;
    if (vocabulary.tokens.length >= PAIR_BASE) {
      throw new InvalidArgumentError('vocabulary.tokens.length', vocabulary.tokens.length, `fewer than ${PAIR_BASE} tokens`);
    }
    const encoder = new Map<string, number>();
    // Later duplicates win, as in CLIP's `dict(zip(vocab, range(len(vocab))))`.
    vocabulary.tokens.forEach((t, id) => encoder.set(t, id));
    this.encoder = encoder;
    this.byteIds = new Int32Array(512).fill(-1);
    BYTE_TO_UNICODE.forEach((ch, b) => {
      this.byteIds[b] = encoder.get(ch) ?? -1;
      this.byteIds[256 + b] = encoder.get(ch + vocabulary.endOfWord) ?? -1;
    });
    this.mergedId = new Int32Array(vocabulary.merges.length).fill(-1);
    vocabulary.merges.forEach(([a, b], rank) => {
      const ia = encoder.get(a);
      const ib = encoder.get(b);
      const merged = encoder.get(a + b);
      // A merge whose parts are not tokens can never apply (CLIP's own list has none).
      if (ia === undefined || ib === undefined || merged === undefined) return;
      // A repeated pair keeps its last rank, as in CLIP's `dict(zip(merges, range(len(merges))))`.
      this.ranks.set(ia * PAIR_BASE + ib, rank);
      this.mergedId[rank] = merged;
    });
    for (const s of vocabulary.specials) {
      const id = encoder.get(s);
      if (id !== undefined) this.cache.set(s, Int32Array.of(id));
    }
  }

  /** How many words the cache holds now (at most `cacheSize`, plus the specials). */
  get cachedWords(): number {
    return this.cache.size;
  }

  /** Drops cached words (special tokens stay). */
  clearCache(): void {
    for (const key of [...this.cache.keys()]) if (!this.vocabulary.specials.includes(key)) this.cache.delete(key);
  }

  /**
   * The ids of one pre-token. `word` is the raw pre-token (cache key), `byteLevel` its byte-level
   * string when the caller already has it.
   */
  wordIds(word: string, toByteLevel: (w: string) => string): Int32Array {
    const hit = this.cache.get(word);
    if (hit) return hit;
    const ids = this.bpe(toByteLevel(word));
    if (word.length <= 256) {
      if (this.cache.size >= this.cacheSize) {
        // FIFO eviction: cheap and bounded; frequent words come straight back.
        for (const key of this.cache.keys()) {
          if (this.vocabulary.specials.includes(key)) continue;
          this.cache.delete(key);
          break;
        }
      }
      this.cache.set(word, ids);
    }
    return ids;
  }

  /** BPE of a byte-level word (one character per byte). */
  bpe(byteLevel: string): Int32Array {
    const n = byteLevel.length;
    if (n === 0) return new Int32Array(0);
    const symbols = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const code = byteLevel.charCodeAt(i);
      const b = code < 512 ? UNICODE_TO_BYTE[code]! : -1;
      const id = b < 0 ? -1 : this.byteIds[(i === n - 1 ? 256 : 0) + b]!;
      if (id < 0) throw new InvalidArgumentError('byteLevel', byteLevel, `byte-level characters that are tokens of ${this.vocabulary.source}`);
      symbols[i] = id;
    }
    if (n === 1) return symbols;
    return n > this.heapThreshold ? this.mergeHeap(symbols) : this.mergeLoop(symbols);
  }

  private mergeLoop(word: Int32Array): Int32Array {
    let n = word.length;
    const ranks = this.ranks;
    while (n > 1) {
      let best = -1;
      let first = -1;
      let second = -1;
      for (let i = 0; i < n - 1; i++) {
        const r = ranks.get(word[i]! * PAIR_BASE + word[i + 1]!);
        if (r !== undefined && (best < 0 || r < best)) {
          best = r;
          first = word[i]!;
          second = word[i + 1]!;
        }
      }
      if (best < 0) break;
      const merged = this.mergedId[best]!;
      let w = 0;
      for (let i = 0; i < n; ) {
        if (i < n - 1 && word[i] === first && word[i + 1] === second) {
          word[w++] = merged;
          i += 2;
        } else word[w++] = word[i++]!;
      }
      n = w;
    }
    return word.slice(0, n);
  }

  /** Same result as {@link mergeLoop}, O(n log n): a heap of (rank, position) over a linked list. */
  private mergeHeap(word: Int32Array): Int32Array {
    const n = word.length;
    const sym = Int32Array.from(word);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new BinaryHeap<HeapEntry>(less);
    const rankAt = (i: number): number => {
      const j = next[i]!;
      if (j < 0) return -1;
      return this.ranks.get(sym[i]! * PAIR_BASE + sym[j]!) ?? -1;
    };
    for (let i = 0; i < n - 1; i++) {
      const r = rankAt(i);
      if (r >= 0) heap.push({ rank: r, pos: i, left: sym[i]!, right: sym[i + 1]! });
    }
    let pending: HeapEntry[] = [];
    let current = -1;
    for (;;) {
      const top = heap.peek();
      // Pairs created while merging one rank wait until every occurrence of that rank is merged.
      if (!top || top.rank !== current) {
        if (pending.length > 0) {
          for (const p of pending) heap.push(p);
          pending = [];
          continue;
        }
        if (!top) break;
      }
      const e = heap.pop()!;
      const j = next[e.pos]!;
      if (!alive[e.pos] || sym[e.pos] !== e.left || j < 0 || sym[j] !== e.right) continue;
      current = e.rank;
      sym[e.pos] = this.mergedId[e.rank]!;
      alive[j] = 0;
      const k = next[j]!;
      next[e.pos] = k;
      if (k >= 0) prev[k] = e.pos;
      const p = prev[e.pos]!;
      if (p >= 0) {
        const r = rankAt(p);
        if (r >= 0) pending.push({ rank: r, pos: p, left: sym[p]!, right: sym[e.pos]! });
      }
      if (k >= 0) {
        const r = rankAt(e.pos);
        if (r >= 0) pending.push({ rank: r, pos: e.pos, left: sym[e.pos]!, right: sym[k]! });
      }
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(sym[i]!);
    return Int32Array.from(out);
  }
}

interface HeapEntry {
  rank: number;
  pos: number;
  left: number;
  right: number;
}

/** Min-heap order on (rank, pos). */
function less(a: HeapEntry, b: HeapEntry): boolean {
  return a.rank < b.rank || (a.rank === b.rank && a.pos < b.pos);
}
