import { readFileSync } from 'node:fs';
import { DecodeError, InvalidArgumentError } from '@omnitok/core';
import type { DecodeIdsOptions, TextTokenizer } from './bpe-tokenizer.js';
import { type BatchEncoding, checkContextLength, type Encoding, type PackOptions, packBatch, packIds, type Specials } from './pack-ids.js';

/** Options of {@link SentencePieceTokenizer.fromModel}: the rows `encode` / `encodeBatch` make. */
export interface SentencePieceOptions {
  /** Ids per row, `</s>` included (default 64, SigLIP's). */
  readonly contextLength?: number;
  /** Append `</s>` to every row (default true, as T5 / HF SiglipTokenizer). */
  readonly addEos?: boolean;
  /** Padding id (default `</s>` when the model has one — HF SiglipTokenizer's pad token — else 0). */
  readonly padId?: number;
  /**
   * Text clean-up before SentencePiece: `siglip` = HF SiglipTokenizer's (`do_lower_case` then
   * `canonicalize_text`): lowercase, remove ASCII punctuation (Python's `string.punctuation`),
   * collapse whitespace runs to one space, strip. Default `none`.
   */
  readonly canonicalize?: 'none' | 'siglip';
}

const ASCII_PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;

/** HF SiglipTokenizer's lowercase + `canonicalize_text`. */
export function siglipCanonicalize(text: string): string {
  return text.toLowerCase().replace(ASCII_PUNCTUATION, '').replace(/\s+/g, ' ').trim();
}

/**
 * SentencePiece unigram tokenization (the tokenizer of SigLIP, T5, mT5, …), reading the library's own
 * `.model` file: ids identical to `sentencepiece.SentencePieceProcessor.encode` (tested on a model
 * trained by the library: 119 of 120 strings exercising NFKC, whitespace and unknown characters
 * identical; the last one an exact float32 tie between two segmentations, broken the other way).
 *
 * Pipeline, as sentencepiece's normalizer.cc and unigram_model.cc:
 * 1. normalize with the model's precompiled character map (a Darts double-array trie over UTF-8
 *    bytes, longest match wins; e.g. nmt_nfkc: NFKC plus whitespace/control clean-up), dropping
 *    leading whitespace, collapsing runs of spaces and trailing spaces (`remove_extra_whitespaces`),
 *    prefixing "▁" (`add_dummy_prefix`) and writing spaces as "▁" (`escape_whitespaces`);
 * 2. Viterbi over the pieces (score = log probability) — a character no piece covers becomes the
 *    unknown piece with score (min score − 10), and a run of unknown pieces is one unknown id.
 *
 * Not covered: BPE-type models, byte fallback, user-defined symbols, sampling (nbest / alpha); a model
 * using them throws on load rather than tokenizing differently.
 */
export class SentencePieceTokenizer implements TextTokenizer {
  readonly kind = 'sentencepiece' as const;
  /** Number of ids. */
  readonly vocabSize: number;
  readonly contextLength: number;
  /** `</s>` when rows end with it (TextTokenizer's end-of-text: where an EOT-pooling tower reads). */
  readonly eot?: number;
  readonly pad: number;
  readonly unkId: number;
  /** `<s>` / `</s>` / `<pad>` ids, −1 when the model has none. */
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  private readonly pieces: readonly string[];
  private readonly types: Uint8Array;
  private readonly index = new Map<string, number>();
  private readonly scores: Float32Array;
  private readonly maxPieceLength: number;
  private readonly unkScore: number;
  private readonly normalizer: Normalizer;

  private readonly specials: Specials;
  private readonly canonicalize: (text: string) => string;

