import * as tf from '@tensorflow/tfjs';
import { gradCheckpoint } from '../grad-checkpoint.js';
import { Module } from '../module.js';
import type { Rng } from '../rng.js';
import type { GeluKind } from './activations.js';
import { type AttentionMask, MultiHeadAttention } from './attention.js';
import { Dropout } from './dropout.js';
import { LayerNorm } from './layer-norm.js';
import { Mlp } from './mlp.js';

/** Per-channel learned scale (CaiT's LayerScale): `gamma` [D], initialized to a small constant. */
export class LayerScale extends Module {
  readonly gamma: tf.Variable;

  constructor(dim: number, init: number) {
    super();
    this.gamma = this.param('gamma', tf.fill([dim], init));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.mul(x, this.gamma);
  }
}

export interface BlockOptions {
  readonly width: number;
  readonly heads: number;
  readonly mlpRatio: number;
  readonly gelu: GeluKind;
  readonly lnEps?: number;
  /** LayerScale init (e.g. 1e-5); null/undefined: no LayerScale. */
  readonly layerScale?: number | null;
  readonly dropout?: number;
  readonly attnDropout?: number;
  readonly qkvBias?: boolean;
  /** Init std of the residual projections (attn.proj, mlp.fc2); nanoGPT scales it by 1/√(2·depth). */
  readonly projStd?: number;
}

/** Pre-LN transformer block: x + ls1(drop(attn(ln1(x)))), then x + ls2(mlp(ln2(x))). */
export class Block extends Module {
  readonly ln1: LayerNorm;
  readonly attn: MultiHeadAttention;
  readonly ls1: LayerScale | undefined;
  readonly ln2: LayerNorm;
  readonly mlp: Mlp;
  readonly ls2: LayerScale | undefined;
  /**
   * Keep only the block's input for the backward and recompute the block there (gradCheckpoint):
   * ~1/16 of a block's activation memory for one more forward. Off by default; training-only in effect.
   */
  gradCheckpointing = false;
  private readonly drop: Dropout;

  constructor(
    o: BlockOptions,
    private readonly rng: Rng,
  ) {
    super();
    this.ln1 = this.child('ln1', new LayerNorm(o.width, o.lnEps));
    this.attn = this.child('attn', new MultiHeadAttention(o.width, o.heads, rng, { bias: o.qkvBias, attnDropout: o.attnDropout, projStd: o.projStd }));
    this.ls1 = o.layerScale ? this.child('ls1', new LayerScale(o.width, o.layerScale)) : undefined;
    this.ln2 = this.child('ln2', new LayerNorm(o.width, o.lnEps));
    this.mlp = this.child('mlp', new Mlp(o.width, Math.round(o.width * o.mlpRatio), o.gelu, rng, { dropout: o.dropout, projStd: o.projStd }));
    this.ls2 = o.layerScale ? this.child('ls2', new LayerScale(o.width, o.layerScale)) : undefined;
    this.drop = new Dropout(o.dropout ?? 0, rng);
  }

  override train(on = true): this {
    this.drop.train(on);
    return super.train(on);
  }

  forward(x: tf.Tensor, mask: AttentionMask = {}): tf.Tensor {
    if (!this.gradCheckpointing) return this.body(x, mask);
    // the dropout masks draw from rng: rewound for the recomputation, so they replay
    return gradCheckpoint((h, [keyMask]) => this.body(h, { ...mask, keyMask }), x, {
      params: [...this.trainableParameters().values()],
      context: [mask.keyMask] as const,
      rng: this.rng,
    });
  }

  private body(x: tf.Tensor, mask: AttentionMask): tf.Tensor {
    // without LayerScale or dropout on a branch, its last projection adds the residual itself (in the
    // GEMM's epilogue on webgpu: no separate Add)
    const fuse1 = !this.ls1 && !this.drop.active();
    let h: tf.Tensor;
    if (fuse1) h = this.attn.forward(this.ln1.forward(x), undefined, mask, x);
    else {
      let a = this.drop.forward(this.attn.forward(this.ln1.forward(x), undefined, mask));
      if (this.ls1) a = this.ls1.forward(a);
      h = tf.add(x, a);
    }
    if (!this.ls2) return this.mlp.forward(this.ln2.forward(h), h);
    return tf.add(h, this.ls2.forward(this.mlp.forward(this.ln2.forward(h))));
  }
}
