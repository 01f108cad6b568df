/**
 * Mel filterbanks, as sparse rows: filter `m` covers FFT bins `start[m] … start[m] + weights[m].length − 1`.
 *
 * - `slaney` / `htk` follow librosa.filters.mel (triangles in Hz between mel-spaced edges; `norm: 'slaney'`
 *   scales each triangle to unit area). librosa builds the matrix in float32, so each weight is rounded to
 *   float32 twice (after the triangle, after the norm) exactly like it, which makes Whisper's stored
 *   `mel_filters.npz` reproducible bit for bit.
 * - `kaldi` follows torchaudio.compliance.kaldi.get_mel_banks: triangles in the mel domain
 *   (mel = 1127 ln(1 + f/700)) over the first nFft/2 bins; the Nyquist bin gets weight 0.
 */
export type MelScale = 'slaney' | 'htk' | 'kaldi';

export interface MelFilterbank {
  readonly mels: number;
  readonly bins: number;
  readonly start: Int32Array;
  readonly weights: readonly Float64Array[];
}

export interface MelFilterOptions {
  readonly sampleRate: number;
  readonly nFft: number;
  readonly mels: number;
  readonly fmin: number;
  readonly fmax: number;
  readonly scale: MelScale;
  /** librosa's `norm='slaney'` (area normalization); ignored by `kaldi`. */
  readonly norm: 'slaney' | 'none';
}

const F_SP = 200.0 / 3;
const MIN_LOG_HZ = 1000.0;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP;
const LOGSTEP = Math.log(6.4) / 27.0;

export function hzToMel(f: number, scale: 'slaney' | 'htk'): number {
  if (scale === 'htk') return 2595.0 * Math.log10(1.0 + f / 700.0);
  return f >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(f / MIN_LOG_HZ) / LOGSTEP : f / F_SP;
}

export function melToHz(m: number, scale: 'slaney' | 'htk'): number {
  if (scale === 'htk') return 700.0 * (Math.pow(10.0, m / 2595.0) - 1.0);
  return m >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOGSTEP * (m - MIN_LOG_MEL)) : F_SP * m;
}

export function melFilterbank(o: MelFilterOptions): MelFilterbank {
  const bins = Math.floor(o.nFft / 2) + 1;
  const dense = o.scale === 'kaldi' ? kaldiDense(o, bins) : librosaDense(o, bins);
  const start = new Int32Array(o.mels);
  const weights: Float64Array[] = [];
  for (let m = 0; m < o.mels; m++) {
    const row = dense.subarray(m * bins, (m + 1) * bins);
    let lo = 0;
    while (lo < bins && row[lo] === 0) lo++;
    let hi = bins - 1;
    while (hi >= lo && row[hi] === 0) hi--;
    start[m] = lo > hi ? 0 : lo;
    weights.push(lo > hi ? new Float64Array(0) : Float64Array.from(row.subarray(lo, hi + 1)));
  }
  return { mels: o.mels, bins, start, weights };
}

/** The dense `[mels, bins]` matrix, for inspection and tests. */
export function denseMelMatrix(bank: MelFilterbank): Float64Array {
  const out = new Float64Array(bank.mels * bank.bins);
  for (let m = 0; m < bank.mels; m++) out.set(bank.weights[m]!, m * bank.bins + bank.start[m]!);
  return out;
}

function librosaDense(o: MelFilterOptions, bins: number): Float64Array {
  const scale = o.scale as 'slaney' | 'htk';
  const n = o.mels + 2;
  const minMel = hzToMel(o.fmin, scale);
  const maxMel = hzToMel(o.fmax, scale);
  // numpy.linspace: start + i·step, with the last point set to stop.
  const step = (maxMel - minMel) / (n - 1);
  const melF = new Float64Array(n);
  for (let i = 0; i < n; i++) melF[i] = melToHz(i === n - 1 ? maxMel : minMel + i * step, scale);
  // numpy.fft.rfftfreq(nFft, 1/sr): k · (1 / (nFft · (1/sr))).
  const val = 1.0 / (o.nFft * (1.0 / o.sampleRate));
  const out = new Float64Array(o.mels * bins);
  for (let m = 0; m < o.mels; m++) {
    const lowDiff = melF[m + 1]! - melF[m]!;
    const highDiff = melF[m + 2]! - melF[m + 1]!;
    const enorm = o.norm === 'slaney' ? 2.0 / (melF[m + 2]! - melF[m]!) : 1;
    for (let k = 0; k < bins; k++) {
      const f = k * val;
      const lower = -(melF[m]! - f) / lowDiff;
      const upper = (melF[m + 2]! - f) / highDiff;
      let w = Math.fround(Math.max(0, Math.min(lower, upper)));
      if (o.norm === 'slaney') w = Math.fround(w * enorm);
      out[m * bins + k] = w;
    }
  }
  return out;
}

function kaldiMel(f: number): number {
  return 1127.0 * Math.log(1.0 + f / 700.0);
}

function kaldiDense(o: MelFilterOptions, bins: number): Float64Array {
  const fftBins = Math.floor(o.nFft / 2);
  const binWidth = o.sampleRate / o.nFft;
  const melLow = kaldiMel(o.fmin);
  const melHigh = kaldiMel(o.fmax);
  const delta = (melHigh - melLow) / (o.mels + 1);
  const out = new Float64Array(o.mels * bins);
  for (let m = 0; m < o.mels; m++) {
    const left = melLow + m * delta;
    const center = melLow + (m + 1) * delta;
    const right = melLow + (m + 2) * delta;
    for (let k = 0; k < fftBins; k++) {
      const mel = kaldiMel(binWidth * k);
      const up = (mel - left) / (center - left);
      const down = (right - mel) / (right - center);
      out[m * bins + k] = Math.max(0, Math.min(up, down));
    }
  }
  return out;
}
