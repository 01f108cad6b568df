import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '../io/index.js';
import type { EncoderConfigInput } from './config.js';
import { TransformerEncoder } from './encoder.js';
import { WeightImportError } from './errors.js';
import { importHfClip } from './hf-clip-import.js';
import { Rng } from './rng.js';
import { describeBackends, loadFixture, maxAbsDiff, tolerance } from './test-utils/backends.js';

const bytes = readFileSync(new URL('./__fixtures__/hf-clip-tiny.safetensors', import.meta.url));
const io = loadFixture('hf-clip-io.safetensors');
const VISION: EncoderConfigInput = {
  size: 'custom', width: 16, depth: 2, heads: 2, mlpRatio: 2, gelu: 'quick', posEmb: 'learned', pooling: 'cls', preNorm: true, embedBias: false,
  projectionDim: 8, tokens: { kind: 'continuous', dim: 48, count: 4, grid: [2, 2] },
};
const TEXT: EncoderConfigInput = {
  size: 'custom', width: 16, depth: 2, heads: 2, mlpRatio: 2, gelu: 'quick', posEmb: 'learned', pooling: 'eot', causal: true,
  projectionDim: 8, tokens: { kind: 'discrete', vocabSize: 30, count: 6 },
};
const t = (k: string, dtype: 'float32' | 'int32' = 'float32') => tf.tensor(io[k]!.data as Float32Array, [...io[k]!.shape], dtype);

describeBackends('HF CLIPModel import', (backend) => {
  for (const layout of ['hwc', 'chw'] as const) {
    it(`reproduces the PyTorch image and text embeddings (${layout} patches)`, async () => {
      const vision = new TransformerEncoder(VISION, new Rng(0)).eval();
      const text = new TransformerEncoder(TEXT, new Rng(1)).eval();
      const report = importHfClip(bytes, { vision, text }, { patchLayout: layout });
      expect(report.missing).toEqual([]);
      expect(report.unexpected).toEqual([]);
      expect(report.ignored.sort()).toEqual(['text_model.embeddings.position_ids', 'vision_model.embeddings.position_ids']);
      expect(report.logitScale).toBeCloseTo(Math.log(1 / 0.07), 5);
      expect(report.loaded.vision).toHaveLength(vision.parameters().size);
      expect(report.loaded.text).toHaveLength(text.parameters().size);
      const patches = t(`patches_${layout}`);
      const ids = t('input_ids', 'int32');
      const mask = t('attention_mask', 'int32');
      const eot = t('eot_index', 'int32');
      const [img, txt] = tf.tidy(() => [vision.forward(patches).embedding, text.forward(ids, { mask, eotIndex: eot }).embedding]);
      expect(maxAbsDiff(await img!.data(), io.image_embeds!.data as Float32Array)).toBeLessThan(tolerance(backend().name));
      expect(maxAbsDiff(await txt!.data(), io.text_embeds!.data as Float32Array)).toBeLessThan(tolerance(backend().name));
      tf.dispose([img!, txt!, patches, ids, mask, eot]);
      vision.dispose();
      text.dispose();
    });
  }
});

describe('HF import errors', () => {
  const file = decodeSafetensors(bytes);

  it('reports missing and unexpected tensors with a typed error (strict) or a report (lenient)', () => {
    const text = new TransformerEncoder(TEXT, new Rng(1));
    const { 'text_model.final_layer_norm.bias': _, ...rest } = file.tensors;
    const broken = encodeSafetensors({ ...rest, 'text_model.encoder.layers.9.mlp.fc1.weight': rest['text_model.embeddings.token_embedding.weight']! });
    const before = new Map([...text.parameters()].map(([k, v]) => [k, v.dataSync().slice()]));
    const error = (() => {
      try {
        importHfClip(broken, { text });
      } catch (e) {
        return e as WeightImportError;
      }
    })();
    expect(error).toBeInstanceOf(WeightImportError);
    expect(error!.code).toBe('E_WEIGHT_IMPORT');
    expect(error!.missing).toEqual(['text:ln_final.bias (text_model.final_layer_norm.bias)']);
    expect(error!.unexpected).toEqual(['text_model.encoder.layers.9.mlp.fc1.weight']);
    // nothing was assigned: every check comes before the first tensor is converted
    for (const [k, v] of text.parameters()) expect(v.dataSync(), k).toEqual(before.get(k));
    const report = importHfClip(broken, { text }, { strict: false });
    expect(report.missing).toHaveLength(1);
    expect(report.loaded.text).toHaveLength(text.parameters().size - 1);
    text.dispose();
  });

  it('checks every shape against the model (always an error)', () => {
    const wide = new TransformerEncoder({ ...TEXT, width: 32 }, new Rng(1));
    expect(() => importHfClip(bytes, { text: wide }, { strict: false })).toThrow(/shape mismatch: text:embed\.weight from text_model\.embeddings\.token_embedding\.weight: expected \[30, 32\] got \[30, 16\]/);
    wide.dispose();
    const vision = new TransformerEncoder({ ...VISION, tokens: { kind: 'continuous', dim: 27, count: 4 } }, new Rng(1));
    expect(() => importHfClip(bytes, { vision }, { strict: false })).toThrow(/conv kernel \[16, C, P, P\] with C·P·P = 27 got \[16, 3, 4, 4\]/);
    vision.dispose();
  });
});
