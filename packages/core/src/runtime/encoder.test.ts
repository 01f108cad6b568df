import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors/index.js';
import { type EncoderConfigInput, MODEL_SIZES, resolveEncoderConfig } from './config.js';
import { antialiasedBilinear, TransformerEncoder } from './encoder.js';
import { Rng } from './rng.js';
import { describeBackends, fixtureMetadata, loadFixture, maxAbsDiff, tolerance, withPrefix } from './test-utils/backends.js';

const ref = loadFixture('reference.safetensors');
const configs = JSON.parse(fixtureMetadata('reference.safetensors').configs!) as Record<string, EncoderConfigInput>;
const tensor = (name: string, dtype: 'float32' | 'int32' = 'float32') => tf.tensor(ref[name]!.data as Float32Array, [...ref[name]!.shape], dtype);

function build(name: string): TransformerEncoder {
  const enc = new TransformerEncoder(configs[name]!, new Rng(0));
  enc.loadStateDict(withPrefix(ref, `${name}.param.`), { source: name }); // strict: every name must match
  return enc.eval();
}

function inputs(name: string) {
  const discrete = configs[name]!.tokens.kind === 'discrete';
  return {
    x: tensor(`${name}.x`, discrete ? 'int32' : 'float32'),
    mask: ref[`${name}.mask`] ? tensor(`${name}.mask`, 'int32') : undefined,
    eotIndex: ref[`${name}.eot`] ? tensor(`${name}.eot`, 'int32') : undefined,
  };
}

describeBackends('TransformerEncoder matches PyTorch', (backend) => {
  for (const name of ['encA', 'encB', 'encC', 'encD']) {
    const c = configs[name]!;
    it(`${name}: ${c.tokens.kind} tokens, ${c.posEmb} positions, ${c.pooling} pooling, ${c.gelu} GELU — forward`, async () => {
      const enc = build(name);
      const { x, mask, eotIndex } = inputs(name);
      const before = tf.memory().numTensors;
      const out = tf.tidy(() => {
        const o = enc.forward(x, { mask, eotIndex });
        return [o.tokens, o.pooled, o.embedding];
      });
      expect(tf.memory().numTensors).toBe(before + new Set(out).size); // embedding is pooled without a projection
      for (const [i, key] of ['tokens', 'pooled', 'embedding'].entries()) {
        expect(out[i]!.shape, key).toEqual(ref[`${name}.${key}`]!.shape);
        expect(maxAbsDiff(await out[i]!.data(), ref[`${name}.${key}`]!.data as Float32Array), key).toBeLessThan(tolerance(backend().name));
      }
      tf.dispose([...new Set(out), x, mask, eotIndex].filter((t) => t !== undefined));
      enc.dispose();
    });

    it(`${name}: gradients of every parameter`, async () => {
      const enc = build(name);
      const { x, mask, eotIndex } = inputs(name);
      const R = tensor(`${name}.R`);
      const params = enc.trainableParameters();
      const { value, grads } = tf.variableGrads(() => {
        const o = enc.forward(x, { mask, eotIndex });
        return tf.add(tf.sum(tf.mul(o.embedding, R)), tf.mul(tf.mean(tf.square(o.tokens)), 0.1)) as tf.Scalar;
      }, [...params.values()]);
      expect(maxAbsDiff(await value.data(), ref[`${name}.loss`]!.data as Float32Array)).toBeLessThan(tolerance(backend().name));
      const names = [...params.keys()];
      expect(names.sort()).toEqual(Object.keys(withPrefix(ref, `${name}.grad.`)).sort());
      for (const [pname, v] of params) {
        const g = await grads[v.name]!.data();
        expect(maxAbsDiff(g, ref[`${name}.grad.${pname}`]!.data as Float32Array), pname).toBeLessThan(5 * tolerance(backend().name));
      }
      tf.dispose([value, R, x, mask, eotIndex, ...Object.values(grads)].filter((t) => t !== undefined));
      enc.dispose();
    });
  }
});

