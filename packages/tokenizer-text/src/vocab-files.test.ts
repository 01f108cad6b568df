import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '@omnitok/core';
import { BpeTokenizer, clipTokenizer } from './bpe-tokenizer.js';
import { CLIP_MERGE_COUNT, clipVocabPath, loadClipVocabulary, loadVocabJson, parseMerges } from './vocab-files.js';

const dir = mkdtempSync(join(tmpdir(), 'omnitok-vocab-'));
const clip = clipTokenizer();
const SAMPLES = ['a photo of a cat', "It's 2024: Crème brûlée & 日本語 😀", 'supercalifragilisticexpialidocious', '&lt;tag&gt; x'];

describe('vocabulary files', () => {
  it('bundles the CLIP vocabulary next to the module: 48,894 merges, 49,408 tokens', () => {
    expect(clipVocabPath()).toMatch(/assets[\\/]bpe_simple_vocab_16e6\.txt\.gz$/);
    const v = loadClipVocabulary();
    expect(v.merges.length).toBe(CLIP_MERGE_COUNT);
    expect(v.tokens.length).toBe(49408);
    expect(v.tokens[49406]).toBe('<|startoftext|>');
    expect(v.tokens[0]).toBe('!');
    expect(v.tokens[256]).toBe('!</w>');
    expect(v.merges[0]).toEqual(['i', 'n']);
  });

  it('loads a CLIP-format merges file by path, gzipped or not, with a merge limit', () => {
    const text = `#version: 0.2\n${clip.vocabulary.merges.slice(0, 2000).map((m) => m.join(' ')).join('\n')}\n`;
    writeFileSync(join(dir, 'small.txt'), text);
    writeFileSync(join(dir, 'small.txt.gz'), gzipSync(text));
    const plain = new BpeTokenizer(loadClipVocabulary(join(dir, 'small.txt')));
    const gz = new BpeTokenizer(loadClipVocabulary(join(dir, 'small.txt.gz')));
    expect(plain.vocabSize).toBe(514 + 2000);
    for (const s of SAMPLES) expect(gz.encodeIds(s)).toEqual(plain.encodeIds(s));
    expect(loadClipVocabulary(join(dir, 'small.txt'), { maxMerges: 10 }).merges.length).toBe(10);
  });

  it('loads vocab.json + merges.txt (Hugging Face CLIP layout) with ids identical to the bundled tokenizer', () => {
    const vocab: Record<string, number> = {};
    clip.vocabulary.tokens.forEach((t, i) => (vocab[t] = i));
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab));
    writeFileSync(join(dir, 'merges.txt'), `#version: 0.2\n${clip.vocabulary.merges.map((m) => m.join(' ')).join('\n')}\n`);
    const hf = new BpeTokenizer(loadVocabJson(join(dir, 'vocab.json'), join(dir, 'merges.txt')));
    expect(hf.vocabSize).toBe(49408);
    expect(hf.sot).toBe(49406);
    expect(hf.eot).toBe(49407);
    for (const s of SAMPLES) expect(Array.from(hf.encode(s).ids)).toEqual(Array.from(clip.encode(s).ids));
  });

  it('names the file in a DecodeError when it is missing or malformed', () => {
    const missing = join(dir, 'missing.txt.gz');
    expect(() => loadClipVocabulary(missing)).toThrow(DecodeError);
    expect(() => loadClipVocabulary(missing)).toThrow(`${missing}: cannot read vocabulary file: no such file`);
    writeFileSync(join(dir, 'bad.txt'), '#version: 0.2\na b\nc d e\n');
    expect(() => loadClipVocabulary(join(dir, 'bad.txt'))).toThrow(/bad\.txt: malformed merges line 3/);
    writeFileSync(join(dir, 'corrupt.gz'), Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3]));
    expect(() => loadClipVocabulary(join(dir, 'corrupt.gz'))).toThrow(/corrupt\.gz: corrupt gzip data/);
    writeFileSync(join(dir, 'empty.txt'), '#version: 0.2\n');
    expect(() => loadClipVocabulary(join(dir, 'empty.txt'))).toThrow(/no merges/);
    writeFileSync(join(dir, 'broken.json'), '{"a": 0,');
    expect(() => loadVocabJson(join(dir, 'broken.json'), join(dir, 'merges.txt'))).toThrow(/broken\.json: vocab\.json is not valid JSON/);
    writeFileSync(join(dir, 'gap.json'), '{"a": 0, "b": 5}');
    expect(() => loadVocabJson(join(dir, 'gap.json'), join(dir, 'merges.txt'))).toThrow(/gap\.json.*"b"/);
    writeFileSync(join(dir, 'tiny.json'), '{"a": 0, "b": 1}');
    writeFileSync(join(dir, 'tiny-merges.txt'), '#version: 0.2\na b\n');
    expect(() => loadVocabJson(join(dir, 'tiny.json'), join(dir, 'tiny-merges.txt'))).toThrow(/tiny-merges\.txt: merge 1 .*"ab"/);
  });

  it('parses merges like Python str.split and skips the header line', () => {
    expect(parseMerges('#version: 0.2\na  b\r\nc\td\n\n', 'x')).toEqual([['a', 'b'], ['c', 'd']]);
    expect(parseMerges('"file.txt#version: 0.2\ni n\n', 'x')).toEqual([['i', 'n']]);
  });
});
