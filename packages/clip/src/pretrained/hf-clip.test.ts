import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { BadPresetError, decodeSafetensors, encodeSafetensors, InvalidArgumentError } from '@omnitok/core';
import { CheckpointError, WeightImportError } from '@omnitok/core/runtime';
import { decodeImage, type ImagePreset, imagePresetFromHfProcessor, imagePresetFromOpenClip, patchify, preprocessImage } from '@omnitok/tokenizer-image';
import { clipTokenizer, SentencePieceTokenizer } from '@omnitok/tokenizer-text';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClipModel } from '../model/clip-model.js';
import type { EncoderTower } from '../model/tower.js';
import { describeBackends, tolerance } from '../../../core/src/runtime/test-utils/backends.js';
import { isHfClipDir, loadHfClipDir, readHfClipDir, readHfClipWeights } from './hf-clip-dir.js';
import { hfClipModelConfig, loadHfClip } from './hf-clip.js';

// A random CLIPModel folder (float16 shards, CLIPImageProcessor config) and what transformers' pipeline
// makes of it: make-hf-clip-tiny.py (PyTorch 1.13, openai/CLIP's tokenizer, PIL).
const FIXTURES = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
const DIR = join(FIXTURES, 'hf-clip-tiny');
interface Reference {
  images: { file: string; pixels_sum: number[]; pixels_first: number[]; embedding: number[] }[];
  texts: { text: string; ids: number[]; embedding: number[] }[];
  logit_scale: number;
  logits_per_image: number[][];
}
const ref = JSON.parse(readFileSync(join(FIXTURES, 'reference.json'), 'utf8')) as Reference;
const SP_UNIGRAM = fileURLToPath(new URL('../../../tokenizer-text/src/__fixtures__/sp-unigram.model', import.meta.url));
const SP_BPE = fileURLToPath(new URL('../../../tokenizer-text/src/__fixtures__/sp-bpe.model', import.meta.url));
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

/**
 * Preprocesses each reference image with `preset` (32 × 32, patch 16), checks the pixels against the
 * reference pipeline's (channel sums, first values), embeds the patches with `model`'s image tower and
 * checks the embeddings.
 */
