import { type Features, InvalidArgumentError, loadOptionalNativeKernels, type OptionalNativeKernels, type PreprocessOptions, resolvePreset } from '@omnitok/core';
import type { DecodedImage } from './decode-image.js';
import { DEFAULT_IMAGE_PRESET, IMAGE_PRESETS, type ImagePreset, naflexSize, type ResolvedImagePreset, validateImagePreset } from './presets.js';
import { drawAugmentation, mulberry32, roundHalfEven } from './random-resized-crop.js';
import { axisCoefficients, type OutputWindow, type PixelView, resizeNormalizeRgb, resizeView } from './resample.js';

/** Image features: `[C, H, W]` float32, normalized, plus the patch size the preset asks for. */
export interface ImageFeatures extends Features {
  readonly data: Float32Array;
  readonly shape: readonly [channels: number, height: number, width: number];
  readonly axes: readonly ['channel', 'height', 'width'];
  /** The preset's ViT patch side, used by `patchify`. */
  readonly patchSize: number;
  /** `naflex` presets: the rows `patchify` pads the tokens to (with a mask). */
  readonly maxPatches?: number;
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
  const prepared = prepareImagePreset(preset);
  const p = prepared.preset.resize === 'naflex' ? naflexPreset(decoded, prepared) : prepared;
  const data = new Float32Array(p.channels * p.height * p.width);
  preprocessImageInto(decoded, p, options, data, 0);
  return {
    data,
    shape: [p.channels, p.height, p.width],
    axes: ['channel', 'height', 'width'],
    modality: 'image',
    preset: prepared.name,
    source: decoded.source,
    patchSize: p.preset.patchSize,
    ...(prepared.preset.maxPatches !== undefined ? { maxPatches: prepared.preset.maxPatches } : {}),
  };
}

/** A `naflex` preset made concrete for one image: a squash to the size its patch budget allows. */
function naflexPreset(decoded: DecodedImage, p: PreparedImagePreset): PreparedImagePreset {
  checkDecoded(decoded);
  const { maxPatches, ...rest } = p.preset;
  const [height, width] = naflexSize(decoded.height, decoded.width, rest.patchSize, maxPatches!);
  return prepareImagePreset({ ...rest, size: [height, width], resize: 'squash', crop: 'none' });
}

/**
 * Where {@link preprocessImageInto} writes a frame's values, as the later tokenization would place them:
 *
 * - `chw` — `[C, H, W]` features;
 * - `patches` — ViT patch tokens `[N, C·P·P]` (`patchify`'s order, the preset's patch size);
 * - `{ tubelet: [t, Ph, Pw], frame }` — this frame's share of tubelet tokens `[N, C·t·Ph·Pw]` (the video
 *   package's `tubeletize` order): frame `frame` (0 ≤ frame < t) of each `(C, t, Ph, Pw)` vector; `offset`
 *   points at the first token of the frame's tubelet slice, and the other frames' values are left alone.
 */
export type FeatureLayout = 'chw' | 'patches' | { readonly tubelet: readonly [number, number, number]; readonly frame: number };

/**
 * {@link preprocessImage} writing `C × H × W` values into `out` at `offset` (for batches), in `layout`
 * (see {@link FeatureLayout}; the token layouts skip a separate patchify / tubeletize pass).
 */
export function preprocessImageInto(
  decoded: DecodedImage,
  p: PreparedImagePreset,
  options: ImagePreprocessOptions,
  out: Float32Array,
  offset: number,
  layout: FeatureLayout = 'chw',
): void {
  checkDecoded(decoded);
  writeFeatures(planGeometry(decoded, p, options), p, out, offset, layout);
}

