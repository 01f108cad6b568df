import { InvalidArgumentError } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import { patchify } from './patchify.js';
import type { ImageFeatures } from './preprocess-image.js';

function features(C: number, H: number, W: number, fill: (c: number, y: number, x: number) => number, patchSize = 4): ImageFeatures {
  const data = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[(c * H + y) * W + x] = fill(c, y, x);
  return { data, shape: [C, H, W], axes: ['channel', 'height', 'width'], modality: 'image', preset: 'test', source: 'synthetic', patchSize };
}

describe('patchify', () => {
  it('enumerates patches row-major: patch k holds value k everywhere', () => {
    const P = 4;
    const [H, W] = [12, 20]; // grid 3 × 5
    const tokens = patchify(features(3, H, W, (_c, y, x) => Math.floor(y / P) * (W / P) + Math.floor(x / P)));
    expect(tokens.shape).toEqual([15, 3 * P * P]);
    expect(tokens.grid).toEqual([3, 5]);
    for (let k = 0; k < 15; k++) {
      const vector = tokens.data.subarray(k * 48, (k + 1) * 48);
      expect(vector.every((v) => v === k), `patch ${k}`).toBe(true);
    }
    // positions are the (row, column) of each patch
    expect(Array.from(tokens.positions.subarray(2 * 7, 2 * 8))).toEqual([1, 2]);
    expect([tokens.kind, tokens.modality, tokens.preset, tokens.source]).toEqual(['continuous', 'image', 'test', 'synthetic']);
  });

  it('flattens each patch in (C, P, P) order, like a conv weight [D, C, P, P]', () => {
    const P = 2;
    const f = features(3, 4, 4, (c, y, x) => c * 100 + y * 10 + x, P);
    const tokens = patchify(f);
    // Patch (row 1, column 0) covers y 2..3, x 0..1.
    const k = 1 * 2 + 0;
    expect(Array.from(tokens.data.subarray(k * 12, (k + 1) * 12))).toEqual([20, 21, 30, 31, 120, 121, 130, 131, 220, 221, 230, 231]);
    // A linear layer on the vectors equals the conv: check one output with a random kernel.
    const weight = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1));
    let conv = 0;
    for (let c = 0; c < 3; c++) for (let y = 0; y < P; y++) for (let x = 0; x < P; x++) conv += weight[(c * P + y) * P + x]! * f.data[(c * 4 + 2 + y) * 4 + x]!;
    let linear = 0;
    for (let i = 0; i < 12; i++) linear += weight[i]! * tokens.data[k * 12 + i]!;
    expect(linear).toBeCloseTo(conv, 5);
  });

  it('throws InvalidArgumentError when the patch size does not divide H and W', () => {
    expect(() => patchify(features(3, 10, 12, () => 0, 4))).toThrow(InvalidArgumentError);
    expect(() => patchify(features(3, 10, 12, () => 0, 4))).toThrow(/patchSize.*4.*10×12/);
    expect(() => patchify(features(3, 8, 8, () => 0), 0)).toThrow(/patchSize/);
  });
});