async function checkImages(model: ClipModel, preset: ImagePreset, images: Reference['images']): Promise<void> {
  const tokens: Float32Array[] = [];
  for (const r of images) {
    const features = preprocessImage(await decodeImage(join(FIXTURES, r.file)), preset);
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      for (let i = c * 1024; i < (c + 1) * 1024; i++) sum += features.data[i]!;
      expect(Math.abs(sum - r.pixels_sum[c]!), `${r.file} channel ${c}`).toBeLessThan(1e-3);
    }
    expect(maxDiff(features.data.subarray(0, 8), r.pixels_first)).toBeLessThan(1e-6);
    tokens.push(patchify(features).data);
  }
  const input = tf.tensor(concat(tokens), [images.length, 4, 768]);
  const e = await model.embed('image', input);
  input.dispose();
  const D = model.config.embedDim;
  images.forEach((r, i) => expect(maxDiff(e.data.subarray(i * D, (i + 1) * D), r.embedding), r.file).toBeLessThan(2e-5));
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('Hugging Face CLIP model folders', () => {
  const loaded = loadHfClipDir(DIR);
  const { model } = loaded;
  afterAll(() => model.dispose());

  it('reads the config (defaults, legacy fields) into two CLIP towers', () => {
    expect(isHfClipDir(DIR)).toBe(true);
    expect(isHfClipDir(FIXTURES)).toBe(false);
    const { towers, embedDim, objective, pairs } = model.config;
    expect(embedDim).toBe(8);
    expect(objective).toBe('clip');
    expect(pairs).toEqual([['image', 'text']]);
    const vision = (model.tower('image') as EncoderTower).config;
    const text = (model.tower('text') as EncoderTower).config;
    expect(vision).toMatchObject({ width: 16, depth: 2, heads: 2, mlpRatio: 4, gelu: 'quick', pooling: 'cls', clsToken: true, preNorm: true, embedBias: false, causal: false });
    expect(vision.tokens).toEqual({ kind: 'continuous', dim: 3 * 16 * 16, count: 4, grid: [2, 2] });
    expect(text).toMatchObject({ width: 8, depth: 2, heads: 2, mlpRatio: 4, gelu: 'erf', pooling: 'eot', causal: true, preNorm: false });
    expect(text.tokens).toEqual({ kind: 'discrete', vocabSize: 49408, count: 77 });
    expect(towers.text).toBeDefined();
    // an empty config is openai/clip-vit-base-patch32
    const b32 = hfClipModelConfig({ model_type: 'clip' });
    expect(b32.embedDim).toBe(512);
    expect(b32.towers.image).toMatchObject({ width: 768, depth: 12, heads: 12, mlpRatio: 4, gelu: 'quick', tokens: { dim: 3072, count: 49, grid: [7, 7] } });
    expect(b32.towers.text).toMatchObject({ width: 512, depth: 12, heads: 8, mlpRatio: 4, tokens: { vocabSize: 49408, count: 77 } });
    // *_config_dict wins over *_config, as transformers reads them
    const legacy = hfClipModelConfig({ model_type: 'clip', vision_config: { patch_size: 32 }, vision_config_dict: { patch_size: 16 } });
    expect(legacy.towers.image!.tokens).toMatchObject({ count: 196, grid: [14, 14] });
  });

  it('imports every tensor of the float16 shards, and the temperature', () => {
    expect(loaded.report.missing).toEqual([]);
    expect(loaded.report.unexpected).toEqual([]);
    expect(loaded.report.ignored.sort()).toEqual(['text_model.embeddings.position_ids', 'vision_model.embeddings.position_ids']);
    expect(loaded.report.loaded.vision).toHaveLength((model.tower('image') as EncoderTower).encoder.parameters().size);
    expect(loaded.report.loaded.text).toHaveLength((model.tower('text') as EncoderTower).encoder.parameters().size);
    expect(model.pairs[0]!.logitScale.dataSync()[0]).toBe(ref.logit_scale);
    expect(model.training).toBe(false);
  });

  it("reproduces transformers' CLIPImageProcessor pixels and CLIPModel image embeddings", async () => {
    const preset = imagePresetFromHfProcessor(loaded.processor!, { patchSize: loaded.shapes.patchSize });
    expect(preset).toMatchObject({ size: 32, resize: 'shortest', resizeSize: 32, crop: 'center', cropRounding: 'floor', interpolation: 'bicubic' });
    await checkImages(model, preset, ref.images);
  });

  it('builds and imports only the towers asked for (an image embedding never allocates the text tower)', async () => {
    const only = loadHfClipDir(DIR, { towers: ['image'] });
    expect([...only.model.towers.keys()]).toEqual(['image']);
    expect(() => only.model.tower('text')).toThrow(/only image; "text" was left out/);
    expect(only.report.unexpected).toEqual([]);
    expect([...only.model.parameters().keys()].some((k) => k.startsWith('towers.text.'))).toBe(false);
    await checkImages(only.model, imagePresetFromHfProcessor(only.processor!, { patchSize: 16 }), ref.images);
    expect(() => loadHfClipDir(DIR, { towers: ['audio'] })).toThrow(/only.*audio.*a tower name \(image, text\)/);
    only.model.dispose();
  });

  it("reproduces openai/CLIP's token ids and CLIPModel text embeddings and logits", async () => {
    const tokenizer = clipTokenizer({ contextLength: loaded.shapes.contextLength });
    const batch = tokenizer.encodeBatch(ref.texts.map((t) => t.text));
    ref.texts.forEach((t, i) => expect([...batch.ids.subarray(i * 77, i * 77 + t.ids.length)]).toEqual(t.ids));
    const n = ref.texts.length;
    const e = await model.embed('text', { tokens: tf.tensor(batch.ids, [n, 77], 'int32'), mask: tf.tensor(batch.mask, [n, 77], 'int32'), eotIndex: tf.tensor(batch.eotIndices, [n], 'int32') });
    for (const [i, t] of ref.texts.entries()) expect(maxDiff(e.data.subarray(i * 8, i * 8 + 8), t.embedding), t.text).toBeLessThan(2e-5);
    // logits_per_image = exp(logit_scale) · image · textᵀ, from the reference embeddings and our scale
    const scale = Math.exp(model.pairs[0]!.logitScale.dataSync()[0]!);
    ref.images.forEach((img, i) =>
      ref.texts.forEach((_, j) => {
        const dot = img.embedding.reduce((s, x, k) => s + x * e.data[j * 8 + k]!, 0);
        expect(Math.abs(scale * dot - ref.logits_per_image[i]![j]!)).toBeLessThan(1e-3);
      }),
    );
  });

  it('loads a single model.safetensors (float32) the same as the shards', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'omnitok-hf-'));
    try {
      const merged = Object.fromEntries(readHfClipWeights(DIR).flatMap((f) => Object.entries(f.tensors)));
      writeFileSync(join(tmp, 'model.safetensors'), encodeSafetensors(merged));
      copyFileSync(join(DIR, 'config.json'), join(tmp, 'config.json'));
      const single = loadHfClipDir(tmp, { names: { vision: 'photo', text: 'caption' } });
      expect(single.processor).toBeUndefined();
      expect(single.model.config.pairs).toEqual([['photo', 'caption']]);
      const ours = await model.stateDict();
      const theirs = await single.model.stateDict();
      expect(Object.keys(theirs)).toHaveLength(Object.keys(ours).length);
      expect(Object.keys(ours).length).toBeGreaterThan(40);
      for (const [k, v] of Object.entries(ours)) {
        const other = theirs[k.replace('towers.image.', 'towers.photo.').replace('towers.text.', 'towers.caption.').replace('image__text', 'photo__caption')]!;
        expect(other, k).toBeDefined();
        expect(maxDiff(v.data as Float32Array, other.data as Float32Array), k).toBe(0);
      }
      single.model.dispose();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('names the folder, file and tensor when something is wrong', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'omnitok-hf-'));
    try {
      expect(() => readHfClipDir(tmp)).toThrow(CheckpointError);
      expect(() => readHfClipDir(tmp)).toThrow(/config\.json.*cannot read it \(ENOENT\)/);
      writeFileSync(join(tmp, 'config.json'), JSON.stringify({ model_type: 'bert' }));
      expect(() => readHfClipDir(tmp)).toThrow(/model_type "bert" is not "clip", "siglip" or "siglip2"/);
      expect(isHfClipDir(tmp)).toBe(false);
      copyFileSync(join(DIR, 'config.json'), join(tmp, 'config.json'));
      writeFileSync(join(tmp, 'pytorch_model.bin'), 'not read');
      expect(() => loadHfClipDir(tmp)).toThrow(/pytorch_model\.bin \(a PyTorch pickle\) but no model\.safetensors/);
      writeFileSync(join(tmp, 'model.safetensors'), 'garbage!');
      expect(() => loadHfClipDir(tmp)).toThrow(/model\.safetensors: not a safetensors file/);
      // a tensor of the wrong shape, and one missing: both named, nothing half-loaded
      const merged = Object.fromEntries(readHfClipWeights(DIR).flatMap((f) => Object.entries(f.tensors)));
      const { 'text_projection.weight': _, ...rest } = merged;
      writeFileSync(join(tmp, 'model.safetensors'), encodeSafetensors({ ...rest, 'visual_projection.weight': { data: new Float32Array(8 * 15), shape: [8, 15] } }));
      let error: unknown;
      try {
        loadHfClipDir(tmp);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(WeightImportError);
      expect((error as WeightImportError).mismatched.join()).toMatch(/image|vision/);
      expect((error as WeightImportError).mismatched.join()).toMatch(/visual_projection\.weight: expected \[8, 16\] \(\[out, in\]\) got \[8, 15\]/);
      expect((error as WeightImportError).missing.join()).toMatch(/text_projection\.weight/);
      expect(() => hfClipModelConfig({ model_type: 'clip', vision_config: { hidden_act: 'relu' } })).toThrow(InvalidArgumentError);
      expect(() => hfClipModelConfig({ model_type: 'clip', vision_config: { hidden_act: 'relu' } })).toThrow(/vision_config\.hidden_act/);
      expect(() => hfClipModelConfig({ model_type: 'clip', vision_config: { image_size: 224, patch_size: 14.5 } })).toThrow(/patch_size/);
      expect(() => loadHfClip(decodeSafetensors(encodeSafetensors({ x: { data: new Float32Array(1), shape: [1] } })), { model_type: 'bert' })).toThrow(/model_type/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('maps processors the presets cannot express to a BadPresetError naming the field', () => {
    const base = JSON.parse(readFileSync(join(DIR, 'preprocessor_config.json'), 'utf8'));
    expect(() => imagePresetFromHfProcessor({ ...base, resample: 1 }, { patchSize: 16 })).toThrow(BadPresetError);
    expect(() => imagePresetFromHfProcessor({ ...base, resample: 1 }, { patchSize: 16 })).toThrow(/resample/);
    expect(() => imagePresetFromHfProcessor({ ...base, do_resize: false }, { patchSize: 16 })).toThrow(/do_resize/);
    expect(() => imagePresetFromHfProcessor({ ...base, do_center_crop: false }, { patchSize: 16 })).toThrow(/do_center_crop/);
    expect(() => imagePresetFromHfProcessor({ ...base, rescale_factor: 1 / 127.5 }, { patchSize: 16 })).toThrow(/rescale_factor/);
    expect(() => imagePresetFromHfProcessor(base, { patchSize: 5 })).toThrow(/patchSize/);
    // the CLIPFeatureExtractor spelling and a SigLIP processor (squash, no crop)
    expect(imagePresetFromHfProcessor({ feature_extractor_type: 'CLIPFeatureExtractor', size: 224, crop_size: 224, resample: 3, do_center_crop: true }, { patchSize: 32 })).toMatchObject({ size: 224, resize: 'shortest', resizeSize: 224, crop: 'center' });
    const siglip = imagePresetFromHfProcessor({ image_processor_type: 'SiglipImageProcessor', size: { height: 384, width: 384 }, resample: 3, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] }, { patchSize: 16 });
    expect(siglip).toMatchObject({ size: 384, resize: 'squash', crop: 'none', mean: [0.5, 0.5, 0.5] });
    expect(siglip.cropRounding).toBeUndefined();
  });
});

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * A copy of fixture folder `name` with its SentencePiece model added as a download has it (`tokenizer`:
 * file name → source), loaded; the model is disposed and the copy removed after the describe block.
 */
function loadedCopy(name: string, tokenizer: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), `omnitok-${name}-`));
  for (const f of readdirSync(join(FIXTURES, name))) copyFileSync(join(FIXTURES, name, f), join(dir, f));
  for (const [f, src] of Object.entries(tokenizer)) copyFileSync(src, join(dir, f));
  const loaded = loadHfClipDir(dir);
  afterAll(() => {
    loaded.model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, loaded, model: loaded.model };
}

