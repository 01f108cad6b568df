import * as tf from '@tensorflow/tfjs';
import { envVar } from './env.js';

/*
 * TensorFlow.js' `engine.gradients` (behind tf.grads, tf.variableGrads, tf.valueAndGrads) keeps every
 * intermediate gradient and every tensor the forward saved for the backward until the whole backward
 * has run: the gradient of a tensor is never freed once it has been pushed through the op that made
 * it, and the saved activations are disposed only at the very end. A training step's peak is then
 * all saved activations plus the gradients of all of them, about twice what the backward needs.
 *
 * `installLeanBackprop` replaces that method with the same algorithm (the same tape filtering, the
 * same order of gradient ops, the same errors: results bit for bit equal) that frees, right after an
 * op's gradient has been taken, the gradients of its outputs (nothing earlier on the tape reads
 * them) and the tensors that op saved. Only for first-order gradients: while an outer tape records
 * (gradients of gradients), it behaves exactly like TensorFlow.js'.
 */

/** The parts of a TensorFlow.js tape node this reads (tfjs-core `tape.ts`). */
interface TapeNode {
  id: number;
  kernelName: string;
  outputs: tf.Tensor[];
  inputs: Record<string, tf.Tensor>;
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

/** The parts of TensorFlow.js' Engine this uses. */
interface EngineLike {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T>(nameOrFn: string | (() => T), fn?: () => T): T;
  gradients: Gradients;
  omnitokLean?: { original: Gradients };
}

type Gradients = (f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean) => { value: tf.Tensor; grads: tf.Tensor[] };

/**
 * Installs the lean backward into TensorFlow.js' global engine (once; later calls do nothing).
 * `OMNITOK_LEAN_BACKPROP=0` leaves TensorFlow.js' own. Returns whether the lean one is installed.
 */
export function installLeanBackprop(): boolean {
  const engine = tf.engine() as unknown as EngineLike;
  if (engine.omnitokLean) return true;
  if (envVar('OMNITOK_LEAN_BACKPROP') === '0') return false;
  if (typeof engine.gradients !== 'function' || typeof engine.scopedRun !== 'function' || !engine.state) return false;
  const original = engine.gradients;
  engine.gradients = leanGradients(engine, original);
  engine.omnitokLean = { original };
  return true;
}

/** Puts TensorFlow.js' own `gradients` back (benchmarks and tests). */
export function uninstallLeanBackprop(): void {
  const engine = tf.engine() as unknown as EngineLike;
  if (!engine.omnitokLean) return;
  engine.gradients = engine.omnitokLean.original;
  delete engine.omnitokLean;
}

/** The node whose gradient function runs: its inputs and the gradients other consumers gave them so far. */
let pending: { inputs: Record<string, tf.Tensor>; grads: GradientMap; claimed: Set<string> } | undefined;

/**
 * For a gradient function (a tf.customGrad's gradFunc) running in the lean backward: the gradient the
 * other consumers of its input `x` (that input, or a tensor sharing its data: what `save` kept) have
 * accumulated so far. A function that takes it must return, for that input, its own gradient plus
 * this one — the backward then keeps that as the total instead of adding the two (a kernel that adds
 * it in its epilogue saves the Add: LayerNorm's dx on webgpu, where a pre-LN block's residual stream
 * gets its gradient from the residual and from the LayerNorm). Undefined when no other consumer has
 * contributed yet, when `x` is not an input of the node being differentiated (a backward nested in
 * a gradient function, such as gradient checkpointing's recomputation, sees only its own nodes), or
 * outside the lean backward; the function then returns its own gradient as usual.
 */
export function claimGradientSum(x: tf.Tensor): tf.Tensor | undefined {
  if (!pending) return undefined;
  for (const name in pending.inputs) {
    const input = pending.inputs[name]!;
    const sum = input.dataId === x.dataId ? pending.grads.get(input.id) : undefined;
    if (!sum) continue;
    pending.claimed.add(name);
    return sum;
  }
  return undefined;
}

function leanGradients(engine: EngineLike, original: Gradients): Gradients {
  return function gradients(f, xs, dy, allowNoGradients = false) {
    // nested (an outer tape is recording): TensorFlow.js' own, which keeps everything for the outer backward
    if (engine.state.gradientDepth > 0) return original.call(engine, f, xs, dy, allowNoGradients);
    if (xs.length === 0) throw new Error('gradients() received an empty list of xs.');
    if (dy != null && dy.dtype !== 'float32') throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
    const y = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy('forward', f),
    );
    if (!(y instanceof tf.Tensor)) throw new Error('The result y returned by f() must be a tensor.');
    const tape = engine.state.activeTape ?? [];
    const filtered = filteredNodes(tape, xs, y);
    if (!allowNoGradients && filtered.length === 0 && xs.length > 0) {
      // (TensorFlow.js leaves y and the tape's saved tensors behind here)
      closeTape(engine, tape, () => false);
      y.dispose();
      throw new Error('Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all operations that lead from x to y.');
    }
    return engine.tidy('backward', () => {
      const grads = new GradientMap();
      grads.set(y.id, dy ?? tf.ones(y.shape));
      // never freed early: the results, and a dy the caller owns
      const keep = new Set(xs.map((x) => x.id));
      if (dy != null) keep.add(y.id);
      for (let i = filtered.length - 1; i >= 0; i--) {
        const node = filtered[i]!;
        const dys = node.outputs.map((o) => grads.get(o.id) ?? null);
        if (node.gradient == null) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
        // what claimGradientSum looks up (a backward nested in this gradient function sets its own and
        // puts this one back)
        const outer = pending;
        const claimed = new Set<string>();
        pending = { inputs: node.inputs, grads, claimed };
        let inputGradients: Record<string, () => tf.Tensor>;
        try {
          inputGradients = node.gradient(dys);
        } finally {
          pending = outer;
        }
        for (const inputName in node.inputs) {
          if (!(inputName in inputGradients)) {
            throw new Error(`Cannot backprop through input ${inputName}. Available gradients found: ${Object.keys(inputGradients)}.`);
          }
          const dx = engine.tidy(() => inputGradients[inputName]!());
          if (dx.dtype !== 'float32') {
            throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${inputName} must have 'float32' dtype, but has '${dx.dtype}'`);
          }
          const x = node.inputs[inputName]!;
          if (!tf.util.arraysEqual(dx.shape, x.shape)) {
            throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${inputName}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`);
          }
          const current = grads.get(x.id);
          if (current == null) grads.set(x.id, dx);
          else if (claimed.has(inputName)) {
            // the gradient function added `current` into dx itself (claimGradientSum)
            grads.set(x.id, dx);
            grads.release(current);
          } else {
            grads.set(x.id, tf.add(current, dx));
            grads.release(current);
          }
        }
        // no node before this one reads the gradients of its outputs, nor its saved tensors
        for (const o of node.outputs) if (!keep.has(o.id)) grads.delete(o.id);
        // (a gradient function may hand back a saved tensor itself as a gradient: that one stays)
        for (const t of node.saved ?? []) if (!grads.holds(t)) t.dispose();
      }
      const result = xs.map((x) => grads.get(x.id)!);
      closeTape(engine, tape, (t) => grads.holds(t));
      return { value: y, grads: result };
    });
  };
}

