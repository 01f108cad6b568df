import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type HfClipConfig, type HfClipShapes, hfClipShapes, isHfClipDir, readHfClipDir } from '@omnitok/clip';
import { CheckpointError } from '@omnitok/core/runtime';
import { CLIP_MEAN, CLIP_STD, imagePresetFromHfProcessor } from '@omnitok/tokenizer-image';
import type { TokenShape } from './prepare.js';
import type { PresetRef } from './presets.js';

/** A Hugging Face CLIP model folder named by `--model` (train) or `--checkpoint` (eval, embed). */
export interface PretrainedClip {
  readonly dir: string;
  readonly config: HfClipConfig;
  readonly shapes: HfClipShapes;
  /** The tokenizer presets that reproduce the model's own preprocessing. */
  readonly presets: { readonly image: PresetRef; readonly text: PresetRef };
}

/** The two modalities of a pretrained CLIP, as the CLI names towers and data fields. */
export const PRETRAINED_MODALITIES = ['image', 'text'] as const;

// open_clip's training transform (RandomResizedCrop scale 0.9–1, no flip), for `train --augment`
const FINE_TUNE_AUGMENT = { scale: [0.9, 1], ratio: [3 / 4, 4 / 3], hflip: 0 };
const CLIP_VOCAB = 49408;
const CLIP_BYTE_TOKENS = 514; // 256 bytes, 256 bytes + </w>, then merges, then 2 specials

/** Reads `path` as a pretrained CLIP folder (config and processor only), or undefined when it is none. */
export function readPretrainedClip(path: string, cwd: string): PretrainedClip | undefined {
  const dir = resolve(cwd, path);
  if (!isHfClipDir(dir)) return undefined;
  const { config, processor } = readHfClipDir(dir);
  const shapes = hfClipShapes(config);
  const name = `hf:${path}`;
  // a folder without preprocessor_config.json: CLIPImageProcessor's defaults at the model's resolution
  const image = imagePresetFromHfProcessor(
    processor ?? { image_processor_type: 'CLIPImageProcessor', size: { shortest_edge: shapes.imageSize }, crop_size: shapes.imageSize, do_center_crop: true, resample: 3, image_mean: [...CLIP_MEAN], image_std: [...CLIP_STD] },
    { patchSize: shapes.patchSize, name },
  );
  if (image.size !== shapes.imageSize) {
    throw new CheckpointError(join(dir, 'preprocessor_config.json'), `crops ${JSON.stringify(image.size)} pixels, but the model's vision_config.image_size is ${shapes.imageSize}`);
  }
  let text: PresetRef = { name, kind: 'clip-bpe', contextLength: shapes.contextLength };
  if (shapes.vocabSize !== CLIP_VOCAB) {
    const merges = join(dir, 'merges.txt');
    if (!existsSync(merges)) throw new CheckpointError(dir, `its text vocabulary has ${shapes.vocabSize} tokens, not CLIP's ${CLIP_VOCAB}, and the folder has no merges.txt to build it from`);
    text = { ...text, merges, maxMerges: shapes.vocabSize - CLIP_BYTE_TOKENS };
  }
  return { dir, config, shapes, presets: { image: { ...image, augment: FINE_TUNE_AUGMENT } as unknown as PresetRef, text } };
}

/** The token layout the pretrained towers expect (what every sample must tokenize to). */
export function pretrainedTokenShapes(p: PretrainedClip): Map<string, TokenShape> {
  const { imageSize, patchSize, channels, vocabSize, contextLength } = p.shapes;
  const side = imageSize / patchSize;
  return new Map<string, TokenShape>([
    ['image', { kind: 'continuous', count: side * side, dim: channels * patchSize * patchSize, grid: [side, side] }],
    ['text', { kind: 'discrete', count: contextLength, vocabSize }],
  ]);
}
