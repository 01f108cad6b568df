import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { caption, COLOR_NAMES, tempDir, writeMicroConfig, writePng } from './train-fixtures.js';

// Crash safety through the built binary (`npm test` builds first): SIGKILL + --resume, SIGINT.

const bin = fileURLToPath(new URL('../dist/main.js', import.meta.url));
let dir: string;
let args: string[];

beforeAll(async () => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` (npm test does) before these tests`);
  dir = tempDir('crash');
  const cfg = writeMicroConfig(dir);
  const lines: string[] = [];
  for (let i = 0; i < 40; i++) {
    await writePng(join(dir, `${i}.png`), i % 4, i);
    lines.push(JSON.stringify({ image: `${i}.png`, text: caption(i % 4, i), label: COLOR_NAMES[i % 4] }));
  }
  writeFileSync(join(dir, 'data.jsonl'), lines.join('\n'));
  args = ['train', '--data', 'data.jsonl', '--pair', 'image:text', '--model', cfg.model, '--preset', `image=${cfg.image}`, '--preset', `text=${cfg.text}`, '--backend', 'cpu', '--batch-size', '8', '--lr', '0.003', '--eval-fraction', '0.15', '--eval-every', '3', '--checkpoint-every', '2', '--keep', '2', '--json'];
});

const losses = (out: string) =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; step: number; loss: number }).filter((m) => m.type === 'step').map((m) => ({ step: m.step, loss: m.loss }));

/** Spawns the binary and resolves when it exits; `onLine` sees stdout lines as they come. */
function run(extra: string[], onLine?: (line: string, child: ReturnType<typeof spawn>) => void) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [bin, ...args, ...extra], { cwd: dir, env: { ...process.env, OMNITOK_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        onLine?.(buf.slice(0, nl), child);
        buf = buf.slice(nl + 1);
      }
    });
    child.stderr.on('data', (d: Buffer) => void (stderr += d));
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('crash safety of omnitok train', () => {
  it('SIGKILL at a random step, then --resume: the loss sequence equals an uninterrupted run', async () => {
    const steps = 9;
    const whole = join(dir, 'whole');
    const a = await run(['--steps', String(steps), '--out', whole]);
    expect(a.code, a.stderr).toBe(0);
    const reference = losses(whole);
    expect(reference.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);

    const killAt = 3 + Math.floor(Math.random() * 5); // 3..7
    const broken = join(dir, 'killed');
    const k = await run(['--steps', String(steps), '--out', broken], (line, child) => {
      const e = JSON.parse(line) as { event: string; step?: number };
      if (e.event === 'step' && e.step === killAt) child.kill('SIGKILL');
    });
    expect(k.signal, `killed at step ${killAt}`).toBe('SIGKILL');
    const saved = readdirSync(broken).filter((d) => d.startsWith('step-'));
    expect(saved.length, `killed at step ${killAt}`).toBeGreaterThan(0);
    expect(saved.length).toBeLessThanOrEqual(2); // --keep 2

    const b = await run(['--steps', String(steps), '--out', broken, '--resume']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/"resumedFrom":".*step-0000000[2-6]"/);
    expect(losses(broken), `killed at step ${killAt}`).toEqual(reference);
  });

  it('SIGINT saves a checkpoint at the current step and exits 130', async () => {
    const out = join(dir, 'interrupted');
    let sent = false;
    const r = await run(['--steps', '500', '--checkpoint-every', '1000', '--out', out], (line, child) => {
      const e = JSON.parse(line) as { event: string; step?: number };
      if (e.event === 'step' && e.step === 2 && !sent) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(r.code, r.stderr).toBe(130);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; step?: number; checkpoint?: string });
    const stop = events.find((e) => e.event === 'interrupted')!;
    const last = events.filter((e) => e.event === 'step').at(-1)!;
    expect(stop.step).toBe(last.step);
    expect(stop.checkpoint).toMatch(new RegExp(`step-${String(last.step).padStart(8, '0')}$`));
    expect(existsSync(join(stop.checkpoint!, 'model.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'plot.png'))).toBe(true);
  });
});
