import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@omnitok/core';
import { BpeTokenizer, clipTokenizer } from './bpe-tokenizer.js';
import { clipNormalize, clipPretokenize } from './clean-text.js';

const SOT = 49406;
const EOT = 49407;
const tok = clipTokenizer();

describe('CLIP rows: context, truncation, padding, mask, EOT index', () => {
  it('wraps ids in SOT/EOT, pads with zeros and masks the real ids', () => {
    const ids = Array.from(tok.encodeIds('a photo of a cat'));
    const row = tok.encode('a photo of a cat');
    expect(row.ids.length).toBe(77);
    expect(Array.from(row.ids.subarray(0, ids.length + 2))).toEqual([SOT, ...ids, EOT]);
    expect(row.ids.subarray(ids.length + 2).every((v) => v === 0)).toBe(true);
    expect(row.length).toBe(ids.length + 2);
    expect(row.eotIndex).toBe(ids.length + 1);
    expect(Array.from(row.mask).reduce((a, b) => a + b, 0)).toBe(row.length);
    expect(row.mask[row.length - 1]).toBe(1);
    expect(row.mask[row.length]).toBe(0);
    expect(row.truncated).toBe(false);
  });

  it('cuts long texts open_clip style: first context-1 of [SOT, ...ids], EOT last', () => {
    const text = Array.from({ length: 100 }, (_, i) => `word${i}`).join(' ');
    const all = Array.from(tok.encodeIds(text));
    const row = tok.encode(text, { contextLength: 16 });
    expect(Array.from(row.ids)).toEqual([SOT, ...all.slice(0, 14), EOT]);
    expect(row.length).toBe(16);
    expect(row.eotIndex).toBe(15);
    expect(row.truncated).toBe(true);
    expect(() => tok.encode(text, { contextLength: 16, truncate: false })).toThrow(InvalidArgumentError);
    // Exactly full is not truncated.
    const exact = tok.encode('a b c', { contextLength: 5 });
    expect(Array.from(exact.ids)).toEqual([SOT, ...tok.encodeIds('a b c'), EOT]);
    expect(exact.truncated).toBe(false);
  });

  it('batches into one [B, context] array equal to the rows one by one', () => {
    const texts = ['a photo of a cat', '', 'Two dogs &amp; a ball!', 'x '.repeat(200), '日本語のテキスト 😀'];
    const batch = tok.encodeBatch(texts, { contextLength: 20 });
    expect(batch.shape).toEqual([5, 20]);
    expect(batch.ids.length).toBe(100);
    texts.forEach((t, i) => {
      const row = tok.encode(t, { contextLength: 20 });
      expect(Array.from(batch.ids.subarray(i * 20, (i + 1) * 20))).toEqual(Array.from(row.ids));
      expect(Array.from(batch.mask.subarray(i * 20, (i + 1) * 20))).toEqual(Array.from(row.mask));
      expect(batch.lengths[i]).toBe(row.length);
      expect(batch.eotIndices[i]).toBe(row.eotIndex);
      expect(batch.ids[i * 20 + batch.eotIndices[i]!]).toBe(EOT);
      expect(batch.truncated[i]).toBe(row.truncated ? 1 : 0);
    });
    expect(batch.truncated[3]).toBe(1);
    expect(tok.encodeBatch([]).shape).toEqual([0, 77]);
  });

  it('takes a custom default context and refuses impossible ones', () => {
    expect(clipTokenizer({ contextLength: 32 }).encode('hi').ids.length).toBe(32);
    expect(clipTokenizer({ contextLength: 32 }).model).toBe(tok.model);
    expect(() => tok.encode('hi', { contextLength: 1 })).toThrow(InvalidArgumentError);
    expect(() => clipTokenizer({ contextLength: 2.5 })).toThrow(/contextLength/);
    expect(tok.encode('hi', { contextLength: 2 }).ids).toEqual(Int32Array.of(SOT, EOT));
  });
});

