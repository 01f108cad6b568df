import { readFileSync, statSync } from 'node:fs';
import { DecodeError, InvalidArgumentError } from '@omnitok/core';
import { BinaryHeap } from './binary-heap.js';
import type { DecodeIdsOptions, TextTokenizer } from './bpe-tokenizer.js';
import { type BatchEncoding, checkContextLength, type Encoding, type PackOptions, packBatch, packIds, type Specials } from './pack-ids.js';
import { parseSentencePieceModel, PIECE_TYPE as TYPE, type SentencePieceModel } from './sentencepiece-model.js';
import { Normalizer, PrefixMatcher, validUtf8Length } from './sentencepiece-normalizer.js';

/** Options of {@link SentencePieceTokenizer.fromModel}: the rows `encode` / `encodeBatch` make. */
export interface SentencePieceOptions {
  /** Ids per row, specials included (default 64, SigLIP's). */
  readonly contextLength?: number;
  /** Append the model's end-of-sentence piece (`</s>`; Gemma's `<eos>`) to every row (default true, as T5 / HF SiglipTokenizer). */
  readonly addEos?: boolean;
  /** Put the model's beginning-of-sentence piece (`<s>`; Gemma's `<bos>`) first (default false). */
  readonly addBos?: boolean;
  /** Padding id (default the end-of-sentence id when the model has one — HF SiglipTokenizer's pad token — else 0). */
  readonly padId?: number;
  /**
   * Text clean-up before SentencePiece: `siglip` = HF SiglipTokenizer's (`do_lower_case` then
   * `canonicalize_text`): lowercase, remove ASCII punctuation (Python's `string.punctuation`),
   * collapse whitespace runs to one space, strip. `lowercase` = HF Siglip2Tokenizer's (SigLIP 2 was
   * trained on lowercased text). Default `none`.
   */
  readonly canonicalize?: 'none' | 'siglip' | 'lowercase';
}

const ASCII_PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;

/** HF SiglipTokenizer's lowercase + `canonicalize_text`. */
export function siglipCanonicalize(text: string): string {
  return text.toLowerCase().replace(ASCII_PUNCTUATION, '').replace(/\s+/g, ' ').trim();
}

const CANONICALIZE = { none: (t: string) => t, siglip: siglipCanonicalize, lowercase: (t: string) => t.toLowerCase() } as const;

/**
 * SentencePiece tokenization (SigLIP, T5, mT5: unigram; Gemma — SigLIP 2's text tokenizer — Llama:
 * BPE), reading the library's own `.model` file: ids identical to
 * `sentencepiece.SentencePieceProcessor.encode`. Tested against sentencepiece 0.1.97 on models it
 * trained: a unigram model (119 of 120 strings exercising NFKC, whitespace and unknown characters
 * identical; the last one an exact float32 tie between two segmentations, broken the other way) and
 * a Gemma-style BPE model (byte fallback, user-defined and unused pieces; 127 of 127 strings).
 *
 * Pipeline, as sentencepiece's normalizer.cc, unigram_model.cc, bpe_model.cc:
 * 1. normalize with the model's precompiled character map (a Darts double-array trie over UTF-8
 *    bytes, longest match wins; e.g. nmt_nfkc: NFKC plus whitespace/control clean-up; none for the
 *    `identity` rule), dropping leading whitespace, collapsing runs of spaces and trailing spaces
 *    (`remove_extra_whitespaces`), prefixing "▁" (`add_dummy_prefix`) and writing spaces as "▁"
 *    (`escape_whitespaces`); user-defined symbols pass through untouched;
 * 2. segment. Unigram: Viterbi over the pieces (score = log probability) — a character no piece
 *    covers becomes the unknown piece with score (min score − 10), and a run of unknown pieces is one
 *    unknown id. BPE: start from characters (a user-defined symbol is one frozen symbol) and merge the
 *    adjacent pair whose merged piece scores highest (leftmost on ties) until none is a piece; a
 *    merged piece marked unused is split back into the two it came from;
 * 3. byte fallback (when the model has it): a piece outside the vocabulary becomes its UTF-8 bytes'
 *    `<0xXX>` pieces instead of `<unk>`.
 *
 * Not covered: unigram models with user-defined symbols, word / char models, sampling (nbest /
 * alpha); such a model throws on load rather than tokenizing differently.
 */