// A random bfloat16 SiglipModel folder (make-hf-siglip-tiny.py); its spiece.model is the text package's
// SentencePiece fixture, copied in as a download would have it.
describe('Hugging Face SigLIP model folders', () => {
  const sref = JSON.parse(readFileSync(join(FIXTURES, 'reference-siglip.json'), 'utf8')) as Reference & { logit_bias: number; logits_per_text: number[][] };
  const { dir, loaded, model } = loadedCopy('hf-siglip-tiny', { 'spiece.model': SP_UNIGRAM });

  it('reads a SiglipModel config into a MAP-pooled image tower and an unmasked last-token text tower with the sigmoid objective', () => {
    expect(loaded.shapes).toMatchObject({ family: 'siglip', imageSize: 32, patchSize: 16, vocabSize: 600, contextLength: 64, embedDim: 16 });
    expect(model.config.objective).toBe('siglip');
    const vision = (model.tower('image') as EncoderTower).config;
    const text = (model.tower('text') as EncoderTower).config;
    expect(vision).toMatchObject({ pooling: 'map', clsToken: false, preNorm: false, embedBias: true, projectionDim: null, gelu: 'tanh', lnEps: 1e-6, mlpRatio: 3 });
    expect(text).toMatchObject({ pooling: 'last', causal: false, projectionDim: 16, projectionBias: true, padMask: false, gelu: 'tanh', lnEps: 1e-6 });
    expect(loaded.report.missing).toEqual([]);
    expect(loaded.report.unexpected).toEqual([]);
    expect(model.pairs[0]!.logitScale.dataSync()[0]).toBe(sref.logit_scale);
    expect(model.pairs[0]!.logitBias!.dataSync()[0]).toBe(sref.logit_bias);
    // the defaults are google/siglip-base-patch16-224
    expect(hfClipModelConfig({ model_type: 'siglip' })).toMatchObject({
      embedDim: 768,
      towers: { image: { width: 768, depth: 12, heads: 12, tokens: { dim: 768, count: 196 } }, text: { width: 768, tokens: { vocabSize: 32000, count: 64 } } },
    });
    expect(() => hfClipModelConfig({ model_type: 'siglip', vision_config: { vision_use_head: false } })).toThrow(/vision_use_head/);
    expect(() => hfClipModelConfig({ model_type: 'siglip', text_config: { projection_size: 512 } })).toThrow(/projection_size/);
  });

  it("reproduces SiglipImageProcessor pixels and SiglipModel image embeddings", async () => {
    const preset = imagePresetFromHfProcessor(loaded.processor!, { patchSize: 16 });
    expect(preset).toMatchObject({ size: 32, resize: 'squash', crop: 'none', interpolation: 'bicubic', mean: [0.5, 0.5, 0.5] });
    await checkImages(model, preset, sref.images);
  });

  it("reproduces SiglipTokenizer ids and SiglipModel text embeddings (a padding mask given with the ids changes nothing) and logits", async () => {
    const tokenizer = SentencePieceTokenizer.fromFile(join(dir, 'spiece.model'), { contextLength: 64, canonicalize: 'siglip' });
    const batch = tokenizer.encodeBatch(sref.texts.map((t) => t.text));
    sref.texts.forEach((t, i) => {
      expect([...batch.ids.subarray(i * 64, i * 64 + t.ids.length)]).toEqual(t.ids);
      expect(batch.ids[i * 64 + 63]).toBe(tokenizer.eosId); // padded with </s>
    });
    const ids = tf.tensor(batch.ids, [3, 64], 'int32');
    const plain = await model.embed('text', ids);
    const masked = await model.embed('text', { tokens: ids, mask: tf.tensor(batch.mask, [3, 64], 'int32') });
    ids.dispose();
    expect(Array.from(masked.data)).toEqual(Array.from(plain.data));
    sref.texts.forEach((t, i) => expect(maxDiff(plain.data.subarray(i * 16, i * 16 + 16), t.embedding), t.text).toBeLessThan(2e-5));
    const scale = Math.exp(sref.logit_scale);
    sref.texts.forEach((t, i) =>
      sref.images.forEach((img, j) => expect(Math.abs(scale * img.embedding.reduce((s, x, k) => s + x * plain.data[i * 16 + k]!, 0) + sref.logit_bias - sref.logits_per_text[i]![j]!)).toBeLessThan(1e-4)),
    );
  });
});