describe('encoder configs', () => {
  const image = { kind: 'continuous', dim: 48, count: 64, grid: [8, 8] } as const;
  const text = { kind: 'discrete', vocabSize: 1000, count: 16 } as const;

  it('named sizes fill width/depth/heads; tiny is 128/4/4', () => {
    expect(resolveEncoderConfig({ size: 'tiny', tokens: image })).toMatchObject({ width: 128, depth: 4, heads: 4, mlpRatio: 4, pooling: 'cls', clsToken: true });
    expect(resolveEncoderConfig({ size: 'base', tokens: image })).toMatchObject(MODEL_SIZES.base);
    expect(resolveEncoderConfig({ size: 'small', tokens: image, heads: 8 })).toMatchObject({ width: 384, heads: 8 });
    // a config survives JSON
    const c = resolveEncoderConfig({ size: 'tiny', tokens: text, pooling: 'eot', causal: true, projectionDim: 64 });
    expect(resolveEncoderConfig(JSON.parse(JSON.stringify(c)))).toEqual(c);
  });

  it('the tiny two-tower CLIP shape has about 1.7M parameters with stable dotted names', () => {
    const vision = new TransformerEncoder({ size: 'tiny', tokens: image, projectionDim: 128 }, new Rng(1));
    const txt = new TransformerEncoder({ size: 'tiny', tokens: text, pooling: 'eot', causal: true, projectionDim: 128 }, new Rng(2));
    const total = vision.parameterCount() + txt.parameterCount();
    expect(total).toBeGreaterThan(1.6e6);
    expect(total).toBeLessThan(1.8e6);
    const names = [...vision.parameters().keys()];
    expect(names.slice(0, 5)).toEqual(['embed.proj.weight', 'embed.proj.bias', 'cls_token', 'pos_embed', 'blocks.0.ln1.weight']);
    expect(names).toContain('blocks.3.attn.qkv.weight');
    expect(names).toContain('blocks.3.mlp.fc2.bias');
    expect(names.slice(-3)).toEqual(['ln_final.weight', 'ln_final.bias', 'proj.weight']);
    expect(vision.parameters().get('blocks.0.attn.qkv.weight')!.shape).toEqual([128, 384]);
    expect([...txt.parameters().keys()][0]).toBe('embed.weight');
    vision.dispose();
    txt.dispose();
  });

  it("pooling 'last' (SigLIP text) reads the row's last position: equal to 'eot' pooling at the last index", async () => {
    const last = new TransformerEncoder({ size: 'tiny', tokens: text, pooling: 'last', projectionDim: 32 }, new Rng(5));
    const eot = new TransformerEncoder({ size: 'tiny', tokens: text, pooling: 'eot', projectionDim: 32 }, new Rng(5));
    const ids = tf.tensor2d(Array.from({ length: 2 * 16 }, (_, i) => (i * 37) % 1000), [2, 16], 'int32');
    const a = last.forward(ids).embedding;
    const b = eot.forward(ids, { eotIndex: tf.tensor1d([15, 15], 'int32') }).embedding;
    const c = eot.forward(ids, { eotIndex: tf.tensor1d([3, 3], 'int32') }).embedding;
    expect(maxAbsDiff(await a.data(), await b.data())).toBeLessThan(1e-6);
    expect(maxAbsDiff(await a.data(), await c.data())).toBeGreaterThan(1e-3);
    tf.dispose([ids, a, b, c]);
    last.dispose();
    eot.dispose();
  });

  it('projectionBias adds proj.bias to the embedding; padMask false ignores a padding mask (SigLIP text)', async () => {
    const base = { size: 'tiny', tokens: text, pooling: 'last', projectionDim: 32 } as const;
    const plain = new TransformerEncoder(base, new Rng(5));
    const biased = new TransformerEncoder({ ...base, projectionBias: true }, new Rng(5));
    expect([...plain.parameters().keys()]).not.toContain('proj.bias');
    expect(biased.parameters().get('proj.bias')!.shape).toEqual([32]);
    biased.parameters().get('proj.bias')!.assign(tf.fill([32], 0.5));
    const ids = tf.tensor2d(Array.from({ length: 2 * 16 }, (_, i) => (i * 37) % 1000), [2, 16], 'int32');
    const mask = tf.tensor2d(Array.from({ length: 32 }, (_, i) => (i % 16 < 9 ? 1 : 0)), [2, 16], 'int32');
    const p = plain.forward(ids).embedding;
    const b = biased.forward(ids).embedding;
    expect(maxAbsDiff(await tf.add(p, 0.5).data(), await b.data())).toBeLessThan(1e-6);
    // padMask true (default): the mask changes the attention; false: the row is encoded as if unmasked
    const masked = plain.forward(ids, { mask }).embedding;
    expect(maxAbsDiff(await p.data(), await masked.data())).toBeGreaterThan(1e-3);
    const unmaskedEnc = new TransformerEncoder({ ...base, padMask: false }, new Rng(5));
    const ignored = unmaskedEnc.forward(ids, { mask }).embedding;
    expect(maxAbsDiff(await p.data(), await ignored.data())).toBe(0);
    expect(resolveEncoderConfig(base)).toMatchObject({ projectionBias: false, padMask: true });
    tf.dispose([ids, mask, p, b, masked, ignored]);
    for (const e of [plain, biased, unmaskedEnc]) e.dispose();
  });

  it('seeded init is reproducible', async () => {
    const a = new TransformerEncoder({ size: 'custom', width: 8, depth: 1, heads: 2, tokens: text }, new Rng(7));
    const b = new TransformerEncoder({ size: 'custom', width: 8, depth: 1, heads: 2, tokens: text }, new Rng(7));
    const c = new TransformerEncoder({ size: 'custom', width: 8, depth: 1, heads: 2, tokens: text }, new Rng(8));
    const w = async (e: TransformerEncoder) => Array.from(await e.parameters().get('blocks.0.attn.qkv.weight')!.data());
    expect(await w(a)).toEqual(await w(b));
    expect(await w(a)).not.toEqual(await w(c));
    [a, b, c].forEach((e) => e.dispose());
  });

  it('rejects bad configs naming the field', () => {
    expect(() => resolveEncoderConfig({ size: 'tiny', heads: 3, tokens: image })).toThrow(/config\.width.*multiple of config\.heads \(3\)/);
    expect(() => resolveEncoderConfig({ size: 'huge' as never, tokens: image })).toThrow(/config\.size.*tiny, small, base, custom/);
    expect(() => resolveEncoderConfig({ size: 'custom', tokens: image })).toThrow(InvalidArgumentError);
    expect(() => resolveEncoderConfig({ size: 'tiny', tokens: { ...image, grid: [8, 7] } })).toThrow(/config\.tokens\.grid/);
    expect(() => resolveEncoderConfig({ size: 'tiny', gelu: 'relu' as never, tokens: image })).toThrow(/config\.gelu.*erf, tanh, quick/);
    expect(() => resolveEncoderConfig({ size: 'tiny', pooling: 'cls', clsToken: false, tokens: image })).toThrow(/config\.clsToken/);
  });

  it('strict loading reports missing, unexpected and mis-shaped weights', () => {
    const enc = new TransformerEncoder(configs.encA!, new Rng(0));
    const w = withPrefix(ref, 'encA.param.');
    const { pos_embed: _, ...noPos } = w;
    expect(() => enc.loadStateDict({ ...noPos, extra: w.cls_token! })).toThrow(/missing: pos_embed; unexpected: extra/);
    expect(() => enc.loadStateDict({ ...w, cls_token: { data: new Float32Array(3), shape: [3] } })).toThrow(/cls_token: expected \[16\] got \[3\]/);
    enc.dispose();
  });
});

