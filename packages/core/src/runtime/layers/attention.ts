import * as tf from '@tensorflow/tfjs';
import { fusedAvailable, fusedSelfAttention } from '../kernels/fused-ops.js';
import { MAX_ATTN_HEAD_DIM, webgpuKernelsActive, webgpuSelfAttention } from '../kernels/webgpu/fused-ops.js';
import { check, Module } from '../module.js';
import type { Rng } from '../rng.js';
import { Dropout } from './dropout.js';
import { Linear, linear } from './linear.js';

/** What attention may look at. */
export interface AttentionMask {
  /** [B, N_kv]: 1 for a real key, 0 for padding (padded keys get no attention). */
  readonly keyMask?: tf.Tensor;
  /** Token i attends to keys ≤ i only (text towers). Needs N_q = N_kv. */
  readonly causal?: boolean;
}

/** Large negative instead of −∞: a fully masked row then stays finite (uniform) instead of NaN. */
const MASKED = -1e9;

/**
 * Multi-head attention with a fused q|k|v projection (`qkv.weight` [D, 3D], columns q, then k, then v,
 * each head-major) and an output projection (`proj`).
 * `forward(x)` is self-attention; `forward(x, kv)` cross-attention (queries from x, keys/values from kv),
 * used by the attention-pooling head.
 */
export class MultiHeadAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly headDim: number;
  private readonly attnDrop: Dropout;

  constructor(
    readonly width: number,
    readonly heads: number,
    rng: Rng,
    options: { bias?: boolean; attnDropout?: number; projStd?: number } = {},
  ) {
    super();
    check(Number.isInteger(heads) && heads > 0, 'heads', heads, 'a positive integer');
    check(width % heads === 0, 'width', width, `a multiple of heads (${heads})`);
    this.headDim = width / heads;
    this.qkv = this.child('qkv', new Linear(width, 3 * width, rng, { bias: options.bias }));
    this.proj = this.child('proj', new Linear(width, width, rng, { bias: options.bias, std: options.projStd }));
    this.attnDrop = new Dropout(options.attnDropout ?? 0, rng);
  }

  override train(on = true): this {
    this.attnDrop.train(on);
    return super.train(on);
  }

  /**
   * `residual` [B, Nq, D]: added to the output projection (x + attn(…) of a pre-LN block, in the
   * projection's epilogue on webgpu; see `linear`).
   */
  forward(x: tf.Tensor, kv?: tf.Tensor, mask: AttentionMask = {}, residual?: tf.Tensor): tf.Tensor {
    const [B, Nq] = x.shape as [number, number, number];
    const D = this.width;
    const H = this.heads;
    const Dh = this.headDim;
    let q: tf.Tensor;
    let k: tf.Tensor;
    let v: tf.Tensor;
    if (!kv && fusedAvailable() && !this.attnDrop.active()) {
      // `native`: QKᵀ, masks, softmax and ·V in one kernel each way, straight from the fused projection
      return this.proj.forward(fusedSelfAttention(this.qkv.forward(x), H, mask.keyMask, Boolean(mask.causal)), residual); // [B, N, D]
    }
    if (!kv && webgpuKernelsActive() && Dh <= MAX_ATTN_HEAD_DIM && !this.attnDrop.active()) {
      // `webgpu`: flash-attention style WGSL, one dispatch forward, three backward
      return this.proj.forward(webgpuSelfAttention(this.qkv.forward(x), H, mask.keyMask, Boolean(mask.causal)), residual); // [B, N, D]
    }
    if (!kv) {
      const qkv = this.qkv.forward(x).reshape([B, Nq, 3, H, Dh]); // [B, N, 3, H, Dh]
      const t = qkv.transpose([2, 0, 3, 1, 4]); // [3, B, H, N, Dh]
      [q, k, v] = tf.unstack(t, 0) as [tf.Tensor, tf.Tensor, tf.Tensor]; // each [B, H, N, Dh]
    } else {
      const Nk = kv.shape[1]!;
      const w = this.qkv.weight;
      const b = this.qkv.bias;
      const qOut = linear(x, w.slice([0, 0], [D, D]), b?.slice([0], [D])); // [B, Nq, D]
      const kvOut = linear(kv, w.slice([0, D], [D, 2 * D]), b?.slice([D], [2 * D])); // [B, Nk, 2D]
      q = qOut.reshape([B, Nq, H, Dh]).transpose([0, 2, 1, 3]); // [B, H, Nq, Dh]
      const kvT = kvOut.reshape([B, Nk, 2, H, Dh]).transpose([2, 0, 3, 1, 4]); // [2, B, H, Nk, Dh]
      [k, v] = tf.unstack(kvT, 0) as [tf.Tensor, tf.Tensor]; // each [B, H, Nk, Dh]
    }
    const Nk = k.shape[2]!;
    let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(Dh)); // [B, H, Nq, Nk]
    if (mask.keyMask) {
      const keep = mask.keyMask.cast('float32').reshape([B, 1, 1, Nk]); // [B, 1, 1, Nk]
      scores = tf.add(scores, tf.mul(tf.sub(1, keep), MASKED));
    }
    if (mask.causal) {
      check(Nq === Nk, 'causal attention', `${Nq} queries, ${Nk} keys`, 'as many queries as keys');
      const allowed = tf.linalg.bandPart(tf.ones([Nq, Nk]), -1, 0); // [Nq, Nk], lower triangle
      scores = tf.add(scores, tf.mul(tf.sub(1, allowed), MASKED)); // broadcasts over [B, H]
    }
    const probs = this.attnDrop.forward(tf.softmax(scores, -1)); // [B, H, Nq, Nk]
    const out = tf.matMul(probs, v); // [B, H, Nq, Dh]
    const merged = out.transpose([0, 2, 1, 3]).reshape([B, Nq, D]); // [B, Nq, H·Dh]
    return this.proj.forward(merged, residual);
  }
}
