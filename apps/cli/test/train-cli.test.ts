import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeNpy, decodeSafetensors } from '@omnitok/core';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { probeBackend, warmupCosine } from '@omnitok/core/runtime';
import { caption, COLOR_NAMES, makeTar, omnitok, tempDir, writeMicroConfig, writePng } from './train-fixtures.js';

// In-process `omnitok train / eval / embed` on data the tests write: a micro model on the cpu backend.

const jsonl = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

/** `name` in the test dir: open_clip's filepath/title CSV over the first 16 images. */
function writeCaptionCsv(name: string): void {
  const rows = ['filepath,title'];
  for (let i = 0; i < 16; i++) rows.push(`img/${i}.png,"${caption(i % 4, i)}"`);
  writeFileSync(join(dir, name), `${rows.join('\n')}\n`);
}

let dir: string;
let cfg: ReturnType<typeof writeMicroConfig>;
let common: string[];
const GOOD = 24;

beforeAll(async () => {
  dir = tempDir('train');
  cfg = writeMicroConfig(dir);
  common = ['--model', cfg.model, '--preset', `image=${cfg.image}`, '--preset', `text=${cfg.text}`, '--backend', 'cpu', '--batch-size', '8', '--lr', '0.003', '--warmup', '0', '--json'];
  const lines: string[] = [];
  for (let i = 0; i < GOOD; i++) {
    const c = i % 4;
    await writePng(join(dir, 'img', `${i}.png`), c, i);
    lines.push(JSON.stringify({ image: `img/${i}.png`, text: caption(c, i), label: COLOR_NAMES[c] }));
  }
  writeFileSync(join(dir, 'img', 'corrupt.png'), Buffer.from('\x89PNG\r\n\x1a\n this is not really a png'));
  lines.splice(3, 0, JSON.stringify({ image: 'img/missing.png', text: 'a red square' }));
  lines.splice(8, 0, JSON.stringify({ image: 'img/corrupt.png', text: 'a blue square' }));
  lines.splice(12, 0, JSON.stringify({ image: 'img/1.png', text: '   ' }));
  lines.splice(15, 0, '{"image": "img/2.png", "text": ');
  lines.splice(20, 0, JSON.stringify({ image: '../../etc/passwd', text: 'escape' }));
  writeFileSync(join(dir, 'data.jsonl'), `${lines.join('\n')}\n`);
});

describe('omnitok train on a JSONL manifest with every kind of bad sample', () => {
  it('skips, counts and names each bad sample, trains, checkpoints, and writes metrics, plot and report', async () => {
    const out = join(dir, 'run-a');
    const r = await omnitok(dir, 'train', '--data', 'data.jsonl', '--pair', 'image:text', '--steps', '3', '--eval-fraction', '0.2', '--max-bad-fraction', '0.3', '--out', out, ...common);
    expect(r.code, r.stderr).toBe(0);
    const skipped = jsonl(join(out, 'skipped.jsonl'));
    const reasons = skipped.map((s) => `${s.where}: ${s.reason}`).join('\n');
    expect(reasons).toMatch(/missing\.png.*no such file/);
    expect(reasons).toMatch(/corrupt\.png/);
    expect(reasons).toMatch(/empty text/);
    expect(reasons).toMatch(/data\.jsonl:16: malformed JSON/);
    expect(reasons).toMatch(/escapes the manifest folder/);
    const steps = jsonl(join(out, 'metrics.jsonl')).filter((m) => m.type === 'step');
    expect(steps.map((m) => m.step)).toEqual([1, 2, 3]);
    for (const m of steps) expect(Number.isFinite(m.loss)).toBe(true);
    expect(readdirSync(out).filter((d) => d.startsWith('step-'))).toContain('step-00000003');
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; skipped?: number });
    expect(events[0]!.event).toBe('start');
    expect(events.at(-1)!.event).toBe('end');
    expect(events.at(-1)!.skipped).toBeGreaterThanOrEqual(2);
    const png = await sharp(join(out, 'plot.png')).metadata();
    expect([png.format, png.width! > 400, png.height! > 200]).toEqual(['png', true, true]);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/<svg[\s\S]*polyline/);
  });

  it('stops with exit 1 and a clear message when more than --max-bad-fraction is bad', async () => {
    const r = await omnitok(dir, 'train', '--data', 'data.jsonl', '--pair', 'image:text', '--steps', '3', '--eval-fraction', '0', '--out', join(dir, 'run-bad'), ...common);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_TRAIN_DATA.*samples were bad.*more than --max-bad-fraction 0\.1/);
  });

  it('refuses to reuse a run directory without --resume', async () => {
    const r = await omnitok(dir, 'train', '--data', 'data.jsonl', '--steps', '1', '--out', join(dir, 'run-a'), ...common);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/pass --resume/);
  });
});

