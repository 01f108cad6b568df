import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    // the leading "▁" goes from the first pieces until text comes out (sentencepiece 0.1.97's outputs)
    const [a, cat, space] = ['▁a', '▁cat', '▁'].map((p) => sp.pieceToId(p)) as [number, number, number];
    expect([[sp.unkId, a], [sp.eosId, a], [space, a], [a, cat]].map((ids) => sp.decode(ids))).toEqual([' \u2047  a', 'a', 'a', 'a cat']);
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

/*
 * Against sentencepiece 0.1.97 on a BPE model trained with Gemma's settings (SigLIP 2's text
 * tokenizer): byte fallback, identity normalizer, no dummy prefix, whitespace kept, user-defined
 * symbols, three merged pieces marked unused. Written by __fixtures__/make-sentencepiece-bpe.py.
 */
const bpeModel = new Uint8Array(readFileSync(new URL('sp-bpe.model', fixtures)));
const bpeRef = JSON.parse(readFileSync(new URL('sentencepiece-bpe.json', fixtures), 'utf8')) as typeof ref & {
  unused: string[];
  decodeOnly: { ids: number[]; decoded: string }[];
};
const bpe = SentencePieceTokenizer.fromModel(bpeModel);

describe('SentencePiece BPE tokenizer (Gemma-style) vs sentencepiece 0.1.97', () => {
  it('reads the model: BPE, byte fallback, vocabulary size and the special ids named by its trainer spec', () => {
    expect([bpe.modelType, bpe.byteFallback]).toEqual(['bpe', true]);
    expect([bpe.vocabSize, bpe.unkId, bpe.bosId, bpe.eosId, bpe.padId]).toEqual([bpeRef.vocab, bpeRef.unk, bpeRef.bos, bpeRef.eos, bpeRef.pad]);
    expect([bpe.idToPiece(bpe.bosId), bpe.idToPiece(bpe.eosId), bpe.idToPiece(bpe.padId)]).toEqual(['<bos>', '<eos>', '<pad>']);
  });

  it(`gives the same ids and pieces for all ${bpeRef.cases.length} strings`, () => {
    for (const c of bpeRef.cases) {
      expect(Array.from(bpe.encodeIds(c.text)), JSON.stringify(c.text)).toEqual(c.ids);
      expect(bpe.encodeAsPieces(c.text), JSON.stringify(c.text)).toEqual(c.pieces);
    }
  });

  it('the cases exercise byte fallback, user-defined symbols and unused pieces', () => {
    const pieces = bpeRef.cases.flatMap((c) => c.pieces);
    expect(pieces).toContain('<0xE2>'); // ☃ is no piece: its UTF-8 bytes
    expect(pieces).toContain('<start_of_turn>');
    expect(pieces).toContain('\n\n');
    expect(pieces).not.toContain('<mask>'); // a control symbol in the text is only text
    for (const unused of bpeRef.unused) {
      expect(pieces).not.toContain(unused);
      expect(bpeRef.cases.some((c) => bpe.normalize(c.text).includes(unused)), unused).toBe(true);
    }
  });

  it('decodes ids to the same text: spaces kept (no dummy prefix), byte runs as UTF-8, stray bytes as U+FFFD', () => {
    for (const c of bpeRef.cases) expect(bpe.decode(c.ids), JSON.stringify(c.text)).toBe(c.decoded);
    for (const c of bpeRef.decodeOnly) expect(bpe.decode(c.ids), c.ids.join()).toBe(c.decoded);
  });

  it('SigLIP 2 rows: lowercased, <eos> last, <pad> padding; <bos> first on request', () => {
    const siglip2 = SentencePieceTokenizer.fromModel(bpeModel, { contextLength: 16, padId: bpe.padId, canonicalize: 'lowercase' });
    const ids = Array.from(bpe.encodeIds('a photo of a cat'));
    const row = siglip2.encode('A Photo of a CAT');
    expect(Array.from(row.ids)).toEqual([...ids, bpe.eosId, ...Array(16 - ids.length - 1).fill(bpe.padId)]);
    expect([row.length, row.eotIndex]).toEqual([ids.length + 1, ids.length]);
    const withBos = SentencePieceTokenizer.fromModel(bpeModel, { contextLength: 16, addBos: true, addEos: false, padId: 0 });
    expect(Array.from(withBos.encode('a photo of a cat').ids)).toEqual([bpe.bosId, ...ids, ...Array(16 - ids.length - 1).fill(0)]);
    expect(withBos.sot).toBe(bpe.bosId);
    expect(() => SentencePieceTokenizer.fromModel(model, { addBos: false, canonicalize: 'upper' as never })).toThrow(/canonicalize/);
  });
});

