import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, deflateRawSync } from 'node:zlib';
import { DecodeError, UnsupportedFormatError } from '@omnitok/core';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage } from './decode-image.js';

const dir = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'omnitok-image-'));

/** A deterministic RGB test pattern. */
function pattern(width: number, height: number): Uint8Array {
  const px = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) px.set([(x * 37 + y * 11) & 255, (x * 5 + y * 29) & 255, (x * y * 3 + 17) & 255], (y * width + x) * 3);
  return px;
}
const raw = (data: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4) => sharp(data, { raw: { width, height, channels } });

describe('decodeImage', () => {
  it('decodes a PNG to upright RGB with its source and format', async () => {
    const img = await decodeImage(`${dir}lineart.png`);
    expect([img.width, img.height, img.channels, img.format, img.source]).toEqual([320, 240, 3, 'png', `${dir}lineart.png`]);
    expect(img.data.length).toBe(320 * 240 * 3);
    expect(Array.from(img.data.subarray(0, 3))).toEqual([0, 0, 0]); // a stroke starts at the top-left corner
  });

  it('reads lossless WebP, TIFF and PNG of the same pixels identically, and AVIF closely', async () => {
    const px = pattern(33, 21);
    const png = await decodeImage({ bytes: await raw(px, 33, 21, 3).png().toBuffer(), name: 'a.png' });
    expect(Buffer.from(png.data).equals(Buffer.from(px))).toBe(true);
    for (const [format, bytes] of [
      ['webp', await raw(px, 33, 21, 3).webp({ lossless: true }).toBuffer()],
      ['tiff', await raw(px, 33, 21, 3).tiff({ compression: 'lzw' }).toBuffer()],
    ] as const) {
      const img = await decodeImage({ bytes, name: `a.${format}` });
      expect(img.format).toBe(format);
      expect(Buffer.from(img.data).equals(Buffer.from(px)), format).toBe(true);
    }
    const smooth = new Uint8Array(64 * 48 * 3).map((_, i) => (i % 3) * 60 + Math.floor(i / 3 / 64) * 2);
    const avif = await decodeImage({ bytes: await raw(smooth, 64, 48, 3).avif({ quality: 90 }).toBuffer(), name: 'a.avif' });
    expect([avif.format, avif.width, avif.height]).toEqual(['avif', 64, 48]);
    let diff = 0;
    for (let i = 0; i < smooth.length; i++) diff += Math.abs(avif.data[i]! - smooth[i]!);
    expect(diff / smooth.length).toBeLessThan(4);
  });

  it('takes the first frame of an animated GIF', async () => {
    const frame0 = await decodeImage(`${dir}anim.gif`);
    expect([frame0.format, frame0.width, frame0.height]).toEqual(['gif', 80, 60]);
    // Frame 1 is solid green; frame 0 is the white line drawing.
    expect(Array.from(frame0.data.subarray(3 * 79, 3 * 80))).not.toEqual([0, 255, 0]);
    let white = 0;
    for (let i = 0; i < frame0.data.length; i += 3) if (frame0.data[i]! > 200 && frame0.data[i + 1]! > 200) white++;
    expect(white).toBeGreaterThan(80 * 60 * 0.5);
  });

  it('honours EXIF orientation 6 (rotate 90° clockwise)', async () => {
    const px = pattern(40, 24);
    px.set([255, 0, 0], 0); // stored top-left pixel: red
    const bytes = await raw(px, 40, 24, 3).png().withMetadata({ orientation: 6 }).toBuffer();
    const img = await decodeImage({ bytes, name: 'rotated.png' });
    expect([img.width, img.height]).toEqual([24, 40]);
    // Rotating clockwise moves the stored top-left pixel to the top-right corner.
    expect(Array.from(img.data.subarray((24 - 1) * 3, 24 * 3))).toEqual([255, 0, 0]);
    const upright = await decodeImage(`${dir}oriented.jpg`);
    expect([upright.width, upright.height]).toEqual([24, 40]);
  });

  it('composites alpha over white by default, over a chosen background, or drops it', async () => {
    // Two pixels: half-transparent pure red, fully transparent blue.
    const bytes = await raw(new Uint8Array([255, 0, 0, 128, 0, 0, 255, 0]), 2, 1, 4).png().toBuffer();
    const white = await decodeImage({ bytes });
    expect(Array.from(white.data)).toEqual([255, 127, 127, 255, 255, 255]);
    const black = await decodeImage({ bytes }, { background: [0, 0, 0] });
    expect(Array.from(black.data)).toEqual([128, 0, 0, 0, 0, 0]);
    const dropped = await decodeImage({ bytes }, { alpha: 'drop' });
    expect(Array.from(dropped.data)).toEqual([255, 0, 0, 0, 0, 255]);
  });

  it('replicates grayscale (with or without alpha) into RGB', async () => {
    const grey = await decodeImage({ bytes: await raw(new Uint8Array([0, 77, 200, 255]), 2, 2, 1).png().toBuffer() });
    expect(Array.from(grey.data)).toEqual([0, 0, 0, 77, 77, 77, 200, 200, 200, 255, 255, 255]);
    const greyAlpha = await decodeImage({ bytes: await raw(new Uint8Array([100, 255, 100, 0]), 2, 1, 2).png().toBuffer() });
    expect(Array.from(greyAlpha.data)).toEqual([100, 100, 100, 255, 255, 255]);
  });

  it('scales 16-bit samples to 8 bits with round(v / 257)', async () => {
    const values = [0, 128, 129, 1000, 32896, 40000, 65278, 65535, 300];
    const rgb16 = await sharp(new Uint16Array(values), { raw: { width: 3, height: 1, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(rgb16).metadata()).depth).toBe('ushort');
    const img = await decodeImage({ bytes: rgb16 });
    expect(Array.from(img.data)).toEqual(values.map((v) => Math.round(v / 257)));
    expect(img.data[7]).toBe(255);
    const grey16 = await sharp(new Uint16Array([65535, 0, 12850, 257]), { raw: { width: 4, height: 1, channels: 1 } }).toColourspace('grey16').png().toBuffer();
    expect(Array.from((await decodeImage({ bytes: grey16 })).data)).toEqual([255, 255, 255, 0, 0, 0, 50, 50, 50, 1, 1, 1]);
  });

  it('converts a CMYK JPEG to sRGB', async () => {
    const cmyk = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 230, g: 20, b: 20 } } }).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const img = await decodeImage({ bytes: cmyk, name: 'cmyk.jpg' });
    expect(img.data.length).toBe(8 * 8 * 3);
    const [r, g, b] = img.data;
    expect(r).toBeGreaterThan(180);
    expect(g).toBeLessThan(70);
    expect(b).toBeLessThan(70);
  });

  describe('bad input: typed errors naming the file', () => {
    it('a zero-byte file → DecodeError', async () => {
      const path = join(tmp, 'empty.png');
      writeFileSync(path, new Uint8Array(0));
      const error = await decodeImage(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DecodeError);
      expect((error as DecodeError).input).toBe(path);
      expect((error as Error).message).toMatch(/empty\.png.*empty \(0 bytes\)/);
    });

    it('a truncated JPEG and a truncated PNG → DecodeError', async () => {
      for (const name of ['chelsea.jpg', 'lineart.png']) {
        const bytes = await sharp(`${dir}${name}`).toBuffer();
        const path = join(tmp, `cut-${name}`);
        writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
        const error = await decodeImage(path).catch((e: unknown) => e);
        expect(error, name).toBeInstanceOf(DecodeError);
        expect((error as Error).message).toContain(`cut-${name}`);
        expect((error as Error).message).toMatch(/corrupt or truncated/);
      }
    });

    it('a non-image → UnsupportedFormatError listing the formats', async () => {
      const path = join(tmp, 'notes.txt');
      writeFileSync(path, 'this is plain text, not pixels');
      const error = await decodeImage(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnsupportedFormatError);
      expect((error as Error).message).toMatch(/notes\.txt.*"txt".*jpeg, png, webp, gif, tiff, avif/);
    });

    it('a file named like an image whose bytes are none → DecodeError saying so (not "format jpg unsupported")', async () => {
      for (const name of ['fake.jpg', 'fake.PNG', 'fake.webp']) {
        const path = join(tmp, name);
        writeFileSync(path, 'this is plain text, not pixels');
        const error = await decodeImage(path).catch((e: unknown) => e);
        expect(error, name).toBeInstanceOf(DecodeError);
        expect((error as Error).message).toMatch(new RegExp(`${name.replace('.', '\\.')}.*named \\.${name.split('.')[1]!.toLowerCase()}, but its bytes are not (jpeg|png|webp) nor any other supported format`));
      }
    });

    it('a missing file → DecodeError', async () => {
      await expect(decodeImage(join(tmp, 'nope.png'))).rejects.toThrow(/nope\.png: no such file/);
    });

    it('a 30000×30000 PNG bomb is refused before decoding', async () => {
      // A real, valid 900-megapixel greyscale PNG (decodes to 900 MB; under 1 MB compressed).
      const bomb = pngBomb(30000, 30000);
      // The construction is a valid PNG: a small one built the same way decodes to zeros.
      const small = await decodeImage({ bytes: pngBomb(3000, 2000), name: 'small-bomb.png' });
      expect([small.width, small.height, small.data.every((v) => v === 0)]).toEqual([3000, 2000, true]);
      expect(bomb.length).toBeLessThan(2_000_000);
      const path = join(tmp, 'bomb.png');
      writeFileSync(path, bomb);
      const error = await decodeImage(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DecodeError);
      expect((error as Error).message).toMatch(/bomb\.png: 30000×30000 = 900000000 pixels is more than the limit of 178956970/);
      // A lower custom limit applies to ordinary images too.
      await expect(decodeImage(`${dir}lineart.png`, { maxPixels: 1000 })).rejects.toThrow(/lineart\.png.*more than the limit of 1000/);
      await expect(decodeImage(`${dir}chelsea.jpg`, { maxPixels: 1000 })).rejects.toThrow(/chelsea\.jpg.*more than 1000 pixels/);
    });
  });
});

/**
 * A valid 8-bit greyscale PNG of zeros. Its zlib stream repeats one full-flushed deflate segment of
 * 1000 zero rows (a full flush resets the window, so copies of the segment concatenate into one valid
 * stream), then an empty final block and the Adler-32 of all-zero data (a = 1, b = n mod 65521).
 */
function pngBomb(width: number, height: number): Buffer {
  const crcTable = new Int32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  const crc32 = (buf: Buffer) => {
    let c = -1;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    return (c ^ -1) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth 8, colour type 0 (grey), no interlace
  const rowsPerSegment = 1000;
  const segment = deflateRawSync(Buffer.alloc((width + 1) * rowsPerSegment), { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  const total = (width + 1) * height;
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE((((total % 65521) << 16) | 1) >>> 0);
  const idat = Buffer.concat([Buffer.from([0x78, 0xda]), ...Array.from({ length: height / rowsPerSegment }, () => segment), Buffer.from([0x03, 0x00]), adler]);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}
