import * as tf from '@tensorflow/tfjs';

/** CLIP's initial log-temperature: s = exp(ln(1/0.07)) ≈ 14.29. */
export const CLIP_LOGIT_SCALE_INIT = Math.log(1 / 0.07);
/** CLIP clamps the log-scale to [0, ln 100] after every optimizer step (s ∈ [1, 100]). */
export const CLIP_LOGIT_SCALE_MAX = Math.log(100);
/** SigLIP's initial log-temperature t′ = ln 10 (scale 10) and bias b = −10. */
export const SIGLIP_LOGIT_SCALE_INIT = Math.log(10);
export const SIGLIP_LOGIT_BIAS_INIT = -10;

/** A learnable log-scale t (the loss uses s = exp t), a scalar variable initialised at `init`. */
export function createLogitScale(init = CLIP_LOGIT_SCALE_INIT, name?: string): tf.Variable<tf.Rank.R0> {
  return tf.variable(tf.scalar(init), true, name);
}

/** SigLIP's learnable pair: log-scale t′ (init ln 10) and bias b (init −10). */
export function createSigmoidParams(init: { scale?: number; bias?: number } = {}, name?: string): { logitScale: tf.Variable<tf.Rank.R0>; logitBias: tf.Variable<tf.Rank.R0> } {
  return {
    logitScale: tf.variable(tf.scalar(init.scale ?? SIGLIP_LOGIT_SCALE_INIT), true, name && `${name}.logit_scale`),
    logitBias: tf.variable(tf.scalar(init.bias ?? SIGLIP_LOGIT_BIAS_INIT), true, name && `${name}.logit_bias`),
  };
}

/**
 * Clamps a log-scale variable in place to [min, max] (default [0, ln 100]), as open_clip does after
 * each optimizer step (`logit_scale.clamp_(0, math.log(100))`). Reads nothing back (no GPU sync).
 */
export function clampLogitScale(logitScale: tf.Variable, min = 0, max = CLIP_LOGIT_SCALE_MAX): void {
  tf.tidy(() => logitScale.assign(tf.clipByValue(logitScale, min, max)));
}