// A patch size that does not divide the image (make-hf-siglip-tiny.py --odd: 20 pixels, patches of 6, as
// google/siglip-so400m-patch14-384's 384 and 14): the valid convolution sees the first 18 × 18 pixels.
describe('Hugging Face SigLIP folders whose patch size does not divide the image', () => {
  const oref = JSON.parse(readFileSync(join(FIXTURES, 'reference-siglip-odd.json'), 'utf8')) as Reference;
  const { loaded, model } = loadedCopy('hf-siglip-odd-tiny', { 'spiece.model': SP_UNIGRAM });

  it('keeps the whole patches at the corner (3 × 3 of 6 from 20 pixels): pixels and image embeddings equal SiglipModel', async () => {
    expect((model.tower('image') as EncoderTower).config.tokens).toMatchObject({ count: 9, dim: 108, grid: [3, 3] });
    const preset = imagePresetFromHfProcessor(loaded.processor!, { patchSize: 6 });
    expect(preset).toMatchObject({ size: 18, resize: 'squash', resizeSize: 20, crop: 'center', cropRounding: 'start' });
    const tokens: Float32Array[] = [];
    for (const r of oref.images) {
      const features = preprocessImage(await decodeImage(join(FIXTURES, r.file)), preset);
      expect(maxDiff(features.data.subarray(0, 8), r.pixels_first), r.file).toBeLessThan(1e-6); // row 0 of the 20-pixel image
      tokens.push(patchify(features).data);
    }
    const e = await model.embed('image', tf.tensor(concat(tokens), [oref.images.length, 9, 108]));
    oref.images.forEach((r, i) => expect(maxDiff(e.data.subarray(i * 16, (i + 1) * 16), r.embedding), r.file).toBeLessThan(2e-5));
  });
});

