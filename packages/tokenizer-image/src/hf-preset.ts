import { BadPresetError } from '@omnitok/core';
import { CLIP_MEAN, CLIP_STD, type ImagePreset, validateImagePreset } from './presets.js';

/**
 * A Hugging Face `preprocessor_config.json` (the fields an image processor reads). Both spellings are
 * accepted: the current one (`size: { shortest_edge }` or `{ height, width }`, `crop_size: { height,
 * width }`) and the `CLIPFeatureExtractor` one (`size: 224`, `crop_size: 224`).
 */
export interface HfImageProcessorConfig {
  readonly image_processor_type?: string;
  readonly feature_extractor_type?: string;
  readonly do_resize?: boolean;
  readonly size?: number | { readonly shortest_edge?: number; readonly height?: number; readonly width?: number; readonly longest_edge?: number };
  readonly resample?: number;
  readonly do_center_crop?: boolean;
  readonly crop_size?: number | { readonly height?: number; readonly width?: number };
  readonly do_rescale?: boolean;
  readonly rescale_factor?: number;
  readonly do_normalize?: boolean;
  readonly image_mean?: number | readonly number[];
  readonly image_std?: number | readonly number[];
  readonly do_convert_rgb?: boolean;
  readonly do_pad?: boolean;
  /** Siglip2ImageProcessor (NaFlex): the patch budget per image and the patch side. */
  readonly max_num_patches?: number;
  readonly patch_size?: number;
}

const HALF: readonly number[] = [0.5, 0.5, 0.5];
const CLIP_DEFAULTS: HfImageProcessorConfig = { size: { shortest_edge: 224 }, resample: 3, do_center_crop: true, crop_size: { height: 224, width: 224 }, image_mean: CLIP_MEAN, image_std: CLIP_STD };
const SQUARE_224 = { height: 224, width: 224 };

/**
 * What transformers' processor classes use for a field their preprocessor_config.json leaves out (the
 * `__init__` defaults of image_processing_clip.py, _siglip.py, _vit.py; the Fast variants share them).
 */
const CLASS_DEFAULTS: Record<string, HfImageProcessorConfig> = {
  CLIPImageProcessor: CLIP_DEFAULTS,
  CLIPFeatureExtractor: CLIP_DEFAULTS,
  SiglipImageProcessor: { size: SQUARE_224, resample: 3, do_center_crop: false, image_mean: HALF, image_std: HALF },
  ViTImageProcessor: { size: SQUARE_224, resample: 2, do_center_crop: false, image_mean: HALF, image_std: HALF },
  Siglip2ImageProcessor: { resample: 2, image_mean: HALF, image_std: HALF, max_num_patches: 256, patch_size: 16 },
  ViTFeatureExtractor: { size: SQUARE_224, resample: 2, do_center_crop: false, image_mean: HALF, image_std: HALF },
};

/** The processor class's defaults for the fields a config leaves out (none for a class not listed). */
function withClassDefaults(config: HfImageProcessorConfig): HfImageProcessorConfig {
  const type = (config.image_processor_type ?? config.feature_extractor_type ?? '').replace(/Fast$/, '');
  const defaults = CLASS_DEFAULTS[type] ?? {};
  const present = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined && v !== null));
  return { ...defaults, ...present };
}

// PIL.Image.Resampling values as HF stores them; LANCZOS (1), BOX (4) and HAMMING (5) have no preset kernel.
const RESAMPLE: Record<number, ImagePreset['interpolation']> = { 0: 'nearest', 2: 'bilinear', 3: 'bicubic' };

/**
 * The image preset that reproduces a Hugging Face image processor (`CLIPImageProcessor`,
 * `SiglipImageProcessor` and others built from the same steps): resize the shortest edge
 * (`int(edge · long / short)` for the long side, as HF's `get_resize_output_image_size`) or to
 * height × width, Pillow's filter on 8-bit pixels, `center_crop` with HF's floor rounding, ×1/255,
 * normalize. `patchSize` comes from the model (`vision_config.patch_size`), not the processor.
 *
 * A field the config leaves out takes its processor class's default, as transformers does
 * (CLIPImageProcessor: shortest edge 224, center crop 224, bicubic, OpenAI CLIP's mean / std;
 * SiglipImageProcessor: 224 × 224, bicubic, 0.5 / 0.5; ViTImageProcessor: 224 × 224, bilinear,
 * 0.5 / 0.5); for another class: 224, bicubic, no normalization.
 *
 * A processor step the presets cannot express (no resize, a Lanczos filter, padding, a rescale other
 * than 1/255) is a `BadPresetError` naming the field, never a silently different pipeline.
 */