export class SentencePieceTokenizer implements TextTokenizer {
  readonly kind = 'sentencepiece' as const;
  /** Number of ids. */
  readonly vocabSize: number;
  readonly contextLength: number;
  /** The beginning-of-sentence id when rows start with it (`addBos`). */
  readonly sot?: number;
  /** The end-of-sentence id when rows end with it (TextTokenizer's end-of-text: where an EOT-pooling tower reads). */
  readonly eot?: number;
  readonly pad: number;
  readonly unkId: number;
  /** The model's beginning / end-of-sentence and padding ids (`bos_id()`, `eos_id()`, `pad_id()`), −1 when it has none. */
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** `unigram` or `bpe`. */
  readonly modelType: SentencePieceModel['modelType'];
  readonly byteFallback: boolean;
  private readonly pieces: readonly string[];
  private readonly types: Uint8Array;
  /** NORMAL, USER_DEFINED and UNUSED pieces (sentencepiece's `pieces_`). */
  private readonly index = new Map<string, number>();
  /** CONTROL, UNKNOWN and BYTE pieces (`reserved_id_map_`). */
  private readonly reserved = new Map<string, number>();
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly scores: Float32Array;
  private readonly maxPieceLength: number;
  private readonly unkScore: number;
  private readonly unkSurface: string;
  private readonly normalizer: Normalizer;
  private readonly matcher: PrefixMatcher;

  private readonly specials: Specials;
  private readonly canonicalize: (text: string) => string;

  private constructor(model: SentencePieceModel, options: SentencePieceOptions) {
    this.pieces = model.pieces.map((p) => p.piece);
    this.types = Uint8Array.from(model.pieces, (p) => p.type);
    this.scores = Float32Array.from(model.pieces, (p) => p.score);
    this.vocabSize = model.pieces.length;
    this.modelType = model.modelType;
    this.byteFallback = model.byteFallback;
    this.unkSurface = model.unkSurface;
    let minScore = Infinity;
    let maxLength = 1;
    const userDefined: string[] = [];
    model.pieces.forEach((p, id) => {
      const normal = p.type === TYPE.NORMAL || p.type === TYPE.USER_DEFINED || p.type === TYPE.UNUSED;
      const map = normal ? this.index : this.reserved;
      if (map.has(p.piece)) throw new InvalidArgumentError('model', `a duplicate piece ${JSON.stringify(p.piece)}`, 'a sentencepiece .model file');
      map.set(p.piece, id);
      // in code units: an upper bound on the characters, enough for the Viterbi's window
      if (normal && p.piece.length > maxLength) maxLength = p.piece.length;
      if (p.type === TYPE.NORMAL) minScore = Math.min(minScore, p.score);
      if (p.type === TYPE.USER_DEFINED) userDefined.push(p.piece);
      if (p.type === TYPE.BYTE) {
        const m = /^<0x([0-9A-F]{2})>$/.exec(p.piece);
        if (!m) throw new InvalidArgumentError('model', `a byte piece ${JSON.stringify(p.piece)}`, 'byte pieces written <0x00> … <0xFF>');
        this.byteIds[parseInt(m[1]!, 16)] = id;
      }
    });
    this.maxPieceLength = maxLength;
    this.unkScore = Math.fround(minScore - 10);
    this.unkId = model.pieces.findIndex((p) => p.type === TYPE.UNKNOWN);
    if (this.unkId < 0) throw new InvalidArgumentError('model', 'a SentencePiece model without an unknown piece', 'a model with <unk>');
    const control = (piece: string) => {
      const id = this.pieceToId(piece);
      return this.types[id] === TYPE.CONTROL ? id : -1;
    };
    this.bosId = control(model.specialPieces.bos);
    this.eosId = control(model.specialPieces.eos);
    this.padId = control(model.specialPieces.pad);
    this.matcher = new PrefixMatcher(userDefined);
    this.normalizer = new Normalizer(model.normalizer, this.matcher.empty ? undefined : this.matcher);
    const addEos = options.addEos ?? true;
    if (addEos && this.eosId < 0) throw new InvalidArgumentError('options.addEos', true, `a model with ${model.specialPieces.eos} (or addEos: false)`);
    if (options.addBos && this.bosId < 0) throw new InvalidArgumentError('options.addBos', true, `a model with ${model.specialPieces.bos} (or addBos: false)`);
    this.eot = addEos ? this.eosId : undefined;
    this.sot = options.addBos ? this.bosId : undefined;
    this.pad = options.padId ?? (this.eosId >= 0 ? this.eosId : 0);
    if (!Number.isInteger(this.pad) || this.pad < 0 || this.pad >= this.vocabSize) throw new InvalidArgumentError('options.padId', this.pad, `an id in [0, ${this.vocabSize})`);
    this.specials = { sot: this.sot, eot: this.eot, pad: this.pad };
    this.contextLength = checkContextLength(options.contextLength ?? 64, this.specials, 'options.contextLength');
    const mode = options.canonicalize ?? 'none';
    if (!Object.hasOwn(CANONICALIZE, mode)) throw new InvalidArgumentError('options.canonicalize', mode, '"none", "siglip" or "lowercase"');
    this.canonicalize = CANONICALIZE[mode];
  }

