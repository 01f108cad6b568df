// Audio-seconds per second for Whisper log-mel features (whisper-80: 30 s → 80 × 3000):
// @omnitok/tokenizer-audio (built dist) against transformers.js' WhisperFeatureExtractor, same clips, same run.
//
//   cd packages/tokenizer-audio && npx tsup && cd ../../bench && node audio-tokenizer.bench.mjs [rounds]
//
// Clips: three 30 s, 16 kHz mono signals built from the package fixtures (espeak-ng speech tiled, the
// synthesized chord/melody tiled, pink noise tiled), so both sides do the full 3000-frame window.
// Also prints: parity of both implementations (max |Δ| in log-mel units) and omnitok's parity against
// the committed NumPy references, plus the resampler's measured passband error / stopband attenuation.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { WhisperFeatureExtractor } from '@huggingface/transformers';
import { AUDIO_PRESETS, computeAudioFeatures, createRealPowerFft, decodeWavBytes, decodeNpyFree, resample, spectrogramPlan } from './audio-tokenizer-lib.mjs';

const rounds = Number(process.argv[2] ?? 5);
const fixtures = fileURLToPath(new URL('../packages/tokenizer-audio/src/__fixtures__/', import.meta.url));
const load = (name) => decodeWavBytes(new Uint8Array(readFileSync(`${fixtures}${name}.wav`)), `${name}.wav`).samples;
const tile = (x, n) => {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += x.length) out.set(x.subarray(0, Math.min(x.length, n - i)), i);
  return out;
};
const clips = ['speech', 'music', 'noise'].map((name) => ({ name, samples: tile(load(name), 480000) }));

const extractor = new WhisperFeatureExtractor({
  feature_size: 80,
  sampling_rate: 16000,
  hop_length: 160,
  n_fft: 400,
  chunk_length: 30,
  n_samples: 480000,
  nb_max_frames: 3000,
  padding_value: 0.0,
  return_attention_mask: false,
});

const preset = AUDIO_PRESETS['whisper-80'];
const ours = (samples) => computeAudioFeatures({ samples, sampleRate: 16000, channels: 1, duration: 30, start: 0, source: 'bench', format: 'raw', codec: 'f32', warnings: [] }, preset, 'whisper-80');
const theirs = async (samples) => (await extractor(samples)).input_features;

// Parity between the two on every clip.
console.log('parity omnitok vs transformers.js WhisperFeatureExtractor (max |Δ|, log-mel units):');
for (const c of clips) {
  const a = ours(c.samples).data;
  const b = (await theirs(c.samples)).data;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  console.log(`  ${c.name.padEnd(7)} ${max.toExponential(2)}  (${a.length} values)`);
}

// Parity against the NumPy references committed with the package.
const refs = JSON.parse(readFileSync(`${fixtures}references.json`, 'utf8'));
console.log('parity omnitok vs NumPy references (max |Δ|):');
for (const [clip, r] of Object.entries(refs)) {
  const d = decodeWavBytes(new Uint8Array(readFileSync(`${fixtures}${clip}.wav`)), clip);
  const row = [];
  for (const [name, ref] of Object.entries(r.presets)) {
    const f = computeAudioFeatures(d, AUDIO_PRESETS[name], name);
    const expected = decodeNpyFree(readFileSync(`${fixtures}${clip}.${name}.npy`));
    const frames = f.shape[f.shape.length - 1];
    let max = 0;
    for (let i = 0; i < f.data.length; i++) {
      const t = i % frames;
      const e = t < ref.stored ? expected[Math.floor(i / frames) * ref.stored + t] : ref.tail;
      max = Math.max(max, Math.abs(f.data[i] - e));
    }
    row.push(`${name} ${max.toExponential(1)}`);
  }
  console.log(`  ${clip.padEnd(7)} ${row.join('  ')}`);
}

