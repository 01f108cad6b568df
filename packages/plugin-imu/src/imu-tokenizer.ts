import { ascii, defineModalityPlugin, resolvePreset, type TokenSpec } from '@omnitok/core';
import { decodeImu } from './decode-imu.js';
import { patchifyImu } from './patchify-imu.js';
import { preprocessImu, validateImuPreset } from './preprocess-imu.js';
import { type ImuPreset, imuPresets } from './presets.js';

/**
 * The IMU modality plugin (ImageBind style): CSV / TSV / JSON of multichannel samples → a fixed window
 * at the preset's rate → 8-sample (or `patch`) tokens of `channels × patch` values.
 * Built only on the public `@omnitok/core` API, as any third-party plugin would be.
 */
export function imuTokenizer() {
  return defineModalityPlugin({
    specVersion: 1,
    name: 'imu',
    modality: 'imu',
    description: 'IMU / multichannel time series (CSV, TSV, JSON) → patch tokens, ImageBind style',
    version: '0.1.0',
    presets: imuPresets as Record<string, ImuPreset>,
    defaultPreset: 'imagebind',
    tokenKind: 'continuous',
    fileTypes: [
      { format: 'csv', extensions: ['csv', 'tsv'], mimeType: 'text/csv' },
      { format: 'imu-json', extensions: ['json', 'imu'], magic: [{ bytes: ascii('{"rate"') }] },
    ],
    describeTokens(preset?: string | ImuPreset): TokenSpec {
      const { name, preset: p } = resolvePreset('imu', imuPresets as Record<string, ImuPreset>, preset, 'imagebind');
      validateImuPreset(name, p);
      return { kind: 'continuous', dim: p.channels.length * p.patch, tokens: p.length / p.patch, grid: [p.length / p.patch] };
    },
    decode: decodeImu,
    preprocess: preprocessImu,
    tokenize: patchifyImu,
  });
}
