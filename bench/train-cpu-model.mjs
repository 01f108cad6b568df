/**
 * The benchmark model of bench/train-cpu*.mjs (and bench/runtime-train.mjs): the `tiny` two-tower CLIP —
 * width 128, depth 4, heads 4, mlp 4×, vision 64 continuous tokens of 48 features + CLS, text 16 ids
 * (vocab 1000, causal, EOT pooling), projection 128 (1.76 M parameters), AdamW, clip-norm 1, softmax
 * CLIP loss written inline. Mirrors bench/runtime-train-torch.py shape for shape.
 */
export function buildClip(runtime, tf, B) {
  const { TransformerEncoder, AdamW, Trainer, Rng } = runtime;
  const vocab = 1000;
  const vision = { size: 'tiny', tokens: { kind: 'continuous', dim: 48, count: 64, grid: [8, 8] }, projectionDim: 128, gelu: 'erf' };
  const text = { size: 'tiny', tokens: { kind: 'discrete', vocabSize: vocab, count: 16 }, pooling: 'eot', causal: true, projectionDim: 128, gelu: 'erf' };
  const rng = new Rng(0);
  const img = new TransformerEncoder(vision, rng);
  const txt = new TransformerEncoder(text, rng);
  const params = new Map([...[...img.parameters()].map(([k, v]) => [`vision.${k}`, v]), ...[...txt.parameters()].map(([k, v]) => [`text.${k}`, v])]);
  const optimizer = new AdamW(params, { lr: 1e-4, weightDecay: 0.1 });
  const trainer = new Trainer(params, { optimizer, clipNorm: 1 });
  const data = new Rng(1);
  const x = tf.tensor(data.normals(B * 64 * 48, 1, false), [B, 64, 48]);
  const ids = tf.tensor(Int32Array.from({ length: B * 16 }, () => data.int(vocab)), [B, 16], 'int32');
  const eot = tf.fill([B], 15, 'int32');
  const labels = tf.oneHot(tf.range(0, B, 1, 'int32'), B);
  const loss = () => {
    const a0 = img.forward(x).embedding;
    const a = tf.div(a0, tf.norm(a0, 'euclidean', -1, true));
    const b0 = txt.forward(ids, { eotIndex: eot }).embedding;
    const b = tf.div(b0, tf.norm(b0, 'euclidean', -1, true));
    const logits = tf.mul(tf.matMul(a, b, false, true), 100);
    return tf.div(tf.add(tf.losses.softmaxCrossEntropy(labels, logits), tf.losses.softmaxCrossEntropy(labels, tf.transpose(logits))), 2);
  };
  const dispose = () => {
    img.dispose();
    txt.dispose();
    optimizer.dispose();
    tf.dispose([x, ids, eot, labels]);
  };
  return { trainer, loss, params: img.parameterCount() + txt.parameterCount(), dispose };
}
