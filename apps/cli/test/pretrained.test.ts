import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMAGENET_CLASSNAMES, loadHfClipDir, SIMPLE_IMAGENET_TEMPLATES } from '@omnitok/clip';
import { decodeNpy, decodeSafetensors, encodeSafetensors } from '@omnitok/core';
import { loadCheckpoint } from '@omnitok/core/runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import { startFakeHub } from '../../../packages/clip/src/pretrained/__fixtures__/fake-hub.js';
import { omnitok, tempDir } from './train-fixtures.js';

// `omnitok embed / eval / train` on a Hugging Face CLIP model folder: the random float16 CLIPModel of
// @omnitok/clip's fixtures, whose embeddings transformers' pipeline computed in PyTorch (reference.json).
const FIXTURES = fileURLToPath(new URL('../../../packages/clip/src/pretrained/__fixtures__/', import.meta.url));
const MODEL = join(FIXTURES, 'hf-clip-tiny');
interface Reference {
  images: { file: string; embedding: number[] }[];
  texts: { text: string; embedding: number[] }[];
  logit_scale: number;
}
const ref = JSON.parse(readFileSync(join(FIXTURES, 'reference.json'), 'utf8')) as Reference;
const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

let dir: string;
beforeAll(() => {
  dir = tempDir('pretrained');
  for (const r of ref.images) copyFileSync(join(FIXTURES, r.file), join(dir, r.file));
  // image i with text i: a two-pair set whose retrieval and CLIP loss follow from the reference embeddings
  const lines = ref.images.map((r, i) => JSON.stringify({ image: r.file, text: ref.texts[i]!.text, label: i === 0 ? 'wide' : 'tall' }));
  writeFileSync(join(dir, 'pairs.jsonl'), `${lines.join('\n')}\n`);
});

