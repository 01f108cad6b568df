import { InvalidArgumentError } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import { imageAsVideo, tokenizeImageAsVideo, tubeletize } from './tubeletize.js';

const meta = { modality: 'video', preset: 'test', source: '<synthetic>' } as const;

/** `[T, C, H, W]` filled by `f(frame, channel, y, x)`. */
function tensor(T: number, C: number, H: number, W: number, f: (t: number, c: number, y: number, x: number) => number): Float32Array {
  const out = new Float32Array(T * C * H * W);
  let i = 0;
  for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[i++] = f(t, c, y, x);
  return out;
}

describe('tubeletize', () => {
  const [T, C, H, W] = [4, 3, 4, 6];
  const tubelet = [2, 2, 3] as const;

  it('tubelet k holds only the value k, tokens enumerate [T/t, H/P, W/P] row-major', () => {
    const data = tensor(T, C, H, W, (t, _c, y, x) => Math.floor(t / 2) * 4 + Math.floor(y / 2) * 2 + Math.floor(x / 3));
    const tokens = tubeletize({ ...meta, data, shape: [T, C, H, W] }, tubelet);
    expect(tokens.shape).toEqual([8, 36]);
    expect(tokens.grid).toEqual([2, 2, 2]);
    for (let k = 0; k < 8; k++) for (let j = 0; j < 36; j++) expect(tokens.data[k * 36 + j]).toBe(k);
    expect([...tokens.positions.subarray(5 * 3, 6 * 3)]).toEqual([1, 0, 1]);
  });

  it('flattens each tubelet in (C, t, P, P) order', () => {
    const data = tensor(T, C, H, W, (t, c, y, x) => c * 1000 + (t % 2) * 100 + (y % 2) * 10 + (x % 3));
    const tokens = tubeletize({ ...meta, data, shape: [T, C, H, W] }, tubelet);
    for (let k = 0; k < 8; k++) {
      let j = 0;
      for (let c = 0; c < C; c++) for (let dt = 0; dt < 2; dt++) for (let py = 0; py < 2; py++) for (let px = 0; px < 3; px++) {
        expect(tokens.data[k * 36 + j++]).toBe(c * 1000 + dt * 100 + py * 10 + px);
      }
    }
  });

  it('a linear layer on the vectors equals a Conv3d with weight [D, C, t, P, P] and stride = kernel', () => {
    let s = 7;
    const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
    const data = tensor(T, C, H, W, () => rand());
    const D = 5;
    const weight = Float32Array.from({ length: D * C * 2 * 2 * 3 }, rand); // [D, C, t, P, P]
    const tokens = tubeletize({ ...meta, data, shape: [T, C, H, W] }, tubelet);
    const at = (t: number, c: number, y: number, x: number) => data[((t * C + c) * H + y) * W + x]!;
    let k = 0;
    for (let gt = 0; gt < 2; gt++) for (let gy = 0; gy < 2; gy++) for (let gx = 0; gx < 2; gx++, k++) {
      for (let d = 0; d < D; d++) {
        let conv = 0;
        let linear = 0;
        let j = 0;
        for (let c = 0; c < C; c++) for (let dt = 0; dt < 2; dt++) for (let py = 0; py < 2; py++) for (let px = 0; px < 3; px++, j++) {
          const w = weight[d * 36 + j]!;
          conv += w * at(gt * 2 + dt, c, gy * 2 + py, gx * 3 + px);
          linear += w * tokens.data[k * 36 + j]!;
        }
        expect(linear).toBeCloseTo(conv, 10);
      }
    }
  });

  it('keeps clips apart: grid [K, T/t, H/P, W/P]', () => {
    const data = tensor(4, 1, 2, 2, (t) => t);
    const tokens = tubeletize({ ...meta, data, shape: [4, 1, 2, 2], clips: 2 }, [2, 2, 2]);
    expect(tokens.grid).toEqual([2, 1, 1, 1]);
    expect([...tokens.data]).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    expect(() => tubeletize({ ...meta, data, shape: [4, 1, 2, 2], clips: 2 }, [4, 2, 2])).toThrow(InvalidArgumentError);
  });

  it('refuses tubelets that do not divide the features', () => {
    const data = new Float32Array(T * C * H * W);
    expect(() => tubeletize({ ...meta, data, shape: [T, C, H, W] }, [3, 2, 3])).toThrow(/tubelet/);
    expect(() => tubeletize({ ...meta, data, shape: [T, C, H, W] }, [2, 4, 4])).toThrow(InvalidArgumentError);
  });
});

describe('images as t-frame videos (one tubelet stem)', () => {
  const image = { data: tensor(1, 3, 4, 4, (_t, c, y, x) => c * 100 + y * 10 + x), shape: [3, 4, 4] as [number, number, number], axes: ['channel', 'height', 'width'] as const, modality: 'image', preset: 'p', source: 's', patchSize: 2 };

  it('imageAsVideo repeats the frame', () => {
    const video = imageAsVideo(image, 2);
    expect(video.shape).toEqual([2, 3, 4, 4]);
    expect([...video.data.subarray(48)]).toEqual([...image.data]);
    expect(video.tubelet).toEqual([2, 2, 2]);
  });

  it('tokenizeImageAsVideo gives one token per patch whose two time slices are equal', () => {
    const tokens = tokenizeImageAsVideo(image as never);
    expect(tokens.shape).toEqual([4, 3 * 2 * 2 * 2]);
    expect(tokens.grid).toEqual([1, 2, 2]);
    for (let k = 0; k < 4; k++) {
      for (let c = 0; c < 3; c++) {
        const base = k * 24 + c * 8;
        expect([...tokens.data.subarray(base, base + 4)]).toEqual([...tokens.data.subarray(base + 4, base + 8)]);
      }
    }
    // Token 3 = patch (1, 1): channel 0 starts at (y 2, x 2) → 22.
    expect(tokens.data[3 * 24]).toBe(22);
  });
});
