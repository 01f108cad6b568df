import {
  DecodeError,
  type DecodeOptions,
  fileTypeByExtension,
  InvalidArgumentError,
  loadOptionalNativeKernels,
  type ModalityInput,
  type NormalizedInput,
  normalizeInput,
  type OptionalNativeKernels,
  readInputBytes,
  UnsupportedFormatError,
} from '@omnitok/core';
import sharp from 'sharp';
import { IMAGE_FILE_TYPES, sniffImageFormat } from './file-types.js';

/**
 * A decoded image: 8-bit RGB, interleaved row-major (`data[(y * width + x) * 3 + c]`), upright (EXIF
 * orientation applied), with alpha already resolved. This is the image plugin's raw form.
 */
export interface DecodedImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 3;
  /** The input's path or `<N bytes>` / the given name, for messages and token metadata. */
  readonly source: string;
  /** The container format found by magic bytes: jpeg, png, webp, gif, tiff or avif. */
  readonly format: string;
}

/**
 * Options of {@link decodeImage}.
 *
 * Alpha: by default a transparent image is composited over `background` (white), i.e.
 * `round((c·a + bg·(255 − a)) / 255)` per channel, the way the image looks on a page. `alpha: 'drop'`
 * discards alpha instead, like Pillow's `convert('RGB')` (the colour under a transparent pixel shows,
 * often black) — choose it to reproduce a Python pipeline that calls `convert('RGB')` on RGBA images.
 */
export interface ImageDecodeOptions extends DecodeOptions {
  /** Largest width × height accepted; more is refused before decoding. Default 178,956,970 (Pillow's
   * decompression-bomb error threshold, 2 × `Image.MAX_IMAGE_PIXELS`). */
  readonly maxPixels?: number;
  readonly alpha?: 'composite' | 'drop';
  /** Background for `alpha: 'composite'`, 0–255 RGB. Default `[255, 255, 255]`. */
  readonly background?: readonly [number, number, number];
  /** Apply an embedded ICC profile (libvips colour management). Default false, as Pillow ignores it. */
  readonly applyIcc?: boolean;
}

export const DEFAULT_MAX_PIXELS = 178_956_970;
const SUPPORTED = IMAGE_FILE_TYPES.map((t) => t.format);
// Formats whose decoders only produce 8-bit samples: no need to read the header first.
const EIGHT_BIT_ONLY = new Set(['jpeg', 'webp', 'gif']);

let rounding16: Uint8Array | undefined;
/** `round(v / 257)` for every 16-bit value: 65535 → 255, exact multiples of 257 map exactly. */
function round16Table(): Uint8Array {
  if (!rounding16) {
    rounding16 = new Uint8Array(65536);
    for (let v = 0; v < 65536; v++) rounding16[v] = Math.round(v / 257);
  }
  return rounding16;
}

/**
 * Decodes JPEG, PNG, WebP, GIF (first frame), TIFF (first page) or AVIF into {@link DecodedImage}
 * with sharp (libvips): EXIF orientation honoured; grayscale replicated to RGB; CMYK converted to sRGB
 * (libvips' built-in CMYK profile); 16-bit samples scaled to 8 bits with `round(v / 257)`; alpha
 * composited or dropped (see {@link ImageDecodeOptions}).
 *
 * Throws `DecodeError` (empty, truncated or corrupt file, too many pixels, unreadable path) and
 * `UnsupportedFormatError` (not one of the six formats), both naming the input.
 */
export async function decodeImage(input: ModalityInput, options: ImageDecodeOptions = {}): Promise<DecodedImage> {
  checkDecodeOptions(options);
  options.signal?.throwIfAborted();
  const norm = normalizeInput(input);
  const { bytes } = await readInputBytes(norm, 'image');
  return decodeImageBytes(bytes, norm, options);
}

/** Throws `InvalidArgumentError` for a bad decode option. @internal */
export function checkDecodeOptions(options: ImageDecodeOptions): void {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(Number.isInteger(maxPixels) && maxPixels > 0)) throw new InvalidArgumentError('options.maxPixels', maxPixels, 'a positive integer');
  const background = options.background ?? [255, 255, 255];
  if (!Array.isArray(background) || background.length !== 3 || !background.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
    throw new InvalidArgumentError('options.background', background, 'three integers in [0, 255] (RGB)');
  }
  const alpha = options.alpha ?? 'composite';
  if (alpha !== 'composite' && alpha !== 'drop') throw new InvalidArgumentError('options.alpha', alpha, '"composite" or "drop"');
}

/**
 * {@link decodeImage} of bytes already read (the batch reads files ahead of decoding). `norm` gives the
 * label and extension for messages; options are assumed checked.
 * @internal
 */
