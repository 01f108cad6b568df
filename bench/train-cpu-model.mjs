/**
 * The benchmark model of bench/train-cpu*.mjs (and bench/runtime-train.mjs): the `tiny` two-tower CLIP —
 * width 128, depth 4, heads 4, mlp 4×, vision 64 continuous tokens of 48 features + CLS, text 16 ids
 * (vocab 1000, causal, EOT pooling), projection 128 (1.76 M parameters), AdamW, clip-norm 1, softmax
 * CLIP loss written inline. Mirrors bench/runtime-train-torch.py shape for shape. bench/train-gpu.mjs
 * builds its ViT-S-like model with the same function and another shape.
 */
export const TINY_SHAPE = { width: 128, depth: 4, heads: 4, imageTokens: 64, grid: [8, 8], features: 48, textTokens: 16, vocab: 1000, proj: 128 };

/** The GPU benches' models (bench/train-gpu.mjs, webgpu-memory.mjs, webgpu-adamw-host.mjs). */
export const GPU_SHAPES = {
  smoke: { width: 32, depth: 1, heads: 2, imageTokens: 16, grid: [4, 4], features: 12, textTokens: 8, vocab: 100, proj: 32 },
  // the first target: ViT-S-like towers, batch 128
  s: { width: 384, depth: 6, heads: 6, imageTokens: 196, grid: [14, 14], features: 768, textTokens: 32, vocab: 49408, proj: 384 },
  // ViT-S's structure (the same ops and dispatches a step) at width 64 with few tokens: for measuring the
  // host's share of a step on lavapipe, where the GPU work of the real widths takes ~10 s a step
  host: { width: 64, depth: 6, heads: 2, imageTokens: 16, grid: [4, 4], features: 48, textTokens: 8, vocab: 1000, proj: 64 },
  // the second target: ViT-B/16-like towers (both 768 wide, 12 layers), 77 text tokens, batch 256
  b16: { width: 768, depth: 12, heads: 12, imageTokens: 196, grid: [14, 14], features: 768, textTokens: 77, vocab: 49408, proj: 512 },
};

/** The host-time benches' model (webgpu-queue-time, webgpu-host-profile): GPU_SHAPES.host, with `--full` ViT-S's real widths. */
export const hostBenchShape = (argv = process.argv) => (argv.includes('--full') ? { ...GPU_SHAPES.s, vocab: 1000 } : GPU_SHAPES.host);

/**
 * `lossScale`: the Trainer's (bench/train-gpu.mjs passes 'dynamic' with f16 GEMMs); `gradCheckpointing`:
 * recompute every block in the backward (TransformerEncoder.setGradCheckpointing).
 */
/** The two towers' encoder configs for `shape` (each projecting to `projectionDim` when given). */
function towerConfigs(shape, projectionDim) {
  const { width, depth, heads, imageTokens, grid, features, textTokens, vocab } = shape;
  const common = { size: 'custom', width, depth, heads, mlpRatio: 4, gelu: 'erf', ...(projectionDim ? { projectionDim } : {}) };
  return {
    vision: { ...common, tokens: { kind: 'continuous', dim: features, count: imageTokens, grid } },
    text: { ...common, tokens: { kind: 'discrete', vocabSize: vocab, count: textTokens }, pooling: 'eot', causal: true },
  };
}

export function buildClip(runtime, tf, B, shape = TINY_SHAPE, { lossScale, gradCheckpointing = false } = {}) {
  const { TransformerEncoder, AdamW, Trainer, Rng } = runtime;
  const { imageTokens, features, textTokens, vocab } = shape;
  const { vision, text } = towerConfigs(shape, shape.proj);
  const rng = new Rng(0);
  const img = new TransformerEncoder(vision, rng);
  const txt = new TransformerEncoder(text, rng);
  img.setGradCheckpointing(gradCheckpointing);
  txt.setGradCheckpointing(gradCheckpointing);
  const params = new Map([...[...img.parameters()].map(([k, v]) => [`vision.${k}`, v]), ...[...txt.parameters()].map(([k, v]) => [`text.${k}`, v])]);
  const optimizer = new AdamW(params, { lr: 1e-4, weightDecay: 0.1 });
  const trainer = new Trainer(params, { optimizer, clipNorm: 1, lossScale });
  const data = new Rng(1);
  const x = tf.tensor(data.normals(B * imageTokens * features, 1, false), [B, imageTokens, features]);
  const ids = tf.tensor(Int32Array.from({ length: B * textTokens }, () => data.int(vocab)), [B, textTokens], 'int32');
  const eot = tf.fill([B], textTokens - 1, 'int32');
  // the peer's loss (F.normalize, logits × 100, cross-entropy of the rows and of the columns, halved)
  // with the runtime's pieces: on webgpu a few fused dispatches, elsewhere the tensor ops
  const loss = () => {
    const a = runtime.l2Normalize(img.forward(x).embedding);
    const b = runtime.l2Normalize(txt.forward(ids, { eotIndex: eot }).embedding);
    return runtime.pairedCrossEntropy(tf.mul(tf.matMul(a, b, false, true), 100));
  };
  const dispose = () => {
    img.dispose();
    txt.dispose();
    optimizer.dispose();
    tf.dispose([x, ids, eot]);
  };
  return { trainer, loss, params: img.parameterCount() + txt.parameterCount(), dispose };
}

/**
 * The same shapes through the product's path: `@omnitok/clip`'s createClipModel + createTrainer, the
 * trainer `omnitok train` drives (learnable logit scale, clamped; per-pair losses and logit scales read
 * each step). Returns buildClip's interface: `trainer.trainStep()` runs one `step(batch)`.
 */
export function buildClipTrainer(clip, runtime, tf, B, shape = TINY_SHAPE, { gradCheckpointing = false } = {}) {
  const { imageTokens, features, textTokens, vocab, proj } = shape;
  const { vision: image, text } = towerConfigs(shape); // the model sets the projection to embedDim
  const model = clip.createClipModel({ towers: { image, text }, embedDim: proj, seed: 0 });
  model.setGradCheckpointing?.(gradCheckpointing);
  const trainer = clip.createTrainer({ model, clipNorm: 1, optimizer: { lr: 1e-4, weightDecay: 0.1 } });
  const data = new runtime.Rng(1);
  const batch = {
    image: tf.tensor(data.normals(B * imageTokens * features, 1, false), [B, imageTokens, features]),
    text: { tokens: tf.tensor(Int32Array.from({ length: B * textTokens }, () => data.int(vocab)), [B, textTokens], 'int32'), eotIndex: tf.fill([B], textTokens - 1, 'int32') },
  };
  const params = trainer.optimizer.params;
  const adapter = {
    options: { optimizer: trainer.optimizer },
    params,
    lossScale: 1,
    trainStep: () => trainer.step(batch),
  };
  const count = [...params.values()].reduce((n, v) => n + v.size, 0);
  const dispose = () => {
    trainer.dispose();
    model.dispose();
    tf.dispose([batch.image, batch.text.tokens, batch.text.eotIndex]);
  };
  return { trainer: adapter, loss: undefined, params: count, dispose };
}
