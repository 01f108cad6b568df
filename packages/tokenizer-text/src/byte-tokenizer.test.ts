import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@omnitok/core';
import { BYTE_EOT, BYTE_SOT, BYTE_VOCAB_SIZE, byteTokenizer } from './byte-tokenizer.js';

describe('byte tokenizer', () => {
  const tok = byteTokenizer({ contextLength: 16 });

  it('encodes UTF-8 bytes shifted by 3 between SOT 1 and EOT 2, zero padded', () => {
    expect(BYTE_VOCAB_SIZE).toBe(259);
    expect(Array.from(tok.encodeIds('Hi é'))).toEqual([0x48 + 3, 0x69 + 3, 0x20 + 3, 0xc3 + 3, 0xa9 + 3]);
    const row = tok.encode('Hi');
    expect(Array.from(row.ids)).toEqual([BYTE_SOT, 0x48 + 3, 0x69 + 3, BYTE_EOT, ...Array(12).fill(0)]);
    expect(row.length).toBe(4);
    expect(row.eotIndex).toBe(3);
    expect(Array.from(row.mask.subarray(0, 5))).toEqual([1, 1, 1, 1, 0]);
  });

  it('round-trips any text, emoji and control characters included', () => {
    for (const t of ['', 'plain', '日本語 😀 \u0000\u0007 tab\t', 'e\u0301']) {
      expect(tok.decode(tok.encodeIds(t))).toBe(t);
      expect(tok.decode(tok.encode(t, { contextLength: 64 }).ids, { skipSpecialTokens: true })).toBe(t);
    }
    expect(tok.decode(tok.encode('ab').ids)).toBe('<|startoftext|>ab<|endoftext|>');
  });

  it('defines lone surrogates (U+FFFD), NFC on request, truncation and batches', () => {
    expect(tok.decode(tok.encodeIds('a\ud800b'))).toBe('a\ufffdb');
    expect(byteTokenizer({ normalization: 'nfc' }).encodeIds('e\u0301')).toEqual(tok.encodeIds('é'));
    const long = tok.encode('x'.repeat(100));
    expect(long.truncated).toBe(true);
    expect(long.ids[15]).toBe(BYTE_EOT);
    const batch = tok.encodeBatch(['a', 'bcd', ''], { contextLength: 6 });
    expect(batch.shape).toEqual([3, 6]);
    expect(Array.from(batch.lengths)).toEqual([3, 5, 2]);
    expect(Array.from(batch.eotIndices)).toEqual([2, 4, 1]);
    expect(Array.from(batch.ids.subarray(6, 12))).toEqual([1, 101, 102, 103, 2, 0]);
  });

  it('refuses bad arguments with typed errors', () => {
    expect(() => tok.decode([259])).toThrow(InvalidArgumentError);
    expect(() => byteTokenizer({ contextLength: 1 })).toThrow(/contextLength/);
    expect(() => byteTokenizer({ normalization: 'nfkc' as never })).toThrow(/normalization/);
    expect(() => tok.encodeIds(5 as never)).toThrow(InvalidArgumentError);
  });
});
