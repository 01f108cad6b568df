// .old-build/src/image-tokenizer.ts
import { MODALITY_SPEC_VERSION } from "@omnitok/core";

// .old-build/src/decode-image.ts
import {
  DecodeError,
  InvalidArgumentError,
  normalizeInput,
  readInputBytes,
  UnsupportedFormatError
} from "@omnitok/core";
import sharp from "sharp";

// .old-build/src/file-types.ts
import { ascii, matchesMagic } from "@omnitok/core";
var IMAGE_FILE_TYPES = [
  { format: "jpeg", extensions: ["jpg", "jpeg", "jpe", "jfif"], mimeType: "image/jpeg", magic: [{ bytes: [255, 216, 255] }] },
  { format: "png", extensions: ["png"], mimeType: "image/png", magic: [{ bytes: [137, ...ascii("PNG\r\n"), 26, 10] }] },
  { format: "webp", extensions: ["webp"], mimeType: "image/webp", magic: [{ bytes: [...ascii("RIFF"), null, null, null, null, ...ascii("WEBP")] }] },
  { format: "gif", extensions: ["gif"], mimeType: "image/gif", magic: [{ bytes: ascii("GIF87a") }, { bytes: ascii("GIF89a") }] },
  { format: "tiff", extensions: ["tif", "tiff"], mimeType: "image/tiff", magic: [{ bytes: [...ascii("II"), 42, 0] }, { bytes: [...ascii("MM"), 0, 42] }] },
  { format: "avif", extensions: ["avif"], mimeType: "image/avif", magic: [{ offset: 4, bytes: ascii("ftypavif") }, { offset: 4, bytes: ascii("ftypavis") }] }
];
function sniffImageFormat(bytes) {
  for (const sig of IMAGE_FILE_TYPES) if (sig.magic.some((m) => matchesMagic(bytes, m))) return sig.format;
  return void 0;
}

// .old-build/src/decode-image.ts
var DEFAULT_MAX_PIXELS = 178956970;
var SUPPORTED = IMAGE_FILE_TYPES.map((t) => t.format);
var EIGHT_BIT_ONLY = /* @__PURE__ */ new Set(["jpeg", "webp", "gif"]);
var rounding16;
function round16Table() {
  if (!rounding16) {
    rounding16 = new Uint8Array(65536);
    for (let v = 0; v < 65536; v++) rounding16[v] = Math.round(v / 257);
  }
  return rounding16;
}
async function decodeImage(input, options = {}) {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(Number.isInteger(maxPixels) && maxPixels > 0)) throw new InvalidArgumentError("options.maxPixels", maxPixels, "a positive integer");
  const background = options.background ?? [255, 255, 255];
  if (!Array.isArray(background) || background.length !== 3 || !background.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
    throw new InvalidArgumentError("options.background", background, "three integers in [0, 255] (RGB)");
  }
  const alpha = options.alpha ?? "composite";
  if (alpha !== "composite" && alpha !== "drop") throw new InvalidArgumentError("options.alpha", alpha, '"composite" or "drop"');
  options.signal?.throwIfAborted();
  const norm = normalizeInput(input);
  const { bytes } = await readInputBytes(norm, "image");
  const label = norm.label;
  if (bytes.byteLength === 0) throw new DecodeError(label, "image", "the file is empty (0 bytes)");
  const format = sniffImageFormat(bytes);
  if (!format) throw new UnsupportedFormatError(label, norm.extension, SUPPORTED);
  const fail = (error) => {
    const message = error instanceof Error ? error.message : String(error);
    const reason = /pixel limit/i.test(message) ? `the image has more than ${maxPixels} pixels (options.maxPixels)` : `corrupt or truncated ${format} data (${message.trim()})`;
    throw new DecodeError(label, "image", reason, { cause: error });
  };
  const open = (limitInputPixels) => sharp(bytes, { limitInputPixels, failOn: "error", pages: 1, autoOrient: true, ignoreIcc: !options.applyIcc });
  let sixteenBit = false;
  let grey = false;
  if (!EIGHT_BIT_ONLY.has(format)) {
    const meta = await open(false).metadata().catch(fail);
    if (meta.width && meta.height && meta.width * meta.height > maxPixels) {
      throw new DecodeError(label, "image", `${meta.width}\xD7${meta.height} = ${meta.width * meta.height} pixels is more than the limit of ${maxPixels} (options.maxPixels)`);
    }
    sixteenBit = meta.depth === "ushort" || meta.depth === "short";
    grey = meta.space === "b-w" || meta.space === "grey16";
  }
  let pipeline = open(maxPixels);
  if (sixteenBit) pipeline = pipeline.toColourspace(grey ? "grey16" : "rgb16").raw({ depth: "ushort" });
  else pipeline = pipeline.raw();
  const { data, info } = await pipeline.toBuffer({ resolveWithObject: true }).catch(fail);
  options.signal?.throwIfAborted();
  const { width, height, channels } = info;
  const pixels = width * height;
  const samples = sixteenBit ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength >> 1) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (!sixteenBit && channels === 3) return { data: samples, width, height, channels: 3, source: label, format };
  const out = new Uint8Array(pixels * 3);
  const hasAlpha = channels === 2 || channels === 4;
  const colour = hasAlpha ? channels - 1 : channels;
  const max = sixteenBit ? 65535 : 255;
  const to8 = sixteenBit ? round16Table() : void 0;
  const [br, bg, bb] = background;
  for (let i = 0, s = 0, o = 0; i < pixels; i++, s += channels, o += 3) {
    let r = samples[s];
    let g = colour === 3 ? samples[s + 1] : r;
    let b = colour === 3 ? samples[s + 2] : r;
    if (hasAlpha && alpha === "composite") {
      const a = samples[s + colour];
      if (a !== max) {
        const inv = max - a;
        if (sixteenBit) {
          r = Math.round((r * a + br * 257 * inv) / 65535);
          g = Math.round((g * a + bg * 257 * inv) / 65535);
          b = Math.round((b * a + bb * 257 * inv) / 65535);
        } else {
          r = ((r * a + br * inv) * 2 + 255) / 510 | 0;
          g = ((g * a + bg * inv) * 2 + 255) / 510 | 0;
          b = ((b * a + bb * inv) * 2 + 255) / 510 | 0;
        }
      }
    }
    if (to8) {
      out[o] = to8[r];
      out[o + 1] = to8[g];
      out[o + 2] = to8[b];
    } else {
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
    }
  }
  return { data: out, width, height, channels: 3, source: label, format };
}

