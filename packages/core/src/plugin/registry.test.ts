import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DuplicateModalityError, InvalidArgumentError, NoSuchModalityError, SpecVersionError, UnsupportedFormatError } from '../errors/index.js';
import { JPEG, M4A, MP4, mockPlugin, PNG, WAV } from './__fixtures__/mock-plugins.js';
import { ascii } from './file-type.js';
import { createModalityRegistry } from './registry.js';

const image = mockPlugin('image', 'image', [PNG, JPEG]);
const audio = mockPlugin('audio', 'audio', [WAV, M4A]);
const video = mockPlugin('video', 'video', [MP4]);
const text = mockPlugin('text', 'text', [{ format: 'txt', extensions: ['txt'] }], { acceptsText: true, tokenKind: 'discrete' });

const pngHead = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
const wavHead = new Uint8Array([...ascii('RIFF'), 1, 2, 3, 4, ...ascii('WAVEfmt ')]);
const mp4Head = new Uint8Array([0, 0, 0, 0x20, ...ascii('ftypisom'), 0, 0]);
const m4aHead = new Uint8Array([0, 0, 0, 0x20, ...ascii('ftypM4A '), 0, 0]);

describe('createModalityRegistry', () => {
  const registry = createModalityRegistry([image, video, audio, text]);

  it('keeps registration order and looks plugins up by name', () => {
    expect(registry.names).toEqual(['image', 'video', 'audio', 'text']);
    expect(registry.get('audio')).toBe(audio);
    expect(registry.has('audio')).toBe(true);
    expect(registry.has('imu')).toBe(false);
    expect(registry.list()).toHaveLength(4);
    expect(registry.byModality('text')).toEqual([text]);
  });

  it('throws NoSuchModalityError listing the registered names for an unknown name', () => {
    expect(() => registry.get('imu')).toThrow(NoSuchModalityError);
    expect(() => registry.get('imu')).toThrow('No modality plugin named "imu". Registered: image, video, audio, text.');
    try {
      registry.get('imu');
    } catch (error) {
      expect((error as NoSuchModalityError).known).toEqual(['image', 'video', 'audio', 'text']);
      expect((error as NoSuchModalityError).code).toBe('E_NO_SUCH_MODALITY');
    }
  });

  it('throws DuplicateModalityError for a repeated name', () => {
    expect(() => createModalityRegistry([image, mockPlugin('image', 'other', [])])).toThrow(DuplicateModalityError);
    expect(() => createModalityRegistry([image, image])).toThrow(/"image" is already registered/);
  });

  it('allows two plugins of one modality under different names', () => {
    const bytes = mockPlugin('text-bytes', 'text', []);
    expect(createModalityRegistry([text, bytes]).byModality('text')).toEqual([text, bytes]);
  });

  it('refuses malformed plugins and unknown spec versions', () => {
    expect(() => createModalityRegistry([{ ...image, specVersion: 2 } as never])).toThrow(SpecVersionError);
    expect(() => createModalityRegistry([{ ...image, name: '' }])).toThrow(/plugins\[0\]\.name/);
    expect(() => createModalityRegistry([{ ...image, decode: undefined } as never])).toThrow(/plugins\[0\]\.decode/);
    expect(() => createModalityRegistry([{ ...image, defaultPreset: 'huge' }])).toThrow(/defaultPreset.*"huge".*small/);
    expect(() => createModalityRegistry([{ ...image, presets: { p: { f: () => 1 } } } as never])).toThrow(/JSON-serializable/);
    expect(() => createModalityRegistry([image, null as never])).toThrow(InvalidArgumentError);
    expect(() => createModalityRegistry('image' as never)).toThrow(InvalidArgumentError);
  });

  it('looks up by extension, case-insensitive, with or without dot or file name', () => {
    expect(registry.byExtension('png')?.plugin).toBe(image);
    expect(registry.byExtension('.JPEG')?.format).toBe('jpeg');
    expect(registry.byExtension('clips/a.Wav')?.plugin).toBe(audio);
    expect(registry.byExtension('docx')).toBeUndefined();
  });

  it('gives an extension claimed twice to the plugin registered first', () => {
    expect(registry.byExtension('mp4')?.plugin).toBe(video);
    expect(createModalityRegistry([audio, video]).byExtension('mp4')?.plugin).toBe(audio);
  });

  it('looks up by magic bytes, with wildcards and offsets', () => {
    expect(registry.byMagic(pngHead)?.plugin).toBe(image);
    expect(registry.byMagic(wavHead)).toMatchObject({ plugin: audio, format: 'wav', via: 'magic' });
    expect(registry.byMagic(mp4Head)?.plugin).toBe(video);
    expect(registry.byMagic(m4aHead)?.format).toBe('m4a');
    expect(registry.byMagic(new Uint8Array([1, 2, 3]))).toBeUndefined();
    expect(registry.byMagic(pngHead.subarray(0, 4))).toBeUndefined();
    expect(registry.magicBytes).toBe(12);
  });

  it('detects files by their bytes before their extension', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-registry-'));
    const misnamed = join(dir, 'photo.wav');
    writeFileSync(misnamed, pngHead);
    expect(await registry.detect(misnamed)).toMatchObject({ plugin: image, via: 'magic', format: 'png' });
    const plain = join(dir, 'caption.txt');
    writeFileSync(plain, 'a photo of a cat');
    expect(await registry.detect(plain)).toMatchObject({ plugin: text, via: 'extension' });
    expect(await registry.detect({ bytes: wavHead })).toMatchObject({ plugin: audio, via: 'magic' });
    expect(await registry.detect({ bytes: new Uint8Array(4), name: 'x.jpg' })).toMatchObject({ plugin: image, via: 'extension' });
    expect(await registry.detect({ text: 'hello' })).toMatchObject({ plugin: text, via: 'text' });
    expect(await registry.detect(join(dir, 'missing.png'))).toMatchObject({ plugin: image, via: 'extension' });
  });

  it('resolve throws UnsupportedFormatError listing every readable extension', async () => {
    const error = await registry.resolve({ bytes: new Uint8Array([1, 2, 3]), name: 'report.docx' }).catch((e) => e);
    expect(error).toBeInstanceOf(UnsupportedFormatError);
    expect(error.message).toContain('report.docx');
    expect(error.supported).toEqual(['jpeg', 'jpg', 'm4a', 'mp4', 'm4v', 'png', 'txt', 'wav'].sort());
    await expect(createModalityRegistry([image]).resolve({ text: 'hi' })).rejects.toThrow(UnsupportedFormatError);
  });

  it('works empty', async () => {
    const empty = createModalityRegistry([]);
    expect(empty.names).toEqual([]);
    expect(() => empty.get('image')).toThrow('Registered: (none)');
    expect(await empty.detect({ bytes: pngHead })).toBeUndefined();
  });
});
