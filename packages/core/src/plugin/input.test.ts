import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DecodeError, InvalidArgumentError, UnsupportedFormatError } from '../errors/index.js';
import { extensionOf, normalizeInput, readInputBytes } from './input.js';

describe('inputs', () => {
  it('normalizes every accepted input form', () => {
    expect(normalizeInput('a/b/Cat.PNG')).toMatchObject({ kind: 'path', label: 'a/b/Cat.PNG', extension: 'png' });
    expect(normalizeInput(Buffer.from([1, 2]))).toMatchObject({ kind: 'bytes', label: '<2 bytes>' });
    expect(normalizeInput({ bytes: new Uint8Array(3), name: 'x.wav' })).toMatchObject({ kind: 'bytes', label: 'x.wav', extension: 'wav' });
    expect(normalizeInput({ path: 'v.mp4' })).toMatchObject({ kind: 'path', extension: 'mp4' });
    expect(normalizeInput({ text: 'hi' })).toMatchObject({ kind: 'text', text: 'hi' });
    expect(() => normalizeInput(42 as never)).toThrow(InvalidArgumentError);
    expect(() => normalizeInput('')).toThrow(InvalidArgumentError);
  });

  it('finds extensions only in the last path segment', () => {
    expect(extensionOf('dir.v2/file')).toBeUndefined();
    expect(extensionOf('.bashrc')).toBeUndefined();
    expect(extensionOf('archive.tar.GZ')).toBe('gz');
  });

  it('reads bytes from paths and names missing files in a DecodeError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-input-'));
    writeFileSync(join(dir, 'a.bin'), Buffer.from([5, 6]));
    expect(Array.from((await readInputBytes(join(dir, 'a.bin'), 'image')).bytes)).toEqual([5, 6]);
    const missing = join(dir, 'missing.png');
    await expect(readInputBytes(missing, 'image')).rejects.toThrow(DecodeError);
    await expect(readInputBytes(missing, 'image')).rejects.toThrow(`${missing}: no such file`);
    await expect(readInputBytes(dir, 'image')).rejects.toThrow(/is a directory/);
    await expect(readInputBytes({ text: 'x' }, 'image')).rejects.toThrow(UnsupportedFormatError);
  });
});
