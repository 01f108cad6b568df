import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { runCli } from '../src/cli.js';

/** Fixtures the training tests write (nothing binary is committed). */

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `omnitok-${prefix}-`));
}

/** A 16×16 PNG: colour class c drawn as a solid background with a brighter square at a class position. */
export async function writePng(path: string, c: number, variant = 0): Promise<void> {
  const palette = [[220, 40, 40], [40, 180, 60], [40, 70, 220], [230, 200, 40]];
  const [r, g, b] = palette[c % palette.length]!;
  const raw = Buffer.alloc(16 * 16 * 3);
  for (let y = 0; y < 16; y++)
    for (let x = 0; x < 16; x++) {
      const inSquare = x >= (c % 2) * 8 && x < (c % 2) * 8 + 8 && y >= (c >> 1) * 8 && y < (c >> 1) * 8 + 8;
      const k = inSquare ? 1 : 0.5;
      const n = ((x * 7 + y * 13 + variant * 31) % 17) - 8;
      raw.set([r * k + n, g * k + n, b * k + n].map((v) => Math.max(0, Math.min(255, Math.round(v)))), (y * 16 + x) * 3);
    }
  mkdirSync(dirname(path), { recursive: true });
  await sharp(raw, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(path);
}

export const COLOR_NAMES = ['red', 'green', 'blue', 'yellow'];

/** A micro model (fast on the cpu backend) and small presets: 16×16 images in 8×8 patches, 24-byte text. */
export function writeMicroConfig(dir: string): { model: string; image: string; text: string } {
  const model = join(dir, 'micro.json');
  writeFileSync(model, JSON.stringify({ size: 'custom', width: 32, depth: 1, heads: 2, mlpRatio: 2, embedDim: 32 }));
  const image = join(dir, 'image-16.json');
  writeFileSync(image, JSON.stringify({ name: 'test-16', size: 16, patchSize: 8, resize: 'shortest', crop: 'center', interpolation: 'bilinear', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channels: 3 }));
  const text = join(dir, 'text-24.json');
  writeFileSync(text, JSON.stringify({ name: 'bytes-24', kind: 'bytes', contextLength: 24 }));
  return { model, image, text };
}

/** A ustar archive of regular files (names over 100 bytes get a pax `path` record), two zero blocks at the end. */
export function makeTar(files: readonly { name: string; data: Uint8Array | string }[]): Buffer {
  const blocks: Buffer[] = [];
  const header = (name: string, size: number, type: string) => {
    const h = Buffer.alloc(512);
    h.write(name.slice(0, 99), 0, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write(type, 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    return h;
  };
  const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
  for (const f of files) {
    const data = typeof f.data === 'string' ? Buffer.from(f.data) : Buffer.from(f.data);
    if (Buffer.byteLength(f.name) > 99) {
      let rec = ` path=${f.name}\n`;
      let len = Buffer.byteLength(rec);
      len += String(len + String(len).length).length;
      rec = `${len}${rec}`;
      const body = Buffer.from(rec);
      blocks.push(header('PaxHeader', body.length, 'x'), body, pad(body.length));
    }
    blocks.push(header(f.name, data.length, '0'), data, pad(data.length));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Captions of the colour classes (several phrasings). */
export function caption(c: number, i: number): string {
  const name = COLOR_NAMES[c]!;
  return [`a ${name} square`, `${name} tile`, `the ${name} one`][i % 3]!;
}

/** Runs `omnitok …args` in-process in `cwd` (no plugin scan); its exit code and what it printed. */
export async function omnitok(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { io: { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), cwd }, scan: false });
  return { code, stdout, stderr };
}
