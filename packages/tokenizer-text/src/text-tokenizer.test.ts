import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BadPresetError, createModalityRegistry, DecodeError, InvalidArgumentError, isJsonValue } from '@omnitok/core';
import { clipTokenizer } from './bpe-tokenizer.js';
import { textTokenizer } from './text-tokenizer.js';

const CAPTION = fileURLToPath(new URL('./__fixtures__/caption.txt', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'omnitok-text-'));

describe('text plugin', () => {
  const plugin = textTokenizer();

  it('declares the contract fields and registers cleanly', () => {
    expect(plugin).toMatchObject({ specVersion: 1, name: 'text', modality: 'text', tokenKind: 'discrete', acceptsText: true, defaultPreset: 'clip' });
    expect(isJsonValue(plugin.presets)).toBe(true);
    expect(plugin.presets.clip).toEqual({ kind: 'clip-bpe', contextLength: 77 });
    expect(plugin.fileTypes[0]!.extensions).toContain('txt');
    const registry = createModalityRegistry([plugin]);
    expect(registry.byExtension('notes.txt')?.plugin).toBe(plugin);
  });

  it('routes text input and .txt files to itself', async () => {
    const registry = createModalityRegistry([plugin]);
    expect((await registry.detect({ text: 'hi' }))?.plugin).toBe(plugin);
    expect((await registry.detect(CAPTION))?.plugin).toBe(plugin);
  });

  it('decodes { text }, paths, bytes, BOMs and UTF-16; refuses binary and missing files', async () => {
    expect(await plugin.decode({ text: 'a photo' })).toBe('a photo');
    expect(await plugin.decode(CAPTION)).toBe('A photo of a cat sitting on a windowsill, watching the rain.\n');
    expect(await plugin.decode(Buffer.from('\ufeffhé', 'utf8'))).toBe('hé');
    expect(await plugin.decode(new Uint8Array([0xff, 0xfe, 0x68, 0, 0xe9, 0]))).toBe('hé');
    expect(await plugin.decode(new Uint8Array([0x61, 0xff, 0x62]))).toBe('a\ufffdb');
    await expect(plugin.decode({ bytes: new Uint8Array([0x89, 0x50, 0, 0xff]), name: 'x.png' })).rejects.toThrow(/x\.png: not UTF-8 text/);
    const missing = join(dir, 'nope.txt');
    await expect(plugin.decode(missing)).rejects.toThrow(DecodeError);
    await expect(plugin.decode(missing)).rejects.toThrow(missing);
  });

  it('preprocess gives the BPE ids without specials, shape [n], axes [token]', async () => {
    const text = await plugin.decode(CAPTION);
    const features = plugin.preprocess(text, undefined, { source: CAPTION });
    expect(features.data).toBeInstanceOf(Int32Array);
    expect(Array.from(features.data)).toEqual(Array.from(clipTokenizer().encodeIds(text)));
    expect(features.shape).toEqual([features.data.length]);
    expect(features.axes).toEqual(['token']);
    expect(features).toMatchObject({ modality: 'text', preset: 'clip', source: CAPTION });
    expect(features.data.includes(49406)).toBe(false);
  });

  it('tokenize gives [context] ids with SOT/EOT, padding, mask, vocabSize and EOT index', () => {
    const tokens = plugin.tokenize(plugin.preprocess('a photo of a cat'));
    expect(tokens.kind).toBe('discrete');
    expect(tokens.shape).toEqual([77]);
    expect(Array.from(tokens.ids.subarray(0, 8))).toEqual([49406, 320, 1125, 539, 320, 2368, 49407, 0]);
    expect(tokens).toMatchObject({ length: 7, eotIndex: 6, vocabSize: 49408, modality: 'text', preset: 'clip' });
    expect(tokens.mask[6]).toBe(1);
    expect(tokens.mask[7]).toBe(0);
  });

  it('supports the bytes preset and inline presets (custom context, no truncation)', () => {
    const bytes = plugin.tokenize(plugin.preprocess('hi', 'bytes'));
    expect(bytes).toMatchObject({ vocabSize: 259, length: 4, preset: 'bytes' });
    expect(Array.from(bytes.ids.subarray(0, 4))).toEqual([1, 107, 108, 2]);
    const short = plugin.tokenize(plugin.preprocess('a photo of a cat '.repeat(20), { kind: 'clip-bpe', contextLength: 32 }));
    expect(short.shape).toEqual([32]);
    expect(short.ids[31]).toBe(49407);
    expect(short.preset).toBe('custom');
    const strict = plugin.preprocess('a photo of a cat '.repeat(20), { name: 'strict', kind: 'clip-bpe', contextLength: 32, truncate: false });
    expect(strict.preset).toBe('strict');
    expect(() => plugin.tokenize(strict)).toThrow(InvalidArgumentError);
    expect(plugin.tokenizer('long-clip').encode('x').ids.length).toBe(248);
  });

  it('loads other vocabularies by path from a preset and names bad ones', () => {
    writeFileSync(join(dir, 'merges.txt'), '#version: 0.2\nc a\nca t</w>\n');
    const features = plugin.preprocess('cat', { kind: 'bpe', contextLength: 8, merges: join(dir, 'merges.txt') });
    expect(features.tokenizer.vocabSize).toBe(516);
    expect(Array.from(features.data)).toEqual([513]);
    const missing = join(dir, 'missing.txt.gz');
    expect(() => plugin.preprocess('cat', { kind: 'clip-bpe', contextLength: 77, merges: missing })).toThrow(DecodeError);
    expect(() => plugin.preprocess('cat', { kind: 'clip-bpe', contextLength: 77, merges: missing })).toThrow(missing);
  });

  it('rejects unknown presets and bad fields with BadPresetError', () => {
    expect(() => plugin.preprocess('x', 'gpt-9')).toThrow(BadPresetError);
    expect(() => plugin.preprocess('x', 'gpt-9')).toThrow(/clip, long-clip, bytes/);
    expect(() => plugin.preprocess('x', { kind: 'clip-bpe', contextLength: 1 })).toThrow(/field "contextLength"/);
    expect(() => plugin.preprocess('x', { kind: 'wordpiece' as never, contextLength: 8 })).toThrow(/field "kind"/);
    expect(() => plugin.preprocess('x', { kind: 'bpe', contextLength: 8 })).toThrow(/field "merges"/);
    expect(() => plugin.preprocess('x', { kind: 'bytes', contextLength: 8, merges: 'm.txt' })).toThrow(/field "merges"/);
    expect(() => textTokenizer({ presets: { bad: { kind: 'bytes', contextLength: -1 } } })).toThrow(BadPresetError);
    expect(() => plugin.preprocess(42 as never)).toThrow(InvalidArgumentError);
    expect(() => plugin.tokenize({} as never)).toThrow(InvalidArgumentError);
  });
});
