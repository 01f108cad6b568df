// Video tokenizer throughput and memory, against ffmpeg decoding the same file alone (the floor).
//
//   cd packages/tokenizer-image && npx tsup && cd ../tokenizer-audio && npx tsup && \
//   cd ../tokenizer-video && npx tsup && cd ../../bench && node video-tokenizer.bench.mjs [minutes]
//
// Files are generated in a temp dir with the npm ffmpeg (testsrc 320×240 @ 25 fps, x264 ultrafast crf 30):
//   dense.mp4 — 20 s; long.mp4 — `minutes` (default 10) minutes.
// Phases run in separate node processes so each reports its own peak RSS (process.resourceUsage().maxRSS):
//   floor   — `ffmpeg -i F -map 0:v:0 -pix_fmt rgb24 -f rawvideo -`, bytes consumed by node (frames/s);
//   read    — readFrames() of every frame (pipe parsing only, no preprocessing);
//   dense   — every frame sampled (fps 25), preprocessed (clip-vit-b-16, 224) and tubeletized;
//   dense-8 — every 8th frame of the same file, tokenized (ffmpeg still decodes every frame);
//   sparse  — videomae-16x224-uniform on the long file (16 frames over N minutes, seeking);
//   scan    — readFrames() over every frame of the long file, consumed and dropped (streaming RSS).
// Ratio = our frames/s ÷ the floor's frames/s, same file, same run (target ≥ 0.8 for `read`).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dist = new URL('../packages/tokenizer-video/dist/index.js', import.meta.url).href;
const { decodeVideo, preprocessVideo, readFrames, tubeletize } = await import(dist);
const { locateFfmpeg } = await import('@omnitok/tokenizer-audio');

const [phase, file] = process.argv.slice(2).filter((a) => a.startsWith('--')).length ? [process.argv[2].slice(2), process.argv[3]] : [];

async function runPhase(name, path) {
  const t0 = performance.now();
  let frames = 0;
  if (name === 'floor') {
    const child = spawn(locateFfmpeg(), ['-v', 'error', '-nostdin', '-i', path, '-map', '0:v:0', '-pix_fmt', 'rgb24', '-f', 'rawvideo', '-'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    for await (const chunk of child.stdout) bytes += chunk.length;
    frames = bytes / (320 * 240 * 3);
  } else {
    const decoded = await decodeVideo(path);
    const all = Int32Array.from({ length: decoded.frameCount }, (_, i) => i);
    if (name === 'read' || name === 'scan') {
      for await (const f of readFrames(decoded, all)) frames += f.positions.length;
    } else {
      const preset =
        name === 'sparse'
          ? 'videomae-16x224-uniform'
          : { sampling: { mode: 'fps', fps: name === 'dense' ? 25 : 25 / 8, maxFrames: 4096 }, image: 'clip-vit-b-16', tubelet: [2, 16, 16] };
      const features = await preprocessVideo(decoded, preset);
      const tokens = tubeletize(features);
      frames = features.shape[0];
      if (tokens.shape[1] !== 1536) throw new Error('unexpected token size');
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ name, frames, seconds, fps: frames / seconds, rssMiB }));
}

function phaseOf(name, path) {
  const out = execFileSync(process.execPath, [new URL(import.meta.url).pathname, `--${name}`, path], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out);
}

if (phase) {
  await runPhase(phase, file);
} else {
  const minutes = Number(process.argv[2] ?? 10);
  const dir = mkdtempSync(join(tmpdir(), 'omnitok-video-bench-'));
  try {
    const make = (name, seconds) => {
      const out = join(dir, name);
      execFileSync(locateFfmpeg(), ['-v', 'error', '-nostdin', '-y', '-f', 'lavfi', '-i', `testsrc=s=320x240:r=25:d=${seconds}`, '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '30', '-pix_fmt', 'yuv420p', out]);
      return out;
    };
    let t = performance.now();
    const dense = make('dense.mp4', 20);
    const long = make('long.mp4', minutes * 60);
    console.log(`generated 20 s and ${minutes} min of 320×240 testsrc in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const row = (r, floor) =>
      `${r.name.padEnd(8)} ${String(Math.round(r.frames)).padStart(6)} frames ${r.seconds.toFixed(2).padStart(7)} s ${r.fps.toFixed(0).padStart(6)} frames/s` +
      (floor ? `  ratio ${(r.fps / floor.fps).toFixed(2)}×` : '') +
      `  peak RSS ${r.rssMiB.toFixed(0)} MiB`;
    const floor = phaseOf('floor', dense);
    console.log('\n20 s file (500 frames):');
    console.log(row(floor));
    for (const name of ['read', 'dense', 'dense-8']) console.log(row(phaseOf(name, dense), floor));
    const longFloor = phaseOf('floor', long);
    console.log(`\n${minutes} min file (${minutes * 1500} frames):`);
    console.log(row(longFloor));
    const sparse = phaseOf('sparse', long);
    console.log(row(sparse) + `  (wall time ${(longFloor.seconds / sparse.seconds).toFixed(1)}× faster than the full decode)`);
    console.log(row(phaseOf('scan', long), longFloor));
    t = performance.now();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
