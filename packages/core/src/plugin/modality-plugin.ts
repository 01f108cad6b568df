import type { Features, TokenSequence } from './token-sequence.js';

/** The version of the modality-plugin contract this package implements. */
export const MODALITY_SPEC_VERSION = 1;
export const SUPPORTED_SPEC_VERSIONS: readonly number[] = [MODALITY_SPEC_VERSION];

/**
 * What a plugin's `decode` accepts:
 * - a file path (`string`);
 * - bytes (`Uint8Array`; a Node `Buffer` is one);
 * - `{ path }`, `{ bytes, name? }` (name: a file name used for format hints and messages), or
 *   `{ text }` for modalities whose input is text itself (a plugin that takes no text throws
 *   `UnsupportedFormatError`).
 */
export type ModalityInput =
  | string
  | Uint8Array
  | { readonly path: string }
  | { readonly bytes: Uint8Array; readonly name?: string }
  | { readonly text: string };

/**
 * A byte pattern that identifies a format. `bytes` entries are matched at `offset` (default 0);
 * a `null` entry matches any byte (e.g. the size field inside a RIFF header).
 */
export interface MagicPattern {
  readonly offset?: number;
  readonly bytes: readonly (number | null)[];
}

/** One file format a plugin reads. */
export interface FileTypeSignature {
  /** Short name of the format: `png`, `wav`, `mp4`. */
  readonly format: string;
  /** Lower-case file extensions without the dot. */
  readonly extensions: readonly string[];
  readonly mimeType?: string;
  /** Any one matching pattern identifies the format; magic wins over the extension. */
  readonly magic?: readonly MagicPattern[];
}

/** Options every plugin's `decode` understands; plugins may accept more. */
export interface DecodeOptions {
  /** Aborts long decodes (ffmpeg, huge images). */
  readonly signal?: AbortSignal;
}

/** Options every plugin's `preprocess` understands; plugins may accept more. */
export interface PreprocessOptions {
  /** Turns on the preset's training augmentation. */
  readonly augment?: boolean;
  /** Seed for augmentation and any random sampling; the same seed gives the same output. */
  readonly seed?: number;
}

/**
 * The modality-plugin contract, version 1.
 *
 * A plugin turns one modality into tokens in three separate, individually callable stages:
 *
 *   input ──decode──▶ Decoded ──preprocess(preset)──▶ Features ──tokenize──▶ TokenSequence
 *
 * - `decode` reads a file or buffer into the modality's natural raw form (RGB pixels, PCM samples,
 *   frames, a string). It throws `DecodeError` for corrupt input and `UnsupportedFormatError` for a
 *   format it does not read, naming the input.
 * - `preprocess` applies a preset (resize / crop / normalize, resample / log-mel, …) exactly as the
 *   reference model does, producing the feature array (`[C, H, W]`, `[mels, frames]`, …). A preset is
 *   a name from `presets` or an inline object of the same shape; an unknown name or a bad field throws
 *   `BadPresetError`.
 * - `tokenize` cuts the features into the transformer's input: patch vectors or vocabulary ids.
 *
 * Plugins are plain objects made by factories (`imageTokenizer(options)`) and registered explicitly
 * with `createModalityRegistry([...])`; importing a plugin package registers nothing.
 * Presets are plain JSON data, so they can be printed, stored in checkpoints and diffed.
 */
export interface ModalityPlugin<
  Decoded = unknown,
  Preset extends object = object,
  F extends Features = Features,
  T extends TokenSequence = TokenSequence,
> {
  /** Always {@link MODALITY_SPEC_VERSION}; the registry refuses other versions. */
  readonly specVersion: 1;
  /** Unique name in a registry, e.g. `image` or `imu-ego4d`. */
  readonly name: string;
  /** The modality the tokens represent; several plugins may share one (`text` via BPE or bytes). */
  readonly modality: string;
  /** One line for `omnitok plugins list`. */
  readonly description?: string;
  /** Package version of the plugin, shown by the CLI. */
  readonly version?: string;
  /** Named presets, plain JSON data. */
  readonly presets: Readonly<Record<string, Preset>>;
  /** The preset used when none is given; a key of `presets`. */
  readonly defaultPreset: string;
  /** `continuous` (patch vectors) or `discrete` (ids). */
  readonly tokenKind: T['kind'];
  /** Formats `decode` reads; the registry routes files by these. */
  readonly fileTypes: readonly FileTypeSignature[];
  /** True when `decode` accepts `{ text }` input. */
  readonly acceptsText?: boolean;

  /**
   * Optional: what `tokenize` will produce for a preset, known before any input is seen (models size
   * their embedders from it). `tokens` is the fixed token count, or the maximum when inputs vary.
   * The conformance kit checks real outputs against it.
   */
  describeTokens?(preset?: string | Preset): TokenSpec;

  decode(input: ModalityInput, options?: DecodeOptions): Promise<Decoded>;
  preprocess(decoded: Decoded, preset?: string | Preset, options?: PreprocessOptions): F | Promise<F>;
  tokenize(features: F): T;
  /**
   * Optional: `tokenize(await preprocess(decoded, preset, options))` fused — the same tokens, bit for bit
   * (the conformance kit checks it), without materializing the features in between (the video plugin
   * writes frames straight into tubelet order). Callers that only want tokens use it when present.
   */
  preprocessAndTokenize?(decoded: Decoded, preset?: string | Preset, options?: PreprocessOptions): T | Promise<T>;
}

/** The token layout a preset yields: see {@link ModalityPlugin.describeTokens}. */
export interface TokenSpec {
  readonly kind: 'continuous' | 'discrete';
  /** Vector size of continuous tokens. */
  readonly dim?: number;
  /** Token count (fixed), or the maximum when `variable`. */
  readonly tokens?: number;
  readonly variable?: boolean;
  /** Grid of continuous tokens, when fixed. */
  readonly grid?: readonly number[];
  /** Vocabulary size of discrete tokens. */
  readonly vocabSize?: number;
}

/** A plugin of any type, as the registry and the CLI hold them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyModalityPlugin = ModalityPlugin<any, any, any, any>;

/** Identity function that gives a plugin object literal its full type. */
export function defineModalityPlugin<D, P extends object, F extends Features, T extends TokenSequence>(
  plugin: ModalityPlugin<D, P, F, T>,
): ModalityPlugin<D, P, F, T> {
  return plugin;
}

/**
 * Tokens of a decoded value: the plugin's fused `preprocessAndTokenize` when it has one, else
 * `tokenize(await preprocess(…))` — the same tokens either way (the conformance kit checks it).
 */
export async function preprocessToTokens<D, P extends object, T extends TokenSequence>(
  plugin: ModalityPlugin<D, P, Features, T>,
  decoded: D,
  preset?: string | P,
  options?: PreprocessOptions,
): Promise<T> {
  if (plugin.preprocessAndTokenize) return plugin.preprocessAndTokenize(decoded, preset, options);
  return plugin.tokenize(await plugin.preprocess(decoded, preset, options));
}
