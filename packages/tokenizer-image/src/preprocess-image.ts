import { type Features, InvalidArgumentError, type PreprocessOptions, resolvePreset } from '@omnitok/core';
import type { DecodedImage } from './decode-image.js';
import { DEFAULT_IMAGE_PRESET, IMAGE_PRESETS, type ImagePreset, type ResolvedImagePreset, validateImagePreset } from './presets.js';
import { drawAugmentation, mulberry32, roundHalfEven } from './random-resized-crop.js';
import { patchifyInto } from './patchify.js';
import { type OutputWindow, type PixelView, resizeNormalizeRgb, resizeView } from './resample.js';

/** Image features: `[C, H, W]` float32, normalized, plus the patch size the preset asks for. */
export interface ImageFeatures extends Features {
  readonly data: Float32Array;
  readonly shape: readonly [channels: number, height: number, width: number];
  readonly axes: readonly ['channel', 'height', 'width'];
  /** The preset's ViT patch side, used by `patchify`. */
  readonly patchSize: number;
}

/** Options of {@link preprocessImage}: augmentation and, for presets that crop, where the crop sits. */
export interface ImagePreprocessOptions extends PreprocessOptions {
  /**
   * Which crop of the resized image (presets with `crop: 'center'`): `center` (default), or `start` /
   * `end` along its longer side — left / right of a landscape image, top / bottom of a portrait one —
   * the three spatial crops of SlowFast / pytorchvideo / ImageBind evaluation (`uniform_crop`).
   */
  readonly cropPosition?: 'start' | 'center' | 'end';
}

/** A preset looked up and validated once: geometry plus the normalization lookup table. */
export interface PreparedImagePreset extends ResolvedImagePreset {
  readonly name: string;
  readonly channels: number;
  /** `lut[c * 256 + v]` = float32 `((v / 255) − mean[c]) / std[c]`, computed as torch does in float32. */
  readonly lut: Float32Array;
}

const prepared = new WeakMap<object, PreparedImagePreset>();

/**
 * Resolves a preset name or inline object (unknown name or bad field → `BadPresetError`) and prepares
 * it for {@link preprocessImage}. Named presets and repeated inline objects are prepared once.
 */
export function prepareImagePreset(
  preset: string | ImagePreset | PreparedImagePreset | undefined,
  presets: Readonly<Record<string, ImagePreset>> = IMAGE_PRESETS,
  defaultPreset = DEFAULT_IMAGE_PRESET,
): PreparedImagePreset {
  if (preset && typeof preset === 'object' && 'lut' in preset) return preset;
  const { name, preset: p } = resolvePreset('image', presets, preset as string | ImagePreset | undefined, defaultPreset);
  const cached = prepared.get(p);
  if (cached && cached.name === name) return cached;
  const resolved = validateImagePreset(p, name);
  const channels = p.channels;
  const lut = new Float32Array(channels * 256);
  for (let c = 0; c < channels; c++) {
    const mean = Math.fround(p.mean[c]!);
    const std = Math.fround(p.std[c]!);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = Math.fround(Math.fround(v / 255) - mean) / std;
  }
  const result: PreparedImagePreset = { ...resolved, name, channels, lut };
  prepared.set(p, result);
  return result;
}

/**
 * Applies a preset to a decoded image, returning `[C, H, W]` float32 features that match the PIL +
 * torchvision reference (see the README for the measured difference).
 *
 * With `augment: true` the preset's `augment` settings (RandomResizedCrop + horizontal flip) replace
 * resize + crop; `seed` makes the draw reproducible (a random seed is used when absent).
 */
export function preprocessImage(
  decoded: DecodedImage,
  preset?: string | ImagePreset | PreparedImagePreset,
  options: ImagePreprocessOptions = {},
): ImageFeatures {
  const p = prepareImagePreset(preset);
  const data = new Float32Array(p.channels * p.height * p.width);
  preprocessImageInto(decoded, p, options, data, 0);
  return {
    data,
    shape: [p.channels, p.height, p.width],
    axes: ['channel', 'height', 'width'],
    modality: 'image',
    preset: p.name,
    source: decoded.source,
    patchSize: p.preset.patchSize,
  };
}

/**
 * {@link preprocessImage} writing `C × H × W` values into `out` at `offset` (for batches). With
 * `layout: 'patches'` the values are written directly in `patchify`'s token order (`[N, C·P·P]`).
 */
