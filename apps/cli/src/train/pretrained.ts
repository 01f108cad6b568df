import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type HfClipConfig, hfClipModelConfig, type HfClipShapes, hfClipShapes, isHfClipDir, parseHfModelId, readHfClipDir, resolveHfClip } from '@omnitok/clip';
import { InvalidArgumentError } from '@omnitok/core';
import { CheckpointError } from '@omnitok/core/runtime';
import { imagePresetFromHfProcessor, imagePresetFromOpenClip } from '@omnitok/tokenizer-image';
import { SentencePieceTokenizer } from '@omnitok/tokenizer-text';
import { type TokenShape, towerTokenShape } from './prepare.js';
import type { PresetRef } from './presets.js';

/** A pretrained model folder (Hugging Face CLIP / SigLIP, or an open_clip upload) named by `--model` (train) or `--checkpoint` (eval, embed, classify). */
export interface PretrainedClip {
  readonly dir: string;
  readonly config: HfClipConfig;
  readonly shapes: HfClipShapes;
  /** The tokenizer presets that reproduce the model's own preprocessing. */
  readonly presets: { readonly image: PresetRef; readonly text: PresetRef };
  /** How the model config is read from its files (SigLIP 2 NaFlex: the processor's patch budget). */
  readonly options: { readonly maxPatches?: number };
}

/** The two modalities of a pretrained model, as the CLI names towers and data fields. */
export const PRETRAINED_MODALITIES = ['image', 'text'] as const;

// open_clip's training transform (RandomResizedCrop scale 0.9–1, no flip), for `train --augment`
const FINE_TUNE_AUGMENT = { scale: [0.9, 1], ratio: [3 / 4, 4 / 3], hflip: 0 };
const CLIP_VOCAB = 49408;
const CLIP_BYTE_TOKENS = 514; // 256 bytes, 256 bytes + </w>, then merges, then 2 specials

/**
 * A pretrained CLIP / SigLIP / open_clip model named by `spec` (configs only, not the weights): a local
 * model folder, or a Hugging Face Hub id (`org/name`, `hf:org/name[@revision]`, `hf-hub:…`) that is no
 * local path — taken from huggingface_hub's cache, or downloaded into it (progress lines to `log`).
 * Undefined when `spec` is a local path that is no model folder (an omnitok run), or no id either.
 */
export async function findPretrainedClip(spec: string, cwd: string, log?: (line: string) => void, overrides: PretrainedOverrides = {}): Promise<PretrainedClip | undefined> {
  if (existsSync(resolve(cwd, spec))) return readPretrainedClip(spec, cwd, undefined, overrides);
  const id = parseHfModelId(spec);
  if (!id) return undefined;
  let dir: string;
  try {
    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    dir = await resolveHfClip(id, {
      onDownload: (file, bytes) => log?.(`omnitok: downloading ${id.repo}/${file}${bytes === undefined ? '' : ` (${mb(bytes)})`}\n`),
      // large files report as they arrive (every 10 s)
      progressInterval: 10_000,
      onProgress: (file, received, bytes) => {
        if (bytes !== undefined && bytes >= 50e6 && received < bytes) log?.(`omnitok:   ${file}: ${mb(received)} of ${mb(bytes)} (${Math.floor((100 * received) / bytes)} %)\n`);
      },
    });
  } catch (error) {
    throw new CheckpointError(spec, `is no local folder, and as a Hugging Face model: ${(error as Error).message}`, { cause: error });
  }
  return readPretrainedClip(dir, cwd, `hf:${id.repo}${id.revision === 'main' ? '' : `@${id.revision}`}`, overrides);
}

/** Changes to a pretrained model's own preprocessing that the command line may make. */
export interface PretrainedOverrides {
  /** SigLIP 2 NaFlex: the patch budget per image (the processor's `max_num_patches`; more patches, more resolution). */
  readonly maxPatches?: number;
}

/** Reads `path` as a pretrained CLIP / SigLIP / open_clip folder (configs only), or undefined when it is none. */
export function readPretrainedClip(path: string, cwd: string, label?: string, overrides: PretrainedOverrides = {}): PretrainedClip | undefined {
  const dir = resolve(cwd, path);
  if (!isHfClipDir(dir)) return undefined;
  const read = readHfClipDir(dir);
  const { config, family } = read;
  if (overrides.maxPatches !== undefined && family !== 'siglip2') throw new InvalidArgumentError('--max-patches', overrides.maxPatches, `a SigLIP 2 NaFlex model (${path} is ${family})`);
  const processor = overrides.maxPatches !== undefined ? { ...read.processor, max_num_patches: overrides.maxPatches } : read.processor;
  const shapes = hfClipShapes(config);
  const name = label ?? `${family === 'open_clip' ? 'open_clip' : 'hf'}:${path}`;
  const S = shapes.imageSize;
  // a folder without preprocessor_config.json: the family's processor (its class defaults) at the model's resolution
  const grid = shapes.positionGrid;
  const fallback = family === 'siglip2'
    ? { image_processor_type: 'Siglip2ImageProcessor', patch_size: shapes.patchSize, max_num_patches: grid![0] * grid![1] }
    : family === 'siglip'
    ? { image_processor_type: 'SiglipImageProcessor', size: { height: S, width: S } }
    : { image_processor_type: 'CLIPImageProcessor', size: { shortest_edge: S }, crop_size: S };
  const image = family === 'open_clip' ? imagePresetFromOpenClip(processor ?? {}, { size: S, patchSize: shapes.patchSize, name }) : imagePresetFromHfProcessor(processor ?? fallback, { patchSize: shapes.patchSize, name });
  // NaFlex keeps each image's aspect within a patch budget: no fixed size to check
  const naflex = image.resize === 'naflex';
  // the model sees whole patches: floor(S / P) of them per side (SigLIP so400m-patch14-384: 378 of 384 pixels)
  const seen = Math.floor(S / shapes.patchSize) * shapes.patchSize;
  if (!naflex && image.size !== seen) throw new CheckpointError(join(dir, family === 'open_clip' ? 'open_clip_config.json' : 'preprocessor_config.json'), `makes ${JSON.stringify(image.size)}-pixel images, but the model sees ${seen} (image size ${S}, patch ${shapes.patchSize})`);
  const imagePreset = { ...image, augment: FINE_TUNE_AUGMENT } as unknown as PresetRef;
  return { dir, config, shapes, presets: { image: imagePreset, text: textPreset(dir, shapes, name) }, options: naflex ? { maxPatches: image.maxPatches } : {} };
}

