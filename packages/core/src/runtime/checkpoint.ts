import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors/index.js';
import * as tf from '@tensorflow/tfjs';
import { bytesOf, checkShape, dtypeOf, type DType } from '../io/dtype.js';
import { type DenseArray, decodeSafetensors, encodeSafetensorsHeader } from '../io/index.js';
import { CheckpointError } from './errors.js';
import type { Module } from './module.js';
import type { AdamW } from './optim.js';
import { Rng, type RngState } from './rng.js';

/*
 * Checkpoint layout (one directory per step, inside a run directory):
 *
 *   <dir>/step-00000120/
 *     model.safetensors      weights by dotted parameter name, float32; __metadata__ {format, step}
 *     config.json            the model config (any JSON: an EncoderConfig, or {vision, text} for CLIP)
 *     optimizer.safetensors  AdamW moments `m.<param>`, `v.<param>`; __metadata__ {format, step}   (optional)
 *     state.json             {format, step, rng, data, extra}: RNG state, data-loader position, anything
 *
 * Atomicity: everything is written into `<dir>/.tmp-step-…` (each file fsynced, then the directory), which
 * is renamed to `step-…` in one step and the parent fsynced. A crash mid-write leaves at most a `.tmp-*`
 * directory, which readers ignore: the last good `step-*` is never touched until the new one is complete.
 */
export const CHECKPOINT_FORMAT = 'omnitok-runtime-checkpoint/1';

export interface CheckpointContents {
  readonly step: number;
  /** The model's weights, or the module to take them from. */
  readonly model: Module | Record<string, DenseArray>;
  readonly config: unknown;
  readonly optimizer?: AdamW;
  /** The run's random generator (dropout masks, shuffling) or its state. */
  readonly rng?: Rng | RngState;
  /** Data-loader position (epoch, index, shuffle seed…), any JSON. */
  readonly data?: unknown;
  readonly extra?: unknown;
}

export interface LoadedCheckpoint {
  readonly path: string;
  readonly step: number;
  readonly weights: Record<string, DenseArray>;
  readonly config: unknown;
  readonly optimizer?: { tensors: Record<string, DenseArray>; step: number };
  readonly rng?: RngState;
  readonly data?: unknown;
  readonly extra?: unknown;
}

const STEP_DIR = /^step-(\d+)$/;

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** Writes a checkpoint atomically; returns its directory. */
export async function saveCheckpoint(dir: string, contents: CheckpointContents): Promise<string> {
  if (!Number.isInteger(contents.step) || contents.step < 0) throw new InvalidArgumentError('step', contents.step, 'an integer ≥ 0');
  mkdirSync(dir, { recursive: true });
  const name = checkpointName(contents.step);
  const final = join(dir, name);
  const tmp = join(dir, `.tmp-${name}-${process.pid}-${Date.now().toString(36)}`);
  mkdirSync(tmp);
  try {
    const meta = { format: CHECKPOINT_FORMAT, step: String(contents.step) };
    // tensor by tensor from the device: a checkpoint of a large model never holds a second copy of it
    const weights = isModule(contents.model) ? [...contents.model.parameters()] : Object.entries(contents.model);
    await writeTensorsDurable(join(tmp, 'model.safetensors'), weights, meta);
    writeDurable(join(tmp, 'config.json'), utf8(`${JSON.stringify(contents.config, null, 2)}\n`));
    if (contents.optimizer) {
      const optimizerStep = contents.optimizer.stepCount;
      await writeTensorsDurable(join(tmp, 'optimizer.safetensors'), contents.optimizer.stateVariables(), { ...meta, optimizerStep: String(optimizerStep) });
    }
    const rng = contents.rng instanceof Rng ? contents.rng.state() : contents.rng;
    const state = { format: CHECKPOINT_FORMAT, step: contents.step, rng: rng ?? null, data: contents.data ?? null, extra: contents.extra ?? null };
    writeDurable(join(tmp, 'state.json'), utf8(`${JSON.stringify(state, null, 2)}\n`));
    fsyncPath(tmp);
    if (existsSync(final)) {
      // Same step saved again: move the old one aside first (rename cannot replace a non-empty dir).
      const old = join(dir, `.old-${name}-${process.pid}-${Date.now().toString(36)}`);
      renameSync(final, old);
      renameSync(tmp, final);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, final);
    }
    fsyncPath(dir);
    return final;
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
}

