import {
  ascii,
  BadPresetError,
  continuousTokens,
  DecodeError,
  defineModalityPlugin,
  discreteTokens,
  type Features,
  normalizeInput,
  readInputBytes,
  resolvePreset,
} from '@omnitok/core';

/**
 * Two small but real plugins for the CLI's tests: ASCII PGM (P2) grayscale images cut into P×P patches,
 * and text as Unicode code points. They exercise every path of `omnitok tokenize` without the heavy
 * tokenizer packages.
 */
export function pgmPlugin() {
  const presets = { 'patch-2': { patch: 2, scale: 255 }, 'patch-1': { patch: 1, scale: 1 } };
  return defineModalityPlugin({
    specVersion: 1,
    name: 'pgm',
    modality: 'gray',
    description: 'ASCII PGM images (test plugin)',
    presets,
    defaultPreset: 'patch-2',
    tokenKind: 'continuous',
    fileTypes: [{ format: 'pgm', extensions: ['pgm'], magic: [{ bytes: ascii('P2') }] }],
    async decode(input) {
      const { bytes, input: norm } = await readInputBytes(input, 'gray');
      const fields = new TextDecoder().decode(bytes).split(/\s+/).filter(Boolean);
      if (fields[0] !== 'P2') throw new DecodeError(norm.label, 'gray', 'missing P2 header');
      const [w, h] = [Number(fields[1]), Number(fields[2])];
      const pixels = fields.slice(4).map(Number);
      if (pixels.length !== w * h) throw new DecodeError(norm.label, 'gray', `expected ${w * h} pixels, found ${pixels.length}`);
      return { width: w, height: h, pixels: Float32Array.from(pixels), source: norm.label };
    },
    preprocess(decoded, preset) {
      const { name, preset: p } = resolvePreset('gray', presets, preset, 'patch-2');
      if (!Number.isInteger(p.patch) || p.patch <= 0) throw new BadPresetError('gray', name, { field: 'patch', reason: `must be a positive integer, got ${p.patch}` });
      const data = decoded.pixels.map((v: number) => v / p.scale);
      return { data, shape: [1, decoded.height, decoded.width], axes: ['channel', 'height', 'width'], modality: 'gray', preset: name, source: decoded.source, patch: p.patch };
    },
    tokenize(features: Features & { patch?: number }) {
      const P = features.patch ?? 2;
      const [, H, W] = features.shape as [number, number, number];
      const gh = H / P;
      const gw = W / P;
      const out = new Float32Array(gh * gw * P * P);
      for (let gy = 0; gy < gh; gy++)
        for (let gx = 0; gx < gw; gx++)
          for (let y = 0; y < P; y++)
            for (let x = 0; x < P; x++) out[(gy * gw + gx) * P * P + y * P + x] = features.data[(gy * P + y) * W + gx * P + x]!;
      return continuousTokens({ data: out, shape: [gh * gw, P * P], grid: [gh, gw], modality: 'gray', preset: features.preset, source: features.source });
    },
  });
}

export function charsPlugin() {
  const presets = { 'ctx-8': { context: 8 } };
  return defineModalityPlugin({
    specVersion: 1,
    name: 'chars',
    modality: 'text',
    presets,
    defaultPreset: 'ctx-8',
    tokenKind: 'discrete',
    acceptsText: true,
    fileTypes: [{ format: 'text', extensions: ['txt'] }],
    async decode(input) {
      const norm = normalizeInput(input);
      if (norm.kind === 'text') return norm.text!;
      return new TextDecoder().decode((await readInputBytes(norm, 'text')).bytes);
    },
    preprocess(text: string, preset) {
      const { name } = resolvePreset('text', presets, preset, 'ctx-8');
      const ids = Int32Array.from(Array.from(text), (c) => c.codePointAt(0)!);
      return { data: ids, shape: [ids.length], axes: ['token'], modality: 'text', preset: name };
    },
    tokenize(features) {
      const ids = new Int32Array(8);
      const n = Math.min(8, features.data.length);
      ids.set(features.data.subarray(0, n));
      return discreteTokens({ ids, length: n, vocabSize: 0x110000, modality: 'text', preset: features.preset });
    },
  });
}
