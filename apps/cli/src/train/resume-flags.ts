import { resolve } from 'node:path';
import { InvalidArgumentError } from '@omnitok/core';
import type { PresetRef } from './presets.js';
import type { RunConfig, TrainOptions } from './run-train.js';

/**
 * `train --resume` continues a run exactly as it was started: its model, data, pairs, presets and
 * training settings come from the checkpoint's config.json. A flag that would set one of those
 * (given on the command line, `explicit`) with another value than the run's is refused rather than
 * silently ignored — `--lr 0.01` on a run at 0.003 would otherwise go on at 0.003. The same value is
 * accepted (re-running the first command line plus `--resume` works), and settings that do not shape
 * the run (`--backend`, `--grad-checkpointing`, `--keep`, `--eval-every`, `--checkpoint-every`,
 * `--concurrency`, …) may change. The length of the run may change too (`--steps` / `--epochs`: a new
 * end past the checkpoint's step, the learning-rate schedule recomputed over it, as open_clip's
 * scheduler is on a resume with other epochs; runTrain checks that it lies past the checkpoint).
 */
export function checkResumeFlags(explicit: ReadonlySet<string>, opts: TrainOptions, flagPresets: ReadonlyMap<string, PresetRef>, saved: RunConfig, cwd: string): void {
  const t = saved.train;
  const samePath = (a: string, b: string) => a === b || resolve(cwd, a) === resolve(cwd, b);
  const checks: [flag: string, given: unknown, own: unknown, same?: (given: never, own: never) => boolean][] = [
    ['--model', opts.model, saved.modelName, samePath],
    ['--data', opts.data, saved.data, (a: string, b: string) => (b === 'demo' ? a === 'demo' : samePath(a, b))],
    ['--pair', opts.pairs, saved.pairs],
    ['--objective', opts.objective, t.objective],
    ['--batch-size', opts.batchSize, t.batchSize],
    ['--max-patches', opts.maxPatches, (saved.presets.image as { maxPatches?: number } | null | undefined)?.maxPatches],
    ['--lock', opts.lock ?? [], saved.model.locked ?? []],
    ['--lr', opts.lr, t.lr],
    ['--warmup', opts.warmup, t.warmup],
    ['--weight-decay', opts.weightDecay, t.weightDecay],
    ['--clip-norm', opts.clipNorm, t.clipNorm],
    ['--matmul-precision', opts.matmulPrecision, t.matmulPrecision ?? 'f32'],
    ['--grad-cache-chunk', opts.gradCacheChunk, t.gradCacheChunk],
    ['--seed', opts.seed, t.seed],
    ['--shuffle-buffer', opts.shuffleBuffer, t.shuffleBuffer],
    ['--augment', opts.augment, t.augment],
    ['--eval-fraction', opts.evalFraction, t.evalFraction],
  ];
  for (const [flag, given, own, same] of checks) {
    if (!explicit.has(flag)) continue;
    const equal = same ? (same as (a: unknown, b: unknown) => boolean)(given, own) : JSON.stringify(given) === JSON.stringify(own);
    if (!equal) throw refused(flag, given, own);
  }
  if (explicit.has('--preset')) {
    for (const [modality, preset] of flagPresets) {
      const own = saved.presets[modality] ?? null;
      if (JSON.stringify(preset) !== JSON.stringify(own)) throw refused('--preset', `${modality}=${typeof preset === 'string' ? preset : (preset.name ?? 'FILE.json')}`, own === null ? 'none' : typeof own === 'string' ? own : (own.name ?? 'a custom preset'));
    }
  }
}

function refused(flag: string, given: unknown, own: unknown): InvalidArgumentError {
  const shown = typeof own === 'string' ? own : JSON.stringify(own ?? null);
  return new InvalidArgumentError(flag, given, `the resumed run's own ${shown} or no ${flag} (a resumed run keeps the settings it was started with; start a new --out to change them)`);
}
