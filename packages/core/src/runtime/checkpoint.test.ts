import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '../io/index.js';
import { corruptedCopies } from '../testing/corrupt-bytes.js';
import { CheckpointError } from './errors.js';
import { checkpointName, latestCheckpoint, listCheckpoints, loadCheckpoint, pruneCheckpoints, saveCheckpoint } from './checkpoint.js';
import type { EncoderConfig } from './config.js';
import { TransformerEncoder } from './encoder.js';
import { AdamW, Trainer } from './optim.js';
import { Rng } from './rng.js';
import { describeBackends } from './test-utils/backends.js';

const CONFIG = { size: 'custom', width: 16, depth: 1, heads: 2, mlpRatio: 2, dropout: 0.1, tokens: { kind: 'continuous', dim: 6, count: 4 }, projectionDim: 4 } as const;

/** A run whose data order and dropout come from seeded generators, so it can be resumed exactly. */
function makeRun(seed: number) {
  const rng = new Rng(seed);
  const model = new TransformerEncoder(CONFIG, rng);
  const optimizer = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0.05 });
  const trainer = new Trainer(model.parameters(), { optimizer, clipNorm: 1 });
  const dataset = new Rng(1234);
  const pool = tf.tensor(dataset.normals(32 * 4 * 6, 1, false), [32, 4, 6]);
  const labels = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 4), 'int32'), 4));
  const data = { position: 0 };
  const step = async () => {
    const idx = tf.tensor1d(Array.from({ length: 8 }, (_, i) => (data.position * 8 + i) % 32), 'int32');
    data.position += 1;
    const r = await trainer.trainStep(() => tf.losses.softmaxCrossEntropy(tf.gather(labels, idx), model.forward(tf.gather(pool, idx)).embedding) as tf.Scalar);
    idx.dispose();
    return r.loss;
  };
  const dispose = () => {
    model.dispose();
    optimizer.dispose();
    tf.dispose([pool, labels]);
  };
  return { rng, model, optimizer, trainer, data, step, dispose };
}

describeBackends('checkpoints', () => {
  it('round trip is bit-exact and resume continues with the identical loss sequence', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-ckpt-'));
    const a = makeRun(11);
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) losses.push(await a.step());
    const path = await saveCheckpoint(dir, { step: a.trainer.step, model: a.model, config: a.model.config, optimizer: a.optimizer, rng: a.rng, data: a.data });
    expect(path).toBe(join(dir, checkpointName(3)));
    for (let i = 0; i < 3; i++) losses.push(await a.step());

    const ck = loadCheckpoint(dir); // the run dir: picks the latest
    expect(ck.step).toBe(3);
    expect(ck.data).toEqual({ position: 3 });
    const saved = await a.model.stateDict();
    const b = makeRun(999); // other init and rng: everything must come from the checkpoint
    expect(new TransformerEncoder(ck.config as EncoderConfig).config).toEqual(a.model.config);
    b.model.loadStateDict(ck.weights);
    b.optimizer.loadStateDict(ck.optimizer!);
    b.rng.setState(ck.rng!);
    Object.assign(b.data, ck.data);
    // bit-exact: the loaded weights equal what was saved, byte for byte
    const reloaded = loadCheckpoint(path);
    for (const [name, w] of Object.entries(reloaded.weights)) expect(w.data, name).toEqual(ck.weights[name]!.data);
    expect(Object.keys(ck.weights)).toEqual(Object.keys(saved));
    const resumed: number[] = [];
    for (let i = 0; i < 3; i++) resumed.push(await b.step());
    expect(resumed).toEqual(losses.slice(3));
    expect(b.trainer.step).toBe(6);
    a.dispose();
    b.dispose();
  });
});