// SigLIP 2 (FixRes) is a SiglipModel with Gemma's tokenizer: a random bfloat16 folder
// (make-hf-siglip-tiny.py --siglip2) whose tokenizer.model is the text package's SentencePiece BPE fixture.
describe('Hugging Face SigLIP 2 model folders', () => {
  const sref = JSON.parse(readFileSync(join(FIXTURES, 'reference-siglip2.json'), 'utf8')) as Reference;
  const { dir, loaded, model } = loadedCopy('hf-siglip2-tiny', { 'tokenizer.model': SP_BPE });

  it('reproduces the image embeddings', async () => {
    expect(loaded.shapes).toMatchObject({ family: 'siglip', vocabSize: 900, contextLength: 64 });
    await checkImages(model, imagePresetFromHfProcessor(loaded.processor!, { patchSize: 16 }), sref.images);
  });

  it('reproduces the Gemma tokenizer ids (lowercased, <eos>, <pad> padding; byte fallback, a user-defined symbol) and text embeddings', async () => {
    const tokenizer = SentencePieceTokenizer.fromFile(join(dir, 'tokenizer.model'), { contextLength: 64, padId: 0, canonicalize: 'lowercase' });
    const batch = tokenizer.encodeBatch(sref.texts.map((t) => t.text));
    const n = sref.texts.length;
    sref.texts.forEach((t, i) => {
      expect([...batch.ids.subarray(i * 64, i * 64 + t.ids.length)]).toEqual(t.ids);
      expect(batch.ids[i * 64 + 63]).toBe(tokenizer.padId);
    });
    const ids = tf.tensor(batch.ids, [n, 64], 'int32');
    const e = await model.embed('text', ids);
    ids.dispose();
    sref.texts.forEach((t, i) => expect(maxDiff(e.data.subarray(i * 16, i * 16 + 16), t.embedding), t.text).toBeLessThan(2e-5));
  });
});

