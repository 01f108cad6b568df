import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DecodeError, InvalidArgumentError } from '@omnitok/core';
import { BpeTokenizer } from './bpe-tokenizer.js';
import { trainBpe, trainBpeFromFiles } from './train-bpe.js';
import { loadClipVocabulary, saveMerges, serializeMerges } from './vocab-files.js';

// Sennrich et al.'s example: low ×5, lower ×2, newest ×6, widest ×3, with CLIP's `</w>` glued to
// the last character. Worked out by hand (count, then ties → smaller first symbol, then second):
//  1 e s (9, ties s t</w> 9)   2 es t</w> (9)   3 l o (7)   4 e w (6; ties n e, w es… → "e" first)
//  5 ew est</w> (6, "ew" < "n")   6 n ewest</w> (6)   7 lo w</w> (5)   8 d est</w> (3; "d" < "i" < "w")
//  9 i dest</w> (3)   10 w idest</w> (3)   11 e r</w> (2; "e" < "lo" < "w")   12 lo w (2)   13 low er</w> (2)
const CLASSIC = [...Array(5).fill('low'), ...Array(2).fill('lower'), ...Array(6).fill('newest'), ...Array(3).fill('widest')];
const CLASSIC_MERGES = [
  ['e', 's'], ['es', 't</w>'], ['l', 'o'], ['e', 'w'], ['ew', 'est</w>'], ['n', 'ewest</w>'], ['lo', 'w</w>'],
  ['d', 'est</w>'], ['i', 'dest</w>'], ['w', 'idest</w>'], ['e', 'r</w>'], ['lo', 'w'], ['low', 'er</w>'],
];

describe('trainBpe', () => {
  it('reproduces the hand-worked merge table of the classic example', () => {
    const trained = trainBpe(CLASSIC, { vocabSize: 1000 });
    expect(trained.merges).toEqual(CLASSIC_MERGES);
    expect(trained.vocabulary.tokens.length).toBe(514 + 13);
  });

  it('is independent of corpus order and of how words are grouped into texts', () => {
    const shuffled = [...CLASSIC].reverse();
    expect(trainBpe(shuffled, { vocabSize: 1000 }).merges).toEqual(CLASSIC_MERGES);
    expect(trainBpe([CLASSIC.join(' ')], { vocabSize: 1000 }).merges).toEqual(CLASSIC_MERGES);
  });

  it('stops at the requested vocabulary size and at minFrequency', () => {
    expect(trainBpe(CLASSIC, { vocabSize: 514 }).merges).toEqual([]);
    expect(trainBpe(CLASSIC, { vocabSize: 517 }).merges).toEqual(CLASSIC_MERGES.slice(0, 3));
    expect(trainBpe(CLASSIC, { vocabSize: 1000, minFrequency: 6 }).merges).toEqual(CLASSIC_MERGES.slice(0, 6));
    expect(() => trainBpe(CLASSIC, { vocabSize: 100 })).toThrow(InvalidArgumentError);
    expect(() => trainBpe(CLASSIC, { vocabSize: 600, minFrequency: 0 })).toThrow(/minFrequency/);
    expect(() => trainBpe('low' as never, { vocabSize: 600 })).toThrow(/corpus/);
    expect(() => trainBpe(['ok', 3 as never], { vocabSize: 600 })).toThrow(/corpus\[1\]/);
  });

  it('encodes with the trained merges: training words become single tokens', () => {
    const tok = trainBpe(CLASSIC, { vocabSize: 1000 }).tokenizer({ contextLength: 8 });
    expect(tok.vocabSize).toBe(527);
    expect(tok.sot).toBe(525);
    expect(tok.eot).toBe(526);
    expect(Array.from(tok.encodeIds('Newest widest low lower'))).toEqual([512 + 5, 512 + 9, 512 + 6, 512 + 12]);
    // Unseen word: merges by rank → "low" + "est</w>".
    expect(Array.from(tok.encodeIds('lowest'))).toEqual([512 + 11, 512 + 1]);
    expect(tok.decode(tok.encodeIds('lowest'))).toBe('lowest ');
    expect(Array.from(tok.encode('low').ids)).toEqual([525, 518, 526, 0, 0, 0, 0, 0]);
  });

  it('saves the merges in CLIP format and loads them back into the same tokenizer', () => {
    const captions = Array.from({ length: 300 }, (_, i) => `a photo of ${['a cat', 'two dogs', 'the red car', 'café crème', '日本の猫'][i % 5]} number ${i % 17}`);
    const trained = trainBpe(captions, { vocabSize: 600 });
    expect(trained.merges.length).toBeGreaterThan(20);
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-bpe-'));
    for (const file of ['merges.txt', 'merges.txt.gz']) {
      const path = join(dir, file);
      saveMerges(path, trained.merges);
      const loaded = loadClipVocabulary(path);
      expect(loaded.merges).toEqual(trained.merges);
      expect(loaded.tokens).toEqual(trained.vocabulary.tokens);
      const a = new BpeTokenizer(loaded);
      const b = trained.tokenizer();
      for (const c of captions.slice(0, 20)) expect(Array.from(a.encodeIds(c))).toEqual(Array.from(b.encodeIds(c)));
    }
    expect(readFileSync(join(dir, 'merges.txt'), 'utf8')).toBe(serializeMerges(trained.merges));
    expect(serializeMerges(trained.merges).split('\n')[0]).toBe(`#version: 0.2 omnitok-bpe merges=${trained.merges.length}`);
  });

  it('trains from files, one text per line, and names a missing file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-bpe-'));
    writeFileSync(join(dir, 'a.txt'), CLASSIC.slice(0, 8).join('\n'));
    writeFileSync(join(dir, 'b.txt'), CLASSIC.slice(8).join('\n'));
    const trained = await trainBpeFromFiles([join(dir, 'a.txt'), join(dir, 'b.txt')], { vocabSize: 1000 });
    expect(trained.merges).toEqual(CLASSIC_MERGES);
    const missing = join(dir, 'nope.txt');
    await expect(trainBpeFromFiles([missing], { vocabSize: 600 })).rejects.toThrow(DecodeError);
    await expect(trainBpeFromFiles([missing], { vocabSize: 600 })).rejects.toThrow(missing);
  });
});