// .old-build/src/patchify.ts
import { continuousTokens, InvalidArgumentError as InvalidArgumentError2 } from "@omnitok/core";
function patchify(features, patchSize = features.patchSize) {
  const [C, H, W] = checkShape(features);
  const P = checkPatch(patchSize, H, W);
  const gridH = H / P;
  const gridW = W / P;
  const data = new Float32Array(C * H * W);
  patchifyInto(features.data, 0, C, H, W, P, data, 0);
  return continuousTokens({
    data,
    shape: [gridH * gridW, C * P * P],
    grid: [gridH, gridW],
    modality: features.modality,
    preset: features.preset,
    source: features.source
  });
}
function patchifyInto(src, srcOffset, C, H, W, P, dst, dstOffset) {
  const gridW = W / P;
  const plane = H * W;
  let o = dstOffset;
  for (let gy = 0; gy < H / P; gy++) {
    for (let gx = 0; gx < gridW; gx++) {
      for (let c = 0; c < C; c++) {
        let rowStart = srcOffset + c * plane + gy * P * W + gx * P;
        for (let py = 0; py < P; py++, rowStart += W) {
          dst.set(src.subarray(rowStart, rowStart + P), o);
          o += P;
        }
      }
    }
  }
}
function checkShape(features) {
  const shape = features?.shape;
  if (!Array.isArray(shape) || shape.length !== 3 || !(features.data instanceof Float32Array) || features.data.length !== shape[0] * shape[1] * shape[2]) {
    throw new InvalidArgumentError2("features", features, "image features { data: Float32Array, shape: [C, H, W] }");
  }
  return shape;
}
function checkPatch(patchSize, H, W) {
  if (!Number.isInteger(patchSize) || patchSize < 1) throw new InvalidArgumentError2("patchSize", patchSize, "a positive integer");
  if (H % patchSize !== 0 || W % patchSize !== 0) {
    throw new InvalidArgumentError2("patchSize", patchSize, `a divisor of the image height and width (${H}\xD7${W})`);
  }
  return patchSize;
}

// .old-build/src/preprocess-image.ts
import { InvalidArgumentError as InvalidArgumentError4, resolvePreset } from "@omnitok/core";

// .old-build/src/presets.ts
import { BadPresetError } from "@omnitok/core";

// .old-build/src/resample-wasm-binary.ts
var RESAMPLE_WASM_BASE64 = "AGFzbQEAAAABGQJgCH9/f39/f39/AGAKf39/f39/f39/fwADAwIAAQUDAQABBxoDBm1lbW9yeQIABWhwYXNzAAAFdnBhc3MAAQqmBQLWAgIGfwV7QQAhCAJAA0AgCCACTw0BIAAgCCABbGohC0EAIQkgBCENAkADQCAJIAZPDQEgCyADIAlBAnRqKAIAaiEM/QwAAAAAAAAAAAAAAAAAAAAAIRH9DAAAAAAAAAAAAAAAAAAAAAAhEiAFIQoDQCAM/QAEAP0MAAMBBAIFEBAGCQcKCAsQEP0OIQ4gDv2JASEPIA79igEhECARIA8gDf0ABAD9ugEgECAN/QAEEP26Af2uAf2uASERIBIgDyAN/QAEIP26ASAQIA39AAQw/boB/a4B/a4BIRIgDEEMaiEMIA1BwABqIQ0gCkEBayEKIAoNAAsgEUEL/asBIBL9rgH9DAAAIAAAACAAAAAgAAAAIAD9rgFBFv2sASEOIA4gDv2FASAOIA79hQH9ZiEOIAcgDv0bADYCACAHQQNqIQcgCUEBaiEJDAALCyAIQQFqIQgMAAsLC8sCAgd/CHtBACEKAkADQCAKIAJPDQEgACADIApBAnRqKAIAIAFsaiEOIAQgCkECdGooAgAhDSAFIAogBmxBAnRqIRBBACELAkADQCALIAdPDQH9DAAAIAAAACAAAAAgAAAAIAAhFSAVIRYgFSEXIBUhGCAOIAtqIQ9BACEMAkADQCAMIA1PDQEgECAMQQJ0aigCAP0RIREgD/0ABAAhEiAS/YkBIRMgEv2KASEUIBUgE/2pASAR/bUB/a4BIRUgFiAT/aoBIBH9tQH9rgEhFiAXIBT9qQEgEf21Af2uASEXIBggFP2qASAR/bUB/a4BIRggDyABaiEPIAxBAWohDAwACwsgCCAKIAlsaiALaiAVQRb9rAEgFkEW/awB/YUBIBdBFv2sASAYQRb9rAH9hQH9Zv0LBAAgC0EQaiELDAALCyAKQQFqIQoMAAsLCw==";

