import { afterEach, describe, expect, it } from 'vitest';
import { mulberry32 } from './random-resized-crop.js';
import { axisCoefficients, type Interpolation, resizeView } from './resample.js';
import { simdAvailable } from './resample-simd.js';

function noise(width: number, height: number, seed: number): Uint8Array {
  const random = mulberry32(seed);
  const px = new Uint8Array(width * height * 3);
  // Mix smooth gradients with hard edges and noise, so clipping at 0 and 255 happens.
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) px[(y * width + x) * 3 + c] = (x + y) % 7 === 0 ? 255 * ((x >> 2) & 1) : Math.floor(random() * 256);
  return px;
}

describe('resample', () => {
  afterEach(() => {
    delete process.env.OMNITOK_IMAGE_NO_SIMD;
  });

  it('has WebAssembly SIMD kernels on this Node', () => {
    expect(simdAvailable()).toBe(true);
  });

  it('gives identical bytes with the SIMD kernels and the scalar port, over many sizes, windows and filters', () => {
    const random = mulberry32(11);
    for (let trial = 0; trial < 60; trial++) {
      const w = 1 + Math.floor(random() * 90);
      const h = 1 + Math.floor(random() * 90);
      const ow = 1 + Math.floor(random() * 70);
      const oh = trial % 5 === 0 ? h : 1 + Math.floor(random() * 70); // some vertical-identity cases
      const filter: Interpolation = trial % 2 === 0 ? 'bicubic' : 'bilinear';
      const data = noise(w + 3, h + 2, trial);
      const view = { data, channels: 3, stride: (w + 3) * 3, x: trial % 3, y: trial % 2, width: w, height: h };
      const wx = Math.floor(random() * ow);
      const wy = Math.floor(random() * oh);
      const window = { x: wx, y: wy, width: 1 + Math.floor(random() * (ow - wx)), height: 1 + Math.floor(random() * (oh - wy)) };
      const simd = resizeView(view, ow, oh, filter, window);
      process.env.OMNITOK_IMAGE_NO_SIMD = '1';
      const scalar = resizeView(view, ow, oh, filter, window);
      delete process.env.OMNITOK_IMAGE_NO_SIMD;
      expect(Buffer.from(simd).equals(Buffer.from(scalar)), `trial ${trial}: ${w}×${h} → ${ow}×${oh} ${filter} ${JSON.stringify(window)}`).toBe(true);
    }
  });

  it('computes Pillow coefficients: taps sum to 2^22 (±rounding) and widen with the downscale factor', () => {
    const up = axisCoefficients(10, 40, 'bicubic');
    const down = axisCoefficients(400, 100, 'bicubic');
    expect(up.ksize).toBe(5);
    expect(down.ksize).toBe(17); // support 2 × 4 = 8 → ceil(8) * 2 + 1
    for (const co of [up, down]) {
      for (let i = 0; i < co.start.length; i++) {
        let sum = 0;
        for (let t = 0; t < co.count[i]!; t++) sum += co.weights[i * co.ksize + t]!;
        expect(Math.abs(sum - 2 ** 22)).toBeLessThanOrEqual(co.count[i]!);
      }
    }
  });
});
