import * as tf from '@tensorflow/tfjs';
import { gelu, type GeluKind } from '../layers/activations.js';
import { MultiHeadAttention } from '../layers/attention.js';
import { LayerNorm } from '../layers/layer-norm.js';
import { Mlp } from '../layers/mlp.js';
import { mulberry32 } from '../../numeric/mulberry32.js';
import { Rng } from '../rng.js';

/*
 * Scenarios the fused-kernel suites (native-backend.test.ts, webgpu-kernels.test.ts) both run on their
 * backend and on cpu, so that each backend's kernels are checked on the same programs.
 */

/** A normal random tensor of `shape` from `seed` (the same values on every backend). */
export const rand = (seed: number, shape: number[], scale = 1): tf.Tensor => tf.tensor(new Rng(seed).normals(shape.reduce((a, b) => a * b, 1), scale), shape);

/**
 * Self-attention (width, heads; parameters from seed 3) on x [B, N, width] with a weighted-sum loss
 * (weights w): its output, the gradient of x and the gradient of every parameter, in that order.
 */
export function attentionValuesAndGrads(width: number, heads: number, x: tf.Tensor, w: tf.Tensor, mask: { keyMask?: tf.Tensor; causal: boolean }): tf.Tensor[] {
  const attn = new MultiHeadAttention(width, heads, new Rng(3));
  const params = [...attn.parameters().values()];
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(attn.forward(x, undefined, mask), w)) as tf.Scalar, params);
  const [dx] = tf.grads((t: tf.Tensor) => tf.sum(tf.mul(attn.forward(t, undefined, mask), w)))([x]);
  const out = [attn.forward(x, undefined, mask), dx!, ...params.map((p) => grads[p.name]!)];
  attn.dispose();
  return out;
}

/**
 * An MLP (width → hidden → width, GELU `kind`) on x [..., width], plus `residual` when given, with a
 * weighted-sum loss (weights w): its output, the gradients of x (and of the residual), then of every
 * parameter, in that order. Parameters from seeds 5–8, fc1 scaled so that GELU's inputs spread over
 * its curved range (|v| up to ~4), not only its near-linear middle.
 */
export function mlpValuesAndGrads(width: number, hidden: number, kind: GeluKind, x: tf.Tensor, w: tf.Tensor, residual?: tf.Tensor): tf.Tensor[] {
  const mlp = new Mlp(width, hidden, kind, new Rng(5));
  mlp.fc1.weight.assign(rand(6, [width, hidden], 1.5 / Math.sqrt(width)));
  mlp.fc1.bias!.assign(rand(7, [hidden], 0.5));
  mlp.fc2.bias!.assign(rand(8, [width], 0.5));
  const params = [...mlp.parameters().values()];
  const loss = (t: tf.Tensor, r?: tf.Tensor) => tf.sum(tf.mul(mlp.forward(t, r), w)) as tf.Scalar;
  const { grads } = tf.variableGrads(() => loss(x, residual), params);
  const dInputs = tf.grads((...ts: tf.Tensor[]) => loss(ts[0]!, ts[1]))(residual ? [x, residual] : [x]);
  const out = [mlp.forward(x, residual), ...dInputs, ...params.map((p) => grads[p.name]!)];
  mlp.dispose();
  return out;
}

/**
 * Seeded draws for randomized kernel cases (mulberry32): shapes, flags and variants, not tensor data
 * (that comes from `rand` with the case's own seeds, so adding a case never shifts another's data).
 */
export function fuzzCases(seed: number) {
  const next = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  // sides near the tiles' edges (16, 64, 128) turn up far more often than uniform draws would give
  const side = (max: number) => (next() < 0.4 ? pick([1, 2, 15, 16, 17, 63, 64, 65, 127, 128, 129].filter((v) => v <= max)) : int(1, max));
  return { next, int, pick, side };
}

/**
 * A random self-attention case: batch, tokens, heads of one of `headDims`, causal or not, and a key mask
 * that is none, suffix padding, holes (key 0 always kept) or left padding — with causal, left padding
 * leaves the first rows only masked keys, where the −1e9 masking must spread the weight evenly over
 * the keys a row may see, forward and backward. Sample 0 keeps every key.
 */
export function drawAttentionCase(g: ReturnType<typeof fuzzCases>, headDims: readonly number[], maxTokens: number) {
  const headDim = g.pick(headDims);
  const heads = g.int(1, headDim >= 64 ? 2 : 3);
  const B = g.int(1, 3);
  const N = g.side(maxTokens);
  const causal = g.next() < 0.5;
  const maskKind = g.pick(['none', 'suffix', 'holes', 'left'] as const);
  const keep = Array.from({ length: B }, (_, b) => {
    const kept = b === 0 ? N : g.int(1, N);
    return Array.from({ length: N }, (_, j) => {
      if (maskKind === 'none' || kept === N) return 1;
      if (maskKind === 'suffix') return j < kept ? 1 : 0;
      if (maskKind === 'left') return j >= N - kept ? 1 : 0;
      return j === 0 || g.next() < 0.7 ? 1 : 0;
    });
  });
  const maskDtype = g.pick(['int32', 'float32'] as const); // int32: its float cast keeps i32 storage on webgpu
  const describe = `B ${B}, N ${N}, ${heads} heads of ${headDim}, causal ${causal}, mask ${maskKind}${maskKind === 'none' ? '' : ` (${maskDtype}) ${JSON.stringify(keep.map((r) => r.join('')))}`}`;
  return { B, N, heads, headDim, width: heads * headDim, causal, maskKind, keep, maskDtype, describe };
}