// .old-build/src/resample-simd.ts
var wasm = globalThis.WebAssembly;
var kernels;
function load() {
  if (kernels !== void 0) return kernels;
  try {
    if (!wasm) return kernels = null;
    const module = new wasm.Module(Buffer.from(RESAMPLE_WASM_BASE64, "base64"));
    kernels = new wasm.Instance(module).exports;
  } catch {
    kernels = null;
  }
  return kernels;
}
function simdAvailable() {
  return process.env.OMNITOK_IMAGE_NO_SIMD !== "1" && load() !== null;
}
var horizontalCache = /* @__PURE__ */ new WeakMap();
function horizontalTaps(co) {
  const cached = horizontalCache.get(co);
  if (cached) return cached;
  const { ksize, start, count, weights } = co;
  const out = start.length;
  const groups = Math.ceil(ksize / 4);
  const xs = new Int32Array(out);
  const w = new Int16Array(out * groups * 32);
  for (let xx = 0; xx < out; xx++) {
    xs[xx] = start[xx] * 3;
    for (let g = 0; g < groups; g++) {
      const base = (xx * groups + g) * 32;
      for (let k = 0; k < 4; k++) {
        const t = g * 4 + k;
        const value = t < count[xx] ? weights[xx * ksize + t] : 0;
        const hi = value >> 11;
        const lo = value & 2047;
        const vector = k >> 1;
        const lane = k & 1;
        for (let c = 0; c < 3; c++) {
          w[base + vector * 8 + c * 2 + lane] = hi;
          w[base + 16 + vector * 8 + c * 2 + lane] = lo;
        }
      }
    }
  }
  const result = { groups, xs, w };
  horizontalCache.set(co, result);
  return result;
}
function layout(k, sizes) {
  const offsets = [];
  let at = 0;
  for (const size of sizes) {
    offsets.push(at);
    at += Math.ceil((size + 64) / 16) * 16;
  }
  const need = Math.ceil(at / 65536) - k.memory.buffer.byteLength / 65536;
  if (need > 0) k.memory.grow(need);
  return offsets;
}
function resizeRgbSimd(src, horiz, vert, window, out) {
  const k = load();
  const rowBytesOut = window.width * 3;
  let rowFirst = window.y;
  let rowLast = window.y + window.height;
  if (vert) {
    rowFirst = Infinity;
    rowLast = 0;
    for (let yy = window.y; yy < window.y + window.height; yy++) {
      rowFirst = Math.min(rowFirst, vert.start[yy]);
      rowLast = Math.max(rowLast, vert.start[yy] + vert.count[yy]);
    }
  }
  const rows = rowLast - rowFirst;
  const srcRowBytes = src.width * 3;
  const taps = horiz ? horizontalTaps(horiz) : void 0;
  const midBytes = horiz && vert ? rows * rowBytesOut : 0;
  const [srcAt, xsAt, wAt, midAt, startsAt, countsAt, vwAt, outAt] = layout(k, [
    rows * srcRowBytes + (taps ? taps.groups * 12 + 16 : 16),
    taps ? taps.xs.byteLength : 0,
    taps ? taps.w.byteLength : 0,
    midBytes + 16,
    vert ? window.height * 4 : 0,
    vert ? window.height * 4 : 0,
    vert ? window.height * vert.ksize * 4 : 0,
    window.height * rowBytesOut + 16
  ]);
  const heap = new Uint8Array(k.memory.buffer);
  const colOffset = src.x * 3;
  for (let r = 0; r < rows; r++) {
    const from = (src.y + rowFirst + r) * src.stride + colOffset;
    heap.set(src.data.subarray(from, from + srcRowBytes), srcAt + r * srcRowBytes);
  }
  let vSrc = srcAt;
  let vStride = srcRowBytes;
  const vRowShift = rowFirst;
  if (taps) {
    new Int32Array(k.memory.buffer, xsAt, taps.xs.length).set(taps.xs);
    new Int16Array(k.memory.buffer, wAt, taps.w.length).set(taps.w);
    const target = vert ? midAt : outAt;
    k.hpass(srcAt, srcRowBytes, rows, xsAt + window.x * 4, wAt + window.x * taps.groups * 64, taps.groups, window.width, target);
    vSrc = midAt;
    vStride = rowBytesOut;
  } else {
    vSrc = srcAt + window.x * 3;
  }
  if (vert) {
    const starts = new Int32Array(k.memory.buffer, startsAt, window.height);
    for (let r = 0; r < window.height; r++) starts[r] = vert.start[window.y + r] - vRowShift;
    new Int32Array(k.memory.buffer, countsAt, window.height).set(vert.count.subarray(window.y, window.y + window.height));
    new Int32Array(k.memory.buffer, vwAt, window.height * vert.ksize).set(
      vert.weights.subarray(window.y * vert.ksize, (window.y + window.height) * vert.ksize)
    );
    k.vpass(vSrc, vStride, window.height, startsAt, countsAt, vwAt, vert.ksize, rowBytesOut, outAt, rowBytesOut);
  }
  out.set(new Uint8Array(k.memory.buffer, outAt, window.height * rowBytesOut));
}

