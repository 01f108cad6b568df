import { describe, expect, it } from 'vitest';
import { BadPresetError } from '../errors/bad-preset-error.js';
import { isOmniError } from '../errors/omni-error.js';
import { normalizeInput, readInputBytes } from '../plugin/input.js';
import type { AnyModalityPlugin, ModalityInput, PreprocessOptions } from '../plugin/modality-plugin.js';
import { createModalityRegistry } from '../plugin/registry.js';
import type { Features, TokenSequence } from '../plugin/token-sequence.js';
import { corruptedCopies } from './corrupt-bytes.js';

/** What the conformance suite feeds a plugin. */
export interface ConformanceFixtures {
  /** Valid inputs (paths, bytes or `{ text }`); each runs through decode → preprocess → tokenize. */
  readonly inputs: readonly ModalityInput[];
  /** Presets to run; default: every preset of the plugin. */
  readonly presets?: readonly string[];
  /**
   * Inputs that must fail with a typed omnitok error (an `OmniError`). Default: zero bytes and 64 bytes
   * of noise. A plugin that accepts any bytes (text) passes `[]` and documents why.
   */
  readonly garbage?: readonly ModalityInput[];
  /** Seed used for the determinism check (with `augment: true` when `augment` is set). */
  readonly seed?: number;
  /** Also check that seeded augmentation is deterministic. */
  readonly augment?: boolean;
  /**
   * Corrupted copies of each file input (a path or bytes) to run (see `corruptedCopies`): each must
   * tokenize or fail with an `OmniError` — never crash the process, hang or throw anything else.
   * Default 12 per input; 0 skips the check.
   */
  readonly corruptions?: number;
  /** Per-test timeout in ms (decoding video is slow). Default 30 s. */
  readonly timeout?: number;
}

const noise = Uint8Array.from({ length: 64 }, (_, i) => (i * 151 + 7) & 0xff);

/**
 * The conformance suite every modality plugin passes. Call it at the top level of a test file:
 *
 * ```ts
 * import { describeModalityPlugin } from '@omnitok/core/testing';
 * describeModalityPlugin(imageTokenizer(), { inputs: [fixture('cat.jpg')] });
 * ```
 *
 * It checks: the spec version and registry acceptance; JSON-serializable presets; for every input and
 * preset, that decode → preprocess → tokenize produce arrays whose shapes agree with each other, with
 * `describeTokens` when the plugin declares it, and with the metadata (modality, preset); finite values
 * and in-range ids; determinism for a fixed seed; `preprocessAndTokenize`, when present, equal to the two stages; typed errors on garbage input and unknown presets;
 * corrupted copies of the file inputs either tokenizing or failing with typed errors (no crash); and
 * that a run leaves no open handles (files, child processes, sockets) behind.
 */
