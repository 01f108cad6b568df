import { InvalidArgumentError } from '@omnitok/core';
import type { DecodeIdsOptions, TextTokenizer } from './bpe-tokenizer.js';
import { type BatchEncoding, checkContextLength, type Encoding, finishBatch, type PackOptions, packIds, packInto } from './pack-ids.js';

/** Ids of the byte tokenizer: 0 padding, 1 start of text, 2 end of text, byte `b` is `b + 3`. */
export const BYTE_PAD = 0;
export const BYTE_SOT = 1;
export const BYTE_EOT = 2;
export const BYTE_OFFSET = 3;
export const BYTE_VOCAB_SIZE = 256 + BYTE_OFFSET;

export interface ByteTokenizerOptions {
  /** Default row length. Default 256. */
  readonly contextLength?: number;
  /** Unicode normalization before encoding: `none` (default, the text's own code points) or `nfc`. */
  readonly normalization?: 'none' | 'nfc';
}

/**
 * A byte-level tokenizer for tiny models and tests: the UTF-8 bytes of the text, shifted by 3
 * (ByT5-style), between SOT (1) and EOT (2), zero padded. 259 ids, no vocabulary file, nothing lost:
 * any string round-trips, except lone UTF-16 surrogates, which UTF-8 cannot hold and become U+FFFD.
 */
export class ByteTokenizer implements TextTokenizer {
  readonly kind = 'bytes' as const;
  readonly vocabSize = BYTE_VOCAB_SIZE;
  readonly contextLength: number;
  readonly sot = BYTE_SOT;
  readonly eot = BYTE_EOT;
  readonly pad = 0 as const;
  readonly normalization: 'none' | 'nfc';
  private readonly encoder = new TextEncoder();

  constructor(options: ByteTokenizerOptions = {}) {
    this.contextLength = checkContextLength(options.contextLength ?? 256, this, 'options.contextLength');
    const normalization = options.normalization ?? 'none';
    if (normalization !== 'none' && normalization !== 'nfc') {
      throw new InvalidArgumentError('options.normalization', normalization, '"none" or "nfc"');
    }
    this.normalization = normalization;
  }

  encodeIds(text: string): Int32Array {
    if (typeof text !== 'string') throw new InvalidArgumentError('text', text, 'a string');
    const bytes = this.encoder.encode(this.normalization === 'nfc' ? text.normalize('NFC') : text);
    const ids = new Int32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) ids[i] = bytes[i]! + BYTE_OFFSET;
    return ids;
  }

  encode(text: string, options: PackOptions = {}): Encoding {
    const context = checkContextLength(options.contextLength ?? this.contextLength, this, 'options.contextLength');
    return packIds(this.encodeIds(text), this, context, options.truncate ?? true, () => text);
  }

  encodeBatch(texts: readonly string[], options: PackOptions = {}): BatchEncoding {
    if (!Array.isArray(texts)) throw new InvalidArgumentError('texts', texts, 'an array of strings');
    const context = checkContextLength(options.contextLength ?? this.contextLength, this, 'options.contextLength');
    const ids = new Int32Array(texts.length * context);
    const lengths = new Int32Array(texts.length);
    const truncated = new Uint8Array(texts.length);
    texts.forEach((text, i) => {
      if (typeof text !== 'string') throw new InvalidArgumentError(`texts[${i}]`, text, 'a string');
      const r = packInto(this.encodeIds(text), this, context, options.truncate ?? true, ids, i * context, () => text);
      lengths[i] = r.length;
      truncated[i] = r.truncated ? 1 : 0;
    });
    return finishBatch(ids, lengths, truncated, context);
  }

  /**
   * Bytes back to text (invalid UTF-8, e.g. a multi-byte character cut by truncation, becomes
   * U+FFFD). Padding is always skipped; SOT / EOT come out as `<|startoftext|>` / `<|endoftext|>`
   * unless `skipSpecialTokens`. Ids ≥ 259 throw `InvalidArgumentError`.
   */
  decode(ids: ArrayLike<number>, options: DecodeIdsOptions = {}): string {
    let text = '';
    let run: number[] = [];
    const flush = () => {
      if (run.length) text += new TextDecoder('utf-8', { ignoreBOM: true }).decode(Uint8Array.from(run));
      run = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= BYTE_VOCAB_SIZE) throw new InvalidArgumentError(`ids[${i}]`, id, `an id in [0, ${BYTE_VOCAB_SIZE - 1}]`);
      if (id >= BYTE_OFFSET) run.push(id - BYTE_OFFSET);
      else if (id !== BYTE_PAD && !options.skipSpecialTokens) {
        flush();
        text += id === BYTE_SOT ? '<|startoftext|>' : '<|endoftext|>';
      }
    }
    flush();
    return text;
  }
}

/** A byte tokenizer (see {@link ByteTokenizer}). */
export function byteTokenizer(options: ByteTokenizerOptions = {}): ByteTokenizer {
  return new ByteTokenizer(options);
}