/** `attentionValuesAndGrads` on a drawn case, inputs from `seed`. */
export function attentionCaseValuesAndGrads(c: ReturnType<typeof drawAttentionCase>, seed: number): tf.Tensor[] {
  const keyMask = c.maskKind === 'none' ? undefined : tf.tensor2d(c.keep.flat(), [c.B, c.N], c.maskDtype);
  return attentionValuesAndGrads(c.width, c.heads, rand(seed, [c.B, c.N, c.width]), rand(seed + 1, [c.B, c.N, c.width]), { keyMask, causal: c.causal });
}

/**
 * A random GEMM case: sides near the tiles' edges, K long now and then (`longK`: split-K), either
 * transpose, batch dims none, one or two — broadcast one way or both ([2, 1] × [1, 2]) — and a bias.
 */
export function drawMatMulCase(g: ReturnType<typeof fuzzCases>, longK: boolean) {
  const [m, n] = [g.side(140), g.side(140)];
  const k = longK && g.next() < 0.2 ? g.int(300, 2500) : g.side(140);
  const [ta, tb] = [g.next() < 0.5, g.next() < 0.5];
  const batchA = g.pick([[], [], [2], [3], [2, 1], [1, 2]]);
  const batchB = batchA.length === 0 ? g.pick([[], [], [2]]) : g.pick([batchA, batchA, [], batchA.map((d) => (d === 1 ? g.int(2, 3) : d))]);
  const bias = g.next() < 0.3;
  const sa = [...batchA, ...(ta ? [k, m] : [m, k])];
  const sb = [...batchB, ...(tb ? [n, k] : [k, n])];
  const sameBatch = batchA.join() === batchB.join();
  const full = batchA.length >= batchB.length ? batchA.map((d, j) => Math.max(d, batchB[j] ?? 1)) : batchB;
  const describe = `a ${JSON.stringify(sa)}${ta ? 'ᵀ' : ''} b ${JSON.stringify(sb)}${tb ? 'ᵀ' : ''}${bias ? ' + bias' : ''}`;
  return { m, n, k, ta, tb, batchA, batchB, bias, sa, sb, sameBatch, full, describe };
}

/**
 * op(A)·op(B) (+ bias) of a drawn case from `seed`, and the gradients of A and B where the batches are
 * equal (tfjs has none for broadcast batches). `reference`: the cpu run, which multiplies expanded
 * operands where the batches broadcast (tfjs' own kernels size those wrongly).
 */
export function matMulCaseValuesAndGrads(c: ReturnType<typeof drawMatMulCase>, seed: number, reference: boolean): tf.Tensor[] {
  const scale = 1 / Math.sqrt(Math.sqrt(c.k)); // products of O(1)
  let a = rand(seed, c.sa, scale);
  let b = rand(seed + 1, c.sb, scale);
  const bias = c.bias ? rand(seed + 2, [c.n]) : undefined;
  if (reference && !c.sameBatch) {
    a = tf.broadcastTo(a, [...c.full, ...c.sa.slice(-2)]);
    b = tf.broadcastTo(b, [...c.full, ...c.sb.slice(-2)]);
  }
  const { ta, tb } = c;
  // tf.fused.matMul flattens the batch dims before it broadcasts: rank-4 broadcasting goes through tf.matMul
  const y = c.sameBatch || !c.batchA.length || !c.batchB.length ? tf.fused.matMul({ a, b, transposeA: ta, transposeB: tb, bias }) : tf.matMul(a, b, ta, tb);
  if (!c.sameBatch) return [y];
  const w = rand(seed + 3, y.shape);
  const grads = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.fused.matMul({ a: p, b: q, transposeA: ta, transposeB: tb, bias }), w)))([a, b]);
  return [y, ...grads];
}

/** A random LayerNorm → GELU case: rows, a width past a workgroup or not, a GELU kind. */
export function drawNormCase(g: ReturnType<typeof fuzzCases>) {
  const rows = g.side(300);
  // (not 2: there dx is 0 in exact arithmetic and every backend returns rounding noise times 1/σ)
  const width = g.pick([1, 3, 5, 7, 64, 127, 128, 129, 200, 384, 513]);
  const kind = g.pick(['erf', 'tanh', 'quick'] as GeluKind[]);
  return { rows, width, kind, describe: `[${rows}, ${width}], gelu ${kind}` };
}

/** gelu(LayerNorm(x)) with random γ, β from `seed` under a weighted-sum loss: the value, dx, dγ, dβ. */
export function normCaseValuesAndGrads(c: ReturnType<typeof drawNormCase>, seed: number): tf.Tensor[] {
  const ln = new LayerNorm(c.width);
  ln.weight.assign(rand(seed, [c.width]) as tf.Tensor1D);
  ln.bias.assign(rand(seed + 1, [c.width]) as tf.Tensor1D);
  const x = rand(seed + 2, [c.rows, c.width], 3);
  const w = rand(seed + 3, [c.rows, c.width]);
  const f = (t: tf.Tensor) => tf.sum(tf.mul(gelu(ln.forward(t), c.kind), w)) as tf.Scalar;
  const { grads } = tf.variableGrads(() => f(x), [ln.weight, ln.bias]);
  const [dx] = tf.grads(f)([x]);
  const out = [gelu(ln.forward(x), c.kind), dx!, grads[ln.weight.name]!, grads[ln.bias.name]!];
  ln.dispose();
  return out;
}

/** Runs `f`, pushing the name of every kernel TensorFlow.js' engine runs meanwhile onto `names`. */
export function recordKernels<T>(names: string[], f: () => T): T {
  const engine = tf.engine() as unknown as { runKernel: (name: string, ...rest: unknown[]) => unknown };
  const original = engine.runKernel;
  engine.runKernel = function (this: unknown, name: string, ...rest: unknown[]) {
    names.push(name);
    return original.call(this, name, ...rest);
  };
  try {
    return f();
  } finally {
    engine.runKernel = original;
  }
}