describe('checkpoint files', () => {
  const weights = { 'a.weight': { data: Float32Array.from([1.5, -2, Math.PI, 1e-30]), shape: [2, 2] } };

  it('writes safetensors with our names and readable JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-ckpt-'));
    const path = await saveCheckpoint(dir, { step: 7, model: weights, config: { width: 2 }, rng: new Rng(1), data: { epoch: 1 } });
    expect(readdirSync(path).sort()).toEqual(['config.json', 'model.safetensors', 'state.json']);
    const st = decodeSafetensors(readFileSync(join(path, 'model.safetensors')));
    expect(st.tensors['a.weight']!.data).toEqual(weights['a.weight'].data);
    expect(st.metadata).toEqual({ format: 'omnitok-runtime-checkpoint/1', step: '7' });
    expect(JSON.parse(readFileSync(join(path, 'config.json'), 'utf8'))).toEqual({ width: 2 });
    expect(loadCheckpoint(path).rng).toEqual(new Rng(1).state());
  });

  it("streams a module's and an optimizer's tensors: the bytes of encodeSafetensors of their state dicts", async () => {
    const run = makeRun(3);
    await run.step(); // moments that are not zero
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-ckpt-'));
    const path = await saveCheckpoint(dir, { step: 1, model: run.model, config: {}, optimizer: run.optimizer });
    const meta = { format: 'omnitok-runtime-checkpoint/1', step: '1' };
    const state = await run.optimizer.stateDict();
    expect(Buffer.compare(readFileSync(join(path, 'model.safetensors')), Buffer.from(encodeSafetensors(await run.model.stateDict(), meta)))).toBe(0);
    expect(Buffer.compare(readFileSync(join(path, 'optimizer.safetensors')), Buffer.from(encodeSafetensors(state.tensors, { ...meta, optimizerStep: '1' })))).toBe(0);
    expect(Object.keys(state.tensors)).toEqual(run.optimizer.stateVariables().map(([n]) => n));
    // arrays of other dtypes are written as they are
    const ints = await saveCheckpoint(dir, { step: 2, model: { ids: { data: new Int32Array([3, -4]), shape: [2] } }, config: {} });
    expect(decodeSafetensors(readFileSync(join(ints, 'model.safetensors'))).tensors.ids).toMatchObject({ dtype: 'I32', shape: [2] });
    run.dispose();
  });

  it('a crash mid-write never touches the last good checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-ckpt-'));
    const good = await saveCheckpoint(dir, { step: 1, model: weights, config: { ok: true } });
    const before = readFileSync(join(good, 'model.safetensors'));
    // config with a BigInt: JSON.stringify throws after model.safetensors was written into the temp dir
    await expect(saveCheckpoint(dir, { step: 2, model: weights, config: { bad: 1n } })).rejects.toThrow(/BigInt/);
    // same step again, failing: the existing step-1 stays
    await expect(saveCheckpoint(dir, { step: 1, model: weights, config: { bad: 1n } })).rejects.toThrow(/BigInt/);
    expect(listCheckpoints(dir)).toEqual([good]);
    expect(readFileSync(join(good, 'model.safetensors'))).toEqual(before);
    // what a killed process leaves behind (a partial temp dir) is ignored by readers and pruned
    mkdirSync(join(dir, '.tmp-step-00000003-1-x'));
    writeFileSync(join(dir, '.tmp-step-00000003-1-x', 'model.safetensors'), 'trunc');
    expect(latestCheckpoint(dir)).toBe(good);
    expect(loadCheckpoint(dir).config).toEqual({ ok: true });
    pruneCheckpoints(dir, 1);
    expect(existsSync(join(dir, '.tmp-step-00000003-1-x'))).toBe(false);
  });

  it('keeps the last K', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-ckpt-'));
    for (const step of [5, 10, 15, 20]) await saveCheckpoint(dir, { step, model: weights, config: {} });
    const removed = pruneCheckpoints(dir, 2);
    expect(removed.map((p) => p.split(/[\\/]/).at(-1))).toEqual(['step-00000005', 'step-00000010']);
    expect(listCheckpoints(dir).map((p) => p.split(/[\\/]/).at(-1))).toEqual(['step-00000015', 'step-00000020']);
    expect(() => loadCheckpoint(join(dir, 'nothing-here'))).toThrow(/nothing-here: no such file or directory/);
    mkdirSync(join(dir, 'empty'));
    expect(() => loadCheckpoint(join(dir, 'empty'))).toThrow(/empty: no step-\* checkpoint in this directory/);
  });

  it('a damaged file (seeded corrupted copies of each) loads or gives a CheckpointError naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-ckpt-'));
    const weights = { 'w.a': { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] }, 'w.b': { data: new Float32Array([7]), shape: [1] } };
    const path = await saveCheckpoint(dir, { step: 3, model: weights, config: { width: 16 }, rng: new Rng(5), data: { position: 2 } });
    for (const file of ['model.safetensors', 'state.json', 'config.json']) {
      const good = readFileSync(join(path, file));
      let refused = 0;
      for (const copy of corruptedCopies(good, 150, 9)) {
        writeFileSync(join(path, file), copy);
        try {
          const ck = loadCheckpoint(path);
          expect(Number.isSafeInteger(ck.step), file).toBe(true);
        } catch (e) {
          expect(e, `${file}: ${String(e)}`).toBeInstanceOf(CheckpointError);
          expect((e as Error).message).toContain(file);
          refused++;
        }
      }
      writeFileSync(join(path, file), good);
      expect(refused, file).toBeGreaterThan(0);
    }
    expect(loadCheckpoint(path).step).toBe(3);
    const state = JSON.parse(readFileSync(join(path, 'state.json'), 'utf8'));
    for (const rng of [{ s: [1, 2, 3], spare: null }, { s: [1, 2, 3, 2 ** 32], spare: null }, { s: [0, 0, 0, 0], spare: null }, { s: [1, 2, 3, 4], spare: 'x' }, 7]) {
      writeFileSync(join(path, 'state.json'), JSON.stringify({ ...state, rng }));
      expect(() => loadCheckpoint(path), JSON.stringify(rng)).toThrow(/state\.json rng: .*rng state/);
    }
    writeFileSync(join(path, 'state.json'), JSON.stringify({ ...state, step: -1 }));
    expect(() => loadCheckpoint(path)).toThrow(/state\.json step -1/);
    writeFileSync(join(path, 'state.json'), 'null');
    expect(() => loadCheckpoint(path)).toThrow(/state\.json format/);
  });
});