describe('omnitok eval and embed on the trained run', () => {
  it('eval retrieval prints R@1/5/10 both ways over the usable samples', async () => {
    const r = await omnitok(dir, 'eval', '--checkpoint', 'run-a', '--data', 'data.jsonl', '--split', 'all', '--backend', 'cpu', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { samples: number; skipped: number; retrieval: { pair: string; n: number; aToB: { r1: number; r10: number }; bToA: { r10: number } }[] };
    expect(out.samples).toBe(GOOD);
    expect(out.skipped).toBe(5);
    expect(out.retrieval[0]!.pair).toBe('image__text');
    expect(out.retrieval[0]!.n).toBe(GOOD);
    expect(out.retrieval[0]!.aToB.r10).toBeGreaterThanOrEqual(out.retrieval[0]!.aToB.r1);
    const human = await omnitok(dir, 'eval', '--checkpoint', 'run-a', '--data', 'data.jsonl', '--split', 'all', '--backend', 'cpu');
    expect(human.stdout).toMatch(/image→text\s+R@1 [\d.]+%\s+R@5 [\d.]+%\s+R@10/);
    expect(human.stdout).toMatch(/text→image\s+R@1/);
  });

  it('eval retrieval with several captions per image: each image is one candidate, a hit is any of its captions', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 6; i++) for (let k = 0; k < 3; k++) lines.push(JSON.stringify({ image: `img/${i}.png`, text: `${["one", "two", "three"][k]} ${caption(i % 4, i)}` }));
    writeFileSync(join(dir, 'multi.jsonl'), `${lines.join('\n')}\n`);
    const r = await omnitok(dir, 'eval', '--checkpoint', 'run-a', '--data', 'multi.jsonl', '--split', 'all', '--backend', 'cpu', '--json');
    expect(r.code, r.stderr).toBe(0);
    type Row = { n: number; unique: { a: number; b: number }; chanceR1: number; chanceR1BToA: number; aToB: { r1: number; r10: number }; bToA: { r1: number } };
    const row = (JSON.parse(r.stdout) as { retrieval: Row[] }).retrieval[0]!;
    expect([row.n, row.unique.a, row.unique.b]).toEqual([18, 6, 18]);
    expect(row.chanceR1).toBeCloseTo(3 / 18, 12); // an image has 3 of the 18 captions
    expect(row.chanceR1BToA).toBeCloseTo(1 / 6, 12); // a caption has 1 of the 6 images
    expect(row.aToB.r10).toBeGreaterThanOrEqual(row.aToB.r1);
    const human = await omnitok(dir, 'eval', '--checkpoint', 'run-a', '--data', 'multi.jsonl', '--split', 'all', '--backend', 'cpu');
    expect(human.stdout).toMatch(/18 pairs over 6 distinct image and 18 distinct text/);
  });

  it('eval zero-shot uses the labels as classes and the templates file', async () => {
    writeFileSync(join(dir, 'templates.txt'), 'a {} square\n{} tile\n');
    const r = await omnitok(dir, 'eval', '--checkpoint', 'run-a', '--data', 'data.jsonl', '--split', 'all', '--task', 'zero-shot', '--templates', 'templates.txt', '--backend', 'cpu', '--json');
    expect(r.code, r.stderr).toBe(0);
    const z = (JSON.parse(r.stdout) as { zeroShot: { classes: number; n: number; top1: number; top5: number; chanceTop1: number } }).zeroShot;
    expect([z.classes, z.n, z.chanceTop1]).toEqual([4, GOOD, 0.25]);
    expect(z.top5).toBe(1); // 4 classes: the label is always among the best 5
  });

  it('embed writes unit [n, d] rows to .npy, deterministic, and .safetensors with metadata', async () => {
    const r = await omnitok(dir, 'embed', '--checkpoint', 'run-a', '--modality', 'image', 'img/0.png', 'img/1.png', 'img/0.png', '--out', 'e.npy', '--backend', 'cpu');
    expect(r.code, r.stderr).toBe(0);
    const e = decodeNpy(readFileSync(join(dir, 'e.npy')));
    expect(e.shape).toEqual([3, 32]);
    const rows = [0, 1, 2].map((i) => Array.from((e.data as Float32Array).subarray(i * 32, (i + 1) * 32)));
    for (const row of rows) expect(Math.hypot(...row)).toBeCloseTo(1, 5);
    expect(rows[2]).toEqual(rows[0]);
    expect(rows[1]).not.toEqual(rows[0]);
    const t = await omnitok(dir, 'embed', '--checkpoint', 'run-a', '--modality', 'text', 'a red square', 'green tile', '--out', 't.safetensors', '--backend', 'cpu');
    expect(t.code, t.stderr).toBe(0);
    const st = decodeSafetensors(readFileSync(join(dir, 't.safetensors')));
    expect(st.tensors.text!.shape).toEqual([2, 32]);
    expect(st.metadata.modality).toBe('text');
    expect(JSON.parse(st.metadata.inputs!)).toEqual(['a red square', 'green tile']);
    const bad = await omnitok(dir, 'embed', '--checkpoint', 'run-a', '--modality', 'audio', 'x.wav', '--out', 'x.npy', '--backend', 'cpu');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--modality.*image, text/);
  });

  it('embed --data streams a manifest in batches (rows as embedded one call at a time); --skip-bad leaves out and lists the bad records', async () => {
    // the good image records of data.jsonl, in order (the manifest also holds a missing file, a corrupt PNG, a malformed line, a path escape)
    const good = readFileSync(join(dir, 'data.jsonl'), 'utf8').split('\n').filter(Boolean).flatMap((l) => {
      try {
        const image = (JSON.parse(l) as { image: string }).image;
        return /^img\/\d+\.png$/.test(image) ? [image] : [];
      } catch {
        return [];
      }
    });
    expect(good).toHaveLength(GOOD + 1);
    const stop = await omnitok(dir, 'embed', '--checkpoint', 'run-a', '--modality', 'image', '--data', 'data.jsonl', '--out', 'd.npy', '--backend', 'cpu');
    expect(stop.code).toBe(1);
    expect(stop.stderr).toMatch(/missing\.png/);
    // rows already written went to a partial file, removed on failure: nothing under the output name
    expect(readdirSync(dir).filter((f) => f.startsWith('d.npy'))).toEqual([]);
    const r = await omnitok(dir, 'embed', '--checkpoint', 'run-a', '--modality', 'image', '--data', 'data.jsonl', '--skip-bad', '--batch-size', '4', '--concurrency', '3', '--out', 'd.safetensors', '--backend', 'cpu', '--json');
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { shape: number[]; skipped: { input: string; reason: string }[] };
    expect(summary.shape).toEqual([GOOD + 1, 32]);
    const reasons = summary.skipped.map((s) => s.reason).join('\n');
    expect(summary.skipped).toHaveLength(4);
    expect(reasons).toMatch(/missing\.png/);
    expect(reasons).toMatch(/corrupt\.png/);
    expect(reasons).toMatch(/malformed JSON/);
    expect(reasons).toMatch(/escapes the manifest folder/);
    expect(r.stderr).toMatch(/omnitok: skipped .*missing\.png/);
    expect(readdirSync(dir).filter((f) => f.startsWith('d.safetensors'))).toEqual(['d.safetensors']);
    const st = decodeSafetensors(readFileSync(join(dir, 'd.safetensors')));
    expect(JSON.parse(st.metadata.inputs!)).toHaveLength(GOOD + 1);
    const one = await omnitok(dir, 'embed', '--checkpoint', 'run-a', '--modality', 'image', ...good, '--batch-size', '1', '--out', 'd1.npy', '--backend', 'cpu');
    expect(one.code, one.stderr).toBe(0);
    const a = st.tensors.image!.data as Float32Array;
    const b = decodeNpy(readFileSync(join(dir, 'd1.npy'))).data as Float32Array;
    expect(a.length).toBe(b.length);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).toBeLessThan(1e-5);
    const both = await omnitok(dir, 'embed', '--checkpoint', 'run-a', '--modality', 'image', 'img/0.png', '--data', 'data.jsonl', '--out', 'x.npy', '--backend', 'cpu');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/either --data or input arguments/);
    const none = await omnitok(dir, 'embed', '--checkpoint', 'run-a', '--modality', 'image', '--out', 'x.npy', '--backend', 'cpu');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--data.*a data source.*or at least one input file/);
  });
});