// .old-build/src/resample.ts
var INTERPOLATIONS = ["bicubic", "bilinear", "nearest"];
var PRECISION_BITS = 22;
var HALF = 1 << PRECISION_BITS - 1;
var ONE = 1 << PRECISION_BITS;
var FILTERS = {
  // Keys' cubic convolution with a = -0.5, as Pillow (and torchvision on PIL images) uses it.
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    }
  },
  bilinear: {
    support: 1,
    fn: (x) => {
      if (x < 0) x = -x;
      return x < 1 ? 1 - x : 0;
    }
  }
};
var coefficientCache = /* @__PURE__ */ new Map();
var CACHE_LIMIT = 256;
function axisCoefficients(inSize, outSize, interpolation) {
  const key = `${interpolation}:${inSize}:${outSize}`;
  const cached = coefficientCache.get(key);
  if (cached) return cached;
  const filter = FILTERS[interpolation];
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const invFilterscale = 1 / filterscale;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.fn((x + xmin - center + 0.5) * invFilterscale);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  const result = { ksize, start, count, weights };
  if (coefficientCache.size >= CACHE_LIMIT) coefficientCache.delete(coefficientCache.keys().next().value);
  coefficientCache.set(key, result);
  return result;
}
function resizeView(src, outWidth, outHeight, interpolation, window = { x: 0, y: 0, width: outWidth, height: outHeight }) {
  if (interpolation === "nearest") return resizeNearest(src, outWidth, outHeight, window);
  const C = src.channels;
  const needH = outWidth !== src.width;
  const needV = outHeight !== src.height;
  const out = new Uint8Array(window.width * window.height * C);
  if (!needH && !needV) {
    copyWindow(src, window.x, window.y, window.width, window.height, out);
    return out;
  }
  const vert = needV ? axisCoefficients(src.height, outHeight, interpolation) : void 0;
  if (C === 3 && simdAvailable()) {
    resizeRgbSimd(src, needH ? axisCoefficients(src.width, outWidth, interpolation) : void 0, vert, window, out);
    return out;
  }
  let rowFirst = window.y;
  let rowLast = window.y + window.height;
  if (vert) {
    rowFirst = Infinity;
    rowLast = 0;
    for (let yy = window.y; yy < window.y + window.height; yy++) {
      rowFirst = Math.min(rowFirst, vert.start[yy]);
      rowLast = Math.max(rowLast, vert.start[yy] + vert.count[yy]);
    }
  }
  let mid;
  if (needH) {
    const horiz = axisCoefficients(src.width, outWidth, interpolation);
    const rows = rowLast - rowFirst;
    const target = needV ? new Uint8Array(rows * window.width * C) : out;
    horizontalPass(src, rowFirst, rows, horiz, window.x, window.width, target);
    mid = { data: target, channels: C, stride: window.width * C, x: 0, y: -rowFirst, width: window.width, height: outHeight };
  } else {
    mid = { ...src, x: src.x + window.x, width: window.width };
  }
  if (vert) verticalPass(mid, vert, window.y, window.height, out);
  return out;
}
function copyWindow(src, x, y, width, height, out) {
  const C = src.channels;
  const rowLen = width * C;
  for (let r = 0; r < height; r++) {
    const from = (src.y + y + r) * src.stride + (src.x + x) * C;
    out.set(src.data.subarray(from, from + rowLen), r * rowLen);
  }
}
function horizontalPass(src, rowFirst, rows, co, colFirst, cols, out) {
  const { data, stride, channels: C } = src;
  const { ksize, start, count, weights } = co;
  let o = 0;
  if (C === 3) {
    for (let r = 0; r < rows; r++) {
      const base = (src.y + rowFirst + r) * stride + src.x * 3;
      for (let xx = colFirst; xx < colFirst + cols; xx++) {
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        let p = base + start[xx] * 3;
        const kb = xx * ksize;
        const n = count[xx];
        for (let t = 0; t < n; t++, p += 3) {
          const w = weights[kb + t];
          s0 += data[p] * w;
          s1 += data[p + 1] * w;
          s2 += data[p + 2] * w;
        }
        out[o++] = clip8(s0);
        out[o++] = clip8(s1);
        out[o++] = clip8(s2);
      }
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    const base = (src.y + rowFirst + r) * stride + src.x * C;
    for (let xx = colFirst; xx < colFirst + cols; xx++) {
      const kb = xx * ksize;
      const n = count[xx];
      for (let c = 0; c < C; c++) {
        let s = HALF;
        let p = base + start[xx] * C + c;
        for (let t = 0; t < n; t++, p += C) s += data[p] * weights[kb + t];
        out[o++] = clip8(s);
      }
    }
  }
}
var accumulator = new Int32Array(0);
function verticalPass(mid, co, rowFirst, rows, out) {
  const { data, stride, channels: C } = mid;
  const rowLen = mid.width * C;
  const colOffset = mid.x * C;
  const { ksize, start, count, weights } = co;
  if (accumulator.length < rowLen) accumulator = new Int32Array(rowLen);
  const acc = accumulator;
  for (let r = 0; r < rows; r++) {
    const yy = rowFirst + r;
    acc.fill(HALF, 0, rowLen);
    const kb = yy * ksize;
    const n = count[yy];
    for (let t = 0; t < n; t++) {
      const w = weights[kb + t];
      const base = (mid.y + start[yy] + t) * stride + colOffset;
      for (let i = 0; i < rowLen; i++) acc[i] = acc[i] + data[base + i] * w;
    }
    const o = r * rowLen;
    for (let i = 0; i < rowLen; i++) out[o + i] = clip8(acc[i]);
  }
}
function clip8(ss) {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}
function resizeNearest(src, outWidth, outHeight, window) {
  const C = src.channels;
  const xs = nearestTable(src.width, outWidth);
  const ys = nearestTable(src.height, outHeight);
  const out = new Uint8Array(window.width * window.height * C);
  let o = 0;
  for (let yy = window.y; yy < window.y + window.height; yy++) {
    const rowBase = (src.y + ys[yy]) * src.stride + src.x * C;
    for (let xx = window.x; xx < window.x + window.width; xx++) {
      const p = rowBase + xs[xx] * C;
      for (let c = 0; c < C; c++) out[o++] = src.data[p + c];
    }
  }
  return out;
}
function nearestTable(inSize, outSize) {
  const a = inSize / outSize;
  const table = new Int32Array(outSize);
  let pos = a * 0.5;
  for (let i = 0; i < outSize; i++) {
    table[i] = Math.min(inSize - 1, pos < 0 ? 0 : Math.trunc(pos));
    pos += a;
  }
  return table;
}

// .old-build/src/presets.ts
var CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
var CLIP_STD = [0.26862954, 0.26130258, 0.27577711];
var IMAGENET_MEAN = [0.485, 0.456, 0.406];
var IMAGENET_STD = [0.229, 0.224, 0.225];
var OPEN_CLIP_AUGMENT = { scale: [0.9, 1], ratio: [3 / 4, 4 / 3], hflip: 0 };
function clip(name, size, patchSize, description) {
  return {
    name,
    description,
    size,
    patchSize,
    resize: "shortest",
    crop: "center",
    interpolation: "bicubic",
    mean: [...CLIP_MEAN],
    std: [...CLIP_STD],
    channels: 3,
    augment: OPEN_CLIP_AUGMENT
  };
}
function siglip(name, size) {
  return {
    name,
    description: `SigLIP ${size}: squash to ${size}\xD7${size} bicubic (HF SiglipImageProcessor), mean/std 0.5, patch 16`,
    size,
    patchSize: 16,
    resize: "squash",
    crop: "none",
    interpolation: "bicubic",
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
    channels: 3,
    augment: OPEN_CLIP_AUGMENT
  };
}
var IMAGE_PRESETS = Object.freeze({
  "clip-vit-b-32": clip("clip-vit-b-32", 224, 32, "CLIP ViT-B/32: shortest side 224 bicubic, center crop 224, CLIP mean/std, patch 32"),
  "clip-vit-b-16": clip("clip-vit-b-16", 224, 16, "CLIP ViT-B/16: shortest side 224 bicubic, center crop 224, CLIP mean/std, patch 16"),
  "clip-vit-l-14": clip("clip-vit-l-14", 224, 14, "CLIP ViT-L/14: shortest side 224 bicubic, center crop 224, CLIP mean/std, patch 14"),
  "clip-vit-l-14-336": clip("clip-vit-l-14-336", 336, 14, "CLIP ViT-L/14@336: shortest side 336 bicubic, center crop 336, CLIP mean/std, patch 14"),
  "siglip-224": siglip("siglip-224", 224),
  "siglip-384": siglip("siglip-384", 384),
  imagenet: {
    name: "imagenet",
    description: "ImageNet eval (VideoMAE / timm): shortest side 256 bilinear, center crop 224, ImageNet mean/std, patch 16",
    size: 224,
    patchSize: 16,
    resize: "shortest",
    resizeSize: 256,
    crop: "center",
    interpolation: "bilinear",
    mean: [...IMAGENET_MEAN],
    std: [...IMAGENET_STD],
    channels: 3,
    augment: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3], hflip: 0.5 }
  }
});
var DEFAULT_IMAGE_PRESET = "clip-vit-b-16";
var KNOWN_FIELDS = /* @__PURE__ */ new Set([
  "name",
  "description",
  "size",
  "patchSize",
  "resize",
  "resizeSize",
  "crop",
  "interpolation",
  "mean",
  "std",
  "channels",
  "padColor",
  "augment"
]);
var MAX_SIDE = 16384;
function validateImagePreset(preset, name = preset.name ?? "custom") {
  const bad = (field, reason) => {
    throw new BadPresetError("image", name, { field, reason });
  };
  const p = preset;
  if (typeof p !== "object" || p === null) bad("(preset)", "must be an object");
  for (const key of Object.keys(p)) if (!KNOWN_FIELDS.has(key)) bad(key, `is not a preset field (known: ${[...KNOWN_FIELDS].join(", ")})`);
  const isSide = (v) => typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= MAX_SIDE;
  let height;
  let width;
  if (isSide(p.size)) height = width = p.size;
  else if (Array.isArray(p.size) && p.size.length === 2 && isSide(p.size[0]) && isSide(p.size[1])) [height, width] = p.size;
  else return bad("size", `must be an integer side in [1, ${MAX_SIDE}] or [height, width], got ${JSON.stringify(p.size)}`);
  if (!isSide(p.patchSize)) bad("patchSize", `must be a positive integer, got ${JSON.stringify(p.patchSize)}`);
  const patch = p.patchSize;
  if (height % patch !== 0 || width % patch !== 0) bad("patchSize", `${patch} must divide the output size ${height}\xD7${width}`);
  if (p.resize !== "shortest" && p.resize !== "squash" && p.resize !== "longest-pad") {
    bad("resize", `must be "shortest", "squash" or "longest-pad", got ${JSON.stringify(p.resize)}`);
  }
  if (p.crop !== "center" && p.crop !== "none") bad("crop", `must be "center" or "none", got ${JSON.stringify(p.crop)}`);
  if (!INTERPOLATIONS.includes(p.interpolation)) {
    bad("interpolation", `must be one of ${INTERPOLATIONS.join(", ")}, got ${JSON.stringify(p.interpolation)}`);
  }
  if (p.resizeSize !== void 0 && !isSide(p.resizeSize)) bad("resizeSize", `must be a positive integer, got ${JSON.stringify(p.resizeSize)}`);
  const resizeSize = p.resizeSize;
  if (p.resize === "shortest") {
    if (p.crop !== "center") bad("crop", 'must be "center" with resize "shortest" (the resized image has a variable size)');
    if (resizeSize !== void 0 && resizeSize < Math.max(height, width)) {
      bad("resizeSize", `${resizeSize} is smaller than the crop ${height}\xD7${width}`);
    }
  } else if (p.resize === "squash") {
    if (resizeSize !== void 0 && resizeSize < Math.max(height, width)) bad("resizeSize", `${resizeSize} is smaller than the crop ${height}\xD7${width}`);
    if (p.crop === "none" && resizeSize !== void 0 && (resizeSize !== height || resizeSize !== width)) {
      bad("crop", `must be "center" when resizeSize ${resizeSize} differs from the output size ${height}\xD7${width}`);
    }
  } else {
    if (height !== width) bad("size", `must be square with resize "longest-pad", got ${height}\xD7${width}`);
    if (p.crop !== "none") bad("crop", 'must be "none" with resize "longest-pad"');
    if (resizeSize !== void 0) bad("resizeSize", 'is not used with resize "longest-pad" (the longer side becomes the output side)');
  }
  if (p.channels !== 1 && p.channels !== 3) bad("channels", `must be 1 or 3, got ${JSON.stringify(p.channels)}`);
  const channels = p.channels;
  const isVector = (v, ok) => Array.isArray(v) && v.length === channels && v.every((x) => typeof x === "number" && Number.isFinite(x) && ok(x));
  if (!isVector(p.mean, () => true)) bad("mean", `must be ${channels} finite numbers (one per channel), got ${JSON.stringify(p.mean)}`);
  if (!isVector(p.std, (x) => x > 0)) bad("std", `must be ${channels} positive numbers (one per channel), got ${JSON.stringify(p.std)}`);
  if (p.padColor !== void 0 && !isVector(p.padColor, (x) => Number.isInteger(x) && x >= 0 && x <= 255)) {
    bad("padColor", `must be ${channels} integers in [0, 255], got ${JSON.stringify(p.padColor)}`);
  }
  if (p.augment !== void 0) validateAugment(p.augment, bad);
  return { preset, height, width };
}
function validateAugment(a, bad) {
  if (typeof a !== "object" || a === null || Array.isArray(a)) bad("augment", "must be an object { scale, ratio, hflip }");
  const aug = a;
  for (const key of Object.keys(aug)) if (key !== "scale" && key !== "ratio" && key !== "hflip") bad(`augment.${key}`, "is not an augmentation field (scale, ratio, hflip)");
  const range = (v, ok) => Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "number" && Number.isFinite(x) && ok(x)) && v[0] <= v[1];
  if (!range(aug.scale, (x) => x > 0 && x <= 1)) bad("augment.scale", `must be [min, max] with 0 < min <= max <= 1, got ${JSON.stringify(aug.scale)}`);
  if (!range(aug.ratio, (x) => x > 0)) bad("augment.ratio", `must be [min, max] with 0 < min <= max, got ${JSON.stringify(aug.ratio)}`);
  if (typeof aug.hflip !== "number" || !(aug.hflip >= 0 && aug.hflip <= 1)) bad("augment.hflip", `must be a probability in [0, 1], got ${JSON.stringify(aug.hflip)}`);
}

