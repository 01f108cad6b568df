import { BadPresetError } from '@omnitok/core';
import { INTERPOLATIONS, type Interpolation } from './resample.js';

/**
 * How an image becomes a `[C, H, W]` feature array. Plain JSON, so it can be printed, stored in a
 * checkpoint and diffed. Named presets are in {@link IMAGE_PRESETS}; an inline object of this shape is a
 * custom preset and is validated by {@link validateImagePreset}.
 *
 * Evaluation pipeline (torchvision semantics on a PIL image):
 * - `resize: 'shortest'` — scale so the shorter side is `resizeSize` (default: the output side),
 *   the longer side `int(resizeSize * long / short)`; then `crop: 'center'` to `size`
 *   (torchvision `Resize(int)` + `CenterCrop`, as CLIP and ImageNet evaluation do).
 * - `resize: 'squash'` — scale to `resizeSize × resizeSize` (or exactly `size` when `resizeSize` is
 *   absent) ignoring the aspect ratio (SigLIP); `crop: 'center'` may then cut `size` out of it.
 * - `resize: 'longest-pad'` — scale so the longer side is the output side (shorter side
 *   `int(side * short / long)`, at least 1), then pad to a square with `padColor`, the image centered
 *   (offset `floor((side - n) / 2)`, as LLaVA's `expand2square`). Needs a square `size` and `crop: 'none'`.
 * - `resize: 'naflex'` — SigLIP 2 NaFlex: keep the aspect ratio and scale each image to the largest size
 *   whose sides are multiples of `patchSize` with at most `maxPatches` patches (transformers'
 *   `get_image_size_for_max_num_patches`), so the output size varies per image; the tokens are padded
 *   to `maxPatches` rows with a mask, their grid the image's. `size` is then only the square image at
 *   the budget (informational); `crop: 'none'`. Augmentation crops within the image's own size.
 * Then `/255`, and `(x - mean) / std` per channel, in float32 as torch does.
 *
 * Training pipeline (`preprocess(..., { augment: true, seed })`): torchvision `RandomResizedCrop(size,
 * scale, ratio)` with the preset's interpolation replaces resize + crop, then a horizontal flip with
 * probability `augment.hflip`, then the same normalization.
 */
export interface ImagePreset {
  /** Recorded in the features' metadata (`custom` when absent on an inline preset). */
  readonly name?: string;
  readonly description?: string;
  /** Output side (square) or `[height, width]`. */
  readonly size: number | readonly [number, number];
  /** ViT patch side; `size` must be a multiple of it. */
  readonly patchSize: number;
  readonly resize: 'shortest' | 'squash' | 'longest-pad' | 'naflex';
  /** `naflex` only: the patch budget per image (Siglip2ImageProcessor's `max_num_patches`). */
  readonly maxPatches?: number;
  /** Resize target before the crop (`shortest`: the short side; `squash`: both sides). */
  readonly resizeSize?: number;
  readonly crop: 'center' | 'none';
  /**
   * A Pillow filter (`bicubic`, `bilinear`, `nearest`: 8-bit passes with antialiasing, as `Image.resize`),
   * or `bilinear-torch`: `torch.nn.functional.interpolate(mode='bilinear', align_corners=False)` on
   * float32 pixels / 255 — no antialias, no 8-bit rounding — with `resize: 'shortest'` sized as
   * pytorchvideo's `short_side_scale` (`floor(long / short · side)`), as ImageBind's and other
   * pytorchvideo pipelines preprocess video frames.
   */
  readonly interpolation: Interpolation | 'bilinear-torch';
  /**
   * Where an odd margin puts the centre crop: `round` (default) is torchvision's `CenterCrop`
   * (`round((size − crop) / 2)`, half to even), `ceil` is pytorchvideo / SlowFast `uniform_crop`
   * (`ceil(...)`), `floor` is Hugging Face image processors' `center_crop` (`(size − crop) // 2`);
   * `start` puts the whole margin after the crop — what a ViT's "valid" patch convolution keeps when
   * the patch size does not divide the image (google/siglip-so400m-patch14-384: 27 patches of 14 from
   * the first 378 of 384 pixels).
   */
  readonly cropRounding?: 'round' | 'ceil' | 'floor' | 'start';
  /** Per-channel mean and std on the [0, 1] scale; one entry per output channel. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** 3 for RGB, 1 for grayscale (Pillow's `convert('L')`: ITU-R 601-2 luma, before resizing). */
  readonly channels: 1 | 3;
  /** `longest-pad` fill colour, 0–255 per channel; default: the mean colour (normalizes to 0). */
  readonly padColor?: readonly number[];
  /** Training augmentation; used only when `preprocess` is called with `augment: true`. */
  readonly augment?: ImageAugmentation;
}

