import * as tf from '@tensorflow/tfjs';
import { afterAll, expect, it } from 'vitest';
import { installLeanBackprop, uninstallLeanBackprop } from './lean-backprop.js';
import { describeBackends } from './test-utils/backends.js';
import { fuzzCases, rand } from './test-utils/kernel-cases.js';

/*
 * The lean backward against TensorFlow.js' own on random programs: each draws a chain of ops over a
 * pool of [4, 6] tensors (so any two combine), reusing tensors many times — the fan-out, multi-output
 * ops (split, unstack), shared buffers (reshape, clone), custom gradients that hand a saved tensor back
 * or one dy to two inputs, and ops whose gradient ignores an input are where freeing early could go wrong. Gradients must equal
 * bit for bit, with no tensor left behind.
 */

const R = 4;
const C = 6;
type Op = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** x² with a hand-written gradient that saves its input and returns a saved tensor itself when dy is 1. */
const squareSaved = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const twice = tf.mul(x, 2);
  save([x, twice]);
  return { value: tf.square(x), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[1]!) };
}) as never) as unknown as (x: tf.Tensor) => tf.Tensor;

/** Identity forward whose gradient is the saved input (ignoring dy): a gradient that aliases a saved tensor. */
const passSaved = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const y = tf.mul(x, 0.5);
  save([y]);
  return { value: tf.add(x, 0), gradFunc: (_dy: tf.Tensor, saved: tf.Tensor[]) => saved[0]! };
}) as never) as unknown as (x: tf.Tensor) => tf.Tensor;

/** a + b whose gradient hands the same dy object to both inputs (one tensor, two gradient ids). */
const addPassing = tf.customGrad(((a: tf.Tensor, b: tf.Tensor) => ({ value: tf.add(a, b), gradFunc: (dy: tf.Tensor) => [dy, dy] })) as never) as unknown as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

const OPS: [string, Op][] = [
  ['tanh', (a) => tf.tanh(a)],
  ['sigmoid·exp', (a) => tf.mul(tf.sigmoid(a), tf.exp(tf.mul(a, 0.1)))],
  ['square', (a) => tf.mul(tf.square(a), 0.3)],
  ['relu − abs', (a, b) => tf.sub(tf.relu(a), tf.mul(tf.abs(b), 0.2))],
  ['add', (a, b) => tf.add(a, b)],
  ['mul', (a, b) => tf.mul(a, b)],
  ['div', (a, b) => tf.div(a, tf.add(tf.abs(b), 1))],
  ['maximum', (a, b) => tf.maximum(a, b)],
  ['matMul chain', (a, b) => tf.mul(tf.matMul(tf.matMul(a, b, false, true), a), 0.1)], // [4,4]·[4,6]
  ['reshape + transpose', (a) => tf.transpose(tf.reshape(a, [C, R]))], // shares a's buffer, then moves it
  ['slice + concat', (a, b) => tf.concat([tf.slice(a, [0, 0], [R, 2]), tf.slice(b, [0, 2], [R, C - 2])], 1)],
  ['split (two outputs, one used twice)', (a) => {
    const [x, y] = tf.split(a, [2, C - 2], 1);
    return tf.concat([tf.mul(y!, x!.sum(1, true)), x!], 1);
  }],
  ['unstack + stack', (a) => tf.stack(tf.unstack(a).reverse())],
  ['broadcast row sums', (a, b) => tf.add(a, tf.sum(b, 0, true))],
  ['gather rows (repeated)', (a) => tf.gather(a, tf.tensor1d([3, 0, 0, 1], 'int32'))],
  ['where (a fixed mask)', (a, b) => tf.where(tf.greater(rand(77, [R, C]), 0), a, b)],
  ['clone', (a) => tf.clone(a)],
  ['mean-centred', (a) => tf.sub(a, tf.mean(a, -1, true))],
  ['custom: saved 2x as gradient', (a) => squareSaved(tf.mul(a, 0.5))],
  ['custom: gradient is a saved tensor', (a) => passSaved(a)],
  ['custom: one dy for both inputs', (a, b) => addPassing(tf.tanh(a), tf.mul(b, 0.5))],
  ['stop gradient (a constant from a)', (a, b) => tf.add(b, tf.zerosLike(a))],
];

afterAll(() => installLeanBackprop());

describeBackends('lean backprop on random programs', (backend) => {
  it('equals TensorFlow.js’ own backward bit for bit, leaving no tensor behind', async () => {
    // wasm has no UnsortedSegmentSum, the gradient of gather
    const ops = backend().name === 'wasm' ? OPS.filter(([name]) => !name.startsWith('gather')) : OPS;
    const used = new Set<string>();
    for (let c = 0; c < 30; c++) {
      // the program is drawn once, then run by both backwards
      const g = fuzzCases(100 + c);
      const steps = Array.from({ length: g.int(3, 14) }, () => ({ op: g.pick(ops), a: g.next(), b: g.next() }));
      const lossPicks = Array.from({ length: g.int(1, 3) }, () => g.next());
      const inputs = g.int(1, 3);
      const asVariables = g.next() < 0.5;
      const what = `program ${c}: ${inputs} ${asVariables ? 'variables' : 'inputs'}, ${steps.map((s) => s.op[0]).join(' → ')}`;
      for (const s of steps) used.add(s.op[0]);
      const leaves = Array.from({ length: inputs }, (_, i) => rand(10 * c + i, [R, C]));
      const vars = asVariables ? leaves.map((t) => tf.variable(t)) : [];
      const program = (xs: tf.Tensor[]) => {
        const pool = [...xs];
        const at = (u: number) => pool[Math.floor(u * pool.length)]!;
        for (const s of steps) pool.push(s.op[1](at(s.a), at(s.b)));
        // the loss reads the last tensor and a few earlier ones (fan-out into the loss too)
        let loss = tf.sum(tf.mul(pool.at(-1)!, rand(999, [R, C])));
        for (const u of lossPicks) loss = tf.add(loss, tf.sum(tf.sin(at(u))));
        for (const x of xs) loss = tf.add(loss, tf.sum(tf.mul(x, 0.01))); // every input reaches the loss
        return loss as tf.Scalar;
      };
      const run = async () => {
        const before = tf.memory().numTensors;
        const { value, grads } = asVariables
          ? (() => {
              const r = tf.variableGrads(() => program(vars), vars);
              return { value: r.value, grads: vars.map((v) => r.grads[v.name]!) };
            })()
          : tf.valueAndGrads((...xs: tf.Tensor[]) => program(xs))(leaves);
        const out = [Array.from(await value.data()), ...(await Promise.all(grads.map(async (t) => Array.from(await t.data()))))];
        tf.dispose([value, ...grads]);
        expect(tf.memory().numTensors, `${what}: tensors left behind`).toBe(before);
        return out;
      };
      const lean = await run();
      const reference = await (async () => {
        uninstallLeanBackprop();
        try {
          return await run();
        } finally {
          installLeanBackprop();
        }
      })();
      expect(lean, what).toEqual(reference);
      tf.dispose([...leaves, ...vars]);
    }
    expect(used.size, `ops drawn: ${[...used].join(', ')}`).toBe(ops.length);
  });
});
