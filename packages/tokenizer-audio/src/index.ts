/**
 * @omnitok/tokenizer-audio — audio to spectrogram patch tokens.
 *
 * `audioTokenizer()` is the modality plugin; the stage functions are exported for direct use, and the
 * ffmpeg helpers (`locateFfmpeg`, `probeMedia`, `streamPcm`, `readPcm`) are shared with the video
 * tokenizer. Importing this module registers nothing.
 */
export { audioTokenizer, type AudioTokenizerOptions, type AudioPluginDecodeOptions, type AudioPlugin } from './audio-tokenizer.js';
export { decodeAudio } from './decode-audio.js';
export type { DecodedAudio, AudioDecodeOptions } from './decoded-audio.js';
export { decodeWavBytes, decodeWavFile, parseWavHeader, convertWavSamples, type WavHeader } from './wav-decode.js';
export { computeAudioFeatures, type AudioFeatures } from './audio-features.js';
export { logMel, spectrogramPlan, type LogMel, type SpectrogramPlan } from './log-mel.js';
export { patchifySpectrogram } from './patchify.js';
export { AUDIO_PRESETS, DEFAULT_AUDIO_PRESET, validateAudioPreset, presetWindowSeconds, resolveFmax, type AudioPreset } from './presets.js';
export { resample, downmix, type ResampleOptions } from './resample.js';
export { melFilterbank, denseMelMatrix, hzToMel, melToHz, type MelFilterbank, type MelScale, type MelFilterOptions } from './mel-filters.js';
export { createRealPowerFft, MixedRadixFft, type RealPowerFft } from './fft.js';
export { makeWindow, WINDOW_KINDS, type WindowKind } from './window.js';
export { clipSampleRanges } from './clip-sampler.js';
export { AUDIO_FILE_TYPES, SUPPORTED_AUDIO_FORMATS, sniffAudioFormat } from './file-types.js';
export {
  locateFfmpeg,
  locateFfprobe,
  probeMedia,
  ffprobeJson,
  streamPcm,
  readPcm,
  pcmArgs,
  ffmpegDecodeError,
  FfmpegFailure,
  type MediaProbe,
  type PcmStreamOptions,
  type FfmpegRunOptions,
} from './ffmpeg.js';