/** torchvision `RandomResizedCrop(scale, ratio)` followed by `RandomHorizontalFlip(hflip)`. */
export interface ImageAugmentation {
  /** Range of the crop's area as a fraction of the image's area. */
  readonly scale: readonly [number, number];
  /** Range of the crop's aspect ratio (width / height), sampled log-uniformly. */
  readonly ratio: readonly [number, number];
  /** Probability of a horizontal flip, 0–1. */
  readonly hflip: number;
}

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

// open_clip's training transform: RandomResizedCrop(scale=(0.9, 1.0)), no flip.
const OPEN_CLIP_AUGMENT: ImageAugmentation = { scale: [0.9, 1.0], ratio: [3 / 4, 4 / 3], hflip: 0 };

function clip(name: string, size: number, patchSize: number, description: string): ImagePreset {
  return {
    name,
    description,
    size,
    patchSize,
    resize: 'shortest',
    crop: 'center',
    interpolation: 'bicubic',
    mean: [...CLIP_MEAN],
    std: [...CLIP_STD],
    channels: 3,
    augment: OPEN_CLIP_AUGMENT,
  };
}

function siglip(name: string, size: number): ImagePreset {
  return {
    name,
    description: `SigLIP ${size}: squash to ${size}×${size} bicubic (HF SiglipImageProcessor), mean/std 0.5, patch 16`,
    size,
    patchSize: 16,
    resize: 'squash',
    crop: 'none',
    interpolation: 'bicubic',
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
    channels: 3,
    augment: OPEN_CLIP_AUGMENT,
  };
}

/** The named presets (openai/CLIP `_transform`, open_clip constants, HF SigLIP, VideoMAE ImageNet). */
export const IMAGE_PRESETS: Readonly<Record<string, ImagePreset>> = Object.freeze({
  'clip-vit-b-32': clip('clip-vit-b-32', 224, 32, 'CLIP ViT-B/32: shortest side 224 bicubic, center crop 224, CLIP mean/std, patch 32'),
  'clip-vit-b-16': clip('clip-vit-b-16', 224, 16, 'CLIP ViT-B/16: shortest side 224 bicubic, center crop 224, CLIP mean/std, patch 16'),
  'clip-vit-l-14': clip('clip-vit-l-14', 224, 14, 'CLIP ViT-L/14: shortest side 224 bicubic, center crop 224, CLIP mean/std, patch 14'),
  'clip-vit-l-14-336': clip('clip-vit-l-14-336', 336, 14, 'CLIP ViT-L/14@336: shortest side 336 bicubic, center crop 336, CLIP mean/std, patch 14'),
  'siglip-224': siglip('siglip-224', 224),
  'siglip-384': siglip('siglip-384', 384),
  imagenet: {
    name: 'imagenet',
    description: 'ImageNet eval (VideoMAE / timm): shortest side 256 bilinear, center crop 224, ImageNet mean/std, patch 16',
    size: 224,
    patchSize: 16,
    resize: 'shortest',
    resizeSize: 256,
    crop: 'center',
    interpolation: 'bilinear',
    mean: [...IMAGENET_MEAN],
    std: [...IMAGENET_STD],
    channels: 3,
    augment: { scale: [0.08, 1.0], ratio: [3 / 4, 4 / 3], hflip: 0.5 },
  },
});

export const DEFAULT_IMAGE_PRESET = 'clip-vit-b-16';

