// Images/s for CLIP ViT-B/16 preprocessing of photo JPEGs (decode → normalized pixels → patch tokens):
// @omnitok/tokenizer-image (built dist) against transformers.js' CLIPImageProcessor, same files, same run.
//
//   cd packages/tokenizer-image && npx tsup && cd ../../bench && node image-tokenizer.bench.mjs [rounds]
//
// Photos: 24 JPEGs (q90) at common camera / web sizes, cut from the two CC0 sample photos in
// packages/tokenizer-image/src/__fixtures__ (scikit-image's chelsea and coffee), written to a temp folder.
//
// How each side runs in parallel (same process, same files, same libuv pool of 4 threads, default
// sharp settings; the contenders alternate within each round):
// - omnitok: `tokenizeImageBatch(files)` — files are read ahead, up to 4 images (2 × cores) decode at once
//   (libjpeg-turbo through @omnitok/native-kernels when built with it, else sharp/libvips) on libuv
//   threads, and finished ones are resized + normalized + patchified (native kernels on the same pool;
//   without them WebAssembly SIMD in the main thread) into one contiguous Float32Array [24, 196, 768].
// - transformers.js: `Promise.all(files.map(RawImage.read))` (sharp decodes concurrently), then one
//   `processor(images)` call, which preprocesses all images concurrently (its resizes also run in sharp)
//   and returns one pixel_values tensor [24, 3, 224, 224] — the same number of floats (our layout is
//   the patch-token order a ViT consumes; transformers.js leaves that to the model's conv).
// "one by one" rows: each image awaited before the next, no concurrency on either side; "fused" is the
// plugin's preprocessAndTokenize (what `omnitok tokenize` and training run): resize straight into patch
// order, on the native thread pool when @omnitok/native-kernels is built.
// A full garbage collection runs before every timed call, so no contender pays for collecting the
// previous one's garbage (transformers.js leaves much more of it).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CLIPImageProcessor, RawImage } from '@huggingface/transformers';
import sharp from 'sharp';
import { decodeImage, imageTokenizer, jpegDecoderInUse, patchify, preprocessImage, tokenizeImageBatch } from '../packages/tokenizer-image/dist/index.js';

const rounds = Number(process.argv[2] ?? 7);
const fixtures = fileURLToPath(new URL('../packages/tokenizer-image/src/__fixtures__/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'omnitok-image-bench-'));
const sizes = [[640, 480], [800, 600], [1024, 768], [500, 375], [480, 640], [1280, 853]];
const files = [];
for (const [i, [w, h]] of sizes.entries()) {
  for (const [j, photo] of ['chelsea.jpg', 'coffee.jpg'].entries()) {
    for (const flip of [false, true]) {
      const file = join(dir, `photo-${i}-${j}-${flip ? 'f' : 'n'}.jpg`);
      let img = sharp(readFileSync(join(fixtures, photo))).resize(w, h, { fit: 'cover', kernel: 'lanczos3' });
      if (flip) img = img.flop();
      writeFileSync(file, await img.jpeg({ quality: 90 }).toBuffer());
      files.push(file);
    }
  }
}

const processor = new CLIPImageProcessor({
  do_resize: true,
  size: { shortest_edge: 224 },
  resample: 3, // bicubic
  do_center_crop: true,
  crop_size: { height: 224, width: 224 },
  do_rescale: true,
  rescale_factor: 1 / 255,
  do_normalize: true,
  image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_std: [0.26862954, 0.26130258, 0.27577711],
  do_convert_rgb: true,
});

const plugin = imageTokenizer();
const contenders = {
  'omnitok batch (concurrent decode)': async () => {
    const batch = await tokenizeImageBatch(files, { preset: 'clip-vit-b-16' });
    if (batch.failures.length > 0 || batch.shape[0] !== files.length) throw new Error('omnitok batch failed');
    return batch.shape[0];
  },
  'transformers.js (concurrent read, batched processor)': async () => {
    const images = await Promise.all(files.map((f) => RawImage.read(f)));
    const { pixel_values } = await processor(images);
    if (pixel_values.dims[0] !== files.length) throw new Error('transformers.js failed');
    return files.length;
  },
  'omnitok one by one': async () => {
    for (const f of files) patchify(preprocessImage(await decodeImage(f), 'clip-vit-b-16'));
    return files.length;
  },
  'omnitok one by one, fused (plugin.preprocessAndTokenize)': async () => {
    for (const f of files) await plugin.preprocessAndTokenize(await decodeImage(f), 'clip-vit-b-16');
    return files.length;
  },
  'transformers.js one by one': async () => {
    for (const f of files) await processor(await RawImage.read(f));
    return files.length;
  },
};

// Parity side note: transformers.js resizes with libvips affine (no antialias), not PIL's filter.
const ours = preprocessImage(await decodeImage(files[0]), 'clip-vit-b-16');
const theirs = (await processor(await RawImage.read(files[0]))).pixel_values.data;
let mad = 0;
for (let i = 0; i < ours.data.length; i++) mad += Math.abs(ours.data[i] - theirs[i]);
mad /= ours.data.length;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const results = {};
const cpu = {};
const loadBefore = loadavg()[0];
for (const run of Object.values(contenders)) await run(); // warm-up (JIT, coefficient caches, sharp)
for (let r = 0; r < rounds; r++) {
  for (const [name, run] of Object.entries(contenders)) {
    gc();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const n = await run();
    const s = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    (results[name] ??= []).push(n / s);
    // CPU time per image (all threads): robust when other processes share the cores.
    (cpu[name] ??= []).push((c.user + c.system) / 1000 / n);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`CLIP ViT-B/16 preprocessing, ${files.length} JPEGs (${sizes.map(([w, h]) => `${w}×${h}`).join(', ')}), ${rounds} rounds, median`);
console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} × ${availableParallelism()}, sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}, load average ${loadBefore.toFixed(2)} → ${loadavg()[0].toFixed(2)}`);
console.log(`omnitok's JPEG decoder: ${await jpegDecoderInUse()} (OMNITOK_IMAGE_DECODER=sharp for the libvips one; @omnitok/native-kernels built with libjpeg headers for libjpeg)`);
for (const [name, xs] of Object.entries(results)) {
  console.log(`  ${name.padEnd(56)} ${median(xs).toFixed(1).padStart(8)} images/s ${median(cpu[name]).toFixed(2).padStart(7)} ms CPU/image`);
}
const batchRatio = median(results['omnitok batch (concurrent decode)']) / median(results['transformers.js (concurrent read, batched processor)']);
const serialRatio = median(results['omnitok one by one']) / median(results['transformers.js one by one']);
const fusedRatio = median(results['omnitok one by one, fused (plugin.preprocessAndTokenize)']) / median(results['transformers.js one by one']);
const cpuRatio = median(cpu['transformers.js (concurrent read, batched processor)']) / median(cpu['omnitok batch (concurrent decode)']);
console.log(`  ratio omnitok / transformers.js: concurrent ${batchRatio.toFixed(2)}×, one by one ${serialRatio.toFixed(2)}× (fused ${fusedRatio.toFixed(2)}×), CPU per image ${cpuRatio.toFixed(2)}×`);
console.log(`  mean |Δ| omnitok vs transformers.js pixels on ${files[0].split('/').pop()}: ${mad.toFixed(4)} (omnitok is PIL-exact)`);
