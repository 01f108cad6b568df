import { type AnyModalityPlugin, preprocessToTokens, type TokenSequence } from '@omnitok/core';
import type { TokensConfig } from '@omnitok/core/runtime';
import type { PreparedSample, Prepare } from '../data/loader.js';
import { fieldInput, type RawRecord, TrainDataError } from '../data/records.js';
import type { PresetRef } from './presets.js';

/** How one modality of a run is tokenized. */
export interface ModalitySetup {
  readonly modality: string;
  readonly plugin: AnyModalityPlugin;
  readonly preset: PresetRef | undefined;
}

/** The token layout of a modality, fixed by its preset; every sample must match it. */
export type TokenShape = { kind: 'continuous'; count: number; dim: number; grid?: number[] } | { kind: 'discrete'; count: number; vocabSize: number };

export function tokenShapeOf(t: TokenSequence): TokenShape {
  if (t.kind === 'continuous') return { kind: 'continuous', count: t.shape[0], dim: t.shape[1], ...(t.grid.length > 0 && t.grid.reduce((a, b) => a * b, 1) === t.shape[0] ? { grid: [...t.grid] } : {}) };
  return { kind: 'discrete', count: t.shape[0], vocabSize: t.vocabSize };
}

/** The token layout a tower's config expects (`config.model.towers[m].tokens`). */
export function towerTokenShape(tokens: TokensConfig): TokenShape {
  return tokens.kind === 'continuous' ? { kind: 'continuous', count: tokens.count, dim: tokens.dim, ...(tokens.grid ? { grid: [...tokens.grid] } : {}) } : { kind: 'discrete', count: tokens.count, vocabSize: tokens.vocabSize };
}

/** Same kind, count and width (dim or vocabulary); the grid is not compared. */
function sameShape(a: TokenShape, b: TokenShape): boolean {
  return a.kind === b.kind && a.count === b.count && (a.kind === 'continuous' ? a.dim === (b as { dim: number }).dim : a.vocabSize === (b as { vocabSize: number }).vocabSize);
}

/** decode → preprocess(preset) → tokenize of one value through its plugin (its fused path when it has one). */
export async function tokenizeValue(setup: ModalitySetup, input: Parameters<AnyModalityPlugin['decode']>[0], options: { augment?: boolean; seed?: number } = {}): Promise<TokenSequence> {
  const { plugin, preset } = setup;
  return preprocessToTokens(plugin, await plugin.decode(input), preset as never, options);
}

/**
 * Tokenizes each setup's field of a record. Throws `TrainDataError` on a missing field, an empty text or
 * tokens of another layout than `shapes` holds for the modality (a modality missing from `shapes` is
 * recorded from this record), and a decode failure as the plugin threw it.
 */
export async function tokenizeRecord(setups: readonly ModalitySetup[], record: RawRecord, shapes: Map<string, TokenShape>, options: { augment?: boolean; seed?: number } = {}): Promise<Record<string, TokenSequence>> {
  const tokens: Record<string, TokenSequence> = {};
  for (const setup of setups) {
    const m = setup.modality;
    const value = record.fields[m];
    if (!value) throw new TrainDataError(`no ${m} field (has ${Object.keys(record.fields).join(', ') || 'none'})`);
    if (value.kind === 'text' && value.text.trim() === '') throw new TrainDataError(`empty ${m} (caption)`);
    const t = await tokenizeValue(setup, fieldInput(value), options);
    const shape = tokenShapeOf(t);
    const want = shapes.get(m);
    if (!want) shapes.set(m, shape);
    else if (!sameShape(want, shape)) throw new TrainDataError(`${m}: tokens ${JSON.stringify(shape)} differ from the run's ${JSON.stringify(want)}`);
    tokens[m] = t;
  }
  return tokens;
}

/**
 * The loader's `prepare`: `tokenizeRecord` (a throw → the sample is skipped and named in
 * skipped.jsonl), the first record fixing each modality's token layout when the run has none yet.
 */
export function makePrepare(setups: readonly ModalitySetup[], shapes: Map<string, TokenShape>, augment: boolean): Prepare {
  return async (record: RawRecord, seed: number): Promise<PreparedSample> => ({ key: record.key, label: record.label, tokens: await tokenizeRecord(setups, record, shapes, { augment, seed }) });
}
