import { mulberry32 } from '@omnitok/core';
import type { ImageAugmentation } from './presets.js';

// (the seeded generator lives in @omnitok/core; re-exported here, where augmentation used to define it)
export { mulberry32 };

/** A crop rectangle in source pixels: top row `top`, left column `left`. */
export interface CropBox {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

/** What one augmentation draw decided. */
export interface AugmentationDraw {
  readonly crop: CropBox;
  readonly flip: boolean;
}

/**
 * torchvision `RandomResizedCrop.get_params`: up to 10 tries of a random area fraction in `scale` and a
 * log-uniform aspect ratio in `ratio`; a try fits when the rounded crop lies inside the image. After 10
 * misses it falls back to a center crop clamped to the ratio range (or the whole image).
 * Then `hflip` decides the flip. Python's `round` (half to even) is reproduced.
 */
export function drawAugmentation(width: number, height: number, augment: ImageAugmentation, random: () => number): AugmentationDraw {
  const crop = randomResizedCropBox(width, height, augment.scale, augment.ratio, random);
  const flip = augment.hflip > 0 && random() < augment.hflip;
  return { crop, flip };
}

export function randomResizedCropBox(
  width: number,
  height: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  random: () => number,
): CropBox {
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scale[0] + (scale[1] - scale[0]) * random());
    const aspect = Math.exp(logLo + (logHi - logLo) * random());
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = Math.floor(random() * (height - h + 1));
      const left = Math.floor(random() * (width - w + 1));
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** Python 3's `round()`: ties go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