describe('omnitok train on other data formats', () => {
  it("CSV with open_clip's filepath/title columns", async () => {
    writeCaptionCsv('train.csv');
    const out = join(dir, 'run-csv');
    const r = await omnitok(dir, 'train', '--data', 'train.csv', '--steps', '2', '--eval-fraction', '0', '--out', out, ...common);
    expect(r.code, r.stderr).toBe(0);
    expect(jsonl(join(out, 'metrics.jsonl')).filter((m) => m.type === 'step')).toHaveLength(2);
    const config = JSON.parse(readFileSync(join(out, 'step-00000002', 'config.json'), 'utf8')) as { pairs: string[][] };
    expect(config.pairs).toEqual([['image', 'text']]);
  });

  it('WebDataset shards from a brace pattern (img2dataset layout)', async () => {
    for (let s = 0; s < 2; s++) {
      const files = [];
      for (let i = 0; i < 8; i++) {
        const k = s * 8 + i;
        files.push({ name: `${String(k).padStart(6, '0')}.png`, data: readFileSync(join(dir, 'img', `${k}.png`)) });
        files.push({ name: `${String(k).padStart(6, '0')}.txt`, data: caption(k % 4, k) });
        files.push({ name: `${String(k).padStart(6, '0')}.json`, data: '{}' });
      }
      writeFileSync(join(dir, `shard-${String(s).padStart(5, '0')}.tar`), makeTar(files));
    }
    const out = join(dir, 'run-wds');
    const r = await omnitok(dir, 'train', '--data', 'shard-{00000..00001}.tar', '--pair', 'image:text', '--steps', '2', '--eval-fraction', '0', '--out', out, ...common);
    expect(r.code, r.stderr).toBe(0);
    expect(jsonl(join(out, 'metrics.jsonl')).filter((m) => m.type === 'step')).toHaveLength(2);
    expect(jsonl(join(out, 'skipped.jsonl'))).toEqual([]);
  });
});

