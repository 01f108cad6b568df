import { ascii } from '../file-type.js';
import type { AnyModalityPlugin, FileTypeSignature } from '../modality-plugin.js';
import { continuousTokens } from '../token-sequence.js';

/** A minimal plugin for registry tests: it decodes nothing useful, it only has to be well formed. */
export function mockPlugin(name: string, modality: string, fileTypes: FileTypeSignature[], extra: Partial<AnyModalityPlugin> = {}): AnyModalityPlugin {
  return {
    specVersion: 1,
    name,
    modality,
    presets: { small: { size: 2 } },
    defaultPreset: 'small',
    tokenKind: 'continuous',
    fileTypes,
    async decode(input: unknown) {
      return input;
    },
    preprocess() {
      return { data: new Float32Array(4), shape: [2, 2], axes: ['a', 'b'], modality, preset: 'small' };
    },
    tokenize() {
      return continuousTokens({ data: new Float32Array(4), shape: [2, 2], grid: [2], modality, preset: 'small' });
    },
    ...extra,
  };
}

export const PNG: FileTypeSignature = {
  format: 'png',
  extensions: ['png'],
  mimeType: 'image/png',
  magic: [{ bytes: [0x89, ...ascii('PNG'), 0x0d, 0x0a, 0x1a, 0x0a] }],
};
export const JPEG: FileTypeSignature = { format: 'jpeg', extensions: ['jpg', 'jpeg'], magic: [{ bytes: [0xff, 0xd8, 0xff] }] };
export const WAV: FileTypeSignature = {
  format: 'wav',
  extensions: ['wav'],
  magic: [{ bytes: [...ascii('RIFF'), null, null, null, null, ...ascii('WAVE')] }],
};
export const MP4: FileTypeSignature = { format: 'mp4', extensions: ['mp4', 'm4v'], magic: [{ offset: 4, bytes: ascii('ftypisom') }] };
export const M4A: FileTypeSignature = { format: 'm4a', extensions: ['m4a', 'mp4'], magic: [{ offset: 4, bytes: ascii('ftypM4A ') }] };