/** Reads a checkpoint directory (a `step-*` dir, or a run dir: then its latest checkpoint). */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  let dir = path;
  if (!existsSync(path)) throw new CheckpointError(path, 'no such file or directory');
  if (!STEP_DIR.test(basename(path))) {
    const latest = latestCheckpoint(path);
    if (!latest) throw new CheckpointError(path, 'no step-* checkpoint in this directory');
    dir = latest;
  }
  const read = (file: string): Uint8Array => {
    try {
      return readFileSync(join(dir, file));
    } catch (error) {
      throw new CheckpointError(dir, `cannot read ${file} (${(error as Error).message})`, { cause: error });
    }
  };
  const json = (file: string): unknown => {
    const bytes = read(file);
    try {
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (error) {
      throw new CheckpointError(dir, `${file}: unparsable JSON (${(error as Error).message})`, { cause: error });
    }
  };
  // a damaged file gets an error naming it (the CLI's resume then tries an older checkpoint)
  const tensors = (file: string) => {
    const bytes = read(file);
    try {
      return decodeSafetensors(bytes);
    } catch (error) {
      throw new CheckpointError(dir, `${file}: ${(error as Error).message}`, { cause: error });
    }
  };
  const raw = json('state.json');
  const config = json('config.json');
  const state = (typeof raw === 'object' && raw !== null ? raw : {}) as { format?: string; step?: unknown; rng?: RngState | null; data?: unknown; extra?: unknown };
  if (state.format !== CHECKPOINT_FORMAT) throw new CheckpointError(dir, `state.json format ${JSON.stringify(state.format)}, expected ${CHECKPOINT_FORMAT}`);
  if (state.step !== undefined && !(Number.isSafeInteger(state.step) && (state.step as number) >= 0)) throw new CheckpointError(dir, `state.json step ${JSON.stringify(state.step)}, expected an integer ≥ 0`);
  if (state.rng != null) {
    try {
      Rng.fromState(state.rng);
    } catch (error) {
      throw new CheckpointError(dir, `state.json rng: ${(error as Error).message}`, { cause: error });
    }
  }
  const model = tensors('model.safetensors');
  let optimizer: LoadedCheckpoint['optimizer'];
  if (existsSync(join(dir, 'optimizer.safetensors'))) {
    const opt = tensors('optimizer.safetensors');
    optimizer = { tensors: opt.tensors, step: Number(opt.metadata.optimizerStep ?? state.step) };
  }
  return {
    path: dir,
    step: (state.step as number | undefined) ?? Number(model.metadata.step),
    weights: model.tensors,
    config,
    optimizer,
    rng: state.rng ?? undefined,
    data: state.data ?? undefined,
    extra: state.extra ?? undefined,
  };
}

/** Complete checkpoints in `dir`, oldest first. */
export function listCheckpoints(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && STEP_DIR.test(d.name))
    .map((d) => ({ name: d.name, step: Number(STEP_DIR.exec(d.name)![1]) }))
    .sort((a, b) => a.step - b.step)
    .map((d) => join(dir, d.name));
}

/** The newest complete checkpoint in `dir`, if any. */
export function latestCheckpoint(dir: string): string | undefined {
  return listCheckpoints(dir).at(-1);
}

/** Keeps the newest `keep` checkpoints (and removes leftovers of interrupted writes); returns what was removed. */
export function pruneCheckpoints(dir: string, keep: number): string[] {
  if (!Number.isInteger(keep) || keep < 1) throw new InvalidArgumentError('keep', keep, 'an integer ≥ 1');
  const all = listCheckpoints(dir);
  const removed = all.slice(0, Math.max(all.length - keep, 0));
  if (existsSync(dir)) {
    for (const d of readdirSync(dir)) if (d.startsWith('.tmp-step-') || d.startsWith('.old-step-')) removed.push(join(dir, d));
  }
  for (const d of removed) rmSync(d, { recursive: true, force: true });
  return removed;
}

/**
 * A safetensors file written tensor by tensor (each read from its variable, or taken as the array it
 * is, then written and dropped), then fsynced: the bytes of `encodeSafetensors` of the same tensors.
 */
async function writeTensorsDurable(path: string, tensors: readonly [string, tf.Variable | DenseArray][], metadata: Record<string, string>): Promise<void> {
  const dtypeOfVariable = (v: tf.Variable) => (v.dtype === 'float32' ? 'F32' : v.dtype === 'int32' ? 'I32' : undefined);
  const specs: Record<string, { dtype: DType; shape: readonly number[] }> = {};
  for (const [name, t] of tensors) {
    if (t instanceof tf.Variable) {
      const dtype = dtypeOfVariable(t);
      if (!dtype) throw new InvalidArgumentError(`${name}.dtype`, t.dtype, 'float32 or int32');
      specs[name] = { dtype, shape: t.shape };
    } else {
      checkShape(t.data, t.shape, `${name}.shape`);
      specs[name] = { dtype: dtypeOf(t.data).dtype, shape: t.shape };
    }
  }
  const fd = openSync(path, 'w');
  try {
    const write = (bytes: Uint8Array) => {
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    };
    write(encodeSafetensorsHeader(specs, metadata));
    for (const [, t] of tensors) write(bytesOf(t instanceof tf.Variable ? ((await t.data()) as Float32Array | Int32Array) : t.data));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeDurable(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    let at = 0;
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncPath(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot fsync a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function basename(path: string): string {
  return path.replace(/[\\/]+$/, '').split(/[\\/]/).at(-1) ?? path;
}

function isModule(x: unknown): x is Module {
  return typeof (x as Module).stateDict === 'function' && typeof (x as Module).parameters === 'function';
}