const KNOWN_FIELDS = new Set([
  'name', 'description', 'size', 'patchSize', 'resize', 'resizeSize', 'crop', 'cropRounding', 'interpolation', 'mean', 'std', 'channels', 'padColor', 'augment', 'maxPatches',
]);
const MAX_SIDE = 16384;

/** A validated preset with its derived geometry. */
export interface ResolvedImagePreset {
  readonly preset: ImagePreset;
  readonly height: number;
  readonly width: number;
}

/**
 * Checks every field of a (custom) preset and returns its output geometry. Throws `BadPresetError`
 * naming the first bad field and why.
 */
export function validateImagePreset(preset: ImagePreset, name = preset.name ?? 'custom'): ResolvedImagePreset {
  const bad = (field: string, reason: string): never => {
    throw new BadPresetError('image', name, { field, reason });
  };
  const p = preset as unknown as Record<string, unknown>;
  if (typeof p !== 'object' || p === null) bad('(preset)', 'must be an object');
  for (const key of Object.keys(p)) if (!KNOWN_FIELDS.has(key)) bad(key, `is not a preset field (known: ${[...KNOWN_FIELDS].join(', ')})`);
  const isSide = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_SIDE;

  let height: number;
  let width: number;
  if (isSide(p.size)) height = width = p.size;
  else if (Array.isArray(p.size) && p.size.length === 2 && isSide(p.size[0]) && isSide(p.size[1])) [height, width] = p.size as [number, number];
  else return bad('size', `must be an integer side in [1, ${MAX_SIDE}] or [height, width], got ${JSON.stringify(p.size)}`);

  if (!isSide(p.patchSize)) bad('patchSize', `must be a positive integer, got ${JSON.stringify(p.patchSize)}`);
  const patch = p.patchSize as number;
  if (height % patch !== 0 || width % patch !== 0) bad('patchSize', `${patch} must divide the output size ${height}×${width}`);

  if (p.resize !== 'shortest' && p.resize !== 'squash' && p.resize !== 'longest-pad' && p.resize !== 'naflex') {
    bad('resize', `must be "shortest", "squash", "longest-pad" or "naflex", got ${JSON.stringify(p.resize)}`);
  }
  if (p.resize === 'naflex') {
    if (!Number.isInteger(p.maxPatches) || (p.maxPatches as number) < 1 || (p.maxPatches as number) > 1 << 20) bad('maxPatches', `must be a positive integer with resize "naflex", got ${JSON.stringify(p.maxPatches)}`);
    if (p.crop !== 'none') bad('crop', 'must be "none" with resize "naflex"');
    if (p.interpolation === 'bilinear-torch') bad('interpolation', '"bilinear-torch" works with resize "shortest" or "squash"');
  } else if (p.maxPatches !== undefined) bad('maxPatches', 'is only used with resize "naflex"');
  if (p.crop !== 'center' && p.crop !== 'none') bad('crop', `must be "center" or "none", got ${JSON.stringify(p.crop)}`);
  if (!INTERPOLATIONS.includes(p.interpolation as Interpolation) && p.interpolation !== 'bilinear-torch') {
    bad('interpolation', `must be one of ${[...INTERPOLATIONS, 'bilinear-torch'].join(', ')}, got ${JSON.stringify(p.interpolation)}`);
  }
  if (p.interpolation === 'bilinear-torch' && p.resize === 'longest-pad') bad('interpolation', '"bilinear-torch" works with resize "shortest" or "squash"');
  if (p.cropRounding !== undefined && p.cropRounding !== 'round' && p.cropRounding !== 'ceil' && p.cropRounding !== 'floor' && p.cropRounding !== 'start') {
    bad('cropRounding', `must be "round", "ceil", "floor" or "start", got ${JSON.stringify(p.cropRounding)}`);
  }
  if (p.resizeSize !== undefined && !isSide(p.resizeSize)) bad('resizeSize', `must be a positive integer, got ${JSON.stringify(p.resizeSize)}`);
  const resizeSize = p.resizeSize as number | undefined;
  if (p.resize === 'shortest') {
    if (p.crop !== 'center') bad('crop', 'must be "center" with resize "shortest" (the resized image has a variable size)');
    if (resizeSize !== undefined && resizeSize < Math.max(height, width)) {
      bad('resizeSize', `${resizeSize} is smaller than the crop ${height}×${width}`);
    }
  } else if (p.resize === 'squash') {
    if (resizeSize !== undefined && resizeSize < Math.max(height, width)) bad('resizeSize', `${resizeSize} is smaller than the crop ${height}×${width}`);
    if (p.crop === 'none' && resizeSize !== undefined && (resizeSize !== height || resizeSize !== width)) {
      bad('crop', `must be "center" when resizeSize ${resizeSize} differs from the output size ${height}×${width}`);
    }
  } else if (p.resize === 'longest-pad') {
    if (height !== width) bad('size', `must be square with resize "longest-pad", got ${height}×${width}`);
    if (p.crop !== 'none') bad('crop', 'must be "none" with resize "longest-pad"');
    if (resizeSize !== undefined) bad('resizeSize', 'is not used with resize "longest-pad" (the longer side becomes the output side)');
  }

  if (p.channels !== 1 && p.channels !== 3) bad('channels', `must be 1 or 3, got ${JSON.stringify(p.channels)}`);
  const channels = p.channels as number;
  const isVector = (v: unknown, ok: (x: number) => boolean): boolean =>
    Array.isArray(v) && v.length === channels && v.every((x) => typeof x === 'number' && Number.isFinite(x) && ok(x));
  if (!isVector(p.mean, () => true)) bad('mean', `must be ${channels} finite numbers (one per channel), got ${JSON.stringify(p.mean)}`);
  if (!isVector(p.std, (x) => x > 0)) bad('std', `must be ${channels} positive numbers (one per channel), got ${JSON.stringify(p.std)}`);
  if (p.padColor !== undefined && !isVector(p.padColor, (x) => Number.isInteger(x) && x >= 0 && x <= 255)) {
    bad('padColor', `must be ${channels} integers in [0, 255], got ${JSON.stringify(p.padColor)}`);
  }
  if (p.augment !== undefined) validateAugment(p.augment, bad);
  return { preset, height, width };
}

