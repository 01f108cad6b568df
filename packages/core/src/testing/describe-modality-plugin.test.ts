import { continuousTokens } from '../plugin/token-sequence.js';
import { mockPlugin, PNG } from '../plugin/__fixtures__/mock-plugins.js';
import { readInputBytes } from '../plugin/input.js';
import { DecodeError } from '../errors/decode-error.js';
import { resolvePreset } from '../plugin/presets.js';
import { describeModalityPlugin } from './describe-modality-plugin.js';

// A small well-behaved plugin: bytes → [1, n] features → n tokens of dim 1. Running the kit on it
// checks the kit itself (each of its tests must pass on a plugin that follows the contract).
const presets = { unit: { scale: 1 }, half: { scale: 0.5 } };
const bytesPlugin = mockPlugin('bytes', 'bytes', [PNG], {
  presets,
  defaultPreset: 'unit',
  describeTokens: () => ({ kind: 'continuous', dim: 1 }),
  async decode(input: Parameters<typeof readInputBytes>[0]) {
    const { bytes, input: norm } = await readInputBytes(input, 'bytes');
    if (bytes.length < 2 || bytes[0] !== 0x89) throw new DecodeError(norm.label, 'bytes', 'not a 0x89-prefixed buffer');
    return bytes;
  },
  preprocess(bytes: Uint8Array, preset?: string) {
    const { name, preset: p } = resolvePreset('bytes', presets, preset, 'unit');
    const data = Float32Array.from(bytes, (b) => b * p.scale);
    return { data, shape: [1, data.length], axes: ['channel', 'byte'], modality: 'bytes', preset: name };
  },
  tokenize(features: { data: Float32Array; shape: number[]; preset: string }) {
    const n = features.shape[1]!;
    return continuousTokens({ data: features.data, shape: [n, 1], grid: [n], modality: 'bytes', preset: features.preset });
  },
});

describeModalityPlugin(bytesPlugin, { inputs: [new Uint8Array([0x89, 1, 2, 3])] });
