// Video tokenizer throughput and memory, against ffmpeg decoding the same file alone (the floor).
//
//   cd packages/tokenizer-image && npx tsup && cd ../tokenizer-audio && npx tsup && \
//   cd ../tokenizer-video && npx tsup && cd ../../bench && node video-tokenizer.bench.mjs [minutes] [repeats]
//
// Files are generated in a temp dir with the npm ffmpeg (testsrc @ 25 fps, x264 ultrafast crf 30):
//   dense.mp4 — 20 s 320×240; hd.mp4 — 10 s 1280×720; long.mp4 — `minutes` (default 10) min 320×240.
// Every phase runs in its own node process (so each reports its own peak RSS, maxRSS), `repeats`
// times (default 3) in rotation; rows print the median, [min–max] and the load average around the run.
//
// Phases:
//   floor      — THE FLOOR: `ffmpeg -i F -map 0:v:0 -pix_fmt rgb24 -f rawvideo -`, every byte consumed
//                by node (`for await` over its stdout); frames/s.
//   decode     — reference only: the same ffmpeg with stdout to /dev/null (no consumer at all).
//   read       — readFrames() of every frame, pooled buffers (as preprocessVideo reads), CFR timestamps
//                computed from the frame grid (no showinfo).
//   read-alloc — the same with a fresh buffer per frame (readFrames' default).
//   read-si    — the same as `read` with `timestamps: 'showinfo'` (the previous way).
//   dense      — every frame sampled (fps 25) and tokenized (clip-vit-b-16 frames, 224, tubelets 2×16×16)
//                by tokenizeVideo, what `omnitok tokenize` and the plugin's preprocessAndTokenize run: frames
//                resized on the native thread pool straight into tubelet order (the JS thread reads ffmpeg).
//   dense-js   — the same without the native addon (OMNITOK_IMAGE_NO_NATIVE=1: WebAssembly SIMD in the
//                calling thread), the path of an install without @omnitok/native-kernels.
//   dense-loop — the steady state of a data loader: the same file tokenized 6 times in one process into
//                one reused `out` array; frames/s of the median of calls 2–6 (each with its decodeVideo).
//   X-fork     — phase X with OMNITOK_SPAWN=node: ffprobe / ffmpeg started by child_process (fork) instead
//                of the native posix_spawn — what every phase did before the native spawner.
//   dense-2step — preprocessVideo ([T, C, H, W] features) then tubeletize: the two stages separately.
//   dense-8    — every 8th frame of the same file, tokenized (ffmpeg still decodes every frame).
//   sparse     — videomae-16x224-uniform (16 frames uniformly over the whole file, seeking), decode
//                (ffprobe) to tokens.
//   windows    — streamVideoWindows: back-to-back 2 s windows over the whole file, 16 frames each
//                (videomae-16x224-uniform inside every window), one sequential read, reused arrays.
//   windows-calls — the same windows, one tokenizeVideo({ start, end }) call (a seek) per window.
//   scan       — readFrames() over every frame of the long file, consumed and dropped (streaming RSS).
//   X@before   — phase X with the build in VIDEO_BEFORE_DIST (options it does not know are ignored).
//
// Ratios (all against the floor of the same file, in the same repeat; median over repeats):
//   every-frame rows: throughput ratio = our frames/s ÷ floor frames/s.
//   sparse, dense-8, windows: sampled ratio = floor seconds ÷ our seconds, i.e. how many times faster the sampled
//                     frames are tokenized than ffmpeg can merely decode the file (file frames covered per
//                     second ÷ floor frames/s); the sampled frames/s figure alone is also printed.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

// `@before`-suffixed phases load another build of the package (VIDEO_BEFORE_DIST=/path/to/dist/index.js),
// e.g. the previous commit's, so before → after is measured on the same machine in the same run.
const phaseArg = process.argv[2]?.startsWith('--') ? process.argv[2].slice(2) : undefined;
const before = phaseArg?.endsWith('@before');
const dist = before ? new URL(`file://${process.env.VIDEO_BEFORE_DIST}`).href : new URL('../packages/tokenizer-video/dist/index.js', import.meta.url).href;
const { decodeVideo, preprocessVideo, readFrames, streamVideoWindows, tokenizeVideo, tubeletize } = await import(dist);
const { locateFfmpeg } = await import('@omnitok/tokenizer-audio');

