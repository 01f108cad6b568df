import { BadPresetError } from '@omnitok/core';
import type { MelScale } from './mel-filters.js';
import { WINDOW_KINDS, type WindowKind } from './window.js';

/**
 * An audio preset: plain JSON that says how waveform becomes a log-mel spectrogram and how the
 * spectrogram is cut into patches. Every field is validated (`validateAudioPreset`); a bad one throws
 * `BadPresetError` naming the field.
 *
 * Pipeline: mono (`channels`: the mean of the channels, or the first) → resample to `sampleRate` →
 * (`subtractMean`) → frames → window → |FFT|²
 * → mel → log (floor `logFloor`) → (`dynamicRange`: clamp to max − range) → pad/cut to `frames`
 * → `(x − mean) / std`.
 */
export interface AudioPreset {
  readonly name?: string;
  readonly description?: string;
  /** Rate the features are computed at (Hz); input is resampled to it. */
  readonly sampleRate: number;
  /**
   * `stft`: centered frames (reflect padding of nFft/2 on both sides, like torch.stft(center=True)),
   * window centered in nFft. `kaldi`: Kaldi framing (snip_edges: only whole frames), per-frame DC
   * removal and pre-emphasis, window zero-padded on the right to nFft.
   */
  readonly frontend: 'stft' | 'kaldi';
  /** FFT size (any even integer ≥ 4; non-powers of two use the mixed-radix FFT). */
  readonly nFft: number;
  /** Window length in samples (≤ nFft). */
  readonly winLength: number;
  /** Frame shift in samples. */
  readonly hop: number;
  readonly window: WindowKind;
  /** `stft` only: drop the last STFT frame (Whisper's `stft[..., :-1]`). */
  readonly dropLastFrame?: boolean;
  /** `kaldi` only: pre-emphasis coefficient in [0, 1] (0.97 in Kaldi). */
  readonly preemphasis?: number;
  /** `kaldi` only: subtract each frame's mean before pre-emphasis. */
  readonly removeDc?: boolean;
  /**
   * How multi-channel audio becomes mono: `mix` (default) averages the channels (Whisper's ffmpeg
   * `-ac 1`); `first` keeps channel 0, as torchaudio.compliance.kaldi.fbank does with the [C, T]
   * waveform the AST and ImageBind loaders pass it.
   */
  readonly channels?: 'mix' | 'first';
  /** Subtract the waveform mean first (AST / ImageBind data loaders; ImageBind does it per clip). */
  readonly subtractMean?: boolean;
  readonly mels: number;
  readonly melScale: MelScale;
  /** `slaney`: librosa's area normalization (Whisper); `none`: peak 1 triangles (Kaldi). */
  readonly melNorm: 'slaney' | 'none';
  readonly fmin: number;
  /** Upper mel edge in Hz; null means Nyquist, a value ≤ 0 is an offset from Nyquist (Kaldi's convention). */
  readonly fmax: number | null;
  readonly log: 'log10' | 'ln';
  /** Mel energies are floored at this before the log (Whisper 1e-10, Kaldi float32 epsilon). */
  readonly logFloor: number;
  /** Clamp the log spectrogram to `max − dynamicRange` (Whisper: 8); null to skip. */
  readonly dynamicRange: number | null;
  /** Output = (x − mean) / std. Whisper: mean −4, std 4; AST: −4.2677393 and 2 × 4.5689974. */
  readonly mean: number;
  readonly std: number;
  /** Frames per example (or per clip); null keeps the true length (no padding, no cutting). */
  readonly frames: number | null;
  /**
   * How short audio reaches `frames`:
   * - `waveform`: pad the waveform with zeros to frames·hop samples before the STFT (Whisper's pad_or_trim);
   * - `features`: pad the log-mel with 0 before normalization (the AST / ImageBind data loaders);
   * - `mask`: pad the normalized features with 0 and record `validFrames`, so tokens lying wholly in
   *   the padding get mask 0.
   * Long audio is cut to `frames` in every mode.
   */
  readonly pad: 'waveform' | 'features' | 'mask';
  /**
   * ImageBind-style clips: `count` clips of `seconds`, spread over the whole input with pytorchvideo's
   * ConstantClipsPerVideoSampler (starts at i · max(duration − seconds, 0) / count). Features get a
   * leading `clip` axis. null for one example over the whole (cut) input.
   */
  readonly clips: { readonly count: number; readonly seconds: number } | null;
  /**
   * Patches `[freq, time]` cut from `[mels, frames]` with `stride [freq, time]`, like
   * Conv2d(1, D, kernel=size, stride=stride) on a `[1, mels, frames]` image.
   */
  readonly patch: { readonly size: readonly [number, number]; readonly stride: readonly [number, number] };
}

