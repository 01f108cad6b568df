import { InvalidArgumentError } from '@omnitok/core';
import { BpeModel, type BpeVocabulary } from './bpe-model.js';
import { toByteLevel, UNICODE_TO_BYTE } from './byte-unicode.js';
import { CLIP_PRETOKENIZE, clipNormalize } from './clean-text.js';
import { type BatchEncoding, checkContextLength, type Encoding, finishBatch, type PackOptions, packIds, packInto } from './pack-ids.js';
import { END_OF_TEXT, loadClipVocabulary, START_OF_TEXT } from './vocab-files.js';

/** What every text tokenizer of this package offers (BPE and bytes alike). */
export interface TextTokenizer {
  readonly kind: 'clip-bpe' | 'bpe' | 'bytes' | 'sentencepiece';
  /** Number of ids (the embedding table's rows). */
  readonly vocabSize: number;
  /** Default row length of `encode` / `encodeBatch`. */
  readonly contextLength: number;
  /** Start-of-text id, if the tokenizer has one. */
  readonly sot?: number;
  /** End-of-text id, if the tokenizer has one (CLIP pools the features at its position). */
  readonly eot?: number;
  /** Padding id: 0, except for SentencePiece models that pad with another (SigLIP: `</s>`). */
  readonly pad: number;
  /** The ids of `text` without specials and without a length limit. */
  encodeIds(text: string): Int32Array;
  /** One text as a `[contextLength]` row with specials, padding, mask and EOT index. */
  encode(text: string, options?: PackOptions): Encoding;
  /** Many texts as one `[batch, contextLength]` array. */
  encodeBatch(texts: readonly string[], options?: PackOptions): BatchEncoding;
  /** Text of ids; see each tokenizer for how specials and padding come out. */
  decode(ids: ArrayLike<number>, options?: DecodeIdsOptions): string;
}

export interface DecodeIdsOptions {
  /** Leave out SOT, EOT (and for the byte tokenizer, padding). Default false (as CLIP's `decode`). */
  readonly skipSpecialTokens?: boolean;
}

export interface BpeTokenizerOptions {
  /** Default row length; 77 for CLIP. */
  readonly contextLength?: number;
  /** Most distinct words whose BPE is remembered (FIFO eviction). Default 65,536. */
  readonly cacheSize?: number;
}

/**
 * Byte-level BPE with CLIP's text pipeline. Given CLIP's vocabulary it reproduces
 * `clip/simple_tokenizer.py` id for id:
 *
 * 1. normalize: ftfy-style `fixText`, `html.unescape` twice, strip, whitespace runs → one space,
 *    strip, lowercase;
 * 2. pre-tokenize with CLIP's regex (specials, contractions, letter runs, single digits, other runs);
 * 3. each pre-token → UTF-8 bytes → byte characters, `</w>` on the last, merges by rank;
 * 4. rows are `[SOT, ...ids, EOT, 0, ...]`, cut open_clip style.
 */
export class BpeTokenizer implements TextTokenizer {
  readonly kind: 'clip-bpe' | 'bpe';
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly sot: number | undefined;
  readonly eot: number | undefined;
  readonly pad = 0 as const;
  readonly vocabulary: BpeVocabulary;
  /** The merge engine (exposed for cache control and inspection). */
  readonly model: BpeModel;
  private scratch = new Int32Array(256);
  private tokenBytes: (Uint8Array | undefined)[] = [];

  constructor(vocabulary: BpeVocabulary, options: BpeTokenizerOptions & { kind?: 'clip-bpe' | 'bpe'; model?: BpeModel } = {}) {
    this.vocabulary = vocabulary;
    this.kind = options.kind ?? 'bpe';
    // A shared model shares the word cache (same vocabulary, another context length).
    this.model = options.model?.vocabulary === vocabulary ? options.model : new BpeModel(vocabulary, { cacheSize: options.cacheSize });
    this.vocabSize = vocabulary.tokens.length;
    this.sot = this.model.encoder.get(START_OF_TEXT);
    this.eot = this.model.encoder.get(END_OF_TEXT);
    this.contextLength = checkContextLength(options.contextLength ?? 77, this, 'options.contextLength');
  }

  /** CLIP's text normalization (what the ids are computed from). */
  normalize(text: string): string {
    return clipNormalize(text);
  }

  encodeIds(text: string): Int32Array {
    const n = this.fill(checkText(text, 'text'));
    const ids = this.scratch.slice(0, n);
    this.shrink();
    return ids;
  }

  encode(text: string, options: PackOptions = {}): Encoding {
    const context = checkContextLength(options.contextLength ?? this.contextLength, this, 'options.contextLength');
    const n = this.fill(checkText(text, 'text'));
    const row = packIds(this.scratch.subarray(0, n), this, context, options.truncate ?? true, () => text);
    this.shrink();
    return row;
  }