// .old-build/src/random-resized-crop.ts
import { InvalidArgumentError as InvalidArgumentError3 } from "@omnitok/core";
function mulberry32(seed) {
  if (!Number.isFinite(seed)) throw new InvalidArgumentError3("seed", seed, "a finite number");
  let state = Math.trunc(seed) >>> 0;
  return () => {
    state = state + 1831565813 >>> 0;
    let t = state;
    t = Math.imul(t ^ t >>> 15, t | 1);
    t ^= t + Math.imul(t ^ t >>> 7, t | 61);
    return ((t ^ t >>> 14) >>> 0) / 4294967296;
  };
}
function drawAugmentation(width, height, augment, random) {
  const crop = randomResizedCropBox(width, height, augment.scale, augment.ratio, random);
  const flip = augment.hflip > 0 && random() < augment.hflip;
  return { crop, flip };
}
function randomResizedCropBox(width, height, scale, ratio, random) {
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scale[0] + (scale[1] - scale[0]) * random());
    const aspect = Math.exp(logLo + (logHi - logLo) * random());
    const w2 = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h2 = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w2 > 0 && w2 <= width && h2 > 0 && h2 <= height) {
      const top = Math.floor(random() * (height - h2 + 1));
      const left = Math.floor(random() * (width - w2 + 1));
      return { top, left, height: h2, width: w2 };
    }
  }
  const inRatio = width / height;
  let w;
  let h;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}
