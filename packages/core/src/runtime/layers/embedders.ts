import * as tf from '@tensorflow/tfjs';
import { envVar } from '../env.js';
import { EMBED_MAX_TERMS, webgpuEmbeddingGrad, webgpuKernelsActive } from '../kernels/webgpu/fused-ops.js';
import { Module } from '../module.js';
import type { Rng } from '../rng.js';
import { Linear } from './linear.js';

/** Continuous tokens [B, N, D_in] (patches, frames, mel windows) → [B, N, D] by a linear projection (`proj`). */
export class PatchEmbed extends Module {
  readonly proj: Linear;

  constructor(inDim: number, width: number, rng: Rng, options: { bias?: boolean } = {}) {
    super();
    this.proj = this.child('proj', new Linear(inDim, width, rng, { bias: options.bias }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.proj.forward(x);
  }
}

/**
 * Discrete ids [B, L] (int32) → [B, L, D] from a table `weight` [V, D].
 *
 * The gradient is written by hand as a scatter-add (`scatterND` sums duplicate ids): tf.gather's own
 * gradient needs UnsortedSegmentSum, which the wasm backend lacks. On webgpu it is
 * `webgpuEmbeddingGrad`: the same bits on every run (scatterND's float atomics are not;
 * OMNITOK_WEBGPU_EMBED_GRAD=scatter keeps scatterND there, for measuring one against the other).
 */
export class TokenEmbed extends Module {
  readonly weight: tf.Variable;

  constructor(
    readonly vocabSize: number,
    readonly width: number,
    rng: Rng,
    std = 0.02,
  ) {
    super();
    this.weight = this.param('weight', tf.tensor(rng.normals(vocabSize * width, std), [vocabSize, width]));
  }

  forward(ids: tf.Tensor): tf.Tensor {
    return embeddingLookup(this.weight, ids);
  }
}

/** table [V, D] gathered at ids [...] → [..., D], with a scatter-add gradient for the table. */
export function embeddingLookup(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  const [V, D] = table.shape as [number, number];
  const flat = ids.reshape([-1]).cast('int32'); // [M]
  const lookup = tf.customGrad(((t: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([flat]);
    return {
      value: tf.gather(t, flat),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const positions = saved[0]!;
        if (webgpuKernelsActive() && positions.size <= EMBED_MAX_TERMS && envVar('OMNITOK_WEBGPU_EMBED_GRAD') !== 'scatter') {
          return [webgpuEmbeddingGrad(positions, dy.reshape([-1, D]), V)]; // [V, D]
        }
        return [tf.scatterND(positions.reshape([-1, 1]), dy, [V, D])]; // [V, D]
      },
    };
  }) as never) as unknown as (t: tf.Tensor) => tf.Tensor;
  return lookup(table).reshape([...ids.shape, D]); // [..., D]
}