/**
 * CLIP and open_clip: the bundled BPE (or the folder's merges.txt for another vocabulary). SigLIP: the
 * folder's spiece.model as HF's SiglipTokenizer uses it; SigLIP 2 (a SiglipModel with Gemma's
 * tokenizer.model): as it was trained and as HF's Siglip2Tokenizer does it — lowercased, `<eos>`
 * appended, padded with `<pad>` (tokenizer_config.json's add_bos_token / add_eos_token / pad_token
 * when it has them).
 */
function textPreset(dir: string, shapes: HfClipShapes, name: string): PresetRef {
  if (shapes.family === 'siglip' || shapes.family === 'siglip2') {
    const spiece = join(dir, 'spiece.model');
    if (existsSync(spiece)) return { name, kind: 'sentencepiece', model: spiece, contextLength: shapes.contextLength, canonicalize: 'siglip' };
    if (existsSync(join(dir, 'tokenizer.model'))) return gemmaTextPreset(dir, shapes, name);
    throw new CheckpointError(dir, "has no spiece.model (SigLIP's SentencePiece model) nor tokenizer.model (SigLIP 2's Gemma tokenizer)");
  }
  const text = { name, kind: 'clip-bpe', contextLength: shapes.contextLength };
  if (shapes.vocabSize === CLIP_VOCAB) return text;
  const merges = join(dir, 'merges.txt');
  if (!existsSync(merges)) throw new CheckpointError(dir, `its text vocabulary has ${shapes.vocabSize} tokens, not CLIP's ${CLIP_VOCAB}, and the folder has no merges.txt to build it from`);
  return { ...text, merges, maxMerges: shapes.vocabSize - CLIP_BYTE_TOKENS };
}

/** The token layout the pretrained towers expect (what every sample must tokenize to). */
export function pretrainedTokenShapes(p: PretrainedClip): Map<string, TokenShape> {
  const { towers } = hfClipModelConfig(p.config, p.options);
  return new Map(PRETRAINED_MODALITIES.map((m) => [m, towerTokenShape(towers[m]!.tokens)] as const));
}

/** SigLIP 2's text preset from its Gemma `tokenizer.model` and `tokenizer_config.json`. */
function gemmaTextPreset(dir: string, shapes: HfClipShapes, name: string): PresetRef {
  const model = join(dir, 'tokenizer.model');
  const configPath = join(dir, 'tokenizer_config.json');
  let config: Record<string, unknown> = {};
  if (existsSync(configPath)) {
    try {
      config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new CheckpointError(configPath, `not valid JSON (${(error as Error).message})`, { cause: error });
    }
  }
  let tokenizer: SentencePieceTokenizer;
  try {
    tokenizer = SentencePieceTokenizer.fromFile(model, { addEos: false });
  } catch (error) {
    throw new CheckpointError(model, (error as Error).message, { cause: error });
  }
  if (tokenizer.vocabSize > shapes.vocabSize) throw new CheckpointError(model, `has ${tokenizer.vocabSize} pieces, but the text tower embeds ${shapes.vocabSize} ids`);
  const pad = config.pad_token;
  const padPiece = typeof pad === 'string' ? pad : typeof (pad as { content?: unknown } | null)?.content === 'string' ? (pad as { content: string }).content : '<pad>';
  const padId = tokenizer.pieceToId(padPiece);
  if (tokenizer.idToPiece(padId) !== padPiece) throw new CheckpointError(configPath, `pad_token ${JSON.stringify(padPiece)} is no piece of tokenizer.model`);
  const flag = (key: string, fallback: boolean): boolean => {
    const v = config[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw new CheckpointError(configPath, `${key} must be a boolean, got ${JSON.stringify(v)}`);
    return v;
  };
  return { name, kind: 'sentencepiece', model, contextLength: shapes.contextLength, addBos: flag('add_bos_token', false), addEos: flag('add_eos_token', true), padId, canonicalize: 'lowercase' };
}
