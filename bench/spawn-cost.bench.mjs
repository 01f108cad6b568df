// What starting ffmpeg costs a process that holds memory: fork (Node's child_process) against the
// native spawner (posix_spawn in @omnitok/native-kernels), which every ffmpeg / ffprobe run of the
// video and audio packages goes through (`spawnTool` in @omnitok/core).
//
//   npm run build && node bench/spawn-cost.bench.mjs [residentMiB ...] [--repeats N]
//
// For each resident size (default 16, 256, 1024 MiB): a fresh node process fills a buffer of that size
// (a model, a batch), then N times (default 5) tokenizes a 16-frame clip of a 20 s 320×240 file
// (videomae-16x224-uniform: one ffprobe + one ffmpeg) and rewrites the buffer (the process's own work:
// a training step writing its weights). Printed per spawner: the median time to tokenize, the median
// time to rewrite the buffer, and the page faults per round; after fork every page written again
// faults once (copy-on-write protection), after posix_spawn none does.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;

if (process.argv[2] === '--round') {
  const [, , , path, mib, repeats] = process.argv;
  const { decodeVideo, tokenizeVideo } = await import(new URL('../packages/tokenizer-video/dist/index.js', import.meta.url).href);
  const { toolSpawner } = await import(new URL('../packages/core/dist/index.js', import.meta.url).href);
  const big = new Uint8Array(Number(mib) << 20);
  big.fill(1);
  const rows = [];
  for (let i = 0; i <= Number(repeats); i++) {
    const r0 = process.resourceUsage();
    const t0 = performance.now();
    await tokenizeVideo(await decodeVideo(path), 'videomae-16x224-uniform');
    const t1 = performance.now();
    big.fill(i + 2);
    const t2 = performance.now();
    const r1 = process.resourceUsage();
    if (i > 0) rows.push({ tokenize: t1 - t0, rewrite: t2 - t1, faults: r1.minorPageFault - r0.minorPageFault }); // round 0 warms up
  }
  process.stdout.write(JSON.stringify({ spawner: await toolSpawner(), rows }));
} else {
  const args = process.argv.slice(2);
  const at = args.indexOf('--repeats');
  const repeats = at >= 0 ? Number(args.splice(at, 2)[1]) : 5;
  const sizes = args.length ? args.map(Number) : [16, 256, 1024];
  const { locateFfmpeg } = await import(new URL('../packages/tokenizer-audio/dist/index.js', import.meta.url).href);
  const dir = mkdtempSync(join(tmpdir(), 'omnitok-spawn-bench-'));
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  try {
    const path = join(dir, 'clip.mp4');
    execFileSync(locateFfmpeg(), ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=s=320x240:r=25:d=20', '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '30', '-pix_fmt', 'yuv420p', path]);
    console.log(`16 frames of a 20 s 320×240 clip per round, ${repeats} rounds (median) after one warm-up, each size and spawner in its own process`);
    console.log('resident MiB  spawner       tokenize ms  rewrite ms  faults/round');
    for (const mib of sizes) {
      for (const env of [{}, { OMNITOK_SPAWN: 'node' }]) {
        const out = execFileSync(process.execPath, [join(here, 'spawn-cost.bench.mjs'), '--round', path, String(mib), String(repeats)], { encoding: 'utf8', env: { ...process.env, ...env } });
        const { spawner, rows } = JSON.parse(out);
        const m = (k) => median(rows.map((r) => r[k]));
        console.log(`${String(mib).padStart(12)}  ${spawner.padEnd(12)}  ${m('tokenize').toFixed(1).padStart(11)}  ${m('rewrite').toFixed(1).padStart(10)}  ${String(Math.round(m('faults'))).padStart(12)}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