export function preprocessImageInto(
  decoded: DecodedImage,
  p: PreparedImagePreset,
  options: ImagePreprocessOptions,
  out: Float32Array,
  offset: number,
  layout: 'chw' | 'patches' = 'chw',
): void {
  checkDecoded(decoded);
  const { preset, height: H, width: W, channels: C } = p;
  let view: PixelView = toView(decoded, C);
  let flip = false;
  let resizedW: number;
  let resizedH: number;
  let window: OutputWindow;
  let padX = 0;
  let padY = 0;

  if (options.augment) {
    const augment = preset.augment ?? { scale: [0.08, 1], ratio: [3 / 4, 4 / 3], hflip: 0 };
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
    const draw = drawAugmentation(view.width, view.height, augment, mulberry32(seed));
    view = { ...view, x: draw.crop.left, y: draw.crop.top, width: draw.crop.width, height: draw.crop.height };
    flip = draw.flip;
    resizedW = W;
    resizedH = H;
    window = { x: 0, y: 0, width: W, height: H };
  } else if (preset.resize === 'longest-pad') {
    const { width: w, height: h } = view;
    if (w >= h) {
      resizedW = W;
      resizedH = Math.max(1, Math.trunc((W * h) / w));
    } else {
      resizedH = H;
      resizedW = Math.max(1, Math.trunc((H * w) / h));
    }
    window = { x: 0, y: 0, width: resizedW, height: resizedH };
    padX = Math.floor((W - resizedW) / 2);
    padY = Math.floor((H - resizedH) / 2);
  } else {
    const torch = preset.interpolation === 'bilinear-torch';
    if (preset.resize === 'shortest') {
      const target = preset.resizeSize ?? Math.max(H, W);
      const { width: w, height: h } = view;
      if (w <= h) {
        resizedW = target;
        // pytorchvideo short_side_scale: int(floor(float(long) / short * size)); torchvision
        // _compute_resized_output_size: int(size * long / short)
        resizedH = torch ? Math.floor((h / w) * target) : Math.trunc((target * h) / w);
      } else {
        resizedH = target;
        resizedW = torch ? Math.floor((w / h) * target) : Math.trunc((target * w) / h);
      }
    } else {
      resizedW = preset.resizeSize ?? W;
      resizedH = preset.resizeSize ?? H;
    }
    window = cropWindow(resizedW, resizedH, W, H, preset.cropRounding ?? 'round', options.cropPosition ?? 'center');
  }

  if (preset.interpolation === 'bilinear-torch') {
    torchBilinearInto(view, resizedW, resizedH, window, flip, p, out, offset, layout);
    return;
  }

  const plane = H * W;
  const padded = window.width !== W || window.height !== H;
  if (!padded && C === 3) {
    // Resize and normalize in one go (WebAssembly SIMD), straight into the layout asked for.
    const P = preset.patchSize;
    const patches = layout === 'patches';
    const target = {
      out,
      offset,
      count: C * plane,
      rowBase: rowBaseTable(H, W, C, patches ? P : 0),
      col: patches ? columnTable(W, C, P, flip, 4) : chwColumnTable(W, flip),
      plane: (patches ? P * P : plane) * 4,
      contiguous: !flip && (!patches || P % 4 === 0),
      mean: preset.mean as unknown as readonly [number, number, number],
      std: preset.std as unknown as readonly [number, number, number],
    };
    if (resizeNormalizeRgb(view, resizedW, resizedH, preset.interpolation, window, target)) return;
  }
  const pixels = resizeView(view, resizedW, resizedH, preset.interpolation, window);
  if (layout === 'patches') {
    if (!padded) {
      writeNormalizedPatches(pixels, W, H, C, p.lut, out, offset, preset.patchSize, flip);
      return;
    }
    const chw = new Float32Array(C * plane);
    writePadded(chw, 0);
    patchifyInto(chw, 0, C, H, W, preset.patchSize, out, offset);
    return;
  }
  writePadded(out, offset);

  function writePadded(target: Float32Array, at: number): void {
    if (padded) {
      const pad = preset.padColor ?? preset.mean.map((m) => Math.min(255, Math.max(0, Math.round(m * 255))));
      for (let c = 0; c < C; c++) target.fill(p.lut[c * 256 + pad[c]!]!, at + c * plane, at + (c + 1) * plane);
    }
    writeNormalized(pixels, window.width, window.height, C, p.lut, target, at, W, plane, padX, padY, flip);
  }
}