const whisper = (mels: 80 | 128): AudioPreset => ({
  name: `whisper-${mels}`,
  description: `OpenAI Whisper log-mel (${mels} bins, 30 s, 3000 frames); tokens are 20 ms slices of all mel bins (1500 positions)`,
  sampleRate: 16000,
  frontend: 'stft',
  nFft: 400,
  winLength: 400,
  hop: 160,
  window: 'hann-periodic',
  dropLastFrame: true,
  mels,
  melScale: 'slaney',
  melNorm: 'slaney',
  fmin: 0,
  fmax: 8000,
  log: 'log10',
  logFloor: 1e-10,
  dynamicRange: 8,
  mean: -4,
  std: 4,
  frames: 3000,
  pad: 'waveform',
  clips: null,
  patch: { size: [mels, 2], stride: [mels, 2] },
});

const kaldiFbank = {
  sampleRate: 16000,
  frontend: 'kaldi',
  nFft: 512,
  winLength: 400,
  hop: 160,
  window: 'hann',
  preemphasis: 0.97,
  removeDc: true,
  subtractMean: true,
  channels: 'first',
  mels: 128,
  melScale: 'kaldi',
  melNorm: 'none',
  fmin: 20,
  fmax: null,
  log: 'ln',
  logFloor: 1.1920928955078125e-7,
  dynamicRange: null,
} as const;

/** The named presets. */
export const AUDIO_PRESETS: Readonly<Record<string, AudioPreset>> = Object.freeze({
  'whisper-80': whisper(80),
  'whisper-128': whisper(128),
  ast: {
    name: 'ast',
    description: 'Audio Spectrogram Transformer: Kaldi fbank 128 × 1024 frames, 16×16 patches, stride 10 → 12 × 101',
    ...kaldiFbank,
    mean: -4.2677393,
    std: 2 * 4.5689974,
    frames: 1024,
    pad: 'features',
    clips: null,
    patch: { size: [16, 16], stride: [10, 10] },
  },
  imagebind: {
    name: 'imagebind',
    description: 'ImageBind audio: 3 clips of 2 s spread over the file, Kaldi fbank 128 × 204, 16×16 patches stride 10',
    ...kaldiFbank,
    mean: -4.268,
    std: 9.138,
    frames: 204,
    pad: 'features',
    clips: { count: 3, seconds: 2 },
    patch: { size: [16, 16], stride: [10, 10] },
  },
});

export const DEFAULT_AUDIO_PRESET = 'whisper-80';