/** A serialized ModelProto from parts: pieces (piece, type), trainer spec varints, normalizer spec. */
function modelBytes(pieces: [string, number][], trainer: Record<number, number> = {}): Uint8Array {
  const out: number[] = [];
  const varint = (v: number, to: number[]) => {
    for (; v >= 0x80; v = Math.floor(v / 128)) to.push((v & 0x7f) | 0x80);
    to.push(v);
  };
  const field = (num: number, payload: number[], to: number[]) => {
    varint(num * 8 + 2, to);
    varint(payload.length, to);
    to.push(...payload);
  };
  for (const [piece, type] of pieces) {
    const p: number[] = [];
    field(1, Array.from(new TextEncoder().encode(piece)), p);
    p.push(3 * 8, type);
    field(1, p, out);
  }
  const spec: number[] = [];
  for (const [num, v] of Object.entries(trainer)) {
    varint(Number(num) * 8, spec);
    varint(v, spec);
  }
  field(2, spec, out);
  return Uint8Array.from(out);
}

describe('SentencePiece model checks', () => {
  const base: [string, number][] = [['<unk>', 2], ['<s>', 3], ['</s>', 3], ['a', 1], ['b', 1], ['ab', 1]];

  it('a hand-built BPE model tokenizes (the builder is sound)', () => {
    const sp = SentencePieceTokenizer.fromModel(modelBytes(base, { 3: 2 }), { addEos: false });
    expect(sp.encodeAsPieces('abab a')).toEqual(['▁', 'ab', 'ab', '▁', 'a']); // "▁" is no piece: <unk> without byte fallback
    expect(Array.from(sp.encodeIds('abab a'))).toEqual([0, 5, 5, 0, 3]);
  });

  it('refuses word and char models, suffix whitespace, incomplete byte fallback, unigram user-defined symbols', () => {
    expect(() => SentencePieceTokenizer.fromModel(modelBytes(base, { 3: 3 }))).toThrow(/a word model/);
    expect(() => SentencePieceTokenizer.fromModel(modelBytes(base, { 3: 4 }))).toThrow(/a char model/);
    expect(() => SentencePieceTokenizer.fromModel(modelBytes(base, { 3: 2, 24: 1 }))).toThrow(/treat_whitespace_as_suffix/);
    expect(() => SentencePieceTokenizer.fromModel(modelBytes([...base, ['<0x41>', 6]], { 3: 2, 35: 1 }))).toThrow(/byte fallback with 1 byte pieces/);
    expect(() => SentencePieceTokenizer.fromModel(modelBytes([...base, ['<0x41>', 6]], { 3: 2 }))).toThrow(/without byte_fallback/);
    expect(() => SentencePieceTokenizer.fromModel(modelBytes([...base, ['<x>', 4]], { 3: 1 }))).toThrow(/user-defined/);
    expect(() => SentencePieceTokenizer.fromModel(modelBytes([...base, ['a', 1]], { 3: 2 }))).toThrow(/duplicate piece \\"a\\"/);
  });
});

describe('SentencePiece BPE as a text plugin preset', () => {
  it("{ kind: 'sentencepiece', model, addBos, padId, canonicalize: 'lowercase' } → the tokenizer's rows", async () => {
    const path = new URL('sp-bpe.model', fixtures).pathname;
    const plugin = textTokenizer({ presets: { gemma: { kind: 'sentencepiece', model: path, contextLength: 12, addBos: true, padId: 0, canonicalize: 'lowercase' } } });
    const tokens = plugin.tokenize(plugin.preprocess(await plugin.decode({ text: 'A Cat' }), 'gemma'));
    const ids = Array.from(bpe.encodeIds('a cat'));
    expect(Array.from(tokens.ids)).toEqual([bpe.bosId, ...ids, bpe.eosId, ...Array(12 - ids.length - 2).fill(0)]);
    expect(tokens.eotIndex).toBe(ids.length + 1);
    expect(() => plugin.preprocess('x', { kind: 'sentencepiece', model: path, contextLength: 12, addBos: 'yes' } as never)).toThrow(/addBos/);
    expect(() => plugin.preprocess('x', { kind: 'sentencepiece', model: path, contextLength: 12, canonicalize: 'upper' } as never)).toThrow(/canonicalize/);
    expect(() => plugin.preprocess('x', { kind: 'clip-bpe', contextLength: 12, addBos: true } as never)).toThrow(/addBos/);
  });
});

describe('SentencePieceTokenizer.fromFile', () => {
  it('reads a model file once for tokenizers of other options, and again when the file changes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-sp-'));
    const path = join(dir, 'tokenizer.model');
    writeFileSync(path, bpeModel);
    const a = SentencePieceTokenizer.fromFile(path, { addEos: false });
    const b = SentencePieceTokenizer.fromFile(path, { canonicalize: 'lowercase', padId: 0 });
    expect([a.modelType, b.modelType]).toEqual(['bpe', 'bpe']);
    expect(Array.from(b.encodeIds('A Cat'))).toEqual(Array.from(a.encodeIds('a cat')));
    expect([a.eot, b.eot]).toEqual([undefined, bpe.eosId]);
    writeFileSync(path, model); // now the unigram model: not the cached parse
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    expect(SentencePieceTokenizer.fromFile(path).modelType).toBe('unigram');
    rmSync(dir, { recursive: true, force: true });
  });
});