const webgpu = await probeBackend('webgpu');
const needWebgpu = Boolean(process.env.CI) || process.env.OMNITOK_REQUIRE_WEBGPU === '1';

describe('omnitok train --matmul-precision', () => {
  const rows = () => writeCaptionCsv('precision.csv');

  it('f16 on a backend other than webgpu is a usage error that names the option', async () => {
    rows();
    const r = await omnitok(dir, 'train', '--data', 'precision.csv', '--steps', '1', '--eval-fraction', '0', '--out', join(dir, 'run-f16-cpu'), ...common, '--matmul-precision', 'f16');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--matmul-precision.*f16.*webgpu feature/);
  });

  it.skipIf(!webgpu.available && !needWebgpu)('f16-emulated on webgpu: f16 GEMMs with a dynamic loss scale train, and the run records the precision', async () => {
    rows();
    const out = join(dir, 'run-f16');
    const args = common.map((a) => (a === 'cpu' ? 'webgpu' : a));
    // --checkpoint-every 2: step 1 is no boundary, so the next batch's step is queued behind it (one in
    // flight) — when the overflow is read only after that, the step behind is skipped too and its batch
    // stepped again: the same skips follow either way (which way depends on when the read finishes)
    const r = await omnitok(dir, 'train', '--data', 'precision.csv', '--steps', '2', '--checkpoint-every', '2', '--eval-fraction', '0', '--out', out, ...args, '--matmul-precision', 'f16-emulated');
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; backend?: string; step?: number });
    expect(events[0]).toMatchObject({ event: 'start', backend: 'webgpu', matmulPrecision: 'f16-emulated' });

    const steps = jsonl(join(out, 'metrics.jsonl')).filter((m) => m.type === 'step');
    expect(steps.map((m) => m.step)).toEqual([1, 2]);
    for (const m of steps) expect(Number.isFinite(m.loss)).toBe(true);
    // the loss scale starts at 2¹⁶ and halves on each overflow (the micro model's first batches
    // overflow f16 at 2¹⁶): skipped steps are reported, and the step is taken by the next batch
    const skips = events.filter((e) => e.event === 'skip') as { step: number; lossScale: number }[];
    skips.forEach((e, i) => expect(e).toMatchObject({ step: 1, lossScale: 65536 / 2 ** i }));
    const config = JSON.parse(readFileSync(join(out, 'step-00000002', 'config.json'), 'utf8')) as { train: { matmulPrecision: string } };
    expect(config.train.matmulPrecision).toBe('f16-emulated');
    // the loss scale goes into the checkpoint (a resume continues with it): halved per skip, 2 clean steps since
    const state = JSON.parse(readFileSync(join(out, 'step-00000002', 'state.json'), 'utf8')) as { extra: { lossScale: { scale: number; goodSteps: number } } };
    expect(state.extra.lossScale).toEqual({ scale: 65536 / 2 ** skips.length, goodSteps: 2 });
  }, 180_000);
});