// Frames behind a token result: tokenizeVideo lists them; tubeletize's result (dense-2step, older builds)
// only has its grid [T/t, H/P, W/P], and every preset here has tubelet depth t = 2.
const framesOf = (tokens) => tokens.frameIndices?.length ?? (tokens.shape[0] / tokens.grid.slice(-2).reduce((a, b) => a * b, 1)) * 2;

async function runPhase(phase, path, frameBytes) {
  const name = phase.replace('@before', '').replace(/-fork$/, '');
  const fileFrames = name === 'decode' ? (await decodeVideo(path)).frameCount : 0; // before the clock starts
  const t0 = performance.now();
  let frames = 0;
  if (name === 'floor' || name === 'decode') {
    const args = ['-v', 'error', '-nostdin', '-i', path, '-map', '0:v:0', '-pix_fmt', 'rgb24', '-f', 'rawvideo'];
    if (name === 'floor') {
      const child = spawn(locateFfmpeg(), [...args, '-'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let bytes = 0;
      for await (const chunk of child.stdout) bytes += chunk.length;
      frames = bytes / frameBytes;
    } else {
      execFileSync(locateFfmpeg(), [...args, '-y', '/dev/null'], { stdio: ['ignore', 'ignore', 'inherit'] });
      frames = fileFrames;
    }
  } else {
    const decoded = await decodeVideo(path);
    const all = Int32Array.from({ length: decoded.frameCount }, (_, i) => i);
    if (name === 'windows') {
      for await (const w of streamVideoWindows(decoded, 'videomae-16x224-uniform', { seconds: 2, reuseArrays: true })) frames += w.frameIndices.length;
    } else if (name === 'windows-calls') {
      let out;
      for (let s = 0; s < decoded.frameCount / decoded.fps; s += 2) {
        const w = await tokenizeVideo(decoded, 'videomae-16x224-uniform', { start: s, end: s + 2, ...(out && { out }) });
        out ??= w.data;
        frames += w.frameIndices.length;
      }
    } else if (name.startsWith('read') || name === 'scan') {
      const options = { reuseBuffers: name !== 'read-alloc', timestamps: name === 'read-si' ? 'showinfo' : 'auto' };
      for await (const f of readFrames(decoded, all, options)) frames += f.positions.length;
    } else {
      const preset =
        name === 'sparse'
          ? 'videomae-16x224-uniform'
          : { sampling: { mode: 'fps', fps: name === 'dense-8' ? 25 / 8 : 25, maxFrames: 4096 }, image: 'clip-vit-b-16', tubelet: [2, 16, 16] };
      let tokens;
      if (name === 'dense-loop') {
        // calls 2–6 timed (the first allocates `out` and warms up); frames/s from their median
        const times = [];
        let out;
        for (let call = 0; call < 6; call++) {
          const t = performance.now();
          tokens = await tokenizeVideo(call === 0 ? decoded : await decodeVideo(path), preset, out ? { out } : {});
          out ??= tokens.data;
          if (call > 0) times.push(performance.now() - t);
        }
        const perCall = median(times) / 1000;
        const callFrames = framesOf(tokens);
        process.stdout.write(JSON.stringify({ name: phase, frames: callFrames, seconds: perCall, fps: callFrames / perCall, rssMiB: process.resourceUsage().maxRSS / 1024 }));
        return;
      }
      // builds without tokenizeVideo (VIDEO_BEFORE_DIST) run the two stages
      tokens =
        name === 'dense-2step' || !tokenizeVideo ? tubeletize(await preprocessVideo(decoded, preset)) : await tokenizeVideo(decoded, preset);
      frames = framesOf(tokens);
      if (tokens.shape[1] !== 1536) throw new Error('unexpected token size');
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ name: phase, frames, seconds, fps: frames / seconds, rssMiB }));
}

function phaseOf(name, path, frameBytes) {
  const env = { ...process.env, ...(name.startsWith('dense-js') && { OMNITOK_IMAGE_NO_NATIVE: '1' }), ...(name.endsWith('-fork') && { OMNITOK_SPAWN: 'node' }) };
  const out = execFileSync(process.execPath, [new URL(import.meta.url).pathname, `--${name}`, path, String(frameBytes)], { encoding: 'utf8', maxBuffer: 1 << 20, env });
  return JSON.parse(out);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const range = (xs, digits) => `[${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}]`;

if (phaseArg) {
  await runPhase(phaseArg, process.argv[3], Number(process.argv[4]));
} else {
  const minutes = Number(process.argv[2] ?? 10);
  const repeats = Math.max(1, Number(process.argv[3] ?? 3));
  const dir = mkdtempSync(join(tmpdir(), 'omnitok-video-bench-'));
  try {
    const make = (name, size, seconds) => {
      const out = join(dir, name);
      execFileSync(locateFfmpeg(), ['-v', 'error', '-nostdin', '-y', '-f', 'lavfi', '-i', `testsrc=s=${size}:r=25:d=${seconds}`, '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '30', '-pix_fmt', 'yuv420p', out]);
      return out;
    };
    const t = performance.now();
    const files = {
      dense: { path: make('dense.mp4', '320x240', 20), bytes: 320 * 240 * 3, title: '20 s 320×240 file (500 frames)' },
      hd: { path: make('hd.mp4', '1280x720', 10), bytes: 1280 * 720 * 3, title: '10 s 1280×720 file (250 frames)' },
      long: { path: make('long.mp4', '320x240', minutes * 60), bytes: 320 * 240 * 3, title: `${minutes} min 320×240 file (${minutes * 1500} frames)` },
    };
    console.log(`generated the files in ${((performance.now() - t) / 1000).toFixed(1)} s; ${repeats} repeats; load average before: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const plan = {
      dense: ['floor', 'decode', 'read', 'read-alloc', 'read-si', 'dense', 'dense-fork', 'dense-loop', 'dense-loop-fork', 'dense-js', 'dense-2step', 'dense-8', 'sparse', 'sparse-fork'],
      hd: ['floor', 'read', 'dense', 'dense-fork', 'dense-loop', 'dense-loop-fork', 'dense-js', 'dense-2step'],
      long: ['floor', 'sparse', 'sparse-fork', 'windows', 'windows-calls', 'scan'],
    };
    if (process.env.VIDEO_BEFORE_DIST) {
      plan.dense.push('read@before', 'dense@before', 'sparse@before');
      plan.hd.push('read@before', 'dense@before');
      plan.long.push('sparse@before', 'scan@before');
    }
    const results = {};
    for (let r = 0; r < repeats; r++) {
      for (const [file, phases] of Object.entries(plan)) {
        for (const name of phases) ((results[file] ??= {})[name] ??= []).push(phaseOf(name, files[file].path, files[file].bytes));
      }
    }
    for (const [file, phases] of Object.entries(plan)) {
      const floors = results[file].floor;
      console.log(`\n${files[file].title}:`);
      for (const name of phases) {
        const rows = results[file][name];
        const fps = rows.map((x) => x.fps);
        const secs = rows.map((x) => x.seconds);
        const rss = rows.map((x) => x.rssMiB);
        let ratio = '';
        if (name.startsWith('sparse') || name.startsWith('dense-8') || name.startsWith('windows')) {
          const rs = rows.map((x, i) => floors[i].seconds / x.seconds);
          ratio = `  sampled ratio ${median(rs).toFixed(2)}× ${range(rs, 2)} (floor s ÷ our s)`;
        } else if (name !== 'floor') {
          const rs = rows.map((x, i) => x.fps / floors[i].fps);
          ratio = `  ratio ${median(rs).toFixed(2)}× ${range(rs, 2)}`;
        }
        console.log(
          `${name.padEnd(14)} ${String(Math.round(rows[0].frames)).padStart(6)} frames ${median(secs).toFixed(3).padStart(7)} s ${median(fps).toFixed(0).padStart(6)} frames/s ${range(fps, 0).padEnd(12)}` +
            `${ratio}  peak RSS ${median(rss).toFixed(0)} MiB (max ${Math.max(...rss).toFixed(0)})`,
        );
      }
    }
    console.log(`\nload average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