  private constructor(model: ParsedModel, options: SentencePieceOptions) {
    this.pieces = model.pieces.map((p) => p.piece);
    this.types = Uint8Array.from(model.pieces, (p) => p.type);
    this.scores = Float32Array.from(model.pieces, (p) => p.score);
    this.vocabSize = model.pieces.length;
    let minScore = Infinity;
    let maxLength = 1;
    model.pieces.forEach((p, id) => {
      if (p.type === TYPE.NORMAL || p.type === TYPE.UNUSED) {
        this.index.set(p.piece, id);
        maxLength = Math.max(maxLength, [...p.piece].length);
      }
      if (p.type === TYPE.NORMAL) minScore = Math.min(minScore, p.score);
    });
    this.maxPieceLength = maxLength;
    this.unkScore = Math.fround(minScore - 10);
    const find = (type: number, piece?: string) => model.pieces.findIndex((p) => p.type === type && (piece === undefined || p.piece === piece));
    this.unkId = find(TYPE.UNKNOWN);
    if (this.unkId < 0) throw new InvalidArgumentError('model', 'a SentencePiece model without an unknown piece', 'a model with <unk>');
    this.bosId = find(TYPE.CONTROL, '<s>');
    this.eosId = find(TYPE.CONTROL, '</s>');
    this.padId = find(TYPE.CONTROL, '<pad>');
    this.normalizer = new Normalizer(model.normalizer);
    const addEos = options.addEos ?? true;
    if (addEos && this.eosId < 0) throw new InvalidArgumentError('options.addEos', true, 'a model with </s> (or addEos: false)');
    this.eot = addEos ? this.eosId : undefined;
    this.pad = options.padId ?? (this.eosId >= 0 ? this.eosId : 0);
    if (!Number.isInteger(this.pad) || this.pad < 0 || this.pad >= this.vocabSize) throw new InvalidArgumentError('options.padId', this.pad, `an id in [0, ${this.vocabSize})`);
    this.specials = { eot: this.eot, pad: this.pad };
    this.contextLength = checkContextLength(options.contextLength ?? 64, this.specials, 'options.contextLength');
    const mode = options.canonicalize ?? 'none';
    if (mode !== 'none' && mode !== 'siglip') throw new InvalidArgumentError('options.canonicalize', mode, '"none" or "siglip"');
    this.canonicalize = mode === 'siglip' ? siglipCanonicalize : (t) => t;
  }

  /** Loads a SentencePiece `.model` file (the serialized ModelProto). */
  static fromModel(bytes: Uint8Array, options: SentencePieceOptions = {}): SentencePieceTokenizer {
    return new SentencePieceTokenizer(parseModel(bytes), options);
  }

  /** {@link fromModel} of a file; a missing or unreadable one throws `DecodeError` naming it. */
  static fromFile(path: string, options: SentencePieceOptions = {}): SentencePieceTokenizer {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw new DecodeError(path, 'text', `cannot read the SentencePiece model (${(error as Error).message})`, { cause: error });
    }
    return SentencePieceTokenizer.fromModel(bytes, options);
  }

  /** The text as sentencepiece normalizes it ("▁" for spaces), before segmentation. */
  normalize(text: string): string {
    return this.normalizer.normalize(text);
  }

  /** Ids of `text` (no BOS/EOS, no length limit), as `SentencePieceProcessor.encode(text)` (after `canonicalize`). */
  encodeIds(text: string): Int32Array {
    return Int32Array.from(this.segment(this.normalize(this.canonicalize(text))).map(([, id]) => id));
  }

  /** One `[contextLength]` row: the ids (cut to fit), `</s>` unless `addEos: false`, then padding. */
  encode(text: string, options: PackOptions = {}): Encoding {
    return packIds(this.encodeIds(text), this.specials, options.contextLength ?? this.contextLength, options.truncate ?? true, () => JSON.stringify(text.slice(0, 40)));
  }

  /** Many rows as one `[batch, contextLength]` array. */
  encodeBatch(texts: readonly string[], options: PackOptions = {}): BatchEncoding {
    return packBatch(texts.map((t) => this.encodeIds(t)), this.specials, options.contextLength ?? this.contextLength, options.truncate ?? true);
  }

  /** Pieces of `text`, as `encode(text, out_type=str)` (a run of unknown characters is one piece). */
  encodeAsPieces(text: string): string[] {
    return this.segment(this.normalize(this.canonicalize(text))).map(([piece]) => piece);
  }

  /**
   * Text of ids, as `SentencePieceProcessor.decode`: "▁" back to spaces, the leading one dropped,
   * control ids (`<s>`, `</s>`, `<pad>`) left out, an unknown id as " ⁇ ".
   */
  decode(ids: ArrayLike<number>, _options?: DecodeIdsOptions): string {
    let out = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new InvalidArgumentError(`ids[${i}]`, id, `an id in [0, ${this.vocabSize})`);
      const type = this.types[id]!;
      if (type === TYPE.CONTROL) continue;
      out += type === TYPE.UNKNOWN ? ' \u2047 ' : this.pieces[id]!;
    }
    out = out.replace(/\u2581/g, ' ');
    return this.normalizer.addDummyPrefix && out.startsWith(' ') ? out.slice(1) : out;
  }

  /** The float32 sum of the pieces' scores (log probabilities): what the segmentation maximizes. */
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

  /** Viterbi segmentation of normalized text into [piece, id] pairs, unknown runs merged. */
  private segment(normalized: string): [string, number][] {
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
        if (id === undefined || this.types[id] === TYPE.UNUSED) continue;
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
}

