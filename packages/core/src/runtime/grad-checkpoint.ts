import * as tf from '@tensorflow/tfjs';
import type { Rng } from './rng.js';

/**
 * Gradient checkpointing (activation recomputation: `torch.utils.checkpoint`, open_clip's
 * `--grad-checkpointing`). `gradCheckpoint(fn, x, …)` returns `fn(x)` but keeps none of `fn`'s
 * intermediate tensors for the backward — only `x` (and the `context` tensors `fn` reads) — and runs
 * `fn` a second time during the backward, under a tape of its own, to get the gradients of `x` and of
 * `params`. A transformer trained this way keeps one [B, N, D] tensor per block instead of ~16, at
 * the price of one more forward of each block (≈ +30 % compute).
 *
 * Contract:
 *  - `fn` must compute the same thing twice: anything random in it must come from `rng`, whose state is
 *    rewound to where the forward found it while the backward recomputes (dropout masks replay), then
 *    put back where the run is. Other state `fn` changes (running statistics) would be changed twice.
 *  - `params` are the variables `fn` reads whose gradients are wanted (a block's trainable weights); a
 *    variable `fn` reads but that is not listed gets no gradient through `fn`.
 *  - `context` tensors (masks, indices) are read, never differentiated; they are kept alive until the
 *    backward has passed, since the caller's forward scope disposes them.
 *  - Outside a recording tape (inference, `tf.tidy` without gradients) it is just `fn(x, context)`.
 *  - The gradients equal those without checkpointing bit for bit on a deterministic backend: the same
 *    ops run in the same order, once more.
 * Works with omnitok's lean backward and with TensorFlow.js' own (`OMNITOK_LEAN_BACKPROP=0`); first-order
 * gradients only (the recomputation is not itself recorded for a gradient of gradients).
 */
export function gradCheckpoint<C extends readonly (tf.Tensor | undefined)[]>(
  fn: (x: tf.Tensor, context: C) => tf.Tensor,
  x: tf.Tensor,
  options: { params: readonly tf.Variable[]; context?: C; rng?: Rng },
): tf.Tensor {
  const context = (options.context ?? []) as unknown as C;
  const engine = tf.engine() as unknown as EngineInternals;
  if (!(engine.state.gradientDepth > 0 && engine.state.kernelDepth === 0)) return fn(x, context);
  const params = [...options.params];
  const rng = options.rng;
  const present = context.map((t) => t !== undefined);
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const rewind = rng?.state();
    // the forward of a custom op is not recorded: fn's intermediates are freed as it returns
    const value = fn(x, context);
    save([x, ...(context.filter((t) => t !== undefined) as tf.Tensor[])]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ...kept] = saved as [tf.Tensor, ...tf.Tensor[]];
        let k = 0;
        const ctx = present.map((p) => (p ? kept[k++] : undefined)) as unknown as C;
        const outerTape = engine.state.activeTape;
        const now = rng?.state();
        if (rng && rewind) rng.setState(rewind);
        try {
          const { value: again, grads } = engine.gradients(() => fn(xs, ctx), [xs, ...params], dy, true);
          again.dispose();
          return grads.map((g, i) => g ?? tf.zerosLike(i === 0 ? xs : params[i - 1]!));
        } finally {
          // TensorFlow.js' own gradients() drop the active tape when they finish: the outer backward still reads it
          engine.state.activeTape = outerTape;
          if (rng && now) rng.setState(now);
        }
      },
    };
  }) as never) as unknown as (...inputs: tf.Tensor[]) => tf.Tensor;
  return op(x, ...params);
}

/** True while TensorFlow.js records operations for gradients (inside tf.grad, variableGrads, …). */
export function recordingGradients(): boolean {
  return (tf.engine() as unknown as EngineInternals).state.gradientDepth > 0;
}

/** The parts of TensorFlow.js' Engine this reads (tfjs-core `engine.ts`). */
interface EngineInternals {
  state: { gradientDepth: number; kernelDepth: number; activeTape: unknown };
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean): { value: tf.Tensor; grads: (tf.Tensor | undefined)[] };
}
