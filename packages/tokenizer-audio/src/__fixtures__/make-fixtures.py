#!/usr/bin/python3
"""Reference features for @omnitok/tokenizer-audio, written from the upstream formulas in NumPy (float64).

Run once with Debian's python3-numpy:  /usr/bin/python3 make-fixtures.py   (add --inputs to re-make the WAVs,
which needs espeak-ng and ffmpeg). Tests never run Python; they read the committed .wav / .npy / JSON.

Upstream formulas followed (read from the stored sources, re-written here, nothing copied):
- openai/whisper whisper/audio.py `log_mel_spectrogram` after `pad_or_trim` to 480,000 samples:
  torch.stft(n_fft 400, hop 160, hann_window(400) periodic, center=True reflect), drop the last frame,
  |.|^2, mel filters = librosa.filters.mel(sr=16000, n_fft=400, n_mels) (Slaney scale + Slaney norm, built
  in float32), log10(clamp(1e-10)), max(x, x.max() - 8), (x + 4) / 4.
- torchaudio.compliance.kaldi.fbank as AST (src/dataloader.py `_wav2fbank`) and ImageBind
  (imagebind/data.py `waveform2melspec`) call it: waveform - mean, htk_compat, use_energy False,
  window 'hanning' (torch.hann_window(400, periodic=False)), 128 bins, dither 0, 25 ms / 10 ms,
  snip_edges, remove_dc_offset, preemphasis 0.97, round_to_power_of_two (FFT 512), power, Kaldi mel
  banks 20 Hz - Nyquist (1127 ln(1 + f/700)), log(max(x, float32 eps)).
  AST: pad with zeros / cut to 1024 frames, then (x + 4.2677393) / (2 * 4.5689974).
  ImageBind: 3 clips of 2 s by pytorchvideo ConstantClipsPerVideoSampler in Fraction arithmetic,
  `waveform -= waveform.mean()` on a view (so overlapping clips see earlier shifts), pad to 204,
  (x + 4.268) / 9.138.

Outputs per clip (speech 2.2 s espeak-ng, music 1.0 s synthesized chord + melody, noise 0.6 s pink):
  <clip>.wav, and <clip>.<preset>.npy float32 cropped on the frame axis to `stored` frames; every frame
  after that is padding with the single value `tail` (asserted here), recorded in references.json.
"""
import json
import os
import subprocess
import sys
import wave
from fractions import Fraction

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SR = 16000
CLIPS = {'speech': 2.2, 'music': 1.0, 'noise': 0.6}


def write_wav(path, x):
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype('<i2')
    with wave.open(path, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def read_wav(path):
    with wave.open(path, 'rb') as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == SR
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype='<i2')
    return pcm.astype(np.float64) / 32768.0


def make_inputs():
    n = lambda secs: int(round(secs * SR))
    # speech: espeak-ng at 22.05 kHz, converted to 16 kHz s16 mono by ffmpeg, cut / padded to 2.2 s
    subprocess.run(['espeak-ng', '-w', '/tmp/omnitok-speech.wav', 'The quick brown fox jumps.'], check=True)
    raw = subprocess.run(['ffmpeg', '-v', 'error', '-i', '/tmp/omnitok-speech.wav', '-ac', '1', '-ar', str(SR), '-f', 's16le', '-'],
                         check=True, capture_output=True).stdout
    s = np.frombuffer(raw, dtype='<i2').astype(np.float64) / 32768.0
    out = np.zeros(n(CLIPS['speech']))
    out[:min(len(s), len(out))] = s[:len(out)]
    write_wav(os.path.join(HERE, 'speech.wav'), out)
    # music: a C-major chord under a short melody, 3 harmonics each, with attack/decay envelopes
    t = np.arange(n(CLIPS['music'])) / SR
    x = np.zeros_like(t)
    for f in (261.63, 329.63, 392.0):
        for h, a in ((1, 1.0), (2, 0.5), (3, 0.25)):
            x += 0.08 * a * np.sin(2 * np.pi * f * h * t)
    notes = [523.25, 587.33, 659.25, 783.99]
    for i, f in enumerate(notes):
        t0 = i * 0.25
        seg = (t >= t0) & (t < t0 + 0.25)
        tt = t[seg] - t0
        env = np.minimum(tt / 0.01, 1.0) * np.exp(-tt * 6)
        for h, a in ((1, 1.0), (2, 0.3), (4, 0.1)):
            x[seg] += 0.25 * a * env * np.sin(2 * np.pi * f * h * tt)
    write_wav(os.path.join(HERE, 'music.wav'), x)
    # noise: pink (1/f power) noise from seeded white noise, shaped in the frequency domain
    rng = np.random.default_rng(20240611)
    w = rng.standard_normal(n(CLIPS['noise']))
    spec = np.fft.rfft(w)
    f = np.fft.rfftfreq(len(w), 1 / SR)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    p = np.fft.irfft(spec, len(w))
    write_wav(os.path.join(HERE, 'noise.wav'), 0.3 * p / np.max(np.abs(p)))


# ---------- librosa.filters.mel (Slaney), built in float32 like librosa ----------
def hz_to_mel_slaney(f):
    f = np.asanyarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep, mels)