export async function decodeImageBytes(bytes: Uint8Array, norm: NormalizedInput, options: ImageDecodeOptions): Promise<DecodedImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const background = options.background ?? [255, 255, 255];
  const alpha = options.alpha ?? 'composite';
  const label = norm.label;
  if (bytes.byteLength === 0) throw new DecodeError(label, 'image', 'the file is empty (0 bytes)');
  const format = sniffImageFormat(bytes);
  if (!format) {
    // named like an image (x.jpg) but its bytes are none: a corrupt or mislabelled file, not an unsupported format
    const named = fileTypeByExtension(IMAGE_FILE_TYPES, norm.extension);
    if (named) throw new DecodeError(label, 'image', `named .${norm.extension}, but its bytes are not ${named.format} nor any other supported format (${SUPPORTED.join(', ')}): corrupt or mislabelled`);
    throw new UnsupportedFormatError(label, norm.extension, SUPPORTED);
  }

  if (format === 'jpeg' && !options.applyIcc) {
    const fast = await decodeJpegNative(bytes, maxPixels);
    if (fast) {
      options.signal?.throwIfAborted();
      return { data: fast.data, width: fast.width, height: fast.height, channels: 3, source: label, format };
    }
  }

  const fail = (error: unknown): never => {
    const message = error instanceof Error ? error.message : String(error);
    const reason = /pixel limit/i.test(message)
      ? `the image has more than ${maxPixels} pixels (options.maxPixels)`
      : `corrupt or truncated ${format} data (${message.trim()})`;
    throw new DecodeError(label, 'image', reason, { cause: error });
  };
  const open = (limitInputPixels: number | false) =>
    // sequentialRead: libvips decodes top to bottom in one pass (same pixels, less bookkeeping).
    sharp(bytes, { limitInputPixels, failOn: 'error', pages: 1, autoOrient: true, ignoreIcc: !options.applyIcc, sequentialRead: true });

  let sixteenBit = false;
  let grey = false;
  if (!EIGHT_BIT_ONLY.has(format)) {
    // Header only: no pixel limit here, so the message can give the dimensions.
    const meta = await open(false).metadata().catch(fail);
    if (meta.width && meta.height && meta.width * meta.height > maxPixels) {
      throw new DecodeError(label, 'image', `${meta.width}×${meta.height} = ${meta.width * meta.height} pixels is more than the limit of ${maxPixels} (options.maxPixels)`);
    }
    sixteenBit = meta.depth === 'ushort' || meta.depth === 'short';
    grey = meta.space === 'b-w' || meta.space === 'grey16';
  }
  let pipeline = open(maxPixels);
  // sharp's default 8-bit output truncates 16-bit samples (v >> 8); keep 16 bits and round here.
  if (sixteenBit) pipeline = pipeline.toColourspace(grey ? 'grey16' : 'rgb16').raw({ depth: 'ushort' });
  else pipeline = pipeline.raw();
  const { data, info } = await pipeline.toBuffer({ resolveWithObject: true }).catch(fail);
  options.signal?.throwIfAborted();

  const { width, height, channels } = info;
  const pixels = width * height;
  const samples: Uint8Array | Uint16Array = sixteenBit
    ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength >> 1)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (!sixteenBit && channels === 3) return { data: samples as Uint8Array, width, height, channels: 3, source: label, format };

  const out = new Uint8Array(pixels * 3);
  const hasAlpha = channels === 2 || channels === 4;
  const colour = hasAlpha ? channels - 1 : channels;
  const max = sixteenBit ? 65535 : 255;
  const to8 = sixteenBit ? round16Table() : undefined;
  const [br, bg, bb] = background;
  for (let i = 0, s = 0, o = 0; i < pixels; i++, s += channels, o += 3) {
    let r = samples[s]!;
    let g = colour === 3 ? samples[s + 1]! : r;
    let b = colour === 3 ? samples[s + 2]! : r;
    if (hasAlpha && alpha === 'composite') {
      const a = samples[s + colour]!;
      if (a !== max) {
        const inv = max - a;
        if (sixteenBit) {
          // Composite in 16 bits (background scaled by 257), then round to 8 bits below.
          r = Math.round((r * a + br * 257 * inv) / 65535);
          g = Math.round((g * a + bg * 257 * inv) / 65535);
          b = Math.round((b * a + bb * 257 * inv) / 65535);
        } else {
          // Integer round((c·a + bg·(255 − a)) / 255); the exact quotient is never a tie.
          r = ((r * a + br * inv) * 2 + 255) / 510 | 0;
          g = ((g * a + bg * inv) * 2 + 255) / 510 | 0;
          b = ((b * a + bb * inv) * 2 + 255) / 510 | 0;
        }
      }
    }
    if (to8) {
      out[o] = to8[r]!;
      out[o + 1] = to8[g]!;
      out[o + 2] = to8[b]!;
    } else {
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
    }
  }
  return { data: out, width, height, channels: 3, source: label, format };
}

type JpegDecoder = NonNullable<OptionalNativeKernels['decodeJpeg']>;
let jpegDecoder: Promise<JpegDecoder | undefined> | undefined;

/**
 * The JPEG fast path: `@omnitok/native-kernels`' libjpeg(-turbo) decoder when that optional package is
 * installed and built with it — the same pixels as sharp (both run libjpeg with its default IDCT and
 * upsampling; tested pixel for pixel), about 2.5× less CPU than the libvips pipeline and off the main
 * thread. Undefined for whatever it declines (EXIF orientation, CMYK, any libjpeg warning such as
 * truncated data, the pixel limit): sharp then decodes, errors included, exactly as without it.
 * OMNITOK_IMAGE_DECODER=sharp turns it off.
 */
async function decodeJpegNative(bytes: Uint8Array, maxPixels: number): Promise<{ data: Uint8Array; width: number; height: number } | undefined> {
  const decode = await loadJpegDecoder();
  if (!decode) return undefined;
  const r = await decode(bytes, maxPixels);
  return typeof r === 'string' ? undefined : r;
}

function loadJpegDecoder(): Promise<JpegDecoder | undefined> {
  jpegDecoder ??= (async () => {
    if (typeof process !== 'undefined' && process.env.OMNITOK_IMAGE_DECODER === 'sharp') return undefined;
    const k = await loadOptionalNativeKernels();
    return k?.decodeJpeg && k.jpegDecoder?.() === '' ? k.decodeJpeg.bind(k) : undefined;
  })();
  return jpegDecoder;
}

/** Which JPEG decoder `decodeImage` uses in this process: `libjpeg` (the native fast path) or `sharp`. */
export async function jpegDecoderInUse(): Promise<'libjpeg' | 'sharp'> {
  return (await loadJpegDecoder()) ? 'libjpeg' : 'sharp';
}