// ------------------------------------------------------------------------------------------ model file

const TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, BYTE: 6, UNUSED: 5 } as const;

interface ParsedModel {
  pieces: { piece: string; score: number; type: number }[];
  normalizer: NormalizerSpec;
}

interface NormalizerSpec {
  charsmap?: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

/** A minimal protobuf reader: (field, wire type, value) triples of one message. */
function* fields(buf: Uint8Array): Generator<[number, number, number | Uint8Array]> {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) yield [field, wire, varint()];
    else if (wire === 2) {
      const len = varint();
      if (pos + len > buf.length) throw new Error('truncated field');
      yield [field, wire, buf.subarray(pos, pos + len)];
      pos += len;
    } else if (wire === 5) {
      if (pos + 4 > buf.length) throw new Error('truncated fixed32');
      yield [field, wire, new DataView(buf.buffer, buf.byteOffset + pos, 4).getFloat32(0, true)];
      pos += 4;
    } else if (wire === 1) {
      pos += 8;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

const utf8 = new TextDecoder('utf-8');

function parseModel(bytes: Uint8Array): ParsedModel {
  const pieces: ParsedModel['pieces'] = [];
  const normalizer: NormalizerSpec = { addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true };
  let modelType = 1;
  let byteFallback = false;
  try {
    for (const [field, wire, value] of fields(bytes)) {
      if (field === 1 && wire === 2) {
        const p = { piece: '', score: 0, type: TYPE.NORMAL as number };
        for (const [f, w, v] of fields(value as Uint8Array)) {
          if (f === 1 && w === 2) p.piece = utf8.decode(v as Uint8Array);
          else if (f === 2 && w === 5) p.score = v as number;
          else if (f === 3 && w === 0) p.type = v as number;
        }
        pieces.push(p);
      } else if (field === 2 && wire === 2) {
        for (const [f, w, v] of fields(value as Uint8Array)) {
          if (f === 3 && w === 0) modelType = v as number;
          else if (f === 35 && w === 0) byteFallback = v !== 0;
        }
      } else if (field === 3 && wire === 2) {
        for (const [f, w, v] of fields(value as Uint8Array)) {
          if (f === 2 && w === 2) normalizer.charsmap = v as Uint8Array;
          else if (f === 3 && w === 0) normalizer.addDummyPrefix = v !== 0;
          else if (f === 4 && w === 0) normalizer.removeExtraWhitespaces = v !== 0;
          else if (f === 5 && w === 0) normalizer.escapeWhitespaces = v !== 0;
        }
      }
    }
  } catch (error) {
    throw new InvalidArgumentError('model', `bytes that are not a SentencePiece model (${(error as Error).message})`, 'a sentencepiece .model file');
  }
  if (pieces.length === 0) throw new InvalidArgumentError('model', 'a file with no pieces', 'a sentencepiece .model file');
  if (modelType !== 1) throw new InvalidArgumentError('model', `model_type ${modelType}`, 'a unigram model (model_type 1; BPE/char/word models are not supported)');
  if (byteFallback || pieces.some((p) => p.type === TYPE.BYTE || p.type === TYPE.USER_DEFINED)) {
    throw new InvalidArgumentError('model', 'byte fallback or user-defined symbols', 'a unigram model without them (not supported yet)');
  }
  return { pieces, normalizer };
}

// ---------------------------------------------------------------------------------------- normalizer

/**
 * sentencepiece's Normalizer with a precompiled character map: `<trie size: u32><Darts double array>
 * <NUL-terminated replacement strings>`; the trie maps a UTF-8 prefix to the offset of its replacement.
 */
class Normalizer {
  readonly addDummyPrefix: boolean;
  private readonly removeExtra: boolean;
  private readonly escape: boolean;
  private readonly trie?: Uint32Array;
  private readonly strings?: Uint8Array;
  private readonly encoder = new TextEncoder();

  constructor(spec: NormalizerSpec) {
    this.addDummyPrefix = spec.addDummyPrefix;
    this.removeExtra = spec.removeExtraWhitespaces;
    this.escape = spec.escapeWhitespaces;
    const blob = spec.charsmap;
    if (blob && blob.length >= 4) {
      const view = new DataView(blob.buffer, blob.byteOffset, blob.length);
      const size = view.getUint32(0, true);
      if (size % 4 !== 0 || 4 + size > blob.length) throw new InvalidArgumentError('model', 'a corrupt precompiled_charsmap', 'a sentencepiece .model file');
      this.trie = new Uint32Array(size / 4);
      for (let i = 0; i < size / 4; i++) this.trie[i] = view.getUint32(4 + 4 * i, true);
      this.strings = blob.subarray(4 + size);
    }
  }

  normalize(text: string): string {
    // Work on UTF-8 bytes, as the trie does; lone surrogates become U+FFFD like invalid UTF-8.
    const input = this.encoder.encode(text);
    let pos = 0;
    const out: number[] = [];
    const SPACE = [0xe2, 0x96, 0x81]; // "▁"
    if (this.removeExtra) {
      while (pos < input.length) {
        const [rep, len] = this.prefix(input, pos);
        if (!(rep.length === 1 && rep[0] === 0x20)) break;
        pos += len;
      }
    }
    if (pos >= input.length) return '';
    if (this.addDummyPrefix) out.push(...(this.escape ? SPACE : [0x20]));
    let prevSpace = this.removeExtra;
    while (pos < input.length) {
      const [rep, len] = this.prefix(input, pos);
      let start = 0;
      if (prevSpace) while (start < rep.length && rep[start] === 0x20) start++;
      if (start < rep.length) {
        for (let i = start; i < rep.length; i++) {
          if (this.escape && rep[i] === 0x20) out.push(...SPACE);
          else out.push(rep[i]!);
        }
        prevSpace = rep[rep.length - 1] === 0x20;
      }
      pos += len;
      if (!this.removeExtra) prevSpace = false;
    }
    let end = out.length;
    if (this.removeExtra) {
      const space = this.escape ? SPACE : [0x20];
      while (end >= space.length && space.every((b, i) => out[end - space.length + i] === b)) end -= space.length;
    }
    return utf8.decode(Uint8Array.from(out.slice(0, end)));
  }

  /** The replacement bytes of the longest charsmap match at `pos` (or one UTF-8 character) and its length. */
  private prefix(input: Uint8Array, pos: number): [ArrayLike<number>, number] {
    if (this.trie) {
      let longest = 0;
      let value = 0;
      const a = this.trie;
      let node = 0;
      let unit = a[0]!;
      node ^= offset(unit);
      for (let i = pos; i < input.length; i++) {
        const c = input[i]!;
        node ^= c;
        unit = a[node]!;
        if (label(unit) !== c) break;
        node ^= offset(unit);
        if (hasLeaf(unit)) {
          longest = i - pos + 1;
          value = a[node]! & 0x7fffffff;
        }
      }
      if (longest > 0) {
        const s = this.strings!;
        let e = value;
        while (e < s.length && s[e] !== 0) e++;
        return [s.subarray(value, e), longest];
      }
    }
    const len = utf8Length(input, pos);
    if (len === 0) return [[0xef, 0xbf, 0xbd], 1]; // invalid UTF-8 → U+FFFD
    return [input.subarray(pos, pos + len), len];
  }
}

const hasLeaf = (unit: number) => ((unit >>> 8) & 1) === 1;
const label = (unit: number) => unit & 0x800000ff;
const offset = (unit: number) => (unit >>> 10) << ((unit & 0x200) >>> 6);

/** Length of the valid UTF-8 character at pos, or 0. */
function utf8Length(b: Uint8Array, pos: number): number {
  const c = b[pos]!;
  const need = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
  if (need === 0 || pos + need > b.length) return 0;
  for (let i = 1; i < need; i++) if ((b[pos + i]! & 0xc0) !== 0x80) return 0;
  return need;
}