describe('decode', () => {
  it('inverts encode up to CLIP normalization: words joined by spaces', () => {
    const texts = ['a photo of a cat', 'Crème Brûlée, 3.14!', "it's 日本語 😀👍🏽", '&lt;b&gt; HTML', 'ＬＯＵＤ cafÃ©'];
    for (const t of texts) {
      const words = clipPretokenize(clipNormalize(t));
      expect(tok.decode(tok.encodeIds(t))).toBe(words.map((w) => `${w} `).join(''));
    }
    expect(tok.decode([SOT, 320, 2368, EOT])).toBe('<|startoftext|>a cat <|endoftext|>');
    expect(tok.decode([SOT, 320, 2368, EOT], { skipSpecialTokens: true })).toBe('a cat ');
  });

  it('replaces broken UTF-8 with U+FFFD and refuses unknown ids', () => {
    const ids = Array.from(tok.encodeIds('𓀀'));
    expect(ids.length).toBeGreaterThan(1);
    expect(tok.decode(ids.slice(0, 1))).toContain('\ufffd');
    expect(() => tok.decode([49408])).toThrow(InvalidArgumentError);
    expect(() => tok.decode([-1])).toThrow(/ids\[0\]/);
  });
});

describe('bad input', () => {
  it('gives [SOT, EOT] for empty and whitespace-only text', () => {
    for (const t of ['', '   ', '\t\n\r ', '\u3000\u00a0']) {
      expect(Array.from(tok.encodeIds(t))).toEqual([]);
      expect(tok.encode(t).length).toBe(2);
      expect(tok.encode(t).eotIndex).toBe(1);
    }
  });

  it('turns lone surrogates into U+FFFD and drops control characters', () => {
    expect(tok.encodeIds('a \ud800 b')).toEqual(tok.encodeIds('a \ufffd b'));
    expect(tok.encodeIds('a \udc00')).toEqual(tok.encodeIds('a \ufffd'));
    expect(tok.encodeIds('ca\x00t\x07\x1b[1m')).toEqual(tok.encodeIds('cat'));
  });

  it('handles 1 MB of text and a 200 kB word with a defined, truncated row', () => {
    const big = 'The quick brown fox, 42 times; café & 日本. '.repeat(25_000).slice(0, 1_000_000);
    const row = tok.encode(big);
    expect(row.truncated).toBe(true);
    expect(row.ids[76]).toBe(EOT);
    expect(Array.from(row.ids.subarray(1, 10))).toEqual(Array.from(tok.encodeIds(big.slice(0, 40)).subarray(0, 9)));
    let seed = 7;
    const letters = Array.from({ length: 200_000 }, () => String.fromCharCode(97 + ((seed = (seed * 1103515245 + 12345) >>> 0) % 26))).join('');
    const ids = tok.encodeIds(letters);
    expect(tok.decode(ids)).toBe(`${letters} `);
  });

  it('refuses non-strings with a typed error naming the argument', () => {
    expect(() => tok.encode(42 as never)).toThrow(InvalidArgumentError);
    expect(() => tok.encodeBatch(['ok', null as never])).toThrow(/texts\[1\]/);
    expect(() => tok.encodeBatch('abc' as never)).toThrow(/texts/);
  });
});

describe('BPE engine', () => {
  it('the heap path for long words gives the same ids as the reference loop', () => {
    const heap = new BpeTokenizer(tok.vocabulary, { kind: 'clip-bpe' });
    heap.model.heapThreshold = 1;
    const loop = new BpeTokenizer(tok.vocabulary, { kind: 'clip-bpe' });
    loop.model.heapThreshold = Infinity;
    let seed = 1;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
    const alphabet = 'aaabcdeeeefghiiijklmnooopqrssttuvwxyzéü日本';
    for (let k = 0; k < 200; k++) {
      const word = Array.from({ length: 2 + rand(300) }, () => alphabet[rand(alphabet.length)]).join('');
      expect(Array.from(heap.encodeIds(word))).toEqual(Array.from(loop.encodeIds(word)));
    }
    expect(Array.from(heap.encodeIds('a'.repeat(1000)))).toEqual(Array.from(loop.encodeIds('a'.repeat(1000))));
  });

  it('keeps the word cache bounded', () => {
    const small = new BpeTokenizer(tok.vocabulary, { kind: 'clip-bpe', cacheSize: 50 });
    const texts = Array.from({ length: 500 }, (_, i) => `w${i}x${i * 7}y`);
    const before = texts.map((t) => Array.from(small.encodeIds(t)));
    expect(small.model.cachedWords).toBeLessThanOrEqual(52);
    expect(texts.map((t) => Array.from(small.encodeIds(t)))).toEqual(before);
    expect(texts.map((t) => Array.from(tok.encodeIds(t)))).toEqual(before);
  });
});