// Resampler figures (44.1 kHz → 16 kHz).
const tone = (f, rate, secs) => Float32Array.from({ length: Math.round(rate * secs) }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / rate));
const amp = (x, f, rate) => {
  let s = 0, c = 0;
  const from = 1600, to = x.length - 1600;
  for (let i = from; i < to; i++) {
    s += x[i] * Math.sin((2 * Math.PI * f * i) / rate);
    c += x[i] * Math.cos((2 * Math.PI * f * i) / rate);
  }
  return (2 / (to - from)) * Math.hypot(s, c);
};
const db = (r) => 20 * Math.log10(r);
console.log('resampler 44.1 kHz → 16 kHz:',
  `1 kHz error ${db(amp(resample(tone(1000, 44100, 1), 44100, 16000), 1000, 16000) / 0.5).toExponential(1)} dB,`,
  `6 kHz error ${db(amp(resample(tone(6000, 44100, 1), 44100, 16000), 6000, 16000) / 0.5).toFixed(4)} dB,`,
  `10 kHz → 6 kHz alias ${db(amp(resample(tone(10000, 44100, 1), 44100, 16000), 6000, 16000) / 0.5).toFixed(1)} dB,`,
  `8.4 kHz → 7.6 kHz alias ${db(amp(resample(tone(8400, 44100, 1), 44100, 16000), 7600, 16000) / 0.5).toFixed(1)} dB`);
console.log(`FFT backend for n_fft 400: ${spectrogramPlan(preset).fft.backend}; for 512: ${spectrogramPlan(AUDIO_PRESETS.ast).fft.backend}`);

// FFT choices, per 3000 frames (one 30 s Whisper window): the mixed-radix real FFT against a
// precomputed 400 × 201 DFT matrix, and fft.js against the mixed-radix path at 512.
{
  const frame = Float64Array.from({ length: 512 }, (_, i) => Math.sin(i * 0.37) + 0.1 * Math.cos(i * 1.3));
  const out = new Float64Array(257);
  const perWindow = (fn) => {
    for (let i = 0; i < 300; i++) fn();
    const t0 = performance.now();
    for (let i = 0; i < 3000 * 3; i++) fn();
    return ((performance.now() - t0) / 3).toFixed(1);
  };
  const cos = new Float64Array(400 * 201), sin = new Float64Array(400 * 201);
  for (let k = 0; k <= 200; k++) for (let j = 0; j < 400; j++) {
    cos[k * 400 + j] = Math.cos((2 * Math.PI * ((j * k) % 400)) / 400);
    sin[k * 400 + j] = Math.sin((2 * Math.PI * ((j * k) % 400)) / 400);
  }
  const dft = () => {
    for (let k = 0; k <= 200; k++) {
      let re = 0, im = 0;
      const row = k * 400;
      for (let j = 0; j < 400; j++) {
        re += frame[j] * cos[row + j];
        im -= frame[j] * sin[row + j];
      }
      out[k] = re * re + im * im;
    }
  };
  const f400 = createRealPowerFft(400), f512 = createRealPowerFft(512), m512 = createRealPowerFft(512, 'mixed-radix');
  const x400 = frame.subarray(0, 400);
  console.log(`FFT ms per 3000 frames: n=400 mixed-radix ${perWindow(() => f400.power(x400, out))}, n=400 DFT matrix ${perWindow(dft)}; ` +
    `n=512 fft.js ${perWindow(() => f512.power(frame, out))}, n=512 mixed-radix ${perWindow(() => m512.power(frame, out))}`);
}

// Throughput.
async function time(fn) {
  for (const c of clips) await fn(c.samples); // warm-up
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) for (const c of clips) await fn(c.samples);
  const seconds = (performance.now() - t0) / 1000;
  return (rounds * clips.length * 30) / seconds;
}
const a = await time(async (s) => ours(s));
const b = await time(theirs);
const a2 = await time(async (s) => ours(s)); // interleave to even out drift
const b2 = await time(theirs);
const oursRate = (a + a2) / 2;
const theirsRate = (b + b2) / 2;
console.log(`\nwhisper-80 features, ${rounds} rounds × ${clips.length} clips × 30 s, Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'}:`);
console.log(`  omnitok          ${oursRate.toFixed(0).padStart(7)} audio-s/s  (${(30000 / oursRate).toFixed(1)} ms per 30 s)`);
console.log(`  transformers.js  ${theirsRate.toFixed(0).padStart(7)} audio-s/s  (${(30000 / theirsRate).toFixed(1)} ms per 30 s)`);
console.log(`  ratio            ${(oursRate / theirsRate).toFixed(2)}×`);