/** The work of {@link preprocessImageInto} once the geometry is planned (shared with the async path's fallback). */
function writeFeatures(g: Geometry, p: PreparedImagePreset, out: Float32Array, offset: number, layout: FeatureLayout): void {
  const { preset, height: H, width: W, channels: C } = p;
  const slot = layoutSlot(layout, p);

  if (preset.interpolation === 'bilinear-torch') {
    if (!slot) return torchBilinearInto(g, p, out, offset);
    const chw = new Float32Array(C * H * W);
    torchBilinearInto(g, p, chw, 0);
    return scatterChw(chw, C, H, W, layoutTables(C, H, W, slot, false), out, offset);
  }

  if (!g.padded && C === 3) {
    // Resize and normalize in one go (WebAssembly SIMD). Tubelet slots are interleaved with the other
    // frames' values, so those are computed in patch order and copied out one Ph·Pw run at a time.
    const direct = !slot || slot.t === 1;
    const t = layoutTables(C, H, W, direct ? slot : { ...slot, t: 1, dt: 0 }, g.flip);
    const run = slot ? slot.ph * slot.pw : 0;
    const target = {
      out,
      offset: direct ? offset : offset + (slot?.dt ?? 0) * run,
      count: C * H * W,
      rowBase: byteTable(t.rowBase),
      col: byteTable(t.col),
      plane: t.plane * 4,
      contiguous: !g.flip && (!slot || slot.pw % 4 === 0),
      mean: preset.mean as unknown as readonly [number, number, number],
      std: preset.std as unknown as readonly [number, number, number],
      runs: direct ? undefined : { length: run, stride: run * slot.t },
    };
    if (resizeNormalizeRgb(g.view, g.resizedW, g.resizedH, preset.interpolation, g.window, target)) return;
  }
  const pixels = resizeView(g.view, g.resizedW, g.resizedH, preset.interpolation, g.window);
  if (!g.padded) return writeThroughTables(pixels, H, W, C, p.lut, layoutTables(C, H, W, slot, g.flip), out, offset);
  const pad = preset.padColor ?? preset.mean.map((m) => Math.min(255, Math.max(0, Math.round(m * 255))));
  const plane = H * W;
  const chw = slot ? new Float32Array(C * plane) : out;
  const at = slot ? 0 : offset;
  for (let c = 0; c < C; c++) chw.fill(p.lut[c * 256 + pad[c]!]!, at + c * plane, at + (c + 1) * plane);
  writeNormalized(pixels, g.window.width, g.window.height, C, p.lut, chw, at, W, plane, g.padX, g.padY, g.flip);
  if (slot) scatterChw(chw, C, H, W, layoutTables(C, H, W, slot, false), out, offset);
}

/**
 * {@link preprocessImageInto} off the calling thread: with `@omnitok/native-kernels` installed (and
 * `OMNITOK_IMAGE_NO_NATIVE` unset), RGB presets with a Pillow filter are resized, normalized and written
 * in `layout` by the native addon on libuv's thread pool — the same bytes as the synchronous path
 * (tested). Anything else runs synchronously here before the promise is returned. `decoded.data` and
 * `out` must stay untouched until the promise resolves.
 */
export async function preprocessImageIntoAsync(
  decoded: DecodedImage,
  p: PreparedImagePreset,
  options: ImagePreprocessOptions,
  out: Float32Array,
  offset: number,
  layout: FeatureLayout = 'chw',
): Promise<void> {
  const native = nativeResizer === undefined ? await loadNativeResizer() : nativeResizer;
  checkDecoded(decoded);
  const g = planGeometry(decoded, p, options);
  const { preset, height: H, width: W, channels: C } = p;
  if (!native || g.padded || C !== 3 || (preset.interpolation !== 'bicubic' && preset.interpolation !== 'bilinear')) {
    writeFeatures(g, p, out, offset, layout);
    return;
  }
  const tables = layoutTables(C, H, W, layoutSlot(layout, p), g.flip);
  const none = new Int32Array(0);
  const { view, window } = g;
  const h = g.resizedW !== view.width ? axisCoefficients(view.width, g.resizedW, preset.interpolation) : undefined;
  const v = g.resizedH !== view.height ? axisCoefficients(view.height, g.resizedH, preset.interpolation) : undefined;
  const geometry = Int32Array.of(
    view.stride, view.x, view.y, view.width, view.height,
    window.x, window.y, window.width, window.height, h?.ksize ?? 0, v?.ksize ?? 0, tables.plane,
  );
  await native(
    view.data, geometry, h?.start ?? none, h?.count ?? none, h?.weights ?? none, v?.start ?? none, v?.count ?? none, v?.weights ?? none,
    out, offset, tables.rowBase, tables.col, p.lut,
  );
}

