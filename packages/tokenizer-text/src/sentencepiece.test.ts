import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import { SentencePieceTokenizer, siglipCanonicalize } from './sentencepiece.js';
import { textTokenizer } from './text-tokenizer.js';

/*
 * Against sentencepiece 0.1.97 itself (Debian's python3-sentencepiece): a unigram model it trained and
 * the ids / pieces / decoded text it gives for 120 strings — CLIP's parity strings plus NFKC cases
 * (full-width, ligatures, ①, ㍻, ™, ½, Ⅻ), whitespace runs, tabs and newlines, unknown runs, CJK, emoji.
 * Written by __fixtures__/make-sentencepiece.py.
 */
const fixtures = new URL('./__fixtures__/', import.meta.url);
const model = new Uint8Array(readFileSync(new URL('sp-unigram.model', fixtures)));
const ref = JSON.parse(readFileSync(new URL('sentencepiece.json', fixtures), 'utf8')) as {
  vocab: number;
  unk: number;
  bos: number;
  eos: number;
  pad: number;
  cases: { text: string; ids: number[]; pieces: string[]; decoded: string }[];
};
const sp = SentencePieceTokenizer.fromModel(model);

describe('SentencePiece unigram tokenizer vs sentencepiece 0.1.97', () => {
  it('reads the model: vocabulary size and special ids', () => {
    expect([sp.vocabSize, sp.unkId, sp.bosId, sp.eosId, sp.padId]).toEqual([ref.vocab, ref.unk, ref.bos, ref.eos, ref.pad]);
  });

  it(`gives the same ids and pieces for all ${ref.cases.length} strings (one exact tie: same score, same text)`, () => {
    const differ = ref.cases.filter((c) => Array.from(sp.encodeIds(c.text)).join() !== c.ids.join());
    // "xyzzy" × 20 has two segmentations with bit-identical float32 scores (6 × "xyzzy³" + "xyzzy²",
    // the short piece first or last); sentencepiece and we break that tie differently
    expect(differ.map((c) => c.text.slice(0, 10))).toEqual(['xyzzyxyzzy']);
    for (const c of differ) {
      const ours = Array.from(sp.encodeIds(c.text));
      expect(sp.pathScore(ours)).toBe(sp.pathScore(c.ids));
      expect(sp.decode(ours)).toBe(c.decoded);
    }
    for (const c of ref.cases.filter((x) => !differ.includes(x))) expect(sp.encodeAsPieces(c.text), c.text).toEqual(c.pieces);
  });

  it('decodes ids to the same text (unknown ids as " ⁇ ")', () => {
    for (const c of ref.cases) expect(sp.decode(c.ids), c.text).toBe(c.decoded);
  });

  it('pads and ends fixed-length rows (SigLIP style: </s> last, padding with </s>); other options', () => {
    const r = sp.encodeBatch(['a photo of a cat', 'supercalifragilisticexpialidocious '.repeat(5)], { contextLength: 12 });
    expect(r.shape).toEqual([2, 12]);
    const first = Array.from(sp.encodeIds('a photo of a cat'));
    expect(Array.from(r.ids.subarray(0, 12))).toEqual([...first, sp.eosId, ...Array(12 - first.length - 1).fill(sp.eosId)]);
    expect([r.lengths[0], r.eotIndices[0]]).toEqual([first.length + 1, first.length]);
    expect(r.ids[23]).toBe(sp.eosId); // the long text is cut to leave room for </s>
    expect(r.lengths[1]).toBe(12);
    expect(sp.encode('a photo of a cat').ids).toHaveLength(64); // the default context
    const plain = SentencePieceTokenizer.fromModel(model, { contextLength: 8, addEos: false, padId: 0 });
    expect(Array.from(plain.encode('a photo of a cat').ids)).toEqual([...first, 0, 0, 0]);
    expect(() => SentencePieceTokenizer.fromModel(model, { padId: 10_000 })).toThrow(/padId/);
  });

  it('rejects bytes that are not a model, and ids out of range', () => {
    expect(() => SentencePieceTokenizer.fromModel(new Uint8Array([1, 2, 3]))).toThrow(InvalidArgumentError);
    expect(() => sp.decode([ref.vocab])).toThrow(/ids\[0\]/);
  });

  it("is a text plugin preset: { kind: 'sentencepiece', model } → ids, </s>, </s> padding, mask, EOT index", async () => {
    const plugin = textTokenizer({ presets: { tiny: { kind: 'sentencepiece', model: new URL('sp-unigram.model', fixtures).pathname, contextLength: 16 } } });
    const tokens = plugin.tokenize(plugin.preprocess(await plugin.decode({ text: 'a photo of a cat' }), 'tiny'));
    const ids = Array.from(sp.encodeIds('a photo of a cat'));
    expect(Array.from(tokens.ids)).toEqual([...ids, sp.eosId, ...Array(16 - ids.length - 1).fill(sp.eosId)]);
    expect([tokens.vocabSize, tokens.eotIndex, tokens.length]).toEqual([ref.vocab, ids.length, ids.length + 1]);
    expect(Array.from(tokens.mask).filter(Boolean)).toHaveLength(ids.length + 1);
    expect(() => plugin.preprocess('x', { kind: 'sentencepiece', contextLength: 16 } as never)).toThrow(/model/);
  });

  it("canonicalize 'siglip': HF SiglipTokenizer's lowercase + canonicalize_text before SentencePiece", () => {
    expect(siglipCanonicalize('  A Photo, of a "Cat"!\t(2 Dogs) -- ok?  ')).toBe('a photo of a cat 2 dogs ok');
    expect(siglipCanonicalize("it's 100% {great}_stuff")).toBe('its 100 greatstuff');
    expect(siglipCanonicalize('Ünïcödé — “quotes” stay')).toBe('ünïcödé — “quotes” stay'); // string.punctuation is ASCII only
    const s = SentencePieceTokenizer.fromModel(model, { canonicalize: 'siglip' });
    expect(Array.from(s.encodeIds('A PHOTO, of a cat!'))).toEqual(Array.from(sp.encodeIds('a photo of a cat')));
    expect(() => SentencePieceTokenizer.fromModel(model, { canonicalize: 'lower' as never })).toThrow(/canonicalize/);
  });
});