/** HWC uint8 (exactly W × H) → normalized values in patch-token order, optionally mirrored. */
function writeNormalizedPatches(
  pixels: Uint8Array,
  W: number,
  H: number,
  C: number,
  lut: Float32Array,
  out: Float32Array,
  offset: number,
  P: number,
  flip: boolean,
): void {
  const gridW = W / P;
  const PP = P * P;
  const table = columnTable(W, C, P, flip);
  for (let y = 0; y < H; y++) {
    const gy = (y / P) | 0;
    const rowBase = offset + gy * gridW * C * PP + (y - gy * P) * P;
    let i = y * W * C;
    if (C === 3) {
      for (let x = 0; x < W; x++, i += 3) {
        const d = rowBase + table[x]!;
        out[d] = lut[pixels[i]!]!;
        out[d + PP] = lut[256 + pixels[i + 1]!]!;
        out[d + 2 * PP] = lut[512 + pixels[i + 2]!]!;
      }
    } else {
      for (let x = 0; x < W; x++) for (let c = 0; c < C; c++, i++) out[rowBase + table[x]! + c * PP] = lut[c * 256 + pixels[i]!]!;
    }
  }
}

const columnTables = new Map<string, Int32Array>();
/** Where source column x lands inside a token row: patch column's token offset + position in the patch row (× `unit`). */
function columnTable(W: number, C: number, P: number, flip: boolean, unit = 1): Int32Array {
  const key = `${W}:${C}:${P}:${flip}:${unit}`;
  let table = columnTables.get(key);
  if (!table) {
    table = new Int32Array(W);
    for (let x = 0; x < W; x++) {
      const to = flip ? W - 1 - x : x;
      const gx = (to / P) | 0;
      table[x] = (gx * C * P * P + (to - gx * P)) * unit;
    }
    if (columnTables.size > 64) columnTables.clear();
    columnTables.set(key, table);
  }
  return table;
}

/** Byte offset of each output column inside a `[C, H, W]` float32 row, mirrored or not. */
function chwColumnTable(W: number, flip: boolean): Int32Array {
  return cachedTable(`chw-col:${W}:${flip}`, W, (x) => (flip ? W - 1 - x : x) * 4);
}

/** Byte offset of each output row's first value: `[C, H, W]` rows (P = 0) or patch-token rows. */
function rowBaseTable(H: number, W: number, C: number, P: number): Int32Array {
  return cachedTable(`row:${H}:${W}:${C}:${P}`, H, (y) => {
    if (P === 0) return y * W * 4;
    const gy = (y / P) | 0;
    return (gy * (W / P) * C * P * P + (y - gy * P) * P) * 4;
  });
}

function cachedTable(key: string, n: number, f: (i: number) => number): Int32Array {
  let table = columnTables.get(key);
  if (!table) {
    table = Int32Array.from({ length: n }, (_, i) => f(i));
    if (columnTables.size > 64) columnTables.clear();
    columnTables.set(key, table);
  }
  return table;
}

/** HWC uint8 → CHW float32 through the lookup table, at (padX, padY) inside a W-wide plane, optionally mirrored. */
function writeNormalized(
  pixels: Uint8Array,
  w: number,
  h: number,
  C: number,
  lut: Float32Array,
  out: Float32Array,
  offset: number,
  W: number,
  plane: number,
  padX: number,
  padY: number,
  flip: boolean,
): void {
  for (let c = 0; c < C; c++) {
    const lutBase = c * 256;
    const planeBase = offset + c * plane;
    for (let y = 0; y < h; y++) {
      let o = planeBase + (padY + y) * W + padX;
      let i = y * w * C + c;
      if (!flip) {
        for (let x = 0; x < w; x++, i += C) out[o++] = lut[lutBase + pixels[i]!]!;
      } else {
        o += w - 1;
        for (let x = 0; x < w; x++, i += C) out[o--] = lut[lutBase + pixels[i]!]!;
      }
    }
  }
}

function toView(decoded: DecodedImage, channels: number): PixelView {
  const { width, height, data } = decoded;
  if (channels === 3) return { data, channels: 3, stride: width * 3, x: 0, y: 0, width, height };
  // Pillow convert('L'): ITU-R 601-2 luma in 16.16 fixed point.
  const grey = new Uint8Array(width * height);
  for (let i = 0, s = 0; i < grey.length; i++, s += 3) grey[i] = (data[s]! * 19595 + data[s + 1]! * 38470 + data[s + 2]! * 7471 + 0x8000) >> 16;
  return { data: grey, channels: 1, stride: width, x: 0, y: 0, width, height };
}