export function describeModalityPlugin(plugin: AnyModalityPlugin, fixtures: ConformanceFixtures): void {
  const presets = fixtures.presets ?? Object.keys(plugin.presets ?? {});
  const timeout = fixtures.timeout ?? 30_000;
  const run = async (input: ModalityInput, preset: string, options?: PreprocessOptions) => {
    const decoded = await plugin.decode(input);
    const features: Features = await plugin.preprocess(decoded, preset, options);
    const tokens: TokenSequence = plugin.tokenize(features);
    return { features, tokens };
  };

  describe(`modality plugin conformance: ${plugin?.name ?? '(unnamed)'}`, () => {
    it('declares spec version 1 and is accepted by a registry', () => {
      expect(plugin.specVersion).toBe(1);
      expect(() => createModalityRegistry([plugin])).not.toThrow();
      expect(typeof plugin.modality).toBe('string');
      expect(plugin.tokenKind === 'continuous' || plugin.tokenKind === 'discrete').toBe(true);
    });

    it('has JSON-serializable presets and a default among them', () => {
      expect(JSON.parse(JSON.stringify(plugin.presets))).toEqual(plugin.presets);
      expect(Object.keys(plugin.presets)).toContain(plugin.defaultPreset);
      expect(presets.length).toBeGreaterThan(0);
      for (const p of presets) expect(Object.keys(plugin.presets)).toContain(p);
    });

    it('declares file types as lower-case extensions without dots', () => {
      for (const sig of plugin.fileTypes) {
        expect(sig.format.length).toBeGreaterThan(0);
        for (const ext of sig.extensions) expect(ext).toMatch(/^[a-z0-9]+$/);
      }
    });

    it('needs at least one valid input fixture', () => {
      expect(fixtures.inputs.length).toBeGreaterThan(0);
    });

    for (const preset of presets) {
      it(`decode → preprocess → tokenize agree on shapes with preset ${preset}`, async () => {
        for (const input of fixtures.inputs) {
          const { features, tokens } = await run(input, preset);
          expect(features.shape.length).toBe(features.axes.length);
          expect(features.data.length).toBe(features.shape.reduce((a, b) => a * b, 1));
          expect(features.modality).toBe(plugin.modality);
          expect(features.preset).toBe(preset);
          expect(tokens.modality).toBe(plugin.modality);
          expect(tokens.preset).toBe(preset);
          expect(tokens.kind).toBe(plugin.tokenKind);
          const spec = plugin.describeTokens?.(preset);
          if (spec) expect(spec.kind).toBe(tokens.kind);
          if (tokens.kind === 'continuous') {
            const [n, dim] = tokens.shape;
            expect(tokens.data.length).toBe(n * dim);
            expect(tokens.positions.length).toBe(n * tokens.grid.length);
            if (!tokens.mask) expect(tokens.grid.reduce((a, b) => a * b, 1)).toBe(n);
            for (let i = 0; i < tokens.data.length; i++) if (!Number.isFinite(tokens.data[i]!)) throw new Error(`token value ${i} is ${tokens.data[i]}`);
            if (spec?.dim !== undefined) expect(dim).toBe(spec.dim);
            if (spec?.tokens !== undefined) (spec.variable ? expect(n).toBeLessThanOrEqual(spec.tokens) : expect(n).toBe(spec.tokens));
            if (spec?.grid && !spec.variable) expect([...tokens.grid]).toEqual([...spec.grid]);
          } else {
            expect(tokens.mask.length).toBe(tokens.ids.length);
            expect(tokens.length).toBeLessThanOrEqual(tokens.ids.length);
            for (const id of tokens.ids) {
              expect(Number.isInteger(id)).toBe(true);
              expect(id >= 0 && id < tokens.vocabSize).toBe(true);
            }
            if (spec?.vocabSize !== undefined) expect(tokens.vocabSize).toBe(spec.vocabSize);
            if (spec?.tokens !== undefined) expect(tokens.ids.length).toBe(spec.tokens);
          }
        }
      }, timeout);
    }

    it('is deterministic for a fixed seed', async () => {
      const options = { seed: fixtures.seed ?? 1234, augment: fixtures.augment ?? false };
      const input = fixtures.inputs[0]!;
      const a = await run(input, plugin.defaultPreset, options);
      const b = await run(input, plugin.defaultPreset, options);
      expect(Buffer.from(a.features.data.buffer, a.features.data.byteOffset, a.features.data.byteLength).equals(Buffer.from(b.features.data.buffer, b.features.data.byteOffset, b.features.data.byteLength))).toBe(true);
      const bytes = (t: TokenSequence) => (t.kind === 'continuous' ? Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength) : Buffer.from(t.ids.buffer, t.ids.byteOffset, t.ids.byteLength));
      expect(bytes(a.tokens).equals(bytes(b.tokens))).toBe(true);
    }, timeout);

    if (typeof plugin.preprocessAndTokenize === 'function') {
      it('preprocessAndTokenize gives the tokens of tokenize(preprocess(…)), bit for bit, for every preset', async () => {
        const options = { seed: fixtures.seed ?? 1234, augment: fixtures.augment ?? false };
        const bytes = (t: TokenSequence) => (t.kind === 'continuous' ? Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength) : Buffer.from(t.ids.buffer, t.ids.byteOffset, t.ids.byteLength));
        for (const preset of presets) {
          const input = fixtures.inputs[0]!;
          const { tokens } = await run(input, preset, options);
          const fused: TokenSequence = await plugin.preprocessAndTokenize!(await plugin.decode(input), preset, options);
          expect(fused.kind, preset).toBe(tokens.kind);
          expect(fused.shape, preset).toEqual(tokens.shape);
          if (fused.kind === 'continuous' && tokens.kind === 'continuous') expect(fused.grid, preset).toEqual(tokens.grid);
          expect(bytes(fused).equals(bytes(tokens)), `${preset}: fused tokens differ`).toBe(true);
        }
      }, timeout * Math.max(1, presets.length));
    }

    it('throws typed errors on garbage input', async () => {
      const garbage = fixtures.garbage ?? [new Uint8Array(0), noise];
      for (const input of garbage) {
        const error = await Promise.resolve()
          .then(() => run(input, plugin.defaultPreset))
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(error, `garbage input ${input instanceof Uint8Array ? `<${input.length} bytes>` : JSON.stringify(input)} was accepted`).toBeDefined();
        expect(isOmniError(error), `not an OmniError: ${String(error)}`).toBe(true);
      }
    }, timeout);

    const corruptions = fixtures.corruptions ?? 12;
    if (corruptions > 0) {
      it(`tokenizes or throws typed errors on ${corruptions} corrupted copies of each file input`, async () => {
        const fileInputs = fixtures.inputs.map(normalizeInput).filter((norm) => norm.kind !== 'text');
        const files = await Promise.all(fileInputs.map(async (norm) => (await readInputBytes(norm, plugin.modality)).bytes));
        for (const [f, file] of files.entries()) {
          for (const [c, copy] of corruptedCopies(file, corruptions, f + 1).entries()) {
            const what = `corrupted copy ${c} of file input ${f} (<${copy.length} bytes>)`;
            const outcome = await Promise.resolve()
              .then(() => run(copy, plugin.defaultPreset))
              .then(
                ({ tokens }) => ({ tokens }),
                (error: unknown) => ({ error }),
              );
            if ('error' in outcome) {
              expect(isOmniError(outcome.error), `${what}: not an OmniError: ${String(outcome.error)}`).toBe(true);
            } else if (outcome.tokens.kind === 'continuous') {
              const { data } = outcome.tokens;
              for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) throw new Error(`${what}: token value ${i} is ${data[i]}`);
            }
          }
        }
      }, timeout * 4);
    }

    it('throws BadPresetError naming the known presets for an unknown preset', async () => {
      const decoded = await plugin.decode(fixtures.inputs[0]!);
      const error = await Promise.resolve()
        .then(() => plugin.preprocess(decoded, 'no-such-preset-xyz'))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(BadPresetError);
      expect((error as BadPresetError).message).toContain(plugin.defaultPreset);
    }, timeout);

    it('leaves no open handles behind', async () => {
      const count = () => process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'Immediate').length;
      const before = count();
      for (const input of fixtures.inputs) await run(input, plugin.defaultPreset);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(count()).toBeLessThanOrEqual(before);
    }, timeout);
  });
}