/** Throws `BadPresetError` naming the first bad field of `preset`; returns it typed otherwise. */
export function validateAudioPreset(preset: unknown, name: string): AudioPreset {
  const bad = (field: string, reason: string): never => {
    throw new BadPresetError('audio', name, { field, reason });
  };
  if (typeof preset !== 'object' || preset === null || Array.isArray(preset)) bad('(preset)', 'must be an object');
  const p = preset as Record<string, unknown>;
  const posInt = (field: string, min = 1): number => {
    const v = p[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) bad(field, `must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const num = (field: string, ok: (v: number) => boolean, what: string): number => {
    const v = p[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) bad(field, `must be ${what}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const oneOf = <T extends string>(field: string, options: readonly T[]): T => {
    const v = p[field];
    if (typeof v !== 'string' || !options.includes(v as T)) bad(field, `must be one of ${options.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  };
  const optBool = (field: string): void => {
    if (p[field] !== undefined && typeof p[field] !== 'boolean') bad(field, `must be a boolean, got ${JSON.stringify(p[field])}`);
  };

  const rate = posInt('sampleRate', 1000);
  const frontend = oneOf('frontend', ['stft', 'kaldi'] as const);
  const nFft = posInt('nFft', 4);
  if (nFft % 2 !== 0) bad('nFft', `must be even, got ${nFft}`);
  const winLength = posInt('winLength', 2);
  if (winLength > nFft) bad('winLength', `must be ≤ nFft (${nFft}), got ${winLength}`);
  posInt('hop');
  oneOf('window', WINDOW_KINDS);
  optBool('dropLastFrame');
  optBool('removeDc');
  optBool('subtractMean');
  if (p.channels !== undefined) oneOf('channels', ['mix', 'first'] as const);
  if (p.preemphasis !== undefined) num('preemphasis', (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  if (frontend === 'stft' && (p.preemphasis ?? 0) !== 0) bad('preemphasis', 'is only supported by the kaldi frontend');
  const mels = posInt('mels', 1);
  const scale = oneOf('melScale', ['slaney', 'htk', 'kaldi'] as const);
  if (scale === 'kaldi' && mels < 4) bad('mels', `must be ≥ 4 for the kaldi mel scale, got ${mels}`);
  oneOf('melNorm', ['slaney', 'none'] as const);
  const nyquist = rate / 2;
  const fmin = num('fmin', (v) => v >= 0 && v < nyquist, `a frequency in [0, ${nyquist}) Hz`);
  if (p.fmax !== null && p.fmax !== undefined) {
    const fmax = num('fmax', (v) => (v <= 0 ? nyquist + v : v) <= nyquist, `≤ Nyquist (${nyquist} Hz) or an offset ≤ 0 from it`);
    if (resolveFmax(fmax, rate) <= fmin) bad('fmax', `must be above fmin (${fmin} Hz), got ${fmax}`);
  }
  oneOf('log', ['log10', 'ln'] as const);
  num('logFloor', (v) => v > 0, 'a positive number');
  if (p.dynamicRange !== null && p.dynamicRange !== undefined) num('dynamicRange', (v) => v > 0, 'a positive number or null');
  num('mean', () => true, 'a finite number');
  num('std', (v) => v !== 0, 'a non-zero number');
  if (p.frames !== null) posInt('frames');
  const pad = oneOf('pad', ['waveform', 'features', 'mask'] as const);
  if (pad === 'waveform' && frontend !== 'stft') bad('pad', '"waveform" needs the stft frontend (use "features" or "mask")');
  if (p.clips !== null && p.clips !== undefined) {
    const c = p.clips as Record<string, unknown>;
    if (typeof c !== 'object' || !Number.isInteger(c.count) || (c.count as number) < 1) bad('clips.count', `must be an integer ≥ 1, got ${JSON.stringify(c?.count)}`);
    if (typeof c.seconds !== 'number' || !(c.seconds > 0)) bad('clips.seconds', `must be a positive number, got ${JSON.stringify(c.seconds)}`);
    if (p.frames === null) bad('frames', 'must be set when clips are used');
  }
  const patch = p.patch as { size?: unknown; stride?: unknown } | undefined;
  if (typeof patch !== 'object' || patch === null) bad('patch', 'must be { size: [freq, time], stride: [freq, time] }');
  for (const key of ['size', 'stride'] as const) {
    const v = patch![key];
    if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => Number.isInteger(x) && x >= 1)) {
      bad(`patch.${key}`, `must be two positive integers [freq, time], got ${JSON.stringify(v)}`);
    }
  }
  if ((patch!.size as number[])[0]! > mels) bad('patch.size', `freq size must be ≤ mels (${mels}), got ${(patch!.size as number[])[0]}`);
  if (p.frames !== null && (patch!.size as number[])[1]! > (p.frames as number)) bad('patch.size', `time size must be ≤ frames (${p.frames})`);
  return preset as AudioPreset;
}

export function resolveFmax(fmax: number | null | undefined, sampleRate: number): number {
  if (fmax === null || fmax === undefined) return sampleRate / 2;
  return fmax <= 0 ? sampleRate / 2 + fmax : fmax;
}

/** Seconds of input a preset looks at from the start: null when it needs the whole input (clips, no frame limit). */
export function presetWindowSeconds(preset: AudioPreset): number | null {
  if (preset.clips || preset.frames === null) return null;
  const samples = preset.frontend === 'stft' ? preset.frames * preset.hop : (preset.frames - 1) * preset.hop + preset.winLength;
  return samples / preset.sampleRate;
}