// SigLIP 2 NaFlex (Siglip2Model): each image keeps its aspect ratio within a patch budget, the position
// table is resized to its grid (make-hf-siglip2-naflex-tiny.py: budget 12 patches of 8, a 4 × 4 table).
interface NaflexReference extends Reference {
  images: (Reference['images'][number] & { resized: [number, number]; grid: [number, number] })[];
}
const NAFLEX = join(FIXTURES, 'hf-siglip2-naflex-tiny');

/** The reference images as NaFlex tokens: pixels checked, then one padded batch with masks and grids. */
async function naflexBatch(preset: ImagePreset, images: NaflexReference['images']) {
  const rows = [];
  for (const r of images) {
    const features = preprocessImage(await decodeImage(join(FIXTURES, r.file)), preset);
    expect([features.shape[1], features.shape[2]], r.file).toEqual(r.resized);
    const plane = features.shape[1] * features.shape[2];
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      for (let i = c * plane; i < (c + 1) * plane; i++) sum += features.data[i]!;
      expect(Math.abs(sum - r.pixels_sum[c]!), `${r.file} channel ${c}`).toBeLessThan(1e-3);
    }
    const tokens = patchify(features);
    expect(tokens.grid, r.file).toEqual(r.grid);
    rows.push(tokens);
  }
  const [N, F] = rows[0]!.shape;
  return {
    tokens: tf.tensor(concat(rows.map((t) => t.data)), [rows.length, N, F]),
    mask: tf.tensor(rows.flatMap((t) => Array.from(t.mask!)), [rows.length, N]),
    grid: Int32Array.from(rows.flatMap((t) => t.grid)),
  };
}

describe('Hugging Face SigLIP 2 NaFlex folders', () => {
  const nref = JSON.parse(readFileSync(join(FIXTURES, 'reference-siglip2-naflex.json'), 'utf8')) as NaflexReference;
  const { dir, loaded, model } = loadedCopy('hf-siglip2-naflex-tiny', { 'tokenizer.model': SP_BPE });

  it("reads a Siglip2Model config: a linear patch embedding, a 4 × 4 position table resized per image, the processor's 12-patch budget", () => {
    expect(loaded.family).toBe('siglip2');
    expect(loaded.shapes).toMatchObject({ family: 'siglip2', patchSize: 8, positionGrid: [4, 4], vocabSize: 900 });
    expect((model.tower('image') as EncoderTower).config).toMatchObject({ posGrid: [4, 4], pooling: 'map', padMask: true, tokens: { count: 12, dim: 192 } });
    expect(loaded.report.missing).toEqual([]);
    expect(loaded.report.unexpected).toEqual([]);
    expect(model.config.objective).toBe('siglip');
  });

  it("reproduces Siglip2ImageProcessor's sizes, grids and pixels and Siglip2Model's image embeddings (3 × 4, 4 × 3 and 2 × 5 grids)", async () => {
    const preset = imagePresetFromHfProcessor(loaded.processor!, { patchSize: 8 });
    expect(preset).toMatchObject({ resize: 'naflex', maxPatches: 12, interpolation: 'bilinear' });
    const batch = await naflexBatch(preset, nref.images);
    const e = await model.embed('image', batch);
    tf.dispose([batch.tokens, batch.mask]);
    nref.images.forEach((r, i) => expect(maxDiff(e.data.subarray(i * 16, (i + 1) * 16), r.embedding), r.file).toBeLessThan(2e-5));
  });

  it('its text tower is SigLIP 2 as ever: Gemma ids, text embeddings', async () => {
    const tokenizer = SentencePieceTokenizer.fromFile(join(dir, 'tokenizer.model'), { contextLength: 64, padId: 0, canonicalize: 'lowercase' });
    const batch = tokenizer.encodeBatch(nref.texts.map((t) => t.text));
    nref.texts.forEach((t, i) => expect([...batch.ids.subarray(i * 64, i * 64 + t.ids.length)]).toEqual(t.ids));
    const ids = tf.tensor(batch.ids, [nref.texts.length, 64], 'int32');
    const e = await model.embed('text', ids);
    ids.dispose();
    nref.texts.forEach((t, i) => expect(maxDiff(e.data.subarray(i * 16, (i + 1) * 16), t.embedding), t.text).toBeLessThan(2e-5));
  });
});