export function imagePresetFromHfProcessor(config: HfImageProcessorConfig, options: { readonly patchSize: number; readonly name?: string }): ImagePreset {
  const name = options.name ?? 'hf';
  const bad = (field: string, reason: string): never => {
    throw new BadPresetError('image', name, { field, reason });
  };
  if (typeof config !== 'object' || config === null || Array.isArray(config)) bad('(preprocessor_config.json)', 'must be a JSON object');
  config = withClassDefaults(config);
  const type = config.image_processor_type ?? config.feature_extractor_type ?? '';
  if (type.replace(/Fast$/, '') === 'Siglip2ImageProcessor') return naflexPreset(config, options.patchSize, name, type);
  // CLIP's processors read an integer `size` as the shortest edge; the others (SigLIP, ViT) as a square.
  const intIsShortestEdge = /^CLIP|^ChineseCLIP|^OwlViT/.test(type);
  if (config.do_pad === true) bad('do_pad', 'true is not supported');
  const { interpolation, mean, std } = pixelSteps(config, bad, 3);

  const side = (v: unknown, field: string): number => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : bad(field, `must be a positive integer, got ${JSON.stringify(v)}`));
  let resize: { resize: 'shortest'; edge: number } | { resize: 'squash'; height: number; width: number };
  const size = config.size ?? 224;
  if (typeof size === 'number') resize = intIsShortestEdge ? { resize: 'shortest', edge: side(size, 'size') } : { resize: 'squash', height: side(size, 'size'), width: side(size, 'size') };
  else if (typeof size === 'object' && size !== null && size.shortest_edge !== undefined) {
    if (size.longest_edge !== undefined) bad('size.longest_edge', 'is not supported');
    resize = { resize: 'shortest', edge: side(size.shortest_edge, 'size.shortest_edge') };
  } else if (typeof size === 'object' && size !== null && size.height !== undefined) resize = { resize: 'squash', height: side(size.height, 'size.height'), width: side(size.width, 'size.width') };
  else return bad('size', `must be an integer, { shortest_edge } or { height, width }, got ${JSON.stringify(size)}`);

  let out: [number, number];
  const crop = config.do_center_crop === true;
  if (crop) {
    const c = config.crop_size ?? 224;
    out = typeof c === 'number' ? [side(c, 'crop_size'), c] : typeof c === 'object' && c !== null ? [side(c.height, 'crop_size.height'), side(c.width, 'crop_size.width')] : bad('crop_size', `must be an integer or { height, width }, got ${JSON.stringify(c)}`);
  } else if (resize.resize === 'squash') out = [resize.height, resize.width];
  else return bad('do_center_crop', 'must be true with a shortest_edge resize (the resized image has a variable size)');
  if (resize.resize === 'squash' && crop && resize.height !== resize.width) bad('size', `a center crop after a non-square resize (${resize.height}×${resize.width}) is not supported`);
  // a patch size that does not divide a squashed image: the model's "valid" patch convolution keeps the
  // first whole patches (SigLIP so400m-patch14-384: 27 × 14 = 378 of 384 pixels), a crop at the corner
  const P = options.patchSize;
  const edge = !crop && resize.resize === 'squash' && (out[0] % P !== 0 || out[1] % P !== 0);
  if (edge) {
    if (out[0] !== out[1]) bad('size', `${out[0]}×${out[1]} with patch ${P}: a patch size that does not divide a non-square image is not supported`);
    out = [Math.floor(out[0] / P) * P, Math.floor(out[1] / P) * P];
  }

  const preset: ImagePreset = {
    name,
    description: `${type || 'Hugging Face image processor'}: ${resize.resize === 'shortest' ? `shortest edge ${resize.edge}` : `resize to ${resize.height}×${resize.width}`} ${interpolation}${crop ? `, center crop ${out[0]}×${out[1]} (floor)` : edge ? `, the first ${out[0]}×${out[1]} pixels (whole patches)` : ''}, patch ${options.patchSize}`,
    size: out[0] === out[1] ? out[0] : out,
    patchSize: options.patchSize,
    resize: resize.resize,
    ...(resize.resize === 'shortest' ? { resizeSize: resize.edge } : resize.height !== out[0] || resize.width !== out[1] ? { resizeSize: resize.height } : {}),
    crop: crop || edge ? 'center' : 'none',
    ...(crop ? { cropRounding: 'floor' as const } : edge ? { cropRounding: 'start' as const } : {}),
    interpolation,
    mean,
    std,
    channels: 3,
  };
  validateImagePreset(preset, name);
  return preset;
}

/**
 * The steps every Hugging Face image processor shares, checked: a resize (with a Pillow filter), ×1/255,
 * and the normalization (mean 0 / std 1 when `do_normalize` is false or the values are absent).
 */
