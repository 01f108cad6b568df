import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors/index.js';
import type { DenseArray } from '../io/index.js';
import { WeightImportError } from './errors.js';

/**
 * The base of every layer: a tree of named parameters, like `torch.nn.Module`.
 *
 * A module registers its parameters (`this.param`) and sub-modules (`this.child`) in its constructor;
 * `parameters()` walks the tree and returns them under stable dotted names
 * (`blocks.0.attn.qkv.weight`) in registration order. Names, shapes and the [in, out] layout of linear
 * weights are the checkpoint format, so they never change silently.
 */
export abstract class Module {
  /** Dropout and other train-only behaviour are on only while `training` (see `train()` / `eval()`). */
  training = true;
  // parameters and sub-modules in registration order (parameters() keeps that order)
  private readonly entries: [string, tf.Variable | Module][] = [];

  protected param(name: string, init: tf.Tensor, trainable = true): tf.Variable {
    assertName(name);
    const v = tf.variable(init, trainable);
    init.dispose();
    this.entries.push([name, v]);
    return v;
  }

  protected child<M extends Module>(name: string, module: M): M {
    assertName(name);
    this.entries.push([name, module]);
    return module;
  }

  /** All parameters by dotted name, trainable or not (fixed sin-cos tables are not parameters). */
  parameters(prefix = ''): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [name, e] of this.entries) {
      if (e instanceof Module) for (const [k, v] of e.parameters(`${prefix}${name}.`)) out.set(k, v);
      else out.set(prefix + name, e);
    }
    return out;
  }

  /** The trainable parameters only. */
  trainableParameters(): Map<string, tf.Variable> {
    return new Map([...this.parameters()].filter(([, v]) => v.trainable));
  }

  /** Total number of scalars in all parameters. */
  parameterCount(): number {
    let n = 0;
    for (const v of this.parameters().values()) n += v.size;
    return n;
  }

  train(on = true): this {
    this.training = on;
    for (const [, e] of this.entries) if (e instanceof Module) e.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Copies of all parameters as dense float32 arrays (for checkpoints). */
  async stateDict(): Promise<Record<string, DenseArray<Float32Array>>> {
    const out: Record<string, DenseArray<Float32Array>> = {};
    for (const [name, v] of this.parameters()) out[name] = { data: (await v.data()) as Float32Array, shape: [...v.shape] };
    return out;
  }

  /**
   * Assigns weights by name. Every shape is checked; with `strict` (default) a missing or unexpected
   * name is an error too. Nothing is assigned unless everything checks. Returns what was loaded.
   */
  loadStateDict(
    weights: Record<string, DenseArray>,
    options: { strict?: boolean; source?: string } = {},
  ): { loaded: string[]; missing: string[]; unexpected: string[] } {
    const params = this.parameters();
    const missing = [...params.keys()].filter((k) => !(k in weights));
    const unexpected = Object.keys(weights).filter((k) => !params.has(k));
    const mismatched: string[] = [];
    for (const [name, v] of params) {
      const w = weights[name];
      if (w && !sameShape(w.shape, v.shape)) mismatched.push(`${name}: expected [${v.shape.join(', ')}] got [${w.shape.join(', ')}]`);
    }
    if (mismatched.length > 0 || (options.strict !== false && (missing.length > 0 || unexpected.length > 0))) {
      throw new WeightImportError(options.source ?? 'a state dict', { missing, unexpected, mismatched });
    }
    const loaded: string[] = [];
    for (const [name, v] of params) {
      const w = weights[name];
      if (!w) continue;
      const data = w.data instanceof Float32Array ? w.data : Float32Array.from(w.data as ArrayLike<number>, Number);
      tf.tidy(() => v.assign(tf.tensor(data, [...v.shape], 'float32')));
      loaded.push(name);
    }
    return { loaded, missing, unexpected };
  }

  dispose(): void {
    for (const [, e] of this.entries) e.dispose();
    this.disposeExtra();
  }

  /** Frees non-parameter tensors a subclass holds (constant tables). */
  protected disposeExtra(): void {}
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function assertName(name: string): void {
  if (!/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/.test(name)) throw new InvalidArgumentError('parameter name', name, 'letters, digits and _, levels joined by dots');
}

/** Throws InvalidArgumentError unless `condition` (constructor asserts, like nanoGPT's). */
export function check(condition: boolean, argument: string, value: unknown, expected: string): asserts condition {
  if (!condition) throw new InvalidArgumentError(argument, value, expected);
}