// A random float16 open_clip upload (open_clip_config.json + open_clip_model.safetensors with open_clip's
// names, LayerScale in the image tower, QuickGELU): make-open-clip-tiny.py, open_clip's transform and model.
describe('open_clip model folders', () => {
  const oref = JSON.parse(readFileSync(join(FIXTURES, 'reference-open-clip.json'), 'utf8')) as Reference;
  const ODIR = join(FIXTURES, 'open-clip-tiny');
  const loaded = loadHfClipDir(ODIR);
  const { model } = loaded;
  afterAll(() => model.dispose());

  it('reads model_cfg (head_width, mlp_ratio, ls_init_value, quick_gelu) into CLIP towers and maps every open_clip tensor', () => {
    expect(isHfClipDir(ODIR)).toBe(true);
    expect(loaded.family).toBe('open_clip');
    expect(loaded.shapes).toMatchObject({ family: 'open_clip', imageSize: 32, patchSize: 16, vocabSize: 49408, contextLength: 77, embedDim: 8 });
    const vision = (model.tower('image') as EncoderTower).config;
    const text = (model.tower('text') as EncoderTower).config;
    expect(vision).toMatchObject({ width: 16, heads: 2, depth: 2, mlpRatio: 3, gelu: 'quick', layerScale: 0.5, pooling: 'cls', preNorm: true, embedBias: false });
    expect(text).toMatchObject({ width: 8, heads: 2, depth: 2, mlpRatio: 4, gelu: 'quick', layerScale: null, pooling: 'eot', causal: true });
    expect(loaded.report.missing).toEqual([]);
    expect(loaded.report.unexpected).toEqual([]);
    expect(model.pairs[0]!.logitScale.dataSync()[0]).toBe(oref.logit_scale);
    expect(() => hfClipModelConfig({ model_cfg: { vision_cfg: { timm_model_name: 'vit_base_patch16_224' } } })).toThrow(/model_cfg\.vision_cfg\.timm_model_name/);
    expect(() => hfClipModelConfig({ model_cfg: { text_cfg: { hf_model_name: 'xlm-roberta-base' } } })).toThrow(/model_cfg\.text_cfg\.hf_model_name/);
    expect(() => hfClipModelConfig({ model_cfg: { vision_cfg: { attentional_pool: true } } })).toThrow(/attentional_pool/);
    expect(hfClipModelConfig({ model_cfg: { embed_dim: 512, vision_cfg: { patch_size: 32 } } }).towers.image).toMatchObject({ width: 768, heads: 12, gelu: 'erf', tokens: { count: 49 } });
  });

  it("reproduces open_clip's eval transform and image embeddings", async () => {
    const preset = imagePresetFromOpenClip(loaded.processor!, { size: 32, patchSize: 16 });
    expect(preset).toMatchObject({ size: 32, resize: 'shortest', crop: 'center', interpolation: 'bicubic' });
    expect(preset.cropRounding).toBeUndefined(); // torchvision's CenterCrop
    await checkImages(model, preset, oref.images);
    expect(() => imagePresetFromOpenClip({ resize_mode: 'longest' }, { size: 32, patchSize: 16 })).toThrow(/resize_mode/);
  });

  it('an open_clip upload whose folder also holds an unrelated config.json is still read as open_clip; a missing weights file is named', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'omnitok-oc-'));
    try {
      for (const f of readdirSync(ODIR)) copyFileSync(join(ODIR, f), join(tmp, f));
      writeFileSync(join(tmp, 'config.json'), JSON.stringify({ model_type: 'bert' }));
      expect(isHfClipDir(tmp)).toBe(true);
      expect(readHfClipDir(tmp).family).toBe('open_clip');
      expect(readHfClipWeights(tmp)[0]!.tensors['visual.proj']!.shape).toEqual([16, 8]);
      rmSync(join(tmp, 'open_clip_model.safetensors'));
      writeFileSync(join(tmp, 'open_clip_pytorch_model.bin'), 'not read');
      expect(() => readHfClipWeights(tmp)).toThrow(/has open_clip_pytorch_model\.bin \(a PyTorch pickle\) but no open_clip_model\.safetensors/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("reproduces open_clip's text embeddings", async () => {
    const batch = clipTokenizer({ contextLength: 77 }).encodeBatch(oref.texts.map((t) => t.text));
    oref.texts.forEach((t, i) => expect([...batch.ids.subarray(i * 77, i * 77 + t.ids.length)]).toEqual(t.ids));
    const e = await model.embed('text', { tokens: tf.tensor(batch.ids, [3, 77], 'int32'), mask: tf.tensor(batch.mask, [3, 77], 'int32'), eotIndex: tf.tensor(batch.eotIndices, [3], 'int32') });
    oref.texts.forEach((t, i) => expect(maxDiff(e.data.subarray(i * 8, i * 8 + 8), t.embedding), t.text).toBeLessThan(2e-5));
  });
});

// The same parity on the other backends: the native C++ kernels, and WebGPU (lavapipe in CI: required
// there, as for the runtime's suites). The suites above run on cpu.
describeBackends(
  'pretrained folders on every backend',
  (backend) => {
    const cases = [
      { name: 'CLIP (HF)', dir: DIR, ref: 'reference.json', tokenizer: () => clipTokenizer({ contextLength: 77 }) },
      { name: 'SigLIP (HF)', dir: join(FIXTURES, 'hf-siglip-tiny'), ref: 'reference-siglip.json', tokenizer: () => SentencePieceTokenizer.fromFile(SP_UNIGRAM, { contextLength: 64, canonicalize: 'siglip' }) },
      { name: 'SigLIP 2 (HF)', dir: join(FIXTURES, 'hf-siglip2-tiny'), ref: 'reference-siglip2.json', tokenizer: () => SentencePieceTokenizer.fromFile(SP_BPE, { contextLength: 64, padId: 0, canonicalize: 'lowercase' }) },
      { name: 'open_clip', dir: join(FIXTURES, 'open-clip-tiny'), ref: 'reference-open-clip.json', tokenizer: () => clipTokenizer({ contextLength: 77 }) },
    ];
    it('SigLIP 2 NaFlex (HF): image embeddings over per-image grids equal the reference', async () => {
      const nref = JSON.parse(readFileSync(join(FIXTURES, 'reference-siglip2-naflex.json'), 'utf8')) as NaflexReference;
      const { model, processor } = loadHfClipDir(NAFLEX, { towers: ['image'] });
      const batch = await naflexBatch(imagePresetFromHfProcessor(processor!, { patchSize: 8 }), nref.images);
      const e = await model.embed('image', batch);
      tf.dispose([batch.tokens, batch.mask]);
      nref.images.forEach((r, i) => expect(maxDiff(e.data.subarray(i * 16, (i + 1) * 16), r.embedding), `${r.file} on ${backend().name}`).toBeLessThan(tolerance(backend().name)));
      model.dispose();
    });

    for (const c of cases) {
      it(`${c.name}: image and text embeddings equal the reference`, async () => {
        const tol = tolerance(backend().name);
        const r = JSON.parse(readFileSync(join(FIXTURES, c.ref), 'utf8')) as Reference;
        const tmp = mkdtempSync(join(tmpdir(), 'omnitok-pretrained-'));
        try {
          for (const f of readdirSync(c.dir)) copyFileSync(join(c.dir, f), join(tmp, f));
          const { model, shapes, processor, family } = loadHfClipDir(tmp);
          const preset = family === 'open_clip' ? imagePresetFromOpenClip(processor!, { size: 32, patchSize: 16 }) : imagePresetFromHfProcessor(processor!, { patchSize: 16 });
          const D = model.config.embedDim;
          const patches = await Promise.all(r.images.map(async (img) => patchify(preprocessImage(await decodeImage(join(FIXTURES, img.file)), preset)).data));
          const image = await model.embed('image', tf.tensor(concat(patches), [r.images.length, 4, 768]));
          r.images.forEach((img, i) => expect(maxDiff(image.data.subarray(i * D, (i + 1) * D), img.embedding), `${img.file} on ${backend().name}`).toBeLessThan(tol));
          const tokenizer = c.tokenizer();
          const batch = tokenizer.encodeBatch(r.texts.map((t) => t.text));
          const n = r.texts.length;
          const L = shapes.contextLength;
          const text = await model.embed('text', { tokens: tf.tensor(batch.ids, [n, L], 'int32'), mask: tf.tensor(batch.mask, [n, L], 'int32'), eotIndex: tf.tensor(batch.eotIndices, [n], 'int32') });
          r.texts.forEach((t, i) => expect(maxDiff(text.data.subarray(i * D, (i + 1) * D), t.embedding), `${t.text} on ${backend().name}`).toBeLessThan(tol));
          model.dispose();
        } finally {
          rmSync(tmp, { recursive: true, force: true });
        }
      });
    }
  },
  ['native', 'webgpu'],
);
