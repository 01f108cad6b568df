import type { CliIO } from '../io.js';

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export interface ProgressLine {
  readonly step: number;
  readonly total: number;
  readonly epoch: number;
  readonly loss: number;
  readonly lr: number;
  readonly samplesPerSec: number;
  readonly eta: number;
}

/**
 * Training feedback: a redrawn progress bar on a TTY (stderr), plain lines every `every` steps
 * otherwise (stdout), or one JSON object per step with `--json` (stdout).
 */
export class Progress {
  private drawn = false;
  constructor(
    private readonly io: CliIO,
    private readonly mode: 'tty' | 'plain' | 'json',
    private readonly backend: string,
    private readonly every: number,
  ) {}

  step(p: ProgressLine): void {
    if (this.mode === 'json') {
      this.io.stdout(`${JSON.stringify({ event: 'step', step: p.step, total: p.total, epoch: p.epoch, loss: p.loss, lr: p.lr, samplesPerSec: round(p.samplesPerSec, 2), etaSeconds: Math.round(p.eta), backend: this.backend })}\n`);
      return;
    }
    const text = `step ${p.step}/${p.total}  loss ${p.loss.toFixed(4)}  ${p.samplesPerSec.toFixed(1)} samples/s  ETA ${formatDuration(p.eta)}  ${this.backend}`;
    if (this.mode === 'tty') {
      const width = 24;
      const done = Math.round((p.step / Math.max(p.total, 1)) * width);
      this.io.stderr(`\r\x1b[2K[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${text}`);
      this.drawn = true;
    } else if (p.step % this.every === 0 || p.step === p.total || p.step === 1) this.io.stdout(`${text}\n`);
  }

  /** A message line (ends the progress bar line first on a TTY). */
  line(text: string, json?: Record<string, unknown>): void {
    if (this.mode === 'json') {
      if (json) this.io.stdout(`${JSON.stringify(json)}\n`);
      return;
    }
    if (this.drawn) {
      this.io.stderr('\r\x1b[2K');
      this.drawn = false;
    }
    this.io.stdout(`${text}\n`);
  }

  end(): void {
    if (this.drawn) this.io.stderr('\n');
    this.drawn = false;
  }
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}