function validateAugment(a: unknown, bad: (field: string, reason: string) => never): void {
  if (typeof a !== 'object' || a === null || Array.isArray(a)) bad('augment', 'must be an object { scale, ratio, hflip }');
  const aug = a as Record<string, unknown>;
  for (const key of Object.keys(aug)) if (key !== 'scale' && key !== 'ratio' && key !== 'hflip') bad(`augment.${key}`, 'is not an augmentation field (scale, ratio, hflip)');
  const range = (v: unknown, ok: (x: number) => boolean) =>
    Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x) && ok(x)) && v[0] <= v[1];
  if (!range(aug.scale, (x) => x > 0 && x <= 1)) bad('augment.scale', `must be [min, max] with 0 < min <= max <= 1, got ${JSON.stringify(aug.scale)}`);
  if (!range(aug.ratio, (x) => x > 0)) bad('augment.ratio', `must be [min, max] with 0 < min <= max, got ${JSON.stringify(aug.ratio)}`);
  if (typeof aug.hflip !== 'number' || !(aug.hflip >= 0 && aug.hflip <= 1)) bad('augment.hflip', `must be a probability in [0, 1], got ${JSON.stringify(aug.hflip)}`);
}

/**
 * The size a `naflex` preset scales an image to: transformers' `get_image_size_for_max_num_patches` —
 * a binary search (to 1e-5) for the largest scale whose sides, each rounded up to a multiple of the
 * patch size (at least one patch), give at most `maxPatches` patches. Returns `[height, width]`.
 */
export function naflexSize(height: number, width: number, patchSize: number, maxPatches: number): [number, number] {
  const scaled = (scale: number, side: number) => Math.max(patchSize, Math.ceil((side * scale) / patchSize) * patchSize);
  let lo = 1e-5 / 10;
  let hi = 100;
  while (hi - lo >= 1e-5) {
    const mid = (lo + hi) / 2;
    if ((scaled(mid, height) / patchSize) * (scaled(mid, width) / patchSize) <= maxPatches) lo = mid;
    else hi = mid;
  }
  return [scaled(lo, height), scaled(lo, width)];
}