describe('position tables resized per sample (posGrid: SigLIP 2 NaFlex)', () => {
  const ref = JSON.parse(readFileSync(new URL('./__fixtures__/antialiased-bilinear.json', import.meta.url), 'utf8')) as { cases: { in: number; out: number; weights: number[] }[] };

  it("antialiasedBilinear gives F.interpolate(bilinear, antialias=True)'s weights (make-antialiased-bilinear.py), shrinking and growing", () => {
    for (const c of ref.cases) expect(maxAbsDiff(antialiasedBilinear(c.in, c.out), c.weights), `${c.in} → ${c.out}`).toBeLessThan(1e-6);
  });

});

describeBackends('position tables resized per sample (posGrid) run', (backend) => {
  const base = { size: 'custom', width: 8, depth: 1, heads: 2, pooling: 'map', tokens: { kind: 'continuous', dim: 6, count: 4 } } as const;

  it("the table's own grid leaves it as it is: the same output as fixed positions with the same weights", async () => {
    const grid = new TransformerEncoder({ ...base, posGrid: [2, 2] }, new Rng(3));
    const fixed = new TransformerEncoder(base, new Rng(3));
    const x = tf.tensor3d(new Rng(5).normals(2 * 4 * 6, 1, false), [2, 4, 6]);
    const a = grid.forward(x, { grid: Int32Array.of(2, 2, 2, 2) }).pooled;
    const b = fixed.forward(x).pooled;
    const tol = tolerance(backend().name);
    expect(maxAbsDiff(await a.data(), await b.data())).toBeLessThan(tol);
    expect(maxAbsDiff(await grid.forward(x).pooled.data(), await b.data())).toBeLessThan(tol); // no grid: the table's
    tf.dispose([x, a, b]);
    grid.dispose();
    fixed.dispose();
  });

  it('a smaller grid with its padding masked: the padded rows change nothing; a grid beyond the tokens is refused', async () => {
    const enc = new TransformerEncoder({ ...base, posGrid: [2, 2] }, new Rng(3));
    const values = new Rng(6).normals(4 * 6, 1, false);
    const padded = (fill: number) => tf.tensor3d(values.map((v, i) => (i < 2 * 6 ? v : fill)), [1, 4, 6]);
    const mask = tf.tensor2d([[1, 1, 0, 0]]);
    const run = (fill: number) => enc.forward(padded(fill), { grid: Int32Array.of(1, 2), mask }).pooled.data();
    expect(maxAbsDiff(await run(0), await run(7))).toBeLessThan(tolerance(backend().name));
    expect(maxAbsDiff(await run(0), await enc.forward(padded(0), { grid: Int32Array.of(2, 2), mask }).pooled.data())).toBeGreaterThan(1e-4);
    expect(() => enc.forward(padded(0), { grid: Int32Array.of(3, 2) })).toThrow(/grid\[0\]/);
    expect(() => resolveEncoderConfig({ ...base, posGrid: [2, 2], clsToken: true, pooling: 'cls' })).toThrow(/posGrid/);
    mask.dispose();
    enc.dispose();
  });
});
