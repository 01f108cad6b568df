import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, jpegDecoderInUse } from './decode-image.js';

/*
 * The JPEG fast path (`@omnitok/native-kernels`' libjpeg decoder) against sharp, pixel for pixel, over
 * the JPEG variants that matter: chroma subsampling 4:2:0 / 4:2:2 / 4:4:4, progressive, restart
 * markers, greyscale, odd sizes, 1×1, and the inputs it must hand back to sharp (EXIF orientation,
 * CMYK, truncated data, the pixel limit), where the results must be exactly sharp's. Where the addon
 * or libjpeg is missing (OMNITOK_REQUIRE_NATIVE_JPEG unset), the same comparisons check the sharp path.
 */
const dir = new URL('./__fixtures__/', import.meta.url).pathname;
const decoder = await jpegDecoderInUse();

async function viaSharp(bytes: Buffer): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(bytes, { autoOrient: true }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

const photo = readFileSync(`${dir}chelsea.jpg`);
const variants: [string, () => Promise<Buffer>][] = [
  ['4:2:0 q90', () => sharp(photo).jpeg({ quality: 90 }).toBuffer()],
  ['4:4:4 q95', () => sharp(photo).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer()],
  ['progressive', () => sharp(photo).jpeg({ progressive: true }).toBuffer()],
  ['odd size 333×251, mozjpeg-style trellis', () => sharp(photo).resize(333, 251).jpeg({ trellisQuantisation: true, overshootDeringing: true }).toBuffer()],
  ['greyscale', () => sharp(photo).greyscale().jpeg().toBuffer()],
  ['1×1', () => sharp(photo).resize(1, 1).jpeg().toBuffer()],
  ['the fixture as is', async () => photo],
];

describe(`JPEG decoding (${decoder})`, () => {
  it('uses libjpeg where the native addon has it (required in CI)', () => {
    if (process.env.OMNITOK_REQUIRE_NATIVE_JPEG === '1') expect(decoder).toBe('libjpeg');
    expect(['libjpeg', 'sharp']).toContain(decoder);
  });

  for (const [title, make] of variants) {
    it(`${title}: the same pixels as sharp`, async () => {
      const bytes = await make();
      const got = await decodeImage({ bytes, name: 'x.jpg' });
      const want = await viaSharp(bytes);
      expect([got.width, got.height, got.channels]).toEqual([want.width, want.height, 3]);
      expect(Buffer.compare(Buffer.from(got.data), Buffer.from(want.data))).toBe(0);
    });
  }

  it('hands EXIF-rotated and CMYK JPEGs back to sharp: upright, converted, as before', async () => {
    const oriented = readFileSync(`${dir}oriented.jpg`);
    const got = await decodeImage({ bytes: oriented, name: 'o.jpg' });
    const want = await viaSharp(oriented);
    expect([got.width, got.height]).toEqual([want.width, want.height]);
    expect(Buffer.compare(Buffer.from(got.data), Buffer.from(want.data))).toBe(0);
    const cmyk = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 230, g: 20, b: 20 } } }).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    const c = await decodeImage({ bytes: cmyk, name: 'cmyk.jpg' });
    const [r, g, b] = c.data;
    expect([r! > 180, g! < 70, b! < 70]).toEqual([true, true, true]); // sharp's CMYK → sRGB conversion (decode-image.test.ts)
  });

  it('truncated data and the pixel limit fail exactly as with sharp (typed errors naming the file)', async () => {
    const bytes = await sharp(photo).jpeg().toBuffer();
    await expect(decodeImage({ bytes: bytes.subarray(0, bytes.length >> 1), name: 'half.jpg' })).rejects.toThrow(/half\.jpg.*corrupt or truncated jpeg/);
    await expect(decodeImage({ bytes, name: 'big.jpg' }, { maxPixels: 1000 })).rejects.toThrow(/big\.jpg.*more than 1000 pixels/);
  });

  it('an EXIF block whose IFD offset is near 2^32 decodes like the file without it (the offset wrapped a bounds check: a crash)', async () => {
    const plain = await decodeImage({ bytes: photo, name: 'plain.jpg' });
    // APP1 "Exif\0\0" + a TIFF header pointing its first IFD at `offset`, inserted after SOI
    const withExif = (offset: number, bigEndian: boolean) => {
      const tiff = Buffer.alloc(8);
      tiff.write(bigEndian ? 'MM' : 'II', 0, 'latin1');
      if (bigEndian) {
        tiff.writeUInt16BE(42, 2);
        tiff.writeUInt32BE(offset, 4);
      } else {
        tiff.writeUInt16LE(42, 2);
        tiff.writeUInt32LE(offset, 4);
      }
      const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
      const marker = Buffer.from([0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 0xff]);
      return Buffer.concat([photo.subarray(0, 2), marker, payload, photo.subarray(2)]);
    };
    for (const offset of [0xffffffff, 0xfffffffe, 0xfffffff4, 0x7fffffff, 8, 6]) {
      for (const bigEndian of [false, true]) {
        const got = await decodeImage({ bytes: withExif(offset, bigEndian), name: 'exif.jpg' });
        expect([got.width, got.height], `offset ${offset}`).toEqual([plain.width, plain.height]);
        expect(Buffer.compare(Buffer.from(got.data), Buffer.from(plain.data)), `offset ${offset}`).toBe(0);
      }
    }
  });

  it('decodes many at once (libuv threads), each result its own buffer', async () => {
    const inputs = await Promise.all(variants.map(([, make]) => make()));
    const all = await Promise.all([...inputs, ...inputs].map((bytes, i) => decodeImage({ bytes, name: `${i}.jpg` })));
    const first = all.slice(0, inputs.length);
    const second = all.slice(inputs.length);
    first.forEach((img, i) => {
      expect(img.data.buffer === second[i]!.data.buffer).toBe(false);
      expect(Buffer.compare(Buffer.from(img.data), Buffer.from(second[i]!.data))).toBe(0);
    });
  });
});