type NativeResize = NonNullable<OptionalNativeKernels['resizeNormalize']>;
let nativeResizer: NativeResize | null | undefined;
let nativeResizerLoad: Promise<NativeResize | null> | undefined;

function loadNativeResizer(): Promise<NativeResize | null> {
  nativeResizerLoad ??= (async () => {
    if (process.env.OMNITOK_IMAGE_NO_NATIVE === '1') return null;
    const k = await loadOptionalNativeKernels();
    return k?.resizeNormalize ? k.resizeNormalize.bind(k) : null;
  })().then((f) => (nativeResizer = f));
  return nativeResizerLoad;
}

/** Whether {@link preprocessImageIntoAsync} runs on the native addon in this process. */
export async function nativePreprocessAvailable(): Promise<boolean> {
  return (nativeResizer === undefined ? await loadNativeResizer() : nativeResizer) !== null;
}

/** The geometry of one preprocess: the source view, the resize, the kept window, padding and mirror. */
interface Geometry {
  readonly view: PixelView;
  readonly flip: boolean;
  readonly resizedW: number;
  readonly resizedH: number;
  readonly window: OutputWindow;
  readonly padX: number;
  readonly padY: number;
  /** The window does not fill the output (letterboxed). */
  readonly padded: boolean;
}

function planGeometry(decoded: DecodedImage, p: PreparedImagePreset, options: ImagePreprocessOptions): Geometry {
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
  const padded = window.width !== W || window.height !== H;
  return { view, flip, resizedW, resizedH, window, padX, padY, padded };
}

/** A token layout as numbers: patch `ph × pw`, tubelet depth `t`, this frame's slot `dt` (undefined = `chw`). */
interface LayoutSlot {
  readonly ph: number;
  readonly pw: number;
  readonly t: number;
  readonly dt: number;
}

function layoutSlot(layout: FeatureLayout, p: PreparedImagePreset): LayoutSlot | undefined {
  if (layout === 'chw') return undefined;
  if (layout === 'patches') return { ph: p.preset.patchSize, pw: p.preset.patchSize, t: 1, dt: 0 };
  const [t, ph, pw] = layout?.tubelet ?? [];
  const dt = layout?.frame;
  const ok = [t, ph, pw, dt].every((v) => Number.isInteger(v) && v! >= 0) && t! > 0 && ph! > 0 && pw! > 0 && dt! < t!;
  if (!ok || p.height % ph! !== 0 || p.width % pw! !== 0) {
    throw new InvalidArgumentError('layout', layout, `'chw', 'patches' or { tubelet: [t, Ph, Pw] dividing ${p.height}×${p.width}, frame in [0, t) }`);
  }
  return { ph: ph!, pw: pw!, t: t!, dt: dt! };
}

/**
 * Element offsets of each output row's first value (`rowBase`) and of each output column within a
 * row (`col`, mirrored when `flip`), and the channel stride `plane`: value (c, y, x) goes to
 * `rowBase[y] + col[x] + c·plane`. Cached per shape.
 */
interface LayoutTables {
  readonly rowBase: Int32Array;
  readonly col: Int32Array;
  readonly plane: number;
}

const layoutCache = new Map<string, LayoutTables>();