function roundHalfEven(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// .old-build/src/preprocess-image.ts
var prepared = /* @__PURE__ */ new WeakMap();
function prepareImagePreset(preset, presets = IMAGE_PRESETS, defaultPreset = DEFAULT_IMAGE_PRESET) {
  if (preset && typeof preset === "object" && "lut" in preset) return preset;
  const { name, preset: p } = resolvePreset("image", presets, preset, defaultPreset);
  const cached = prepared.get(p);
  if (cached && cached.name === name) return cached;
  const resolved = validateImagePreset(p, name);
  const channels = p.channels;
  const lut = new Float32Array(channels * 256);
  for (let c = 0; c < channels; c++) {
    const mean = Math.fround(p.mean[c]);
    const std = Math.fround(p.std[c]);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = Math.fround(Math.fround(v / 255) - mean) / std;
  }
  const result = { ...resolved, name, channels, lut };
  prepared.set(p, result);
  return result;
}
function preprocessImage(decoded, preset, options = {}) {
  const p = prepareImagePreset(preset);
  const data = new Float32Array(p.channels * p.height * p.width);
  preprocessImageInto(decoded, p, options, data, 0);
  return {
    data,
    shape: [p.channels, p.height, p.width],
    axes: ["channel", "height", "width"],
    modality: "image",
    preset: p.name,
    source: decoded.source,
    patchSize: p.preset.patchSize
  };
}
function preprocessImageInto(decoded, p, options, out, offset, layout2 = "chw") {
  checkDecoded(decoded);
  const { preset, height: H, width: W, channels: C } = p;
  let view = toView(decoded, C);
  let flip = false;
  let resizedW;
  let resizedH;
  let window;
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
  } else if (preset.resize === "longest-pad") {
    const { width: w, height: h } = view;
    if (w >= h) {
      resizedW = W;
      resizedH = Math.max(1, Math.trunc(W * h / w));
    } else {
      resizedH = H;
      resizedW = Math.max(1, Math.trunc(H * w / h));
    }
    window = { x: 0, y: 0, width: resizedW, height: resizedH };
    padX = Math.floor((W - resizedW) / 2);
    padY = Math.floor((H - resizedH) / 2);
  } else {
    if (preset.resize === "shortest") {
      const target = preset.resizeSize ?? Math.max(H, W);
      const { width: w, height: h } = view;
      if (w <= h) {
        resizedW = target;
        resizedH = Math.trunc(target * h / w);
      } else {
        resizedH = target;
        resizedW = Math.trunc(target * w / h);
      }
    } else {
      resizedW = preset.resizeSize ?? W;
      resizedH = preset.resizeSize ?? H;
    }
    window = { x: roundHalfEven((resizedW - W) / 2), y: roundHalfEven((resizedH - H) / 2), width: W, height: H };
  }
  const pixels = resizeView(view, resizedW, resizedH, preset.interpolation, window);
  const plane = H * W;
  const padded = window.width !== W || window.height !== H;
  if (layout2 === "patches") {
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
  function writePadded(target, at) {
    if (padded) {
      const pad = preset.padColor ?? preset.mean.map((m) => Math.min(255, Math.max(0, Math.round(m * 255))));
      for (let c = 0; c < C; c++) target.fill(p.lut[c * 256 + pad[c]], at + c * plane, at + (c + 1) * plane);
    }
    writeNormalized(pixels, window.width, window.height, C, p.lut, target, at, W, plane, padX, padY, flip);
  }
}
function writeNormalizedPatches(pixels, W, H, C, lut, out, offset, P, flip) {
  const gridW = W / P;
  const PP = P * P;
  const table = columnTable(W, C, P, flip);
  for (let y = 0; y < H; y++) {
    const gy = y / P | 0;
    const rowBase = offset + gy * gridW * C * PP + (y - gy * P) * P;
    let i = y * W * C;
    if (C === 3) {
      for (let x = 0; x < W; x++, i += 3) {
        const d = rowBase + table[x];
        out[d] = lut[pixels[i]];
        out[d + PP] = lut[256 + pixels[i + 1]];
        out[d + 2 * PP] = lut[512 + pixels[i + 2]];
      }
    } else {
      for (let x = 0; x < W; x++) for (let c = 0; c < C; c++, i++) out[rowBase + table[x] + c * PP] = lut[c * 256 + pixels[i]];
    }
  }
}
var columnTables = /* @__PURE__ */ new Map();
function columnTable(W, C, P, flip) {
  const key = `${W}:${C}:${P}:${flip}`;
  let table = columnTables.get(key);
  if (!table) {
    table = new Int32Array(W);
    for (let x = 0; x < W; x++) {
      const to = flip ? W - 1 - x : x;
      const gx = to / P | 0;
      table[x] = gx * C * P * P + (to - gx * P);
    }
    if (columnTables.size > 64) columnTables.clear();
    columnTables.set(key, table);
  }
  return table;
}
function writeNormalized(pixels, w, h, C, lut, out, offset, W, plane, padX, padY, flip) {
  for (let c = 0; c < C; c++) {
    const lutBase = c * 256;
    const planeBase = offset + c * plane;
    for (let y = 0; y < h; y++) {
      let o = planeBase + (padY + y) * W + padX;
      let i = y * w * C + c;
      if (!flip) {
        for (let x = 0; x < w; x++, i += C) out[o++] = lut[lutBase + pixels[i]];
      } else {
        o += w - 1;
        for (let x = 0; x < w; x++, i += C) out[o--] = lut[lutBase + pixels[i]];
      }
    }
  }
}
function toView(decoded, channels) {
  const { width, height, data } = decoded;
  if (channels === 3) return { data, channels: 3, stride: width * 3, x: 0, y: 0, width, height };
  const grey = new Uint8Array(width * height);
  for (let i = 0, s = 0; i < grey.length; i++, s += 3) grey[i] = data[s] * 19595 + data[s + 1] * 38470 + data[s + 2] * 7471 + 32768 >> 16;
  return { data: grey, channels: 1, stride: width, x: 0, y: 0, width, height };
}
function checkDecoded(decoded) {
  if (!decoded || !(decoded.data instanceof Uint8Array) || !Number.isInteger(decoded.width) || !Number.isInteger(decoded.height) || decoded.width < 1 || decoded.height < 1 || decoded.data.length !== decoded.width * decoded.height * 3) {
    throw new InvalidArgumentError4("decoded", decoded, "a DecodedImage { data: Uint8Array of width \xD7 height \xD7 3, width, height, channels: 3 }");
  }
}

// .old-build/src/image-tokenizer.ts
var VERSION = "0.1.0";
function imageTokenizer(options = {}) {
  const presets = { ...IMAGE_PRESETS, ...options.presets ?? {} };
  const defaultPreset = options.defaultPreset ?? DEFAULT_IMAGE_PRESET;
  for (const name of Object.keys(options.presets ?? {})) prepareImagePreset(name, presets, defaultPreset);
  prepareImagePreset(defaultPreset, presets, defaultPreset);
  const decodeDefaults = options.decode ?? {};
  return {
    specVersion: MODALITY_SPEC_VERSION,
    name: "image",
    modality: "image",
    description: "Images (JPEG, PNG, WebP, GIF, TIFF, AVIF) to ViT patch tokens with PIL-exact CLIP / SigLIP / ImageNet preprocessing",
    version: VERSION,
    presets,
    defaultPreset,
    tokenKind: "continuous",
    fileTypes: IMAGE_FILE_TYPES,
    decode: (input, decodeOptions) => decodeImage(input, { ...decodeDefaults, ...decodeOptions }),
    preprocess: (decoded, preset, preprocessOptions) => preprocessImage(decoded, prepareImagePreset(preset, presets, defaultPreset), preprocessOptions),
    tokenize: (features) => patchify(features)
  };
}

// .old-build/src/batch.ts
import { gridPositions, InvalidArgumentError as InvalidArgumentError5 } from "@omnitok/core";
import { availableParallelism } from "os";
function batchItemSeed(seed, index) {
  let h = (Math.trunc(seed) ^ Math.imul(index + 1, 2654435761)) >>> 0;
  h = Math.imul(h ^ h >>> 16, 2246822507) >>> 0;
  return (h ^ h >>> 13) >>> 0;
}
async function preprocessImageBatch(inputs, options = {}) {
  const p = prepareImagePreset(options.preset, options.presets ?? IMAGE_PRESETS, DEFAULT_IMAGE_PRESET);
  const size = p.channels * p.height * p.width;
  const run = await runBatch(inputs, options, p, size);
  return {
    modality: "image",
    preset: p.name,
    data: run.data,
    shape: [run.indices.length, p.channels, p.height, p.width],
    axes: ["batch", "channel", "height", "width"],
    patchSize: p.preset.patchSize,
    indices: run.indices,
    sources: run.sources,
    failures: run.failures
  };
}
async function tokenizeImageBatch(inputs, options = {}) {
  const p = prepareImagePreset(options.preset, options.presets ?? IMAGE_PRESETS, DEFAULT_IMAGE_PRESET);
  const { channels: C, height: H, width: W } = p;
  const P = checkPatch(p.preset.patchSize, H, W);
  const size = C * H * W;
  const run = await runBatch(inputs, options, p, size, "patches");
  const grid = [H / P, W / P];
  return {
    kind: "continuous",
    modality: "image",
    preset: p.name,
    data: run.data,
    shape: [run.indices.length, grid[0] * grid[1], C * P * P],
    grid,
    positions: gridPositions(grid),
    indices: run.indices,
    sources: run.sources,
    failures: run.failures
  };
}
async function runBatch(inputs, options, p, size, layout2 = "chw") {
  if (!Array.isArray(inputs)) throw new InvalidArgumentError5("inputs", inputs, "an array of image inputs");
  const concurrency = options.concurrency ?? Math.min(8, Math.max(2, availableParallelism()));
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidArgumentError5("options.concurrency", concurrency, "a positive integer");
  const n = inputs.length;
  const data = new Float32Array(n * size);
  const ok = new Uint8Array(n);
  const sources = new Array(n).fill("");
  const failures = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const index = next++;
      try {
        options.signal?.throwIfAborted();
        const decoded = await decodeImage(inputs[index], options);
        const seed = options.seed === void 0 ? void 0 : batchItemSeed(options.seed, index);
        preprocessImageInto(decoded, p, { augment: options.augment, seed }, data, index * size, layout2);
        sources[index] = decoded.source;
        ok[index] = 1;
      } catch (error) {
        if (options.signal?.aborted) throw error;
        failures.push({ index, source: labelOf(inputs[index]), error: error instanceof Error ? error : new Error(String(error)) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  failures.sort((a, b) => a.index - b.index);
  const count = n - failures.length;
  const indices = new Int32Array(count);
  let row = 0;
  for (let i = 0; i < n; i++) {
    if (!ok[i]) continue;
    if (row !== i) data.copyWithin(row * size, i * size, (i + 1) * size);
    indices[row++] = i;
  }
  return {
    data: count === n ? data : data.slice(0, count * size),
    indices,
    sources: Array.from(indices, (i) => sources[i]),
    failures
  };
}
function labelOf(input) {
  if (typeof input === "string") return input;
  if (input instanceof Uint8Array) return `<${input.byteLength} bytes>`;
  if (input && typeof input === "object") {
    if ("path" in input && typeof input.path === "string") return input.path;
    if ("name" in input && typeof input.name === "string") return input.name;
    if ("bytes" in input && input.bytes instanceof Uint8Array) return `<${input.bytes.byteLength} bytes>`;
  }
  return String(input);
}
export {
  CLIP_MEAN,
  CLIP_STD,
  DEFAULT_IMAGE_PRESET,
  DEFAULT_MAX_PIXELS,
  IMAGENET_MEAN,
  IMAGENET_STD,
  IMAGE_FILE_TYPES,
  IMAGE_PRESETS,
  INTERPOLATIONS,
  axisCoefficients,
  batchItemSeed,
  decodeImage,
  drawAugmentation,
  imageTokenizer,
  mulberry32,
  patchify,
  patchifyInto,
  prepareImagePreset,
  preprocessImage,
  preprocessImageBatch,
  preprocessImageInto,
  randomResizedCropBox,
  resizeView,
  roundHalfEven,
  sniffImageFormat,
  tokenizeImageBatch,
  validateImagePreset
};