function checkDecoded(decoded: DecodedImage): void {
  if (
    !decoded ||
    !(decoded.data instanceof Uint8Array) ||
    !Number.isInteger(decoded.width) ||
    !Number.isInteger(decoded.height) ||
    decoded.width < 1 ||
    decoded.height < 1 ||
    decoded.data.length !== decoded.width * decoded.height * 3
  ) {
    throw new InvalidArgumentError('decoded', decoded, 'a DecodedImage { data: Uint8Array of width × height × 3, width, height, channels: 3 }');
  }
}

/**
 * The crop window of a resized image: centred per `rounding` (torchvision `round`, pytorchvideo
 * `ceil`), or moved to the start / end of the longer side (pytorchvideo `uniform_crop` spatial_idx 0 / 2).
 */
function cropWindow(resizedW: number, resizedH: number, W: number, H: number, rounding: 'round' | 'ceil', position: 'start' | 'center' | 'end'): OutputWindow {
  const centre = (margin: number) => (rounding === 'ceil' ? Math.ceil(margin / 2) : roundHalfEven(margin / 2));
  let x = centre(resizedW - W);
  let y = centre(resizedH - H);
  if (position !== 'center') {
    if (resizedH > resizedW) y = position === 'start' ? 0 : resizedH - H;
    else x = position === 'start' ? 0 : resizedW - W;
  }
  return { x, y, width: W, height: H };
}

/**
 * `torch.nn.functional.interpolate(x / 255, size, mode='bilinear', align_corners=False)` then
 * `(x − mean) / std`, every operation rounded to float32 as torch's CPU kernel does (source index
 * `max(scale·(i + 0.5) − 0.5, 0)` with `scale = in / out` in float32, two taps per axis, the width pass
 * inside the height pass), for the `window` of the resized image only, written in `layout`.
 */
function torchBilinearInto(
  view: PixelView,
  resizedW: number,
  resizedH: number,
  window: OutputWindow,
  flip: boolean,
  p: PreparedImagePreset,
  out: Float32Array,
  offset: number,
  layout: 'chw' | 'patches',
): void {
  const f = Math.fround;
  const { channels: C, height: H, width: W } = p;
  const axis = (inSize: number, outSize: number, first: number, count: number) => {
    const scale = f(inSize / outSize);
    const i0 = new Int32Array(count);
    const i1 = new Int32Array(count);
    const w0 = new Float32Array(count);
    const w1 = new Float32Array(count);
    for (let k = 0; k < count; k++) {
      let real = f(f(scale * f(first + k + 0.5)) - 0.5);
      if (real < 0) real = 0;
      const a = Math.min(Math.trunc(real), inSize - 1);
      const lambda = Math.min(Math.max(f(real - a), 0), 1);
      i0[k] = a;
      i1[k] = a + (a < inSize - 1 ? 1 : 0);
      w1[k] = lambda;
      w0[k] = f(1 - lambda);
    }
    return { i0, i1, w0, w1 };
  };
  const xs = axis(view.width, resizedW, window.x, W);
  const ys = axis(view.height, resizedH, window.y, H);
  const unit = new Float32Array(256);
  for (let v = 0; v < 256; v++) unit[v] = f(v / 255);
  const mean = Array.from({ length: C }, (_, c) => f(p.preset.mean[c]!));
  const std = Array.from({ length: C }, (_, c) => f(p.preset.std[c]!));
  const { data, stride } = view;
  const chw = layout === 'chw' ? out : new Float32Array(C * H * W);
  const base = layout === 'chw' ? offset : 0;
  for (let y = 0; y < H; y++) {
    const r0 = (view.y + ys.i0[y]!) * stride;
    const r1 = (view.y + ys.i1[y]!) * stride;
    const wy0 = ys.w0[y]!;
    const wy1 = ys.w1[y]!;
    for (let x = 0; x < W; x++) {
      const c0 = (view.x + xs.i0[x]!) * C;
      const c1 = (view.x + xs.i1[x]!) * C;
      const wx0 = xs.w0[x]!;
      const wx1 = xs.w1[x]!;
      const ox = flip ? W - 1 - x : x;
      for (let c = 0; c < C; c++) {
        const t0 = f(f(unit[data[r0 + c0 + c]!]! * wx0) + f(unit[data[r0 + c1 + c]!]! * wx1));
        const t1 = f(f(unit[data[r1 + c0 + c]!]! * wx0) + f(unit[data[r1 + c1 + c]!]! * wx1));
        const v = f(f(t0 * wy0) + f(t1 * wy1));
        chw[base + (c * H + y) * W + ox] = f(f(v - mean[c]!) / std[c]!);
      }
    }
  }
  if (layout === 'patches') patchifyInto(chw, 0, C, H, W, p.preset.patchSize, out, offset);
}