describe.skipIf(!webgpu.available && !needWebgpu)('omnitok train on webgpu: one step in flight', () => {
  it('trains the same steps as one at a time (OMNITOK_TRAIN_IN_FLIGHT=0), with a checkpoint and an eval between', async () => {
    writeCaptionCsv('in-flight.csv');
    const args = common.map((a) => (a === 'cpu' ? 'webgpu' : a));
    const run = async (name: string, inFlight: boolean) => {
      const out = join(dir, name);
      if (!inFlight) process.env.OMNITOK_TRAIN_IN_FLIGHT = '0';
      try {
        // boundaries at 4 (checkpoint), 5 and 7 (evals): steps 1, 2, 3 and 6 have the next one queued behind
        const r = await omnitok(dir, 'train', '--data', 'in-flight.csv', '--steps', '7', '--checkpoint-every', '4', '--eval-every', '5', '--eval-fraction', '0.25', '--out', out, ...args);
        expect(r.code, r.stderr).toBe(0);
      } finally {
        delete process.env.OMNITOK_TRAIN_IN_FLIGHT;
      }
      const metrics = jsonl(join(out, 'metrics.jsonl'));
      const state = JSON.parse(readFileSync(join(out, 'step-00000004', 'state.json'), 'utf8')) as { data: unknown };
      // the checkpoint after step 4 (a step queued behind it would have moved these by a whole update)
      const weights = ['model', 'optimizer'].map((f) => decodeSafetensors(readFileSync(join(out, 'step-00000004', `${f}.safetensors`))).tensors);
      return { steps: metrics.filter((m) => m.type === 'step').map((m) => [m.step, m.loss]), evals: metrics.filter((m) => m.type === 'eval').map((m) => m.step), data: state.data, weights, checkpoints: readdirSync(out).filter((d) => d.startsWith('step-')) };
    };
    const oneAtATime = await run('run-one-at-a-time', false);
    const inFlight = await run('run-in-flight', true);
    expect(oneAtATime.steps.map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(oneAtATime.steps.map(([, l]) => l)).size).toBe(7);
    // the same steps: the same losses (to float rounding: tfjs runs a tiny op on the CPU when its input's
    // values happen to be there, which depends on when reads finish); checkpoints and evals after the
    // same steps, the step-4 checkpoint with the data position of four batches and the weights of four steps
    expect(inFlight.steps.map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    inFlight.steps.forEach(([, l], i) => expect(Math.abs((l as number) / (oneAtATime.steps[i]![1] as number) - 1), `step ${i + 1}`).toBeLessThan(1e-5));
    expect(inFlight.evals).toEqual(oneAtATime.evals);
    expect(inFlight.evals).toEqual([5, 7]);
    expect(inFlight.data).toEqual(oneAtATime.data);
    inFlight.weights.forEach((file, i) => {
      const want = oneAtATime.weights[i]!;
      expect(Object.keys(file).sort()).toEqual(Object.keys(want).sort());
      for (const [name, t] of Object.entries(file)) {
        const ref = want[name]!.data as Float32Array;
        const worst = (t.data as Float32Array).reduce((m, v, j) => Math.max(m, Math.abs(v - ref[j]!)), 0);
        expect(worst, name).toBeLessThan(1e-6);
      }
    });
    expect(inFlight.checkpoints).toEqual(oneAtATime.checkpoints);
  }, 180_000);
});

describe('omnitok train --grad-checkpointing', () => {
  it('trains the same steps as without it (the blocks recomputed in the backward) and records the option', async () => {
    writeCaptionCsv('checkpointing.csv');
    const run = async (name: string, ...extra: string[]) => {
      const out = join(dir, name);
      const r = await omnitok(dir, 'train', '--data', 'checkpointing.csv', '--steps', '3', '--eval-fraction', '0', '--out', out, ...common, ...extra);
      expect(r.code, r.stderr).toBe(0);
      const losses = jsonl(join(out, 'metrics.jsonl')).filter((m) => m.type === 'step').map((m) => m.loss as number);
      const config = JSON.parse(readFileSync(join(out, 'step-00000003', 'config.json'), 'utf8')) as { train: { gradCheckpointing?: boolean } };
      return { losses, recorded: config.train.gradCheckpointing };
    };
    const plain = await run('run-plain');
    const checkpointed = await run('run-checkpointed', '--grad-checkpointing');
    expect(plain.recorded).toBe(false);
    expect(checkpointed.recorded).toBe(true);
    expect(checkpointed.losses).toHaveLength(3);
    // later losses depend on every gradient of the steps before: equal losses are equal updates
    expect(checkpointed.losses).toEqual(plain.losses);
    expect(new Set(plain.losses).size).toBe(3);
  }, 120_000);

  it('a resumed run can turn it on (the advice after running out of memory): the same steps follow', async () => {
    writeCaptionCsv('resume-ckpt.csv');
    const out = join(dir, 'run-resume-ckpt');
    const first = await omnitok(dir, 'train', '--data', 'resume-ckpt.csv', '--steps', '4', '--checkpoint-every', '2', '--eval-fraction', '0', '--out', out, ...common);
    expect(first.code, first.stderr).toBe(0);
    const losses = () => jsonl(join(out, 'metrics.jsonl')).filter((m) => m.type === 'step').map((m) => m.loss as number);
    const plain = losses();
    expect(plain).toHaveLength(4);
    // as if the run had died after its step-2 checkpoint
    rmSync(join(out, 'step-00000004'), { recursive: true });
    const resumed = await omnitok(dir, 'train', '--resume', '--grad-checkpointing', '--out', out, ...common);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(losses()).toEqual(plain);
    const config = JSON.parse(readFileSync(join(out, 'step-00000004', 'config.json'), 'utf8')) as { train: { gradCheckpointing?: boolean } };
    expect(config.train.gradCheckpointing).toBe(true);
  }, 120_000);

  it('--resume refuses flags that would change the run (instead of ignoring them) and accepts its own values', async () => {
    writeCaptionCsv('resume-flags.csv');
    const out = join(dir, 'run-resume-flags');
    const first = await omnitok(dir, 'train', '--data', 'resume-flags.csv', '--steps', '2', '--checkpoint-every', '1', '--eval-fraction', '0', '--out', out, ...common);
    expect(first.code, first.stderr).toBe(0);
    const resume = (...flags: string[]) => omnitok(dir, 'train', '--resume', '--out', out, '--backend', 'cpu', '--json', ...flags);
    for (const [flags, pattern] of [
      [['--batch-size', '4'], /Invalid --batch-size: got 4, expected the resumed run's own 8/],
      [['--lr', '0.01'], /Invalid --lr: got 0\.01, expected the resumed run's own 0\.003/],
      [['--seed', '5'], /Invalid --seed: got 5/],
      [['--data', 'data.jsonl'], /Invalid --data: got "data\.jsonl", expected the resumed run's own .*resume-flags\.csv/],
      [['--objective', 'siglip'], /Invalid --objective: got "siglip", expected the resumed run's own clip/],
      [['--model', 'tiny'], /Invalid --model: got "tiny"/],
      [['--pair', 'text:image'], /Invalid --pair/],
      [['--preset', 'image=clip-vit-b-16'], /Invalid --preset: got "image=clip-vit-b-16"/],
      [['--augment'], /Invalid --augment: got true, expected the resumed run's own false/],
    ] as const) {
      const r = await resume(...flags);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr, flags.join(' ')).toMatch(pattern);
      expect(r.stderr).toMatch(/start a new --out to change them/);
    }
    // nothing was trained by the refused attempts
    expect(readdirSync(out).filter((f) => f.startsWith('step-')).sort()).toEqual(['step-00000001', 'step-00000002']);
    // the run's own values (the first command line again) and settings that do not shape the run are fine
    const again = await omnitok(dir, 'train', '--resume', '--data', join(dir, 'resume-flags.csv'), '--steps', '2', '--eval-fraction', '0', '--keep', '5', '--out', out, ...common);
    expect(again.code, again.stderr).toBe(0);
  }, 120_000);

  it('--resume --steps N gives a run a new end past its checkpoint: the schedule is recomputed over N, the config keeps it', async () => {
    writeCaptionCsv('resume-extend.csv');
    const out = join(dir, 'run-resume-extend');
    const first = await omnitok(dir, 'train', '--data', 'resume-extend.csv', '--steps', '2', '--warmup', '1', '--eval-fraction', '0', '--out', out, ...common.filter((a) => a !== '--warmup' && a !== '0'));
    expect(first.code, first.stderr).toBe(0);
    const resume = (...flags: string[]) => omnitok(dir, 'train', '--resume', '--out', out, '--backend', 'cpu', ...flags);
    // not past the checkpoint: refused, nothing trained (the run's own 2 is its first command line again)
    const short = await resume('--steps', '1');
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/Invalid --steps: got 1, expected more than the 2 step\(s\) the resumed run's checkpoint has done \(it was a 2-step run\)/);
    const done = await resume('--steps', '2');
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/already reached step 2 of 2/);
    const longer = await resume('--steps', '5', '--json');
    expect(longer.code, longer.stderr).toBe(0);
    const start = JSON.parse(longer.stdout.split('\n')[0]!) as { event: string; totalSteps: number; extendedFrom: number };
    expect(start).toMatchObject({ event: 'start', totalSteps: 5, extendedFrom: 2 });
    const steps = jsonl(join(out, 'metrics.jsonl')).filter((m) => m.type === 'step');
    expect(steps.map((m) => m.step)).toEqual([1, 2, 3, 4, 5]);
    // steps 1–2 ran on the 2-step schedule; 3–5 on the 5-step one (warmup 1, then cosine to 0 at step 5)
    const schedule = (total: number) => warmupCosine({ baseLr: 0.003, warmupSteps: 1, totalSteps: total });
    steps.forEach((m, i) => expect(m.lr as number, `step ${i + 1}`).toBeCloseTo(schedule(i < 2 ? 2 : 5)(i), 12));
    expect(steps[2]!.lr as number).toBeGreaterThan(schedule(2)(2) + 1e-4); // where the 2-step schedule had ended
    const config = JSON.parse(readFileSync(join(out, 'step-00000005', 'config.json'), 'utf8')) as { train: { totalSteps: number } };
    expect(config.train.totalSteps).toBe(5);
    // and a plain --resume now keeps the new end
    const after = await resume();
    expect(after.stdout).toMatch(/already reached step 5 of 5/);
  }, 120_000);

  it('--resume --epochs N extends an epoch-based run to N epochs (counted in full batches); fewer steps than done are refused', async () => {
    writeCaptionCsv('resume-epochs.csv'); // 16 rows, batch 8: two steps an epoch
    const out = join(dir, 'run-resume-epochs');
    const first = await omnitok(dir, 'train', '--data', 'resume-epochs.csv', '--epochs', '1', '--eval-fraction', '0', '--out', out, ...common);
    expect(first.code, first.stderr).toBe(0);
    const steps = () => jsonl(join(out, 'metrics.jsonl')).filter((m) => m.type === 'step').map((m) => [m.step, m.epoch]);
    expect(steps()).toEqual([[1, 0], [2, 0]]);
    const resume = (...flags: string[]) => omnitok(dir, 'train', '--resume', '--out', out, '--backend', 'cpu', ...flags);
    const longer = await resume('--epochs', '3', '--json');
    expect(longer.code, longer.stderr).toBe(0);
    expect(JSON.parse(longer.stdout.split('\n')[0]!)).toMatchObject({ event: 'start', totalSteps: 6, extendedFrom: 2 });
    expect(steps()).toEqual([[1, 0], [2, 0], [3, 1], [4, 1], [5, 2], [6, 2]]);
    const config = JSON.parse(readFileSync(join(out, 'step-00000006', 'config.json'), 'utf8')) as { train: { totalSteps: number; epochs: number } };
    expect(config.train).toMatchObject({ totalSteps: 6, epochs: 3 });
    // an end before the checkpoint: refused, nothing trained
    const fewer = await resume('--epochs', '2');
    expect(fewer.code).toBe(2);
    expect(fewer.stderr).toMatch(/Invalid --epochs: got 2, expected more than the 6 step\(s\) the resumed run's checkpoint has done \(it was a 6-step run; 2 epoch\(s\) are 4 steps\)/);
    expect(steps()).toHaveLength(6);
  }, 120_000);
});
