import { describe, expect, it } from 'vitest';
import {
  BadPresetError,
  DecodeError,
  DuplicateModalityError,
  ErrorCode,
  InvalidArgumentError,
  isOmniError,
  NoSuchModalityError,
  OmniError,
  SpecVersionError,
  UnsupportedFormatError,
} from './index.js';

describe('error classes', () => {
  const cases: [OmniError, string, RegExp, Record<string, unknown>][] = [
    [new InvalidArgumentError('--stage', 'pixels', '"features" or "tokens"'), 'E_INVALID_ARGUMENT', /--stage.*"pixels".*"features" or "tokens"/, { argument: '--stage' }],
    [new DecodeError('cat.png', 'image', 'truncated PNG data'), 'E_DECODE', /image input cat\.png: truncated PNG data/, { input: 'cat.png', modality: 'image' }],
    [new UnsupportedFormatError('notes.docx', 'docx', ['png', 'wav']), 'E_UNSUPPORTED_FORMAT', /notes\.docx.*"docx".*png, wav/, { format: 'docx', supported: ['png', 'wav'] }],
    [new BadPresetError('image', 'clip-b-99', { known: ['clip-vit-b-16', 'siglip-224'] }), 'E_BAD_PRESET', /Unknown image preset "clip-b-99".*clip-vit-b-16, siglip-224/, { preset: 'clip-b-99' }],
    [new BadPresetError('audio', 'custom', { field: 'nFft', reason: 'must be a positive integer, got -1' }), 'E_BAD_PRESET', /field "nFft" must be a positive integer, got -1/, { field: 'nFft' }],
    [new NoSuchModalityError('imu', ['image', 'text']), 'E_NO_SUCH_MODALITY', /"imu".*Registered: image, text/, { requested: 'imu', known: ['image', 'text'] }],
    [new DuplicateModalityError('image'), 'E_DUPLICATE_MODALITY', /"image" is already registered/, { pluginName: 'image' }],
    [new SpecVersionError('old', 0, [1]), 'E_SPEC_VERSION', /"old" declares specVersion 0.*supports 1/, { pluginName: 'old' }],
  ];

  for (const [error, code, message, details] of cases) {
    it(`${error.name} has code ${code}, a message naming the input, and structured details`, () => {
      expect(error).toBeInstanceOf(OmniError);
      expect(error).toBeInstanceOf(Error);
      expect(error.code).toBe(code);
      expect(Object.values(ErrorCode)).toContain(code);
      expect(error.name).toBe(error.constructor.name);
      expect(error.message).toMatch(message);
      expect(error.details).toMatchObject(details);
      expect(isOmniError(error)).toBe(true);
      const json = JSON.parse(JSON.stringify(error));
      expect(json).toMatchObject({ code, name: error.name, message: error.message });
    });
  }

  it('keeps the cause', () => {
    const cause = new Error('EOF');
    expect(new DecodeError('a.wav', 'audio', 'short read', { cause }).cause).toBe(cause);
  });

  it('cuts long values in messages', () => {
    const error = new InvalidArgumentError('text', 'x'.repeat(10_000), 'short text');
    expect(error.message.length).toBeLessThan(200);
    expect(new InvalidArgumentError('bytes', new Uint8Array(12), 'more').message).toMatch(/<12 bytes>/);
  });

  it('does not take plain errors for omnitok errors', () => {
    expect(isOmniError(new Error('x'))).toBe(false);
    expect(isOmniError({ code: 'E_DECODE' })).toBe(false);
  });

  it('has one distinct code per class', () => {
    expect(new Set(Object.values(ErrorCode)).size).toBe(Object.values(ErrorCode).length);
  });
});
