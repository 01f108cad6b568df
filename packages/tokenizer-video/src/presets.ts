import { BadPresetError } from '@omnitok/core';
import {
  CLIP_MEAN,
  CLIP_STD,
  IMAGE_PRESETS,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type ImagePreset,
  prepareImagePreset,
  type PreparedImagePreset,
} from '@omnitok/tokenizer-image';

/**
 * How frames are picked from the clip (the part of the video inside the preset's `[start, end)` window,
 * or the whole video). Frame positions are indices on the stream's nominal frame grid (`i / fps`
 * seconds after the first frame); for variable-frame-rate video the frame shown at that time is used.
 *
 * - `uniform` — `frames` indices `trunc(linspace(0, n − 1, frames))` over the clip's `n` frames
 *   (pytorchvideo `uniform_temporal_subsample`, what HF video processors and ImageBind use).
 * - `stride` — `frames` indices `s, s + stride, …` (VideoMAE: 16 frames every 4th). The `frames × stride`
 *   window is centred in the clip (a random start with `augment: true`); a clip shorter than that window
 *   repeats its last frame (VideoMAE's padding).
 * - `fps` — one frame every `1 / fps` seconds from the clip start, at most `maxFrames`; the count then
 *   varies with the clip length and is padded (last frame repeated) to a multiple of the tubelet depth.
 * - `clips` — `clips` windows of `clipDuration` seconds spread evenly over the clip (pytorchvideo
 *   `ConstantClipsPerVideoSampler`: clip k starts at `k · max(duration − clipDuration, 0) / clips`), each
 *   holding the frames with timestamps in `[start, start + clipDuration)`, subsampled uniformly to
 *   `frames` (ImageBind: 5 clips × 2 frames of 2 s).
 */
export type VideoSampling =
  | { readonly mode: 'uniform'; readonly frames: number }
  | { readonly mode: 'stride'; readonly frames: number; readonly stride: number }
  | { readonly mode: 'fps'; readonly fps: number; readonly maxFrames: number }
  | { readonly mode: 'clips'; readonly clips: number; readonly clipDuration: number; readonly frames: number };

/**
 * A video preset: plain JSON, so it can be printed, stored and diffed. Named presets are in
 * {@link VIDEO_PRESETS}; an inline object of this shape is a custom preset.
 *
 * Features are `[T, C, H, W]` (T = clips × frames per clip); tokens are tubelets `[N, C·t·P·P]`.
 */
export interface VideoPreset {
  readonly name?: string;
  readonly description?: string;
  readonly sampling: VideoSampling;
  /** Time window in seconds from the first frame: `[start, end)`. Default: the whole video. */
  readonly start?: number;
  readonly end?: number;
  /**
   * Per-frame preprocessing: an `@omnitok/tokenizer-image` preset name (`clip-vit-b-16`, `imagenet`, …)
   * or an inline image preset. Every frame goes through the image package's `preprocessImageInto`.
   */
  readonly image: string | ImagePreset;
  /** Tubelet `[t, P, P]` (frames, height, width): a Conv3d stem with kernel = stride = tubelet. */
  readonly tubelet: readonly [number, number, number];
  /**
   * 1 (default): the frame preset's crop. 3: three spatial crops of every clip — left, centre, right of
   * a landscape frame (top, centre, bottom of a portrait one), SlowFast / pytorchvideo `uniform_crop`,
   * as ImageBind evaluates video — each its own clip of the output, clip-major then crop.
   */
  readonly spatialCrops?: 1 | 3;
}

function frames224(mean: readonly number[], std: readonly number[], patchSize: number, resizeSize: number | undefined, description: string): ImagePreset {
  return {
    description,
    size: 224,
    patchSize,
    resize: 'shortest',
    ...(resizeSize ? { resizeSize } : {}),
    crop: 'center',
    interpolation: 'bilinear',
    mean: [...mean],
    std: [...std],
    channels: 3,
    augment: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3], hflip: 0.5 },
  };
}

