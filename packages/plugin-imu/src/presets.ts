/**
 * An IMU preset: plain JSON. ImageBind's IMU encoder sees 6 channels (accelerometer xyz, gyroscope xyz)
 * at 200 Hz, 2000 samples (10 s), cut into 8-sample patches → 250 tokens of 6 × 8 = 48 values.
 */
export interface ImuPreset {
  /** Channels fed to the model, selected by name when the input names its columns. */
  readonly channels: readonly string[];
  /** Target sample rate in Hz; inputs at another rate are resampled. */
  readonly rate: number;
  /** Samples per window (crop longer inputs, pad shorter ones). */
  readonly length: number;
  /** Samples per token; must divide `length`. */
  readonly patch: number;
  /** `standardize`: per-channel z-score over the window; `none`; or fixed per-channel mean/std. */
  readonly normalize: 'none' | 'standardize' | { readonly mean: readonly number[]; readonly std: readonly number[] };
  /** Window placement in a longer input (`random` applies with `augment`, else `center`). */
  readonly crop: 'start' | 'center' | 'random';
  /** Shorter inputs: zero padding (`zero`), or zero padding with a token mask (`mask`). */
  readonly pad: 'zero' | 'mask';
}

export const IMU_CHANNELS = ['ax', 'ay', 'az', 'gx', 'gy', 'gz'] as const;

export const imuPresets = {
  imagebind: { channels: IMU_CHANNELS, rate: 200, length: 2000, patch: 8, normalize: 'none', crop: 'random', pad: 'zero' },
  'imu-small': { channels: IMU_CHANNELS, rate: 50, length: 256, patch: 16, normalize: 'standardize', crop: 'random', pad: 'mask' },
} satisfies Record<string, ImuPreset>;