describe('a Hugging Face CLIP model folder as --checkpoint and --model', () => {
  it('embed: images and texts equal the PyTorch CLIPModel embeddings', async () => {
    for (const [modality, inputs, expected] of [
      ['image', ref.images.map((r) => r.file), ref.images.map((r) => r.embedding)],
      ['text', ref.texts.map((t) => t.text), ref.texts.map((t) => t.embedding)],
    ] as const) {
      const out = join(dir, `${modality}.npy`);
      const r = await omnitok(dir, 'embed', '--checkpoint', MODEL, '--modality', modality, ...inputs, '--out', out, '--backend', 'cpu', '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ modality, shape: [inputs.length, 8], step: 0 });
      const e = decodeNpy(readFileSync(out));
      expected.forEach((row, i) => row.forEach((x, k) => expect(Math.abs(Number(e.data[i * 8 + k]) - x), `${modality} ${i}`).toBeLessThan(2e-5)));
    }
  });

  it('eval: retrieval over the pairs as the reference embeddings rank them; --data is required', async () => {
    const r = await omnitok(dir, 'eval', '--checkpoint', MODEL, '--data', 'pairs.jsonl', '--task', 'retrieval', '--backend', 'cpu', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { samples: number; split: string; retrieval: { pair: string; aToB: { r1: number }; bToA: { r1: number } }[] };
    expect(out.samples).toBe(2);
    expect(out.split).toBe('all');
    const [i0, i1] = ref.images.map((x) => x.embedding) as [number[], number[]];
    const [t0, t1] = ref.texts.map((x) => x.embedding) as [number[], number[]];
    const imageToText = ((dot(i0, t0) > dot(i0, t1) ? 1 : 0) + (dot(i1, t1) > dot(i1, t0) ? 1 : 0)) / 2;
    const textToImage = ((dot(t0, i0) > dot(t0, i1) ? 1 : 0) + (dot(t1, i1) > dot(t1, i0) ? 1 : 0)) / 2;
    expect(out.retrieval).toHaveLength(1);
    expect(out.retrieval[0]!.pair).toBe('image__text');
    expect(out.retrieval[0]!.aToB.r1).toBe(imageToText);
    expect(out.retrieval[0]!.bToA.r1).toBe(textToImage);
    const zs = await omnitok(dir, 'eval', '--checkpoint', MODEL, '--data', 'pairs.jsonl', '--task', 'zero-shot', '--backend', 'cpu', '--json');
    expect(zs.code, zs.stderr).toBe(0);
    expect(JSON.parse(zs.stdout).zeroShot).toMatchObject({ classes: 2 });
    const none = await omnitok(dir, 'eval', '--checkpoint', MODEL, '--backend', 'cpu');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--data.*pretrained model with no data of its own/);
  });

  it('train --model: fine-tuning starts from the pretrained weights (step 1 loss = the reference CLIP loss) and its run embeds', async () => {
    const out = join(dir, 'fine-tune');
    const r = await omnitok(dir, 'train', '--model', MODEL, '--data', 'pairs.jsonl', '--pair', 'image:text', '--steps', '2', '--batch-size', '2', '--eval-fraction', '0', '--lr', '1e-3', '--warmup', '0', '--backend', 'cpu', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; step: number; loss: number }).filter((m) => m.type === 'step');
    // the batch is both pairs (in some order): CLIP's symmetric cross-entropy at exp(logit_scale)
    const scale = Math.exp(ref.logit_scale);
    const I = ref.images.map((x) => x.embedding);
    const T = ref.texts.slice(0, 2).map((x) => x.embedding);
    const ce = (rows: number[][], cols: number[][]) => rows.reduce((s, a, i) => {
      const logits = cols.map((b) => scale * dot(a, b));
      const m = Math.max(...logits);
      return s + (m + Math.log(logits.reduce((z, l) => z + Math.exp(l - m), 0)) - logits[i]!);
    }, 0) / rows.length;
    const expected = (ce(I, T) + ce(T, I)) / 2;
    expect(Math.abs(steps[0]!.loss - expected), `step 1 loss ${steps[0]!.loss} vs ${expected}`).toBeLessThan(1e-3 * (1 + expected));
    expect(steps[1]!.loss).not.toBe(steps[0]!.loss);
    const config = JSON.parse(readFileSync(join(out, readdirSync(out).find((d) => d.startsWith('step-'))!, 'config.json'), 'utf8'));
    expect(config.presets.image).toMatchObject({ resize: 'shortest', resizeSize: 32, cropRounding: 'floor', patchSize: 16 });
    expect(config.presets.text).toMatchObject({ kind: 'clip-bpe', contextLength: 77 });
    const e = await omnitok(dir, 'embed', '--checkpoint', out, '--modality', 'image', ref.images[0]!.file, '--out', join(dir, 'tuned.npy'), '--backend', 'cpu');
    expect(e.code, e.stderr).toBe(0);
    expect(decodeNpy(readFileSync(join(dir, 'tuned.npy'))).shape).toEqual([1, 8]);
  });

  it('refuses pairs other than image:text and a preset of another token layout, naming them', async () => {
    const bad = await omnitok(dir, 'train', '--model', MODEL, '--data', 'pairs.jsonl', '--pair', 'image:audio', '--steps', '1', '--backend', 'cpu', '--out', join(dir, 'bad-pair'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--pair.*image:text \(the two towers of the pretrained CLIP model/);
    const preset = await omnitok(dir, 'train', '--model', MODEL, '--data', 'pairs.jsonl', '--pair', 'image:text', '--preset', 'image=clip-vit-b-32', '--steps', '1', '--batch-size', '2', '--eval-fraction', '0', '--backend', 'cpu', '--out', join(dir, 'bad-preset'));
    expect(preset.code).toBe(1);
    expect(preset.stderr).toMatch(/no usable training sample.*image: tokens .*"count":49.* differ from the run's .*"count":4/);
  });

  it('a SigLIP folder: embed equals SiglipModel, and fine-tuning starts from its weights (step 1 loss = the reference sigmoid loss)', async () => {
    const sref = JSON.parse(readFileSync(join(FIXTURES, 'reference-siglip.json'), 'utf8')) as Reference & { logit_bias: number };
    const siglip = join(dir, 'siglip-tiny');
    mkdirSync(siglip);
    for (const f of ['config.json', 'model.safetensors', 'preprocessor_config.json']) copyFileSync(join(FIXTURES, 'hf-siglip-tiny', f), join(siglip, f));
    const noSpiece = await omnitok(dir, 'embed', '--checkpoint', siglip, '--modality', 'text', 'a cat', '--out', join(dir, 'x.npy'), '--backend', 'cpu');
    expect(noSpiece.code).toBe(1);
    expect(noSpiece.stderr).toMatch(/has no spiece\.model/);
    copyFileSync(fileURLToPath(new URL('../../../packages/tokenizer-text/src/__fixtures__/sp-unigram.model', import.meta.url)), join(siglip, 'spiece.model'));
    for (const [modality, inputs, expected] of [
      ['image', sref.images.map((r) => r.file), sref.images.map((r) => r.embedding)],
      ['text', sref.texts.map((t) => t.text), sref.texts.map((t) => t.embedding)],
    ] as const) {
      const out = join(dir, `siglip-${modality}.npy`);
      const r = await omnitok(dir, 'embed', '--checkpoint', siglip, '--modality', modality, ...inputs, '--out', out, '--backend', 'cpu');
      expect(r.code, r.stderr).toBe(0);
      const e = decodeNpy(readFileSync(out));
      expected.forEach((row, i) => row.forEach((x, k) => expect(Math.abs(Number(e.data[i * 16 + k]) - x), `${modality} ${i}`).toBeLessThan(2e-5)));
    }
    // a patch size that does not divide the image (20 pixels, patches of 6): the first 18 × 18 pixels, as the model's conv sees them
    const oref = JSON.parse(readFileSync(join(FIXTURES, 'reference-siglip-odd.json'), 'utf8')) as Reference;
    const odd = join(dir, 'siglip-odd');
    mkdirSync(odd);
    for (const f of readdirSync(join(FIXTURES, 'hf-siglip-odd-tiny'))) copyFileSync(join(FIXTURES, 'hf-siglip-odd-tiny', f), join(odd, f));
    copyFileSync(join(siglip, 'spiece.model'), join(odd, 'spiece.model'));
    const oddOut = await omnitok(dir, 'embed', '--checkpoint', odd, '--modality', 'image', ...oref.images.map((r) => r.file), '--out', join(dir, 'odd.npy'), '--backend', 'cpu');
    expect(oddOut.code, oddOut.stderr).toBe(0);
    const oddE = decodeNpy(readFileSync(join(dir, 'odd.npy')));
    oref.images.forEach((r, i) => r.embedding.forEach((x, k) => expect(Math.abs(Number(oddE.data[i * 16 + k]) - x), `odd ${i}`).toBeLessThan(2e-5)));
    const lines = sref.images.map((r, i) => JSON.stringify({ image: r.file, text: sref.texts[i]!.text }));
    writeFileSync(join(dir, 'siglip-pairs.jsonl'), `${lines.join('\n')}\n`);
    const out = join(dir, 'siglip-tune');
    const r = await omnitok(dir, 'train', '--model', siglip, '--data', 'siglip-pairs.jsonl', '--pair', 'image:text', '--steps', '1', '--batch-size', '2', '--eval-fraction', '0', '--warmup', '0', '--backend', 'cpu', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.split('\n')[0]!)).toMatchObject({ event: 'start' });
    const loss = (readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; loss: number }).find((m) => m.type === 'step'))!.loss;
    // SigLIP: Σᵢⱼ softplus(−zᵢⱼ · (exp(t)·aᵢ·bⱼ + bias)) / n, z = +1 on the diagonal, −1 elsewhere
    const scale = Math.exp(sref.logit_scale);
    const I = sref.images.map((x) => x.embedding);
    const T = sref.texts.slice(0, 2).map((x) => x.embedding);
    const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    let expected = 0;
    I.forEach((a, i) => T.forEach((b, j) => (expected += softplus(-(i === j ? 1 : -1) * (scale * dot(a, b) + sref.logit_bias)))));
    expected /= 2;
    expect(Math.abs(loss - expected), `step 1 loss ${loss} vs ${expected}`).toBeLessThan(1e-4 * (1 + expected));
    const config = JSON.parse(readFileSync(join(out, readdirSync(out).find((d) => d.startsWith('step-'))!, 'config.json'), 'utf8'));
    expect(config.train.objective).toBe('siglip');
    expect(config.presets.text).toMatchObject({ kind: 'sentencepiece', contextLength: 64, canonicalize: 'siglip' });
  });

  it("a SigLIP 2 folder (Gemma's tokenizer.model): embed equals the reference; tokenizer_config.json is followed", async () => {
    const s2ref = JSON.parse(readFileSync(join(FIXTURES, 'reference-siglip2.json'), 'utf8')) as Reference;
    const siglip2 = join(dir, 'siglip2-tiny');
    mkdirSync(siglip2);
    for (const f of readdirSync(join(FIXTURES, 'hf-siglip2-tiny'))) copyFileSync(join(FIXTURES, 'hf-siglip2-tiny', f), join(siglip2, f));
    const embedText = (out: string) => omnitok(dir, 'embed', '--checkpoint', siglip2, '--modality', 'text', ...s2ref.texts.map((t) => t.text), '--out', out, '--backend', 'cpu');
    const none = await embedText(join(dir, 'x.npy'));
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/has no spiece\.model .* nor tokenizer\.model/);
    copyFileSync(fileURLToPath(new URL('../../../packages/tokenizer-text/src/__fixtures__/sp-bpe.model', import.meta.url)), join(siglip2, 'tokenizer.model'));
    for (const [modality, inputs, expected] of [
      ['image', s2ref.images.map((r) => r.file), s2ref.images.map((r) => r.embedding)],
      ['text', s2ref.texts.map((t) => t.text), s2ref.texts.map((t) => t.embedding)],
    ] as const) {
      const out = join(dir, `siglip2-${modality}.npy`);
      const r = await omnitok(dir, 'embed', '--checkpoint', siglip2, '--modality', modality, ...inputs, '--out', out, '--backend', 'cpu');
      expect(r.code, r.stderr).toBe(0);
      const e = decodeNpy(readFileSync(out));
      expected.forEach((row, i) => row.forEach((x, k) => expect(Math.abs(Number(e.data[i * 16 + k]) - x), `${modality} ${i}`).toBeLessThan(2e-5)));
    }
    const config = JSON.parse(readFileSync(join(siglip2, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    // padding with <eos> instead of <pad> changes what the last-token pooled tower reads: other embeddings
    writeFileSync(join(siglip2, 'tokenizer_config.json'), JSON.stringify({ ...config, pad_token: '<eos>' }));
    expect((await embedText(join(dir, 'siglip2-eos-pad.npy'))).code).toBe(0);
    const padded = decodeNpy(readFileSync(join(dir, 'siglip2-eos-pad.npy')));
    expect(Math.abs(Number(padded.data[0]) - s2ref.texts[0]!.embedding[0]!)).toBeGreaterThan(1e-4);
    writeFileSync(join(siglip2, 'tokenizer_config.json'), JSON.stringify({ ...config, pad_token: '<nope>' }));
    const bad = await embedText(join(dir, 'x.npy'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/pad_token "<nope>" is no piece of tokenizer\.model/);
  });

  it('a SigLIP 2 NaFlex folder: embed equals Siglip2Model over per-image grids, and fine-tuning starts from its weights (step 1 loss = the reference)', async () => {
    const nref = JSON.parse(readFileSync(join(FIXTURES, 'reference-siglip2-naflex.json'), 'utf8')) as Reference & { logit_bias: number };
    const naflex = join(dir, 'siglip2-naflex');
    mkdirSync(naflex);
    for (const f of readdirSync(join(FIXTURES, 'hf-siglip2-naflex-tiny'))) copyFileSync(join(FIXTURES, 'hf-siglip2-naflex-tiny', f), join(naflex, f));
    copyFileSync(fileURLToPath(new URL('../../../packages/tokenizer-text/src/__fixtures__/sp-bpe.model', import.meta.url)), join(naflex, 'tokenizer.model'));
    for (const r of nref.images) copyFileSync(join(FIXTURES, r.file), join(dir, r.file));
    for (const [modality, inputs, expected] of [
      ['image', nref.images.map((r) => r.file), nref.images.map((r) => r.embedding)],
      ['text', nref.texts.map((t) => t.text), nref.texts.map((t) => t.embedding)],
    ] as const) {
      const out = join(dir, `naflex-${modality}.npy`);
      const r = await omnitok(dir, 'embed', '--checkpoint', naflex, '--modality', modality, ...inputs, '--batch-size', '2', '--out', out, '--backend', 'cpu');
      expect(r.code, r.stderr).toBe(0);
      const e = decodeNpy(readFileSync(out));
      expected.forEach((row, i) => row.forEach((x, k) => expect(Math.abs(Number(e.data[i * 16 + k]) - x), `${modality} ${i}`).toBeLessThan(2e-5)));
    }
    // --max-patches: another resolution for the same model (16 patches), as a folder whose processor says 16 gives it
    const more = await omnitok(dir, 'embed', '--checkpoint', naflex, '--modality', 'image', nref.images[0]!.file, '--max-patches', '16', '--out', join(dir, 'naflex-16.npy'), '--backend', 'cpu');
    expect(more.code, more.stderr).toBe(0);
    const sixteen = join(dir, 'siglip2-naflex-16');
    mkdirSync(sixteen);
    for (const f of readdirSync(naflex)) copyFileSync(join(naflex, f), join(sixteen, f));
    const processor = JSON.parse(readFileSync(join(naflex, 'preprocessor_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(sixteen, 'preprocessor_config.json'), JSON.stringify({ ...processor, max_num_patches: 16 }));
    const viaConfig = await omnitok(dir, 'embed', '--checkpoint', sixteen, '--modality', 'image', nref.images[0]!.file, '--out', join(dir, 'naflex-16b.npy'), '--backend', 'cpu');
    expect(viaConfig.code, viaConfig.stderr).toBe(0);
    const e16 = decodeNpy(readFileSync(join(dir, 'naflex-16.npy'))).data as Float32Array;
    expect(Array.from(e16)).toEqual(Array.from(decodeNpy(readFileSync(join(dir, 'naflex-16b.npy'))).data as Float32Array));
    expect(Math.max(...Array.from(e16).map((x, k) => Math.abs(x - nref.images[0]!.embedding[k]!)))).toBeGreaterThan(1e-3); // another resolution: another embedding
    const notNaflex = await omnitok(dir, 'embed', '--checkpoint', MODEL, '--modality', 'image', nref.images[0]!.file, '--max-patches', '16', '--out', join(dir, 'x.npy'), '--backend', 'cpu');
    expect(notNaflex.code).toBe(2);
    expect(notNaflex.stderr).toMatch(/--max-patches.*a SigLIP 2 NaFlex model/);
    const lines = nref.texts.map((t, i) => JSON.stringify({ image: nref.images[i]!.file, text: t.text }));
    writeFileSync(join(dir, 'naflex-pairs.jsonl'), `${lines.join('\n')}\n`);
    const out = join(dir, 'naflex-tune');
    const r = await omnitok(dir, 'train', '--model', naflex, '--data', 'naflex-pairs.jsonl', '--pair', 'image:text', '--steps', '1', '--batch-size', '2', '--eval-fraction', '0', '--warmup', '0', '--backend', 'cpu', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const loss = (readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; loss: number }).find((m) => m.type === 'step'))!.loss;
    const scale = Math.exp(nref.logit_scale);
    const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    let expected = 0;
    nref.images.slice(0, 2).forEach((a, i) => nref.texts.forEach((b, j) => (expected += softplus(-(i === j ? 1 : -1) * (scale * dot(a.embedding, b.embedding) + nref.logit_bias)))));
    expected /= 2;
    expect(Math.abs(loss - expected), `step 1 loss ${loss} vs ${expected}`).toBeLessThan(1e-4 * (1 + expected));
    const config = JSON.parse(readFileSync(join(out, readdirSync(out).find((d) => d.startsWith('step-'))!, 'config.json'), 'utf8'));
    expect(config.presets.image).toMatchObject({ resize: 'naflex', maxPatches: 12 });
    expect(config.model.towers.image).toMatchObject({ posGrid: [4, 4], tokens: { count: 12 } });
    // fine-tuning at another budget: the run's preset and tower take it
    const out16 = join(dir, 'naflex-tune-16');
    const r16 = await omnitok(dir, 'train', '--model', naflex, '--max-patches', '16', '--data', 'naflex-pairs.jsonl', '--pair', 'image:text', '--steps', '1', '--batch-size', '2', '--eval-fraction', '0', '--backend', 'cpu', '--out', out16);
    expect(r16.code, r16.stderr).toBe(0);
    const config16 = JSON.parse(readFileSync(join(out16, readdirSync(out16).find((d) => d.startsWith('step-'))!, 'config.json'), 'utf8'));
    expect(config16.presets.image).toMatchObject({ maxPatches: 16 });
    expect(config16.model.towers.image).toMatchObject({ tokens: { count: 16 } });
    const tiny = await omnitok(dir, 'train', '--model', 'tiny', '--max-patches', '16', '--steps', '1', '--backend', 'cpu', '--out', join(dir, 'never'));
    expect(tiny.code).toBe(2);
    expect(tiny.stderr).toMatch(/--max-patches.*a SigLIP 2 NaFlex --model \(tiny is none\)/);
  });

  it('an open_clip folder: embed equals open_clip, eval ranks with it, and train --model fine-tunes it', async () => {
    const oref = JSON.parse(readFileSync(join(FIXTURES, 'reference-open-clip.json'), 'utf8')) as Reference;
    const openClip = join(FIXTURES, 'open-clip-tiny');
    for (const [modality, inputs, expected] of [
      ['image', oref.images.map((r) => r.file), oref.images.map((r) => r.embedding)],
      ['text', oref.texts.map((t) => t.text), oref.texts.map((t) => t.embedding)],
    ] as const) {
      const out = join(dir, `open-clip-${modality}.npy`);
      const r = await omnitok(dir, 'embed', '--checkpoint', openClip, '--modality', modality, ...inputs, '--out', out, '--backend', 'cpu');
      expect(r.code, r.stderr).toBe(0);
      const e = decodeNpy(readFileSync(out));
      expected.forEach((row, i) => row.forEach((x, k) => expect(Math.abs(Number(e.data[i * 8 + k]) - x), `${modality} ${i}`).toBeLessThan(2e-5)));
    }
    const out = join(dir, 'open-clip-tune');
    const r = await omnitok(dir, 'train', '--model', openClip, '--data', 'pairs.jsonl', '--pair', 'image:text', '--steps', '1', '--batch-size', '2', '--eval-fraction', '0', '--warmup', '0', '--backend', 'cpu', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(out, readdirSync(out).find((d) => d.startsWith('step-'))!, 'config.json'), 'utf8'));
    expect(config.presets.image).toMatchObject({ resize: 'shortest', crop: 'center', size: 32, patchSize: 16 });
    expect(config.model.towers.image).toMatchObject({ layerScale: 0.5, gelu: 'quick' });
  });

  it('classify: each image against class names, the softmax of the reference CLIP logits (SigLIP: sigmoids)', async () => {
    const full = JSON.parse(readFileSync(join(FIXTURES, 'reference.json'), 'utf8')) as Reference & { logits_per_image: number[][] };
    writeFileSync(join(dir, 'classes.txt'), `${ref.texts.map((t) => t.text).join('\n')}\n`);
    // the template '{}' makes each class's prompt its name: the classifier rows are the reference text embeddings
    const r = await omnitok(dir, 'classify', '--checkpoint', MODEL, '--classes', 'classes.txt', '--templates', '{}', '--top', '3', ...ref.images.map((x) => x.file), '--backend', 'cpu', '--json');
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { input: string; classes: { name: string; p: number }[] });
    expect(rows.map((x) => x.input)).toEqual(ref.images.map((x) => x.file));
    rows.forEach((row, i) => {
      const logits = full.logits_per_image[i]!;
      const m = Math.max(...logits);
      const z = logits.reduce((s, l) => s + Math.exp(l - m), 0);
      expect(row.classes).toHaveLength(3);
      for (const c of row.classes) expect(Math.abs(c.p - Math.exp(logits[ref.texts.findIndex((t) => t.text === c.name)]! - m) / z), c.name).toBeLessThan(1e-3);
      expect(row.classes[0]!.p).toBeGreaterThanOrEqual(row.classes[1]!.p);
    });
    const human = await omnitok(dir, 'classify', '--checkpoint', MODEL, '--classes', 'cat, dog', '--top', '1', ref.images[0]!.file, '--backend', 'cpu');
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^wide-45x41\.png: (cat|dog) \d+\.\d%\n$/);
    // a named prompt set is that set: the same probabilities as its lines in a file
    writeFileSync(join(dir, 'simple.txt'), `${SIMPLE_IMAGENET_TEMPLATES.join('\n')}\n`);
    const withTemplates = (t: string) => omnitok(dir, 'classify', '--checkpoint', MODEL, '--classes', 'cat,dog,car', '--templates', t, ...ref.images.map((x) => x.file), '--backend', 'cpu', '--json');
    const named = await withTemplates('simple');
    expect(named.code, named.stderr).toBe(0);
    expect(named.stdout).toBe((await withTemplates('simple.txt')).stdout);
    expect(named.stdout).not.toBe((await withTemplates('openai')).stdout);
    // a pretrained model's default prompt is CLIP's "a photo of a {}."
    const byDefault = await omnitok(dir, 'classify', '--checkpoint', MODEL, '--classes', 'cat,dog,car', ...ref.images.map((x) => x.file), '--backend', 'cpu', '--json');
    expect(byDefault.stdout).toBe((await withTemplates('a photo of a {}.')).stdout);
    expect(byDefault.stdout).not.toBe((await withTemplates('{}')).stdout);
    const noBrace = await omnitok(dir, 'classify', '--checkpoint', MODEL, '--classes', 'cat,dog', '--templates', 'a photo', ref.images[0]!.file, '--backend', 'cpu');
    expect(noBrace.code).toBe(2);
    expect(noBrace.stderr).toMatch(/--templates.*with \{\} where the class name goes/);
    // SigLIP scores each class on its own: sigmoid(exp(scale)·cos + bias)
    const sref = JSON.parse(readFileSync(join(FIXTURES, 'reference-siglip.json'), 'utf8')) as Reference & { logits_per_text: number[][] };
    writeFileSync(join(dir, 'siglip-classes.txt'), `${sref.texts.map((t) => t.text).join('\n')}\n`);
    const s = await omnitok(dir, 'classify', '--checkpoint', join(dir, 'siglip-tiny'), '--classes', 'siglip-classes.txt', '--templates', '{}', '--top', '3', sref.images[1]!.file, '--backend', 'cpu', '--json');
    expect(s.code, s.stderr).toBe(0);
    const srow = JSON.parse(s.stdout) as { classes: { name: string; p: number }[] };
    // (near the −10 bias the probabilities are ~1e-4: compared in log space)
    for (const c of srow.classes) expect(Math.abs(Math.log(c.p) + Math.log1p(Math.exp(-sref.logits_per_text[sref.texts.findIndex((t) => t.text === c.name)]![1]!))), c.name).toBeLessThan(1e-3);
  });

  it('--classifier keeps the class embeddings: written once, read back when the classes, templates and text tower match, rebuilt otherwise', async () => {
    const run = (classes: string, templates: string) => omnitok(dir, 'classify', '--checkpoint', MODEL, '--classes', classes, '--templates', templates, '--classifier', 'zs.safetensors', ...ref.images.map((x) => x.file), '--backend', 'cpu', '--json');
    const plain = await omnitok(dir, 'classify', '--checkpoint', MODEL, '--classes', 'cat,dog,car', '--templates', 'simple', ...ref.images.map((x) => x.file), '--backend', 'cpu', '--json');
    const first = await run('cat,dog,car', 'simple');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(plain.stdout);
    const stored = decodeSafetensors(readFileSync(join(dir, 'zs.safetensors')));
    expect(stored.tensors.classifier!.shape).toEqual([4, 8]); // 3 classes, then the probe prompt
    expect(JSON.parse(stored.metadata.classNames!)).toEqual(['cat', 'dog', 'car']);
    // read back: the same output; a file whose rows were altered would show it, so alter one and see it used
    const altered = encodeSafetensors({ classifier: { data: stored.tensors.classifier!.data.map((x, i) => (i < 8 ? -x : x)) as Float32Array, shape: [4, 8] } }, stored.metadata);
    writeFileSync(join(dir, 'zs.safetensors'), altered);
    const again = await run('cat,dog,car', 'simple');
    expect(again.stdout).not.toBe(plain.stdout); // the stored (altered) classifier was used, not rebuilt
    const other = await run('cat,dog,bird', 'simple');
    expect(other.stderr).toMatch(/zs\.safetensors was made for other classes, templates or another model: building the classifier again/);
    expect(JSON.parse(decodeSafetensors(readFileSync(join(dir, 'zs.safetensors'))).metadata.classNames!)).toEqual(['cat', 'dog', 'bird']);
    const bad = await omnitok(dir, 'classify', '--checkpoint', MODEL, '--classes', 'a,b', '--classifier', 'zs.npy', ref.images[0]!.file, '--backend', 'cpu');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--classifier.*FILE\.safetensors/);
  });

  it('eval over class folders (ImageNet layout): --classes names the folders by their sorted order; the top-1 the reference logits give', async () => {
    const full = JSON.parse(readFileSync(join(FIXTURES, 'reference.json'), 'utf8')) as Reference & { logits_per_image: number[][] };
    const root = join(dir, 'imagefolder');
    // n03 holds both images, n01 the wide one, n02 the tall one (synset-like names, not class names)
    const layout: [string, number][] = [['n01', 0], ['n02', 1], ['n03', 1], ['n03', 0]]; // records in folder order, files by name
    for (const [folder, i] of layout) {
      mkdirSync(join(root, folder), { recursive: true });
      copyFileSync(join(FIXTURES, ref.images[i]!.file), join(root, folder, ref.images[i]!.file));
    }
    writeFileSync(join(dir, 'folder-classes.txt'), `${ref.texts.map((t) => t.text).join('\n')}\n`);
    const r = await omnitok(dir, 'eval', '--checkpoint', MODEL, '--data', 'imagefolder', '--task', 'zero-shot', '--classes', 'folder-classes.txt', '--templates', '{}', '--backend', 'cpu', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { samples: number; data: string; zeroShot: { top1: number; n: number; classes: number } };
    // the template '{}' makes the classifier rows the reference text embeddings: predictions are the argmax of logits_per_image
    const argmax = (row: number[]) => row.indexOf(Math.max(...row));
    const expected = layout.filter(([folder, i]) => argmax(full.logits_per_image[i]!) === ['n01', 'n02', 'n03'].indexOf(folder)).length / layout.length;
    expect(out).toMatchObject({ samples: 4, zeroShot: { n: 4, classes: 3 } });
    expect(out.data).toMatch(/class folders .* \(3 classes\)/);
    expect(out.zeroShot.top1).toBe(expected);
    expect((out as unknown as { limited: boolean }).limited).toBe(false);
    // the same evaluation through a kept classifier (written, then read)
    for (let i = 0; i < 2; i++) {
      const kept = await omnitok(dir, 'eval', '--checkpoint', MODEL, '--data', 'imagefolder', '--task', 'zero-shot', '--classes', 'folder-classes.txt', '--templates', '{}', '--classifier', 'folder-zs.safetensors', '--backend', 'cpu', '--json');
      expect(kept.code, kept.stderr).toBe(0);
      expect(JSON.parse(kept.stdout).zeroShot.top1).toBe(expected);
    }
    // --limit cuts a class-ordered stream: said on stderr and in the JSON
    const cut = await omnitok(dir, 'eval', '--checkpoint', MODEL, '--data', 'imagefolder', '--task', 'zero-shot', '--classes', 'folder-classes.txt', '--templates', '{}', '--limit', '2', '--backend', 'cpu', '--json');
    expect(cut.code, cut.stderr).toBe(0);
    expect(JSON.parse(cut.stdout)).toMatchObject({ samples: 2, limited: true });
    expect(cut.stderr).toMatch(/evaluated the first 2 samples \(--limit 2\); the data has more: class folders are read class by class/);
    // WordNet-id folders without --classes: prompts would name the ids, and the command says so
    for (const [folder, i] of [['n01440764', 0], ['n01443537', 1]] as const) {
      mkdirSync(join(dir, 'wnids', folder), { recursive: true });
      copyFileSync(join(FIXTURES, ref.images[i]!.file), join(dir, 'wnids', folder, ref.images[i]!.file));
    }
    const hint = await omnitok(dir, 'eval', '--checkpoint', MODEL, '--data', 'wnids', '--task', 'zero-shot', '--backend', 'cpu', '--json');
    expect(hint.code, hint.stderr).toBe(0);
    expect(hint.stderr).toMatch(/class folders are WordNet ids \(n01440764, …\).*--classes imagenet/);
    const named = await omnitok(dir, 'eval', '--checkpoint', MODEL, '--data', 'imagefolder', '--task', 'zero-shot', '--backend', 'cpu', '--json');
    expect(named.stderr).not.toMatch(/WordNet/); // n01…n03 are not WordNet ids (n + 8 digits)
    const wrong = await omnitok(dir, 'eval', '--checkpoint', MODEL, '--data', 'imagefolder', '--task', 'zero-shot', '--classes', 'a,b', '--backend', 'cpu');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--classes.*the names of the 3 class folders, or 3 class names in the folders' sorted order \(got 2\)/);
    // classify reads the same folders, and --classes imagenet is open_clip's 1 000 names
    // (1 000 prompts: the default backend, the pure-JS one takes seconds; only names are checked)
    const c = await omnitok(dir, 'classify', '--checkpoint', MODEL, '--classes', 'imagenet', '--top', '2', '--data', 'imagefolder', '--json');
    expect(c.code, c.stderr).toBe(0);
    const rows = c.stdout.trim().split('\n').map((l) => JSON.parse(l) as { input: string; classes: { name: string }[] });
    expect(rows.map((x) => x.input)).toEqual(layout.map(([folder, i]) => `${folder}/${ref.images[i]!.file}`));
    for (const row of rows) for (const cls of row.classes) expect(IMAGENET_CLASSNAMES).toContain(cls.name);
  });

  it('a Hugging Face model id: downloaded into the cache once (progress on stderr), then used from it offline', async () => {
    const fake = await startFakeHub(join(dir, 'hub'));
    fake.repo('tiny/clip', MODEL);
    const saved = { ...process.env };
    Object.assign(process.env, { HF_ENDPOINT: fake.endpoint, HF_HUB_CACHE: join(dir, 'hf-cache') });
    delete process.env.HF_HUB_OFFLINE;
    try {
      const embed = (out: string) => omnitok(dir, 'embed', '--checkpoint', 'tiny/clip', '--modality', 'image', ...ref.images.map((r) => r.file), '--out', out, '--backend', 'cpu');
      const first = await embed(join(dir, 'hub-1.npy'));
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toMatch(/omnitok: downloading tiny\/clip\/model-00001-of-00002\.safetensors \(0\.\d MB\)/);
      const e = decodeNpy(readFileSync(join(dir, 'hub-1.npy')));
      ref.images.forEach((r, i) => r.embedding.forEach((x, k) => expect(Math.abs(Number(e.data[i * 8 + k]) - x)).toBeLessThan(2e-5)));
      fake.log.length = 0;
      process.env.HF_HUB_OFFLINE = '1';
      const again = await embed(join(dir, 'hub-2.npy'));
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toBe('');
      expect(fake.log).toEqual([]);
      expect(Buffer.compare(readFileSync(join(dir, 'hub-1.npy')), readFileSync(join(dir, 'hub-2.npy')))).toBe(0);
      const typo = await omnitok(dir, 'embed', '--checkpoint', 'runs/nothing', '--modality', 'image', ref.images[0]!.file, '--out', join(dir, 'x.npy'), '--backend', 'cpu');
      expect(typo.code).toBe(1);
      expect(typo.stderr).toMatch(/runs\/nothing: is no local folder, and as a Hugging Face model: .*not in the Hugging Face cache/);
    } finally {
      process.env = saved;
      fake.close();
    }
  });

  it('train --lock image (LiT): the pretrained image tower stays as loaded, the text tower trains', async () => {
    const out = join(dir, 'lit');
    const r = await omnitok(dir, 'train', '--model', MODEL, '--lock', 'image', '--data', 'pairs.jsonl', '--pair', 'image:text', '--steps', '2', '--batch-size', '2', '--eval-fraction', '0', '--lr', '1e-2', '--warmup', '0', '--backend', 'cpu', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const ck = loadCheckpoint(out);
    expect((ck.config as { model: { locked?: string[] } }).model.locked).toEqual(['image']);
    const { model } = loadHfClipDir(MODEL);
    const before = await model.stateDict();
    model.dispose();
    const changed = (prefix: string) => Object.keys(before).filter((k) => k.startsWith(prefix)).filter((k) => (before[k]!.data as Float32Array).some((x, i) => x !== ck.weights[k]!.data[i]));
    expect(Object.keys(before).filter((k) => k.startsWith('towers.image.')).length).toBeGreaterThan(20);
    expect(changed('towers.image.')).toEqual([]);
    expect(changed('towers.text.').length).toBeGreaterThan(20);
    const bad = await omnitok(dir, 'train', '--model', MODEL, '--lock', 'image', '--lock', 'text', '--data', 'pairs.jsonl', '--pair', 'image:text', '--steps', '1', '--backend', 'cpu', '--out', join(dir, 'lit-bad'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--lock.*all towers but one/);
  });
});