// HF VideoMAEImageProcessor: shortest edge 224 (bilinear), center crop 224, ImageNet mean/std.
const VIDEOMAE_FRAMES = frames224(IMAGENET_MEAN, IMAGENET_STD, 16, undefined, 'VideoMAE frames: shortest side 224 bilinear, center crop 224, ImageNet mean/std');
// HF VivitImageProcessor: shortest edge 256 (bilinear), center crop 224, rescale to [−1, 1].
const VIVIT_FRAMES = frames224([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], 16, 256, 'ViViT frames: shortest side 256 bilinear, center crop 224, mean/std 0.5 ([−1, 1])');
// ImageBind data.py: / 255, pytorchvideo ShortSideScale(224) (torch bilinear, no antialias), NormalizeVideo
// with CLIP mean/std, SpatialCrop(224, num_crops=3) (uniform_crop: ceil-centred; the preset's spatialCrops).
const IMAGEBIND_FRAMES: ImagePreset = {
  ...frames224(CLIP_MEAN, CLIP_STD, 14, undefined, 'ImageBind frames: / 255, shortest side 224 torch bilinear (no antialias), CLIP mean/std, crop 224 (uniform_crop)'),
  interpolation: 'bilinear-torch',
  cropRounding: 'ceil',
};

/** The named presets. */
export const VIDEO_PRESETS: Readonly<Record<string, VideoPreset>> = Object.freeze({
  'videomae-16x224': {
    name: 'videomae-16x224',
    description: 'VideoMAE (K400): 16 frames, temporal stride 4, 224 ImageNet frames, tubelet 2×16×16 → 1568 tokens × 1536',
    sampling: { mode: 'stride', frames: 16, stride: 4 },
    image: VIDEOMAE_FRAMES,
    tubelet: [2, 16, 16],
  },
  'videomae-16x224-uniform': {
    name: 'videomae-16x224-uniform',
    description: 'VideoMAE: 16 frames spread uniformly over the clip, 224 ImageNet frames, tubelet 2×16×16 → 1568 tokens × 1536',
    sampling: { mode: 'uniform', frames: 16 },
    image: VIDEOMAE_FRAMES,
    tubelet: [2, 16, 16],
  },
  'vivit-32x224': {
    name: 'vivit-32x224',
    description: 'ViViT (HF VivitConfig): 32 uniform frames, shortest 256 → crop 224, [−1, 1], tubelet 2×16×16 → 3136 tokens × 1536',
    sampling: { mode: 'uniform', frames: 32 },
    image: VIVIT_FRAMES,
    tubelet: [2, 16, 16],
  },
  imagebind: {
    name: 'imagebind',
    description: 'ImageBind: 5 clips of 2 s × 2 frames × 3 spatial crops, 224 CLIP frames (torch bilinear), tubelet 2×14×14 → 15 × 256 tokens × 1176',
    sampling: { mode: 'clips', clips: 5, clipDuration: 2, frames: 2 },
    image: IMAGEBIND_FRAMES,
    tubelet: [2, 14, 14],
    spatialCrops: 3,
  },
});

export const DEFAULT_VIDEO_PRESET = 'videomae-16x224';

/** A validated preset with everything the pipeline derives from it. */
export interface ResolvedVideoPreset {
  readonly name: string;
  readonly preset: VideoPreset;
  /** The per-frame image preset, prepared by the image package. */
  readonly image: PreparedImagePreset;
  readonly tubelet: readonly [number, number, number];
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** Clips of the output: sampled clips (1 unless `sampling.mode` is `clips`) × `spatialCrops`. */
  readonly clips: number;
  /** Spatial crops per sampled clip (1 or 3). */
  readonly spatialCrops: number;
  /** Frames per clip; for `fps` sampling the maximum (after padding to a multiple of the tubelet depth). */
  readonly framesPerClip: number;
  /** True when the frame count depends on the input (`fps` sampling). */
  readonly variable: boolean;
}

const FIELDS = new Set(['name', 'description', 'sampling', 'start', 'end', 'image', 'tubelet', 'spatialCrops']);
const MAX_FRAMES = 4096;

/**
 * Checks a (custom) preset field by field and derives its geometry. Throws `BadPresetError` naming the
 * first bad field; the per-frame image preset is validated by the image package.
 */