function pixelSteps(config: HfImageProcessorConfig, bad: (field: string, reason: string) => never, defaultResample: number) {
  if (config.do_resize === false) bad('do_resize', 'false is not supported (every preset resizes)');
  if (config.do_rescale === false) bad('do_rescale', 'false is not supported (presets scale pixels by 1/255)');
  if (config.rescale_factor !== undefined && Math.abs(config.rescale_factor * 255 - 1) > 1e-9) bad('rescale_factor', `must be 1/255, got ${config.rescale_factor}`);
  const interpolation = RESAMPLE[config.resample ?? defaultResample] ?? bad('resample', `${JSON.stringify(config.resample)} is not supported (0 nearest, 2 bilinear, 3 bicubic)`);
  const normalize = config.do_normalize !== false;
  const vector = (v: unknown, field: string, fallback: number): number[] => {
    if (!normalize || v === undefined) return [fallback, fallback, fallback];
    const arr = typeof v === 'number' ? [v, v, v] : v;
    if (!Array.isArray(arr) || arr.length !== 3 || !arr.every((x) => typeof x === 'number' && Number.isFinite(x))) return bad(field, `must be 3 finite numbers, got ${JSON.stringify(v)}`);
    return [...arr] as number[];
  };
  return { interpolation, mean: vector(config.image_mean, 'image_mean', 0), std: vector(config.image_std, 'image_std', 1) };
}

/** SigLIP 2 NaFlex's Siglip2ImageProcessor: aspect-preserving resize to the patch budget, tokens padded to it. */
function naflexPreset(config: HfImageProcessorConfig, patchSize: number, name: string, type: string): ImagePreset {
  const bad = (field: string, reason: string): never => {
    throw new BadPresetError('image', name, { field, reason });
  };
  const { interpolation, mean, std } = pixelSteps(config, bad, 2);
  if (config.patch_size !== patchSize) bad('patch_size', `${JSON.stringify(config.patch_size)} differs from the model's patch size ${patchSize}`);
  const maxPatches = config.max_num_patches!;
  if (!Number.isInteger(maxPatches) || maxPatches < 1) bad('max_num_patches', `must be a positive integer, got ${JSON.stringify(maxPatches)}`);
  const preset: ImagePreset = {
    name,
    description: `${type}: aspect-preserving resize to at most ${maxPatches} patches of ${patchSize} (NaFlex), ${interpolation}`,
    size: patchSize * Math.max(1, Math.floor(Math.sqrt(maxPatches))),
    patchSize,
    resize: 'naflex',
    maxPatches,
    crop: 'none',
    interpolation,
    mean,
    std,
    channels: 3,
  };
  validateImagePreset(preset, name);
  return preset;
}

/** open_clip's `preprocess_cfg` (from `open_clip_config.json`). */
export interface OpenClipPreprocessConfig {
  readonly size?: number | readonly [number, number];
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
  readonly interpolation?: string;
  readonly resize_mode?: string;
  readonly fill_color?: number;
}

/**
 * The image preset of open_clip's evaluation transform (`image_transform(..., is_train=False)`):
 * `resize_mode` `shortest` (default) is torchvision's `Resize(size, interpolation)` + `CenterCrop(size)`
 * (half-to-even centring), `squash` a resize to size × size; then ToTensor and Normalize (open_clip's
 * OpenAI mean/std by default). `size` is the model's `vision_cfg.image_size` unless the config names one.
 * `longest` (resize and pad) is refused by name, as are interpolations other than bicubic, bilinear
 * and nearest.
 */
export function imagePresetFromOpenClip(config: OpenClipPreprocessConfig, options: { readonly size: number; readonly patchSize: number; readonly name?: string }): ImagePreset {
  const name = options.name ?? 'open_clip';
  const bad = (field: string, reason: string): never => {
    throw new BadPresetError('image', name, { field, reason });
  };
  if (typeof config !== 'object' || config === null || Array.isArray(config)) bad('(preprocess_cfg)', 'must be a JSON object');
  const size = config.size ?? options.size;
  const side = typeof size === 'number' ? size : Array.isArray(size) && size[0] === size[1] ? size[0]! : bad('size', `must be one side, got ${JSON.stringify(size)}`);
  const interpolation = config.interpolation ?? 'bicubic';
  if (interpolation !== 'bicubic' && interpolation !== 'bilinear' && interpolation !== 'nearest') bad('interpolation', `${JSON.stringify(interpolation)} is not supported (bicubic, bilinear, nearest)`);
  const raw = config.resize_mode ?? 'shortest';
  const mode = raw === 'shortest' || raw === 'squash' ? raw : bad('resize_mode', `${JSON.stringify(raw)} is not supported (shortest, squash)`);
  const preset: ImagePreset = {
    name,
    description: `open_clip ${mode === 'shortest' ? `shortest side ${side}, center crop` : `squash to ${side}×${side}`} ${interpolation}, patch ${options.patchSize}`,
    size: side,
    patchSize: options.patchSize,
    resize: mode,
    crop: mode === 'shortest' ? 'center' : 'none',
    interpolation: interpolation as ImagePreset['interpolation'],
    mean: [...(config.mean ?? CLIP_MEAN)],
    std: [...(config.std ?? CLIP_STD)],
    channels: 3,
  };
  validateImagePreset(preset, name);
  return preset;
}
