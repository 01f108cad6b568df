import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadNativeKernels, type NativeKernels } from './index.js';

/*
 * The addon against plain-JS float64 references (the runtime suite in @omnitok/core checks it against
 * TensorFlow.js and PyTorch). Skipped when the addon was not built, unless OMNITOK_REQUIRE_NATIVE=1.
 */
const loaded = loadNativeKernels();
const required = process.env.OMNITOK_REQUIRE_NATIVE === '1';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}
const randn = (n: number, seed: number) => Float32Array.from({ length: n }, rng(seed));

function worst(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let w = 0;
  for (let i = 0; i < b.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return a.length === b.length ? w : Infinity;
}

describe.skipIf(!loaded.ok && !required)('@omnitok/native-kernels', () => {
  const k = (): NativeKernels => {
    if (!loaded.ok) throw new Error(`addon required (OMNITOK_REQUIRE_NATIVE=1) but unavailable: ${loaded.reason}`);
    return loaded.kernels;
  };

  it('resizeNormalize: a plain copy through the tables, and every out-of-bounds geometry refused before any work', async () => {
    const resize = k().resizeNormalize!;
    expect(typeof resize).toBe('function');
    // 4×3 RGB source, no resize (empty coefficients), window 2×2 at (1, 1), [C, H, W] tables, lut = v
    const src = Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => i);
    const lut = Float32Array.from({ length: 768 }, (_, i) => (i % 256) + 1000 * Math.floor(i / 256));
    const none = new Int32Array(0);
    const geometry = (g: Partial<Record<'stride' | 'x' | 'y' | 'w' | 'h' | 'wx' | 'wy' | 'ww' | 'wh' | 'plane', number>> = {}) =>
      Int32Array.of(g.stride ?? 12, g.x ?? 0, g.y ?? 0, g.w ?? 4, g.h ?? 3, g.wx ?? 1, g.wy ?? 1, g.ww ?? 2, g.wh ?? 2, 0, 0, g.plane ?? 4);
    const out = new Float32Array(12).fill(-1);
    const rowBase = Int32Array.of(0, 2);
    const col = Int32Array.of(0, 1);
    await resize(src, geometry(), none, none, none, none, none, none, out, 0, rowBase, col, lut);
    // pixel (x, y) of the source starts at byte (y·4 + x)·3; channel c adds c, then 1000·c from the lut
    const px = (x: number, y: number, c: number) => (y * 4 + x) * 3 + c + 1000 * c;
    expect(Array.from(out)).toEqual([0, 1, 2].flatMap((c) => [px(1, 1, c), px(2, 1, c), px(1, 2, c), px(2, 2, c)]));
    const bad: [string, () => Promise<void>][] = [
      ['view past the source', () => resize(src, geometry({ h: 4 }), none, none, none, none, none, none, out, 0, rowBase, col, lut)],
      ['window past the view', () => resize(src, geometry({ wx: 3 }), none, none, none, none, none, none, out, 0, rowBase, col, lut)],
      ['writes past out', () => resize(src, geometry(), none, none, none, none, none, none, out, 1, rowBase, col, lut)],
      ['negative table entry', () => resize(src, geometry(), none, none, none, none, none, none, out, 0, Int32Array.of(0, -3), col, lut)],
      ['taps past the view', () => resize(src, geometry(), Int32Array.of(0, 3, 3, 0), Int32Array.of(1, 2, 2, 1), new Int32Array(4), none, none, none, out, 0, rowBase, col, lut)],
      ['short lut', () => resize(src, geometry(), none, none, none, none, none, none, out, 0, rowBase, col, new Float32Array(10))],
    ];
    for (const [title, call] of bad) expect(call, title).toThrow(RangeError);
    expect(() => resize(new Float32Array(4) as unknown as Uint8Array, geometry(), none, none, none, none, none, none, out, 0, rowBase, col, lut)).toThrow(TypeError);
  });

  it('reports its GEMM, thread count and ISA', () => {
    const info = k().info();
    expect(info.blas).toMatch(/^(OpenBLAS|builtin (AVX-512|AVX2\+FMA|baseline))/);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(['avx512f', 'avx2+fma', 'baseline']).toContain(info.isa);
  });

  for (const blas of [true, false]) {
    it(`matmul (${blas ? 'BLAS if present' : 'built-in'}): all transposes, batches, broadcast, alpha/beta; last micro-tiles of 9, 8 and 4 rows`, () => {
      k().configure(0, blas);
      // on AVX-512 (14-row micro-tiles) 37, 22 and 32 rows end in tiles of 9, 8 and 4 rows: the full, 8-row and 4-row kernels
      for (const [B, M, N, K] of [[3, 37, 53, 29], [2, 22, 40, 31], [2, 32, 35, 20]] as const) {
        for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          for (const bcast of [false, true]) {
            const a = randn(B * M * K, 1);
            const b = randn((bcast ? 1 : B) * K * N, 2);
            const c = randn(B * M * N, 3);
            const ref = new Float64Array(B * M * N);
            for (let z = 0; z < B; z++)
              for (let i = 0; i < M; i++)
                for (let j = 0; j < N; j++) {
                  let s = 0;
                  for (let q = 0; q < K; q++) {
                    const av = ta ? a[z * M * K + q * M + i]! : a[z * M * K + i * K + q]!;
                    const bo = bcast ? 0 : z * K * N;
                    s += av * (tb ? b[bo + j * K + q]! : b[bo + q * N + j]!);
                  }
                  ref[z * M * N + i * N + j] = 0.5 * s + 2 * c[z * M * N + i * N + j]!;
                }
            k().matmul(a, b, c, B, M, N, K, ta, tb, M * K, bcast ? 0 : K * N, 0.5, 2);
            expect(worst(c, ref)).toBeLessThan(1e-5);
          }
        }
      }
      k().configure(0, true);
    });
  }

  // FTZ/DAZ: Intel cores take ~100× longer on an FMA that reads or makes a denormal (a text tower's
  // backward makes them); the kernels flush them, V8's own arithmetic must keep them
  const x86 = process.arch === 'x64' || process.arch === 'ia32';
  it.runIf(x86)('flushes denormals to zero in the kernels (workers included) and leaves JS arithmetic IEEE after a call', () => {
    expect(k().info().flushDenormals).toBe(true);
    const tiny = 1e-20; // tiny · tiny = 1e-40: a denormal float32, 0 when flushed
    const c = new Float32Array(1);
    k().matmul(Float32Array.of(tiny), Float32Array.of(tiny), c, 1, 1, 1, 1, false, false, 0, 0, 1, 0);
    expect(c[0]).toBe(0);
    // a denormal input reads as 0 (DAZ)
    k().matmul(Float32Array.of(1e-40), Float32Array.of(1), c, 1, 1, 1, 1, false, false, 0, 0, 1, 0);
    expect(c[0]).toBe(0);
    // a tall product: row blocks on the pool's workers too
    const M = 4096;
    const tall = new Float32Array(M).fill(7);
    k().matmul(new Float32Array(M).fill(tiny), Float32Array.of(tiny), tall, 1, M, 1, 1, false, false, 0, 0, 1, 0);
    expect(tall.every((v) => v === 0)).toBe(true);
    const big = new Float32Array(M);
    k().matmul(new Float32Array(M).fill(1e-10), Float32Array.of(1e-10), big, 1, M, 1, 1, false, false, 0, 0, 1, 0);
    expect(big.every((v) => Math.abs(v - 1e-20) < 1e-26)).toBe(true); // normal values untouched
    // the caller's MXCSR is put back: V8's double → float conversion and double arithmetic keep denormals
    const f = new Float32Array(1);
    f[0] = Number(process.env.OMNITOK_TEST_DENORMAL ?? '1e-40');
    expect(f[0]).toBeGreaterThan(0);
    expect(Number(process.env.OMNITOK_TEST_DOUBLE ?? '2.2250738585072014e-308') / 1024).toBeGreaterThan(0);
  });

  it.runIf(x86)('OMNITOK_NATIVE_DENORMALS=keep keeps IEEE denormals (a fresh process: read when the addon loads)', () => {
    const code = `import { loadNativeKernels } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      const k = loadNativeKernels().kernels; const c = new Float32Array(1);
      k.matmul(Float32Array.of(1e-20), Float32Array.of(1e-20), c, 1, 1, 1, 1, false, false, 0, 0, 1, 0);
      console.log(JSON.stringify({ c: c[0], flush: k.info().flushDenormals }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, OMNITOK_NATIVE_DENORMALS: 'keep' }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const { c, flush } = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(flush).toBe(false);
    expect(c).toBeGreaterThan(0);
    expect(c).toBeCloseTo(Math.fround(1e-40), 45);
  });

  it('matmul over the pool (tall products: shared packed B, row blocks split by thread count), matmulBias: every transpose, edges, alpha/beta; the same bits for any thread count', () => {
    const original = k().info().threads;
    // M not a multiple of the micro-tile's rows, N of its columns, K spanning two K blocks: ≥ 4e6 flops, so parallel
    const [M, N, K] = [611, 300, 300];
    const a = randn(M * K, 21);
    const b = randn(K * N, 22);
    const c0 = randn(M * N, 23);
    const bias = randn(N, 24);
    const reference = (ta: boolean, tb: boolean, alpha: number, beta: number, withBias: boolean) => {
      const ref = new Float64Array(M * N);
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let q = 0; q < K; q++) s += (ta ? a[q * M + i]! : a[i * K + q]!) * (tb ? b[j * K + q]! : b[q * N + j]!);
          ref[i * N + j] = withBias ? s + bias[j]! : alpha * s + beta * c0[i * N + j]!;
        }
      return ref;
    };
    try {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const runs = [1, 2, 3].map((threads) => {
          k().configure(threads, false);
          const c = c0.slice();
          k().matmul(a, b, c, 1, M, N, K, ta, tb, 0, 0, 0.5, 2);
          const cb = new Float32Array(M * N).fill(NaN);
          k().matmulBias(a, b, cb, bias, M, N, K, ta, tb);
          return [c, cb];
        });
        expect(worst(runs[0]![0]!, reference(ta, tb, 0.5, 2, false)), `matmul ${ta}${tb}`).toBeLessThan(1e-4);
        expect(worst(runs[0]![1]!, reference(ta, tb, 1, 0, true)), `matmulBias ${ta}${tb}`).toBeLessThan(1e-4);
        for (const r of runs.slice(1)) r.forEach((c, i) => expect(Array.from(c), `threads, ${ta}${tb} #${i}`).toEqual(Array.from(runs[0]![i]!)));
      }
      // a small product takes the multiply-then-add path: the same values
      const cs = new Float32Array(7 * 5);
      k().matmulBias(a, b, cs, bias.subarray(0, 5), 7, 5, 3, false, false);
      for (let i = 0; i < 7; i++) for (let j = 0; j < 5; j++) expect(cs[i * 5 + j]).toBeCloseTo(a[i * 3]! * b[j]! + a[i * 3 + 1]! * b[5 + j]! + a[i * 3 + 2]! * b[10 + j]! + bias[j]!, 4);
      expect(() => k().matmulBias(a, b, cs, bias, 7, 5, 3, false, false)).toThrow(/bias not N long/);
    } finally {
      k().configure(original, true);
    }
  });

  it('matmul with beta = 0 overwrites whatever C held (NaN included), over K blocks, edge tiles and wide products; the same bits for any thread count', () => {
    const original = k().info().threads;
    try {
      // [M, N, K]: K past one 256-deep block; 37 rows (a 9-row edge tile on AVX-512); a wide product
      // (M < N: column blocks on the pool, one call on one thread) with a transposed A (a weight gradient)
      for (const [M, N, K, ta, tb] of [[37, 53, 300, false, false], [37, 53, 29, false, true], [100, 611, 300, true, false], [128, 512, 600, true, false]] as const) {
        const a = randn(M * K, 61);
        const b = randn(K * N, 62);
        const ref = new Float64Array(M * N);
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let q = 0; q < K; q++) s += (ta ? a[q * M + i]! : a[i * K + q]!) * (tb ? b[j * K + q]! : b[q * N + j]!);
            ref[i * N + j] = s;
          }
        const runs = [1, 2, 3].map((threads) => {
          k().configure(threads, false);
          const c = new Float32Array(M * N).fill(NaN);
          k().matmul(a, b, c, 1, M, N, K, ta, tb, 0, 0, 1, 0);
          return c;
        });
        expect(worst(runs[0]!, ref), `${M}x${N}x${K} ${ta}${tb}`).toBeLessThan(1e-4);
        for (const c of runs.slice(1)) expect(Array.from(c), `threads, ${M}x${N}x${K}`).toEqual(Array.from(runs[0]!));
      }
    } finally {
      k().configure(original, true);
    }
  });

  it('packWeights + matmulPacked (few-row inference): equal to the reference for both weight layouts and edges, the same bits for any thread count, shapes checked', () => {
    const original = k().info().threads;
    k().configure(0, false);
    try {
      // rows ending in micro-tiles of 13, 8 and 4 rows (AVX-512: 14 a tile), K spanning up to five K blocks
      // (each panel's next block prefetched while one is multiplied), several panels a thread
      for (const [M, N, K, tb] of [[13, 1100, 513, true], [50, 333, 300, false], [224, 64, 17, false], [4, 700, 300, false], [33, 97, 1100, true]] as const) {
        const a = randn(M * K, 41);
        const b = randn(K * N, 42);
        const bias = randn(N, 43);
        const packed = k().packWeights(b, K, N, tb)!;
        expect(packed.length).toBeGreaterThanOrEqual(K * N);
        const ref = new Float64Array(M * N);
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) {
            let s = bias[j]!;
            for (let q = 0; q < K; q++) s += a[i * K + q]! * (tb ? b[j * K + q]! : b[q * N + j]!);
            ref[i * N + j] = s;
          }
        const runs = [1, 2, 3].map((threads) => {
          k().configure(threads, false);
          const c = new Float32Array(M * N).fill(NaN);
          k().matmulPacked(a, packed, c, bias, M, N, K);
          return c;
        });
        expect(worst(runs[0]!, ref), `${M}×${N}×${K} ${tb}`).toBeLessThan(1e-4);
        for (const c of runs.slice(1)) expect(Array.from(c)).toEqual(Array.from(runs[0]!));
        const noBias = new Float32Array(M * N);
        k().matmulPacked(a, packed, noBias, new Float32Array(0), M, N, K);
        expect(noBias[0]).toBeCloseTo(runs[0]![0]! - bias[0]!, 4);
      }
      const rows = k().packedRowsMax();
      const tiny = k().packWeights(randn(4, 1), 2, 2, false)!;
      expect(() => k().matmulPacked(new Float32Array(2 * (rows + 1)), tiny, new Float32Array(2 * (rows + 1)), new Float32Array(0), rows + 1, 2, 2)).toThrow(/too many rows/);
      expect(() => k().matmulPacked(new Float32Array(4), new Float32Array(3), new Float32Array(4), new Float32Array(0), 2, 2, 2)).toThrow(/do not fit/);
    } finally {
      k().configure(original, true);
    }
  });

  it('binary ops with broadcast strides; reduceSum; transpose; slice', () => {
    const a = randn(4 * 5, 4);
    const b = randn(5, 5).map((v) => v + 2);
    const out = new Float32Array(20);
    k().binary(3, a, b, out, [1, 1, 1, 1, 4, 5], [0, 0, 0, 0, 5, 1], [0, 0, 0, 0, 0, 1]);
    expect(worst(out, Array.from(a, (v, i) => v / b[i % 5]!))).toBeLessThan(1e-6);

    const x = randn(2 * 3 * 4, 6);
    const sum = new Float32Array(2 * 4);
    k().reduceSum(x, sum, 2, 3, 4);
    expect(worst(sum, Array.from({ length: 8 }, (_, i) => [0, 1, 2].reduce((s, m) => s + x[Math.floor(i / 4) * 12 + m * 4 + (i % 4)]!, 0)))).toBeLessThan(1e-6);

    const t = new Float32Array(24);
    k().transpose(x, t, [2, 3, 4], [2, 0, 1]); // [4, 2, 3]
    expect(t[1 * 6 + 1 * 3 + 2]).toBe(x[1 * 12 + 2 * 4 + 1]);

    const sl = new Float32Array(1 * 2 * 2);
    k().slice(x, sl, [2, 3, 4], [1, 1, 2], [1, 2, 2]);
    expect(Array.from(sl)).toEqual([x[12 + 4 + 2], x[12 + 4 + 3], x[12 + 8 + 2], x[12 + 8 + 3]]);
  });

  it('layerNorm forward/backward match float64 formulas', () => {
    const [R, C] = [7, 33];
    const x = randn(R * C, 7).map((v) => 3 * v + 1);
    const w = randn(C, 8).map((v) => v + 1);
    const b = randn(C, 9);
    const y = new Float32Array(R * C);
    const mean = new Float32Array(R);
    const rstd = new Float32Array(R);
    k().layerNorm(x, w, b, y, mean, rstd, R, C, 1e-5);
    const dy = randn(R * C, 10);
    const dx = new Float32Array(R * C);
    const dw = new Float32Array(C);
    const db = new Float32Array(C);
    k().layerNormBwd(dy, x, w, mean, rstd, dx, dw, db, R, C);
    const refY: number[] = [];
    const refDx: number[] = [];
    const refDw = new Array<number>(C).fill(0);
    for (let r = 0; r < R; r++) {
      const row = Array.from(x.subarray(r * C, (r + 1) * C));
      const mu = row.reduce((s, v) => s + v, 0) / C;
      const rs = 1 / Math.sqrt(row.reduce((s, v) => s + (v - mu) ** 2, 0) / C + 1e-5);
      const xh = row.map((v) => (v - mu) * rs);
      const g = Array.from(dy.subarray(r * C, (r + 1) * C));
      const gw = g.map((v, c) => v * w[c]!);
      const m1 = gw.reduce((s, v) => s + v, 0) / C;
      const m2 = gw.reduce((s, v, c) => s + v * xh[c]!, 0) / C;
      xh.forEach((v, c) => {
        refY.push(v * w[c]! + b[c]!);
        refDx.push(rs * (gw[c]! - m1 - v * m2));
        refDw[c]! += g[c]! * v;
      });
    }
    expect(worst(y, refY)).toBeLessThan(2e-6);
    expect(worst(dx, refDx)).toBeLessThan(2e-5);
    expect(worst(dw, refDw)).toBeLessThan(2e-5);
  });

  it('gelu (erf, tanh, quick) and its derivative', () => {
    const x = randn(1000, 11).map((v) => 10 * v);
    const erf = (z: number) => {
      // Numerical Recipes erfc (|error| < 1.2e-7)
      const t = 1 / (1 + 0.5 * Math.abs(z));
      const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
      return z >= 0 ? 1 - r : r - 1;
    };
    const f = [(v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2)), (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))), (v: number) => v / (1 + Math.exp(-1.702 * v))];
    for (let kind = 0; kind < 3; kind++) {
      const y = new Float32Array(1000);
      k().gelu(x, y, kind);
      expect(worst(y, Array.from(x, f[kind]!))).toBeLessThan(1e-6);
      const dx = new Float32Array(1000);
      k().geluBwd(x, new Float32Array(1000).fill(1), dx, kind);
      const h = 1e-3;
      expect(worst(dx, Array.from(x, (v) => (f[kind]!(v + h) - f[kind]!(v - h)) / (2 * h)))).toBeLessThan(1e-5);
    }
  });

  it('adamw in place follows torch.optim.AdamW; sumSquares', () => {
    const p = randn(100, 12);
    const g = randn(100, 13);
    const m = randn(100, 14).map((v) => v * 0.1);
    const v = randn(100, 15).map((q) => q * q * 0.01);
    const [lr, b1, b2, eps, wd, t] = [1e-2, 0.9, 0.98, 1e-6, 0.1, 3];
    const ref = Array.from(p, (pi, i) => {
      const mi = b1 * m[i]! + (1 - b1) * g[i]!;
      const vi = b2 * v[i]! + (1 - b2) * g[i]! ** 2;
      return pi * (1 - lr * wd) - (lr / (1 - b1 ** t)) * (mi / (Math.sqrt(vi) / Math.sqrt(1 - b2 ** t) + eps));
    });
    k().adamw(p, g, m, v, lr, b1, b2, eps, 1 - lr * wd, 1 - b1 ** t, 1 - b2 ** t, 1);
    expect(worst(p, ref)).toBeLessThan(1e-6);
    expect(k().sumSquares(Float32Array.from([1, 2, 3]))).toBe(14);
  });

  it('gives bit-identical results for any thread count', () => {
    const original = k().info().threads;
    const run = (threads: number) => {
      k().configure(threads, true);
      const [R, C] = [4096, 128];
      const x = randn(R * C, 16);
      const sum = new Float32Array(C);
      k().reduceSum(x, sum, 1, R, C);
      const dx = new Float32Array(R * C);
      const dw = new Float32Array(C);
      const db = new Float32Array(C);
      const mean = new Float32Array(R);
      const rstd = new Float32Array(R);
      const w = new Float32Array(C).fill(1);
      k().layerNorm(x, w, new Float32Array(C), new Float32Array(R * C), mean, rstd, R, C, 1e-5);
      k().layerNormBwd(x, x, w, mean, rstd, dx, dw, db, R, C);
      return [sum, dw, db, Float32Array.of(k().sumSquares(x))];
    };
    const one = run(1);
    const three = run(3);
    k().configure(original, true);
    three.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(one[i]!)));
  });
});