  /** Loads a SentencePiece `.model` file (the serialized ModelProto). */
  static fromModel(bytes: Uint8Array, options: SentencePieceOptions = {}): SentencePieceTokenizer {
    return new SentencePieceTokenizer(parseSentencePieceModel(bytes), options);
  }

  /** {@link fromModel} of a file; a missing or unreadable one throws `DecodeError` naming it. */
  static fromFile(path: string, options: SentencePieceOptions = {}): SentencePieceTokenizer {
    let stat: { size: number; mtimeMs: number };
    let bytes: Uint8Array;
    try {
      stat = statSync(path);
      // a file read again unchanged (tokenizers of other options over one model) is parsed once
      const cached = parsedFiles.get(path);
      if (cached && cached.size === stat.size && cached.mtimeMs === stat.mtimeMs) return new SentencePieceTokenizer(cached.model, options);
      bytes = readFileSync(path);
    } catch (error) {
      throw new DecodeError(path, 'text', `cannot read the SentencePiece model (${(error as Error).message})`, { cause: error });
    }
    const model = parseSentencePieceModel(bytes);
    if (parsedFiles.size >= 4) parsedFiles.delete(parsedFiles.keys().next().value!);
    parsedFiles.set(path, { ...stat, model });
    return new SentencePieceTokenizer(model, options);
  }

  /** The text as sentencepiece normalizes it ("▁" for spaces), before segmentation. */
  normalize(text: string): string {
    return this.normalizer.normalize(text);
  }

  /** Ids of `text` (no BOS/EOS, no length limit), as `SentencePieceProcessor.encode(text)` (after `canonicalize`). */
  encodeIds(text: string): Int32Array {
    return Int32Array.from(this.encodePieces(text), ([, id]) => id);
  }

  /** One `[contextLength]` row: BOS when `addBos`, the ids (cut to fit), EOS unless `addEos: false`, then padding. */
  encode(text: string, options: PackOptions = {}): Encoding {
    return packIds(this.encodeIds(text), this.specials, options.contextLength ?? this.contextLength, options.truncate ?? true, () => JSON.stringify(text.slice(0, 40)));
  }

  /** Many rows as one `[batch, contextLength]` array. */
  encodeBatch(texts: readonly string[], options: PackOptions = {}): BatchEncoding {
    return packBatch(texts.map((t) => this.encodeIds(t)), this.specials, options.contextLength ?? this.contextLength, options.truncate ?? true);
  }

  /** Pieces of `text`, as `encode(text, out_type=str)` (a unigram run of unknown characters is one piece; byte fallback gives `<0xXX>` pieces). */
  encodeAsPieces(text: string): string[] {
    return this.encodePieces(text).map(([piece]) => piece);
  }