  encodeBatch(texts: readonly string[], options: PackOptions = {}): BatchEncoding {
    if (!Array.isArray(texts)) throw new InvalidArgumentError('texts', texts, 'an array of strings');
    const context = checkContextLength(options.contextLength ?? this.contextLength, this, 'options.contextLength');
    const truncate = options.truncate ?? true;
    const batch = texts.length;
    const ids = new Int32Array(batch * context);
    const lengths = new Int32Array(batch);
    const truncated = new Uint8Array(batch);
    for (let i = 0; i < batch; i++) {
      const text = checkText(texts[i], `texts[${i}]`);
      const n = this.fill(text);
      const r = packInto(this.scratch.subarray(0, n), this, context, truncate, ids, i * context, () => text);
      lengths[i] = r.length;
      truncated[i] = r.truncated ? 1 : 0;
    }
    this.shrink();
    return finishBatch(ids, lengths, truncated, context);
  }

  /** Lets go of a scratch buffer grown by a huge text. */
  private shrink(): void {
    if (this.scratch.length > 1 << 16) this.scratch = new Int32Array(256);
  }

  /**
   * CLIP's `decode`: token strings → bytes → UTF-8 (invalid sequences become U+FFFD) with every
   * `</w>` replaced by a space. Specials come out as `<|startoftext|>` / `<|endoftext|>` unless
   * `skipSpecialTokens`. Ids outside the vocabulary throw `InvalidArgumentError`.
   */
  decode(ids: ArrayLike<number>, options: DecodeIdsOptions = {}): string {
    const parts: Uint8Array[] = [];
    let size = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (options.skipSpecialTokens && (id === this.sot || id === this.eot)) continue;
      const bytes = this.bytesOf(id, i);
      parts.push(bytes);
      size += bytes.length;
    }
    const all = new Uint8Array(size);
    let p = 0;
    for (const b of parts) {
      all.set(b, p);
      p += b.length;
    }
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(all);
    return this.vocabulary.endOfWord ? text.split(this.vocabulary.endOfWord).join(' ') : text;
  }

  private bytesOf(id: number, index: number): Uint8Array {
    let bytes = Number.isInteger(id) ? this.tokenBytes[id] : undefined;
    if (bytes) return bytes;
    const token = Number.isInteger(id) && id >= 0 ? this.vocabulary.tokens[id] : undefined;
    if (token === undefined) throw new InvalidArgumentError(`ids[${index}]`, id, `an id in [0, ${this.vocabSize - 1}]`);
    bytes = new Uint8Array(token.length);
    for (let c = 0; c < token.length; c++) {
      const b = UNICODE_TO_BYTE[token.charCodeAt(c)] ?? -1;
      if (b < 0) throw new InvalidArgumentError(`ids[${index}]`, id, `a token made of byte-level characters (${JSON.stringify(token)} is not)`);
      bytes[c] = b;
    }
    this.tokenBytes[id] = bytes;
    return bytes;
  }

  /** Tokenizes into `this.scratch`; returns the id count. */
  private fill(text: string): number {
    const normalized = clipNormalize(text);
    const re = CLIP_PRETOKENIZE;
    re.lastIndex = 0;
    let n = 0;
    let scratch = this.scratch;
    for (let m = re.exec(normalized); m !== null; m = re.exec(normalized)) {
      const ids = this.model.wordIds(m[0], toByteLevel);
      if (n + ids.length > scratch.length) {
        const bigger = new Int32Array(Math.max(scratch.length * 2, n + ids.length));
        bigger.set(scratch.subarray(0, n));
        scratch = this.scratch = bigger;
      }
      scratch.set(ids, n);
      n += ids.length;
    }
    return n;
  }
}

function checkText(text: unknown, argument: string): string {
  if (typeof text !== 'string') throw new InvalidArgumentError(argument, text, 'a string');
  return text;
}

let defaultClip: BpeTokenizer | undefined;

/**
 * The CLIP tokenizer (bundled `bpe_simple_vocab_16e6.txt.gz`, 49,408 ids, SOT 49406, EOT 49407).
 * `contextLength` only sets the default row length; the vocabulary is loaded once per process and
 * shared. Pass `mergesPath` for another CLIP-format merges file.
 */
export function clipTokenizer(options: BpeTokenizerOptions & { mergesPath?: string; maxMerges?: number } = {}): BpeTokenizer {
  if (options.mergesPath !== undefined || options.maxMerges !== undefined || options.cacheSize !== undefined) {
    return new BpeTokenizer(loadClipVocabulary(options.mergesPath, { maxMerges: options.maxMerges }), { ...options, kind: 'clip-bpe' });
  }
  defaultClip ??= new BpeTokenizer(loadClipVocabulary(), { kind: 'clip-bpe' });
  if (options.contextLength === undefined || options.contextLength === defaultClip.contextLength) return defaultClip;
  return withContext(defaultClip, options.contextLength);
}

/** Another default context length, sharing the vocabulary and the word cache. */
function withContext(tokenizer: BpeTokenizer, contextLength: number): BpeTokenizer {
  return new BpeTokenizer(tokenizer.vocabulary, { kind: tokenizer.kind, contextLength, model: tokenizer.model });
}
