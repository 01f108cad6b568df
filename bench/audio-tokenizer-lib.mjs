// Shared imports for audio-tokenizer.bench.mjs: the built package, plus a minimal float32 .npy reader
// (the bench does not depend on @omnitok/core's dist being built).
export { AUDIO_PRESETS, computeAudioFeatures, createRealPowerFft, decodeWavBytes, resample, spectrogramPlan } from '../packages/tokenizer-audio/dist/index.js';

export function decodeNpyFree(buf) {
  const headerLen = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + headerLen).toString('latin1');
  if (!header.includes("'<f4'")) throw new Error(`expected float32 .npy, got ${header}`);
  const start = 10 + headerLen;
  return new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length));
}