export function validateVideoPreset(preset: VideoPreset, name = preset?.name ?? 'custom'): ResolvedVideoPreset {
  const bad = (field: string, reason: string): never => {
    throw new BadPresetError('video', name, { field, reason });
  };
  if (typeof preset !== 'object' || preset === null || Array.isArray(preset)) return bad('(preset)', 'must be an object');
  for (const key of Object.keys(preset)) if (!FIELDS.has(key)) bad(key, `is not a video preset field (known: ${[...FIELDS].join(', ')})`);
  const count = (v: unknown, max = MAX_FRAMES): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max;
  const seconds = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

  const s = preset.sampling as unknown as Record<string, unknown>;
  if (typeof s !== 'object' || s === null) bad('sampling', 'must be an object with a mode');
  const allowed: Record<string, string[]> = {
    uniform: ['mode', 'frames'],
    stride: ['mode', 'frames', 'stride'],
    fps: ['mode', 'fps', 'maxFrames'],
    clips: ['mode', 'clips', 'clipDuration', 'frames'],
  };
  const fields = allowed[String(s.mode)];
  if (!fields) return bad('sampling.mode', `must be "uniform", "stride", "fps" or "clips", got ${JSON.stringify(s.mode)}`);
  for (const key of Object.keys(s)) if (!fields.includes(key)) bad(`sampling.${key}`, `is not a field of "${String(s.mode)}" sampling (${fields.join(', ')})`);
  if (s.mode !== 'fps' && !count(s.frames)) bad('sampling.frames', `must be an integer in [1, ${MAX_FRAMES}], got ${JSON.stringify(s.frames)}`);
  if (s.mode === 'stride' && !count(s.stride, 1_000_000)) bad('sampling.stride', `must be a positive integer, got ${JSON.stringify(s.stride)}`);
  if (s.mode === 'fps') {
    if (!(typeof s.fps === 'number' && Number.isFinite(s.fps) && s.fps > 0)) bad('sampling.fps', `must be a positive number, got ${JSON.stringify(s.fps)}`);
    if (!count(s.maxFrames)) bad('sampling.maxFrames', `must be an integer in [1, ${MAX_FRAMES}] (it bounds memory), got ${JSON.stringify(s.maxFrames)}`);
  }
  if (s.mode === 'clips') {
    if (!count(s.clips, 1024)) bad('sampling.clips', `must be an integer in [1, 1024], got ${JSON.stringify(s.clips)}`);
    if (!(typeof s.clipDuration === 'number' && Number.isFinite(s.clipDuration) && s.clipDuration > 0)) {
      bad('sampling.clipDuration', `must be a positive number of seconds, got ${JSON.stringify(s.clipDuration)}`);
    }
  }
  if (preset.start !== undefined && !seconds(preset.start)) bad('start', `must be a non-negative number of seconds, got ${JSON.stringify(preset.start)}`);
  if (preset.end !== undefined && !(seconds(preset.end) && preset.end > (preset.start ?? 0))) {
    bad('end', `must be a number of seconds after start (${preset.start ?? 0}), got ${JSON.stringify(preset.end)}`);
  }

  const tubelet = preset.tubelet as unknown;
  if (!Array.isArray(tubelet) || tubelet.length !== 3 || !tubelet.every((v) => count(v, 4096))) {
    return bad('tubelet', `must be [t, P, P] (three positive integers), got ${JSON.stringify(tubelet)}`);
  }
  const [t, ph, pw] = tubelet as [number, number, number];

  if (typeof preset.image !== 'string' && (typeof preset.image !== 'object' || preset.image === null)) {
    bad('image', `must be an image preset name (${Object.keys(IMAGE_PRESETS).join(', ')}) or an inline image preset`);
  }
  let image: PreparedImagePreset;
  try {
    image = prepareImagePreset(preset.image);
  } catch (error) {
    return bad('image', `is not a valid image preset: ${(error as Error).message}`);
  }
  if (image.height % ph !== 0 || image.width % pw !== 0) bad('tubelet', `${ph}×${pw} must divide the frame size ${image.height}×${image.width}`);

  const spatialCrops = preset.spatialCrops ?? 1;
  if (spatialCrops !== 1 && spatialCrops !== 3) bad('spatialCrops', `must be 1 or 3, got ${JSON.stringify(preset.spatialCrops)}`);
  if (spatialCrops === 3 && image.preset.crop !== 'center') bad('spatialCrops', 'needs a frame preset that crops (crop "center")');
  const clips = (s.mode === 'clips' ? (s.clips as number) : 1) * spatialCrops;
  const variable = s.mode === 'fps';
  let framesPerClip = variable ? Math.ceil((s.maxFrames as number) / t) * t : (s.frames as number);
  if (!variable && framesPerClip % t !== 0) bad('tubelet', `depth ${t} must divide the ${framesPerClip} frames per clip`);
  framesPerClip = Math.max(framesPerClip, t);
  return { name, preset, image, tubelet: [t, ph, pw], channels: image.channels, height: image.height, width: image.width, clips, spatialCrops, framesPerClip, variable };
}