/** Disposes what the tape's nodes saved (but the tensors `held` as results) and drops the tape. */
function closeTape(engine: EngineLike, tape: TapeNode[], held: (t: tf.Tensor) => boolean): void {
  for (const node of tape) for (const t of node.saved ?? []) if (!held(t)) t.dispose();
  engine.state.activeTape = null;
}

/**
 * Tensor id → its accumulated gradient. One tensor object can stand for several ids (a gradient
 * function may hand dy through unchanged), so a tensor is disposed only when no id holds it any more.
 */
class GradientMap {
  private readonly byId = new Map<number, tf.Tensor>();
  private readonly holders = new Map<tf.Tensor, number>();

  get(id: number): tf.Tensor | undefined {
    return this.byId.get(id);
  }

  set(id: number, t: tf.Tensor): void {
    const old = this.byId.get(id);
    this.byId.set(id, t);
    this.holders.set(t, (this.holders.get(t) ?? 0) + 1);
    if (old) this.unhold(old);
  }

  /** Drops the entry of `id` and disposes its tensor unless another id holds it. */
  delete(id: number): void {
    const t = this.byId.get(id);
    if (!t) return;
    this.byId.delete(id);
    if (this.unhold(t)) t.dispose();
  }

  /** Whether some id holds `t` as its gradient. */
  holds(t: tf.Tensor): boolean {
    return this.holders.has(t);
  }

  /** Disposes `t` (a gradient just replaced by a sum) unless some id still holds it. */
  release(t: tf.Tensor): void {
    if (!this.holds(t)) t.dispose();
  }

  /** One holder fewer; true when none is left. */
  private unhold(t: tf.Tensor): boolean {
    const n = (this.holders.get(t) ?? 1) - 1;
    if (n > 0) this.holders.set(t, n);
    else this.holders.delete(t);
    return n <= 0;
  }
}

/**
 * The nodes on a path from some x to y, with their inputs pruned to those that depend on an x:
 * TensorFlow.js' `getFilteredNodesXToY` (tape.ts), which is not exported.
 */
function filteredNodes(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    for (const name in node.inputs) {
      if (fromX.has(node.inputs[name]!.id)) {
        for (const o of node.outputs) fromX.add(o.id);
        nodesFromX.add(node.id);
        break;
      }
    }
  }
  const toY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const name in node.inputs) {
        toY.add(node.inputs[name]!.id);
        nodesToY.add(node.id);
      }
    }
  }
  const filtered: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const name in node.inputs) if (fromX.has(node.inputs[name]!.id)) inputs[name] = node.inputs[name]!;
    filtered.push({ ...node, inputs, outputs: node.outputs });
  }
  return filtered;
}