def mel_to_hz_slaney(m):
    m = np.asanyarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def slaney_mel(sr, n_fft, n_mels, fmin=0.0, fmax=None):
    fmax = sr / 2 if fmax is None else fmax
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_to_hz_slaney(np.linspace(hz_to_mel_slaney(fmin), hz_to_mel_slaney(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return weights


def whisper_log_mel(x, n_mels):
    n_samples, n_fft, hop = 480000, 400, 160
    a = np.zeros(n_samples)
    a[:min(len(x), n_samples)] = x[:n_samples]
    padded = np.pad(a, n_fft // 2, mode='reflect')
    n_frames = 1 + (len(padded) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    spec = np.fft.rfft(padded[idx] * window, n=n_fft, axis=1)
    power = (np.abs(spec) ** 2)[:-1].T  # [201, 3000] after dropping the last frame
    mel = slaney_mel(SR, n_fft, n_mels).astype(np.float64) @ power
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


# ---------- torchaudio.compliance.kaldi.fbank ----------
def kaldi_mel_banks(num_bins, padded, sr, low=20.0, high=0.0):
    mel = lambda f: 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)
    nyquist = 0.5 * sr
    if high <= 0.0:
        high += nyquist
    fft_bin_width = sr / padded
    mlow, mhigh = mel(low), mel(high)
    delta = (mhigh - mlow) / (num_bins + 1)
    b = np.arange(num_bins)[:, None]
    left, center, right = mlow + b * delta, mlow + (b + 1.0) * delta, mlow + (b + 2.0) * delta
    m = mel(fft_bin_width * np.arange(padded // 2))[None, :]
    up = (m - left) / (center - left)
    down = (right - m) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1)))  # Nyquist bin gets 0


def kaldi_fbank(x, num_mel_bins=128):
    win, shift, padded = 400, 160, 512
    if len(x) < win:
        return np.zeros((0, num_mel_bins))
    m = 1 + (len(x) - win) // shift
    frames = x[np.arange(win)[None, :] + shift * np.arange(m)[:, None]].copy()
    frames -= frames.mean(axis=1, keepdims=True)
    prev = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = frames - 0.97 * prev
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / (win - 1))  # hann, periodic=False
    frames = np.pad(frames * window, ((0, 0), (0, padded - win)))
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    mel = power @ kaldi_mel_banks(num_mel_bins, padded, SR).T
    return np.log(np.maximum(mel, np.finfo(np.float32).eps))  # [frames, bins]


def ast_features(x):
    fb = kaldi_fbank(x - x.mean())
    target = 1024
    if fb.shape[0] < target:
        fb = np.pad(fb, ((0, target - fb.shape[0]), (0, 0)))
    fb = fb[:target]
    return ((fb - (-4.2677393)) / (4.5689974 * 2)).T  # [128, 1024]


def imagebind_features(x):
    waveform = x.copy()  # plays torchaudio.load's fresh tensor; clips below are views into it
    duration = len(waveform) / SR
    clip_duration, clips = Fraction(2), 3
    max_start = Fraction(max(duration - clip_duration, 0))
    uniform = Fraction(max_start, clips)
    out = []
    for i in range(clips):
        start = uniform * i
        end = start + clip_duration
        clip = waveform[int(start * SR):int(end * SR)]
        clip -= clip.mean()  # in place on the view, as ImageBind's `waveform -= waveform.mean()`
        fb = kaldi_fbank(clip).T  # [128, frames]
        p = 204 - fb.shape[1]
        fb = np.pad(fb, ((0, 0), (0, p))) if p > 0 else fb[:, :204]
        out.append((fb - (-4.268)) / 9.138)
    return np.stack(out)  # [3, 128, 204]


def crop(name, full, real_frames, margin):
    stored = min(full.shape[-1], real_frames + margin)
    tail = full[..., stored:]
    tail_value = None
    if tail.size:
        tail_value = float(tail.flat[0])
        assert np.all(tail == tail_value), f'{name}: the tail beyond {stored} frames is not constant'
    return np.ascontiguousarray(full[..., :stored].astype(np.float32)), stored, tail_value


def main():
    if '--inputs' in sys.argv or not os.path.exists(os.path.join(HERE, 'speech.wav')):
        make_inputs()
    refs = {}
    for clip in CLIPS:
        x = read_wav(os.path.join(HERE, f'{clip}.wav'))
        n = len(x)
        kaldi_frames = 1 + (n - 400) // 160
        entries = {}
        for preset, full, real, margin in (
            ('whisper-80', whisper_log_mel(x, 80), -(-n // 160), 8),
            ('whisper-128', whisper_log_mel(x, 128), -(-n // 160), 8),
            ('ast', ast_features(x), kaldi_frames, 4),
            ('imagebind', imagebind_features(x), min(kaldi_frames, 198), 2),
        ):
            data, stored, tail = crop(f'{clip}/{preset}', full, real, margin)
            np.save(os.path.join(HERE, f'{clip}.{preset}.npy'), data)
            entries[preset] = {'shape': list(full.shape), 'stored': stored, 'tail': tail}
        refs[clip] = {'samples': n, 'presets': entries}
    with open(os.path.join(HERE, 'references.json'), 'w') as f:
        json.dump(refs, f, indent=2)
        f.write('\n')
    total = sum(os.path.getsize(os.path.join(HERE, p)) for p in os.listdir(HERE))
    print(json.dumps(refs, indent=1))
    print(f'fixtures: {total} bytes')


if __name__ == '__main__':
    main()