  /**
   * Text of ids, as `SentencePieceProcessor.decode`: "▁" back to spaces (the first piece's leading
   * one dropped when the model adds a dummy prefix or removes extra whitespace), control ids (`<s>`,
   * `</s>`, `<pad>`) left out, an unknown id as " ⁇ ", runs of byte ids as the UTF-8 they spell
   * (each byte that starts no valid character as U+FFFD).
   */
  decode(ids: ArrayLike<number>, _options?: DecodeIdsOptions): string {
    let text = '';
    let bytes: number[] = [];
    // sentencepiece strips "▁" from the first pieces until one was stripped or text came out
    let isBosWs = true;
    let bosWsSeen = false;
    const stripBosWs = this.normalizer.addDummyPrefix || this.normalizer.removeExtra;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new InvalidArgumentError(`ids[${i}]`, id, `an id in [0, ${this.vocabSize})`);
      const type = this.types[id]!;
      if (type === TYPE.BYTE) {
        bytes.push(parseInt(this.pieces[id]!.slice(3, 5), 16));
        continue;
      }
      text += decodeBytes(bytes);
      bytes = [];
      if (bosWsSeen || text !== '') isBosWs = false;
      bosWsSeen = false;
      if (type === TYPE.CONTROL) continue;
      if (type === TYPE.UNKNOWN) {
        text += this.unkSurface;
        continue;
      }
      let piece = this.pieces[id]!;
      if (isBosWs && stripBosWs && piece.startsWith('\u2581')) {
        piece = piece.slice(1);
        bosWsSeen = !this.normalizer.removeExtra;
      }
      text += piece.replace(/\u2581/g, ' ');
    }
    return text + decodeBytes(bytes);
  }

  /** The float32 sum of the pieces' scores (log probabilities): what unigram segmentation maximizes. */
  pathScore(ids: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < ids.length; i++) total = Math.fround(total + (ids[i] === this.unkId ? this.unkScore : this.scores[ids[i]!]!));
    return total;
  }

  /** The piece string of an id. */
  idToPiece(id: number): string {
    const piece = this.pieces[id];
    if (piece === undefined) throw new InvalidArgumentError('id', id, `an id in [0, ${this.vocabSize})`);
    return piece;
  }

  /** The id of a piece string, the unknown id when the model has none (`PieceToId`). */
  pieceToId(piece: string): number {
    return this.reserved.get(piece) ?? this.index.get(piece) ?? this.unkId;
  }

  /** [piece, id] pairs of `text`: canonicalized, normalized, segmented, unknowns as bytes under byte fallback. */
  private encodePieces(text: string): [string, number][] {
    const normalized = this.normalize(this.canonicalize(text));
    const pieces = this.modelType === 'bpe' ? this.segmentBpe(normalized) : this.segmentUnigram(normalized);
    if (!this.byteFallback) return pieces;
    const out: [string, number][] = [];
    for (const p of pieces) {
      if (p[1] !== this.unkId) out.push(p);
      else for (const b of encoder.encode(p[0])) out.push([`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, this.byteIds[b]!]);
    }
    return out;
  }

  /** Viterbi segmentation of normalized text into [piece, id] pairs, unknown runs merged. */
  private segmentUnigram(normalized: string): [string, number][] {
    const chars = [...normalized];
    const n = chars.length;
    const best = new Float64Array(n + 1).fill(-Infinity);
    const from = new Int32Array(n + 1).fill(-1);
    const via = new Int32Array(n + 1).fill(-1);
    best[0] = 0;
    for (let start = 0; start < n; start++) {
      if (best[start] === -Infinity) continue;
      const base = best[start]!;
      let piece = '';
      let single = false;
      for (let len = 1; len <= this.maxPieceLength && start + len <= n; len++) {
        piece += chars[start + len - 1];
        const id = this.index.get(piece);
        if (id === undefined || this.types[id] !== TYPE.NORMAL) continue;
        if (len === 1) single = true;
        const score = Math.fround(base + this.scores[id]!);
        if (from[start + len] === -1 || score > best[start + len]!) {
          best[start + len] = score;
          from[start + len] = start;
          via[start + len] = id;
        }
      }
      if (!single) {
        const score = Math.fround(base + this.unkScore);
        if (from[start + 1] === -1 || score > best[start + 1]!) {
          best[start + 1] = score;
          from[start + 1] = start;
          via[start + 1] = this.unkId;
        }
      }
    }
    const out: [string, number][] = [];
    for (let end = n; end > 0; end = from[end]!) out.push([chars.slice(from[end]!, end).join(''), via[end]!]);
    out.reverse();
    const merged: [string, number][] = [];
    for (const [piece, id] of out) {
      const last = merged[merged.length - 1];
      if (last && id === this.unkId && last[1] === this.unkId) last[0] += piece;
      else merged.push([piece, id]);
    }
    return merged;
  }

  /** BPE segmentation (bpe_model.cc): symbols are spans of `normalized` in a linked list, merged best-scoring pair first. */
  private segmentBpe(normalized: string): [string, number][] {
    const starts: number[] = [];
    const frozen: boolean[] = [];
    for (let pos = 0; pos < normalized.length; ) {
      const symbol = this.matcher.matchString(normalized, pos);
      starts.push(pos);
      frozen.push(symbol > 0);
      const code = normalized.charCodeAt(pos);
      pos += symbol > 0 ? symbol : code >= 0xd800 && code < 0xdc00 && pos + 1 < normalized.length ? 2 : 1;
    }
    const n = starts.length;
    if (n === 0) return [];
    const ends = Int32Array.from(starts, (_, i) => (i + 1 < n ? starts[i + 1]! : normalized.length));
    const prev = Int32Array.from(starts, (_, i) => i - 1);
    const next = Int32Array.from(starts, (_, i) => (i + 1 < n ? i + 1 : -1));
    const heap = new BinaryHeap<SymbolPair>((a, b) => a.score > b.score || (a.score === b.score && a.left < b.left));
    // merged unused piece → the two it was made of, for re-splitting
    const revMerge = new Map<string, [string, string]>();
    const maybeAdd = (left: number, right: number) => {
      if (left < 0 || right < 0 || frozen[left] || frozen[right]) return;
      const piece = normalized.slice(starts[left], ends[right]);
      const id = this.index.get(piece);
      if (id === undefined) return;
      heap.push({ left, right, score: this.scores[id]!, size: piece.length });
      if (this.types[id] === TYPE.UNUSED) revMerge.set(piece, [normalized.slice(starts[left], ends[left]), normalized.slice(starts[right], ends[right])]);
    };
    for (let i = 1; i < n; i++) maybeAdd(i - 1, i);
    for (let top = heap.pop(); top; top = heap.pop()) {
      const { left, right } = top;
      // stale: one side was merged away or has grown since the pair was queued
      if (ends[left] === starts[left] || ends[right] === starts[right] || ends[left]! - starts[left]! + ends[right]! - starts[right]! !== top.size) continue;
      ends[left] = ends[right]!;
      next[left] = next[right]!;
      if (next[right]! >= 0) prev[next[right]!] = left;
      ends[right] = starts[right]!;
      maybeAdd(prev[left]!, left);
      maybeAdd(left, next[left]!);
    }
    const out: [string, number][] = [];
    const resegment = (piece: string): void => {
      const id = this.pieceToId(piece);
      const parts = this.types[id] === TYPE.UNUSED ? revMerge.get(piece) : undefined;
      if (!parts) out.push([piece, id]);
      else {
        resegment(parts[0]);
        resegment(parts[1]);
      }
    };
    for (let i = 0; i !== -1; i = next[i]!) resegment(normalized.slice(starts[i], ends[i]));
    return out;
  }
}

/** The last few model files parsed, by path (checked against their size and modification time). */
const parsedFiles = new Map<string, { size: number; mtimeMs: number; model: SentencePieceModel }>();

interface SymbolPair {
  readonly left: number;
  readonly right: number;
  readonly score: number;
  readonly size: number;
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8');

/** A run of byte ids as sentencepiece decodes it: valid UTF-8 characters, each other byte U+FFFD. */
function decodeBytes(bytes: readonly number[]): string {
  let out = '';
  for (let pos = 0; pos < bytes.length; ) {
    const len = validUtf8Length(bytes, pos);
    out += len === 0 ? '\ufffd' : utf8.decode(Uint8Array.from(bytes.slice(pos, pos + len)));
    pos += len || 1;
  }
  return out;
}