function layoutTables(C: number, H: number, W: number, slot: LayoutSlot | undefined, flip: boolean): LayoutTables {
  const key = `${C}:${H}:${W}:${slot ? `${slot.ph}:${slot.pw}:${slot.t}:${slot.dt}` : 'chw'}:${flip}`;
  let tables = layoutCache.get(key);
  if (tables) return tables;
  const mirror = (x: number) => (flip ? W - 1 - x : x);
  if (!slot) {
    tables = { rowBase: Int32Array.from({ length: H }, (_, y) => y * W), col: Int32Array.from({ length: W }, (_, x) => mirror(x)), plane: H * W };
  } else {
    const { ph, pw, t, dt } = slot;
    const D = C * t * ph * pw; // one token
    const gw = W / pw;
    tables = {
      rowBase: Int32Array.from({ length: H }, (_, y) => Math.floor(y / ph) * gw * D + (y % ph) * pw + dt * ph * pw),
      col: Int32Array.from({ length: W }, (_, x) => Math.floor(mirror(x) / pw) * D + (mirror(x) % pw)),
      plane: t * ph * pw,
    };
  }
  if (layoutCache.size > 64) layoutCache.clear();
  layoutCache.set(key, tables);
  return tables;
}

const byteTables = new WeakMap<Int32Array, Int32Array>();
/** The same table in bytes (× 4), as the WebAssembly kernel addresses floats. */
function byteTable(table: Int32Array): Int32Array {
  let bytes = byteTables.get(table);
  if (!bytes) byteTables.set(table, (bytes = table.map((v) => v * 4)));
  return bytes;
}

/** HWC uint8 (exactly W × H) → normalized values through the lookup table, placed by `tables`. */
function writeThroughTables(pixels: Uint8Array, H: number, W: number, C: number, lut: Float32Array, tables: LayoutTables, out: Float32Array, offset: number): void {
  const { rowBase, col, plane } = tables;
  for (let y = 0, i = 0; y < H; y++) {
    const base = offset + rowBase[y]!;
    if (C === 3) {
      for (let x = 0; x < W; x++, i += 3) {
        const d = base + col[x]!;
        out[d] = lut[pixels[i]!]!;
        out[d + plane] = lut[256 + pixels[i + 1]!]!;
        out[d + 2 * plane] = lut[512 + pixels[i + 2]!]!;
      }
    } else {
      for (let x = 0; x < W; x++) for (let c = 0; c < C; c++, i++) out[base + col[x]! + c * plane] = lut[c * 256 + pixels[i]!]!;
    }
  }
}

/** `[C, H, W]` floats → the positions `tables` give (unmirrored tables: the values are already placed). */
function scatterChw(chw: Float32Array, C: number, H: number, W: number, tables: LayoutTables, out: Float32Array, offset: number): void {
  const { rowBase, col, plane } = tables;
  for (let c = 0, i = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      const base = offset + rowBase[y]! + c * plane;
      for (let x = 0; x < W; x++, i++) out[base + col[x]!] = chw[i]!;
    }
  }
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
 * `ceil`, Hugging Face `floor`), or moved to the start / end of the longer side (pytorchvideo
 * `uniform_crop` spatial_idx 0 / 2).
 */
function cropWindow(resizedW: number, resizedH: number, W: number, H: number, rounding: 'round' | 'ceil' | 'floor' | 'start', position: 'start' | 'center' | 'end'): OutputWindow {
  const centre = (margin: number) => (rounding === 'start' ? 0 : rounding === 'ceil' ? Math.ceil(margin / 2) : rounding === 'floor' ? Math.floor(margin / 2) : roundHalfEven(margin / 2));
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
 * inside the height pass), for the `window` of the resized image only, as `[C, H, W]` at `base`.
 */
function torchBilinearInto(g: Geometry, p: PreparedImagePreset, chw: Float32Array, base: number): void {
  const { view, resizedW, resizedH, window, flip } = g;
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
}
