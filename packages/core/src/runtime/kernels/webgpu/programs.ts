/*
 * WGSL programs for TensorFlow.js' webgpu backend (`@tensorflow/tfjs-backend-webgpu` 4.x), run through
 * its `runWebGPUProgram`: the backend prepends the bindings (`result` read_write, one read-only
 * `array<f32>` per name in `variableNames`), a `uniforms` struct (shapes, strides, then ours) and the
 * `_start` entry point that calls our `main()` (2-D/3-D dispatch layouts) or `main(index)` (flat ones).
 * Pipelines are cached by `shaderKey` + input ranks/dtypes, so every compile-time constant baked into
 * the code (tile sizes, transposes, variant) is part of the key; sizes travel as uniforms.
 * All accumulation is f32.
 */

/** The subset of tfjs-backend-webgpu's WebGPUProgram these programs fill in. */
export interface Program {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  workgroupSize: [number, number, number];
  uniforms?: string;
  size?: boolean;
  getUserCode: () => string;
}

/** Uniform values in the order of `Program.uniforms`. */
export type Uniforms = { type: 'int32' | 'float32'; data: number[] }[];

const ceil = (a: number, b: number) => Math.ceil(a / b);

/** Flat elementwise programs: one invocation per output element, `main(index)`. */
const FLAT_WG = 256;
function flat(outputShape: number[], size: number, key: string, variableNames: string[], uniforms: string, body: string): Program {
  return {
    outputShape,
    shaderKey: key,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [ceil(size, FLAT_WG), 1, 1],
    variableNames,
    workgroupSize: [FLAT_WG, 1, 1],
    uniforms,
    size: true,
    getUserCode: () => `
      ${ERF}
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        ${body}
      }`,
  };
}

/** Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), the same approximation as the native kernels. */
const ERF = `
  fn erf_(z : f32) -> f32 {
    let a = abs(z);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
    return sign(z) * (1.0 - poly * exp(-a * a));
  }`;

// ---------------------------------------------------------------------------------------------- GEMM

/** Threads per workgroup: 16 × 16; each computes RM × RN outputs (rows ty + 16i, columns tx + 16j). */
export interface MatMulTile {
  readonly rm: number;
  readonly rn: number;
  /** Depth of a shared-memory K slice. */
  readonly tk: number;
}
export const TILE_64: MatMulTile = { rm: 4, rn: 4, tk: 16 };
export const TILE_128: MatMulTile = { rm: 8, rn: 8, tk: 16 };

/**
 * C[b] = op(A[b])·op(B[b]) (+ bias[n]) for b < batch; A and B read in place whatever their transposes
 * (batch dims [B0, B1] with per-operand strides; a stride of 0 broadcasts). Tiles of (16·rm) × (16·rn) outputs per workgroup,
 * A and B slices staged in workgroup memory as [k][m] and [k][n]; loads follow the contiguous axis of
 * each operand (coalesced for both transposes); edge tiles are zero-filled and masked on write.
 */
export function matMulProgram(
  outputShape: number[],
  batch: number,
  m: number,
  n: number,
  transA: boolean,
  transB: boolean,
  bias: boolean,
  tile: MatMulTile,
): Program {
  const { rm, rn, tk } = tile;
  const TM = 16 * rm;
  const TN = 16 * rn;
  const loadsA = (TM * tk) / 256;
  const loadsB = (TN * tk) / 256;
  const r = outputShape.length;
  const lines: string[] = [];
  for (let i = 0; i < rm; i++) lines.push(`let a${i} = As[kk * ${TM} + ty + ${16 * i}];`);
  for (let j = 0; j < rn; j++) {
    lines.push(`{ let bv = Bs[kk * ${TN} + tx + ${16 * j}];`);
    for (let i = 0; i < rm; i++) lines.push(`acc[${i * rn + j}] = fma(a${i}, bv, acc[${i * rn + j}]);`);
    lines.push('}');
  }
  const loadA = transA
    ? `let mm = e % ${TM}; let kq = e / ${TM}; let gm = m0 + mm; let gk = k0 + kq;
       var val = 0.0; if (gm < M && gk < K) { val = A[aOff + gk * M + gm]; }`
    : `let kq = e % ${tk}; let mm = e / ${tk}; let gm = m0 + mm; let gk = k0 + kq;
       var val = 0.0; if (gm < M && gk < K) { val = A[aOff + gm * K + gk]; }`;
  const loadB = transB
    ? `let kq = e % ${tk}; let nn = e / ${tk}; let gn = n0 + nn; let gk = k0 + kq;
       var val = 0.0; if (gn < N && gk < K) { val = B[bOff + gn * K + gk]; }`
    : `let nn = e % ${TN}; let kq = e / ${TN}; let gn = n0 + nn; let gk = k0 + kq;
       var val = 0.0; if (gn < N && gk < K) { val = B[bOff + gk * N + gn]; }`;
  return {
    outputShape,
    shaderKey: `omnitokMatMul_${rm}x${rn}x${tk}_${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}${bias ? '_bias' : ''}`,
    dispatchLayout: { x: [r - 1], y: [r - 2] },
    dispatch: [ceil(n, TN), ceil(m, TM), batch],
    variableNames: bias ? ['A', 'B', 'bias'] : ['A', 'B'],
    workgroupSize: [16, 16, 1],
    uniforms: 'dimM : i32, dimN : i32, dimK : i32, batch1 : i32, strideA0 : i32, strideA1 : i32, strideB0 : i32, strideB1 : i32,',
    getUserCode: () => `
      var<workgroup> As : array<f32, ${TM * tk}>;
      var<workgroup> Bs : array<f32, ${TN * tk}>;
      fn main() {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let li = ty * 16 + tx;
        let bt = i32(workgroupId.z);
        let m0 = i32(workgroupId.y) * ${TM};
        let n0 = i32(workgroupId.x) * ${TN};
        let M = uniforms.dimM;
        let N = uniforms.dimN;
        let K = uniforms.dimK;
        let b0 = bt / uniforms.batch1;
        let b1 = bt - b0 * uniforms.batch1;
        let aOff = b0 * uniforms.strideA0 + b1 * uniforms.strideA1;
        let bOff = b0 * uniforms.strideB0 + b1 * uniforms.strideB1;
        var acc : array<f32, ${rm * rn}>;
        for (var k0 = 0; k0 < K; k0 = k0 + ${tk}) {
          for (var q = 0; q < ${loadsA}; q = q + 1) {
            let e = li + q * 256;
            ${loadA}
            As[kq * ${TM} + mm] = val;
          }
          for (var q = 0; q < ${loadsB}; q = q + 1) {
            let e = li + q * 256;
            ${loadB}
            Bs[kq * ${TN} + nn] = val;
          }
          workgroupBarrier();
          for (var kk = 0; kk < ${tk}; kk = kk + 1) {
            ${lines.join('\n            ')}
          }
          workgroupBarrier();
        }
        let cOff = bt * M * N;
        for (var i = 0; i < ${rm}; i = i + 1) {
          let gm = m0 + ty + 16 * i;
          if (gm >= M) { break; }
          for (var j = 0; j < ${rn}; j = j + 1) {
            let gn = n0 + tx + 16 * j;
            if (gn < N) {
              result[cOff + gm * N + gn] = acc[i * ${rn} + j]${bias ? ' + bias[gn]' : ''};
            }
          }
        }
      }`,
  };
}

// ----------------------------------------------------------------------------------------- LayerNorm

/** One workgroup per row; tree reductions in workgroup memory. */
const ROW_WG = 128;
const REDUCE = `
  var<workgroup> red : array<f32, ${ROW_WG}>;
  fn blockSum(v : f32) -> f32 {
    let t = i32(localId.x);
    red[t] = v;
    workgroupBarrier();
    for (var s = ${ROW_WG / 2}; s > 0; s = s >> 1u) {
      if (t < s) { red[t] = red[t] + red[t + s]; }
      workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
  }
  fn rowIndex() -> i32 { return i32(workgroupId.y * numWorkgroups.x + workgroupId.x); }`;

function rowDispatch(rows: number): [number, number, number] {
  const x = Math.min(rows, 32768);
  return [x, ceil(rows, x), 1];
}

function rowProgram(outputShape: number[], rows: number, key: string, variableNames: string[], uniforms: string, body: string): Program {
  const r = outputShape.length;
  return {
    outputShape,
    shaderKey: key,
    dispatchLayout: { x: [r - 1], y: [0] },
    dispatch: rowDispatch(rows),
    variableNames,
    workgroupSize: [ROW_WG, 1, 1],
    uniforms,
    getUserCode: () => `
      ${REDUCE}
      fn main() {
        // no early return: tfjs' prelude copies the builtins into private vars, which WGSL's uniformity
        // analysis treats as non-uniform, so barriers must not depend on them (rows past the end do no work)
        let row = rowIndex();
        let valid = row < uniforms.rows;
        let D = select(0, uniforms.dim, valid);
        let base = select(0, row * uniforms.dim, valid);
        let t = i32(localId.x);
        ${body}
      }`,
  };
}

const STATS = `
  var s = 0.0;
  for (var i = t; i < D; i = i + ${ROW_WG}) { s = s + x[base + i]; }
  let mean = blockSum(s) / f32(max(D, 1));
  var q = 0.0;
  for (var i = t; i < D; i = i + ${ROW_WG}) { let c = x[base + i] - mean; q = q + c * c; }
  let rstd = inverseSqrt(blockSum(q) / f32(max(D, 1)) + uniforms.eps);`;

/** y = (x − mean)·rstd·gamma + beta per row of D (two-pass variance, biased). */
export function layerNormProgram(shape: number[], rows: number): Program {
  return rowProgram(shape, rows, 'omnitokLayerNorm', ['x', 'gamma', 'beta'], 'rows : i32, dim : i32, eps : f32,', `
        ${STATS}
        for (var i = t; i < D; i = i + ${ROW_WG}) {
          result[base + i] = (x[base + i] - mean) * rstd * gamma[i] + beta[i];
        }`);
}

/** [rows, 2]: mean and rstd of each row (what the backward kernels read). */
export function layerNormStatsProgram(rows: number): Program {
  return rowProgram([rows, 2], rows, 'omnitokLayerNormStats', ['x'], 'rows : i32, dim : i32, eps : f32,', `
        ${STATS}
        if (t == 0 && valid) { result[row * 2] = mean; result[row * 2 + 1] = rstd; }`);
}

/** dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·gamma, per row. */
export function layerNormGradXProgram(shape: number[], rows: number): Program {
  return rowProgram(shape, rows, 'omnitokLayerNormGradX', ['dy', 'x', 'gamma', 'stats'], 'rows : i32, dim : i32,', `
        let sr = select(0, row, valid);
        let mean = stats[sr * 2];
        let rstd = stats[sr * 2 + 1];
        var s1 = 0.0;
        var s2 = 0.0;
        for (var i = t; i < D; i = i + ${ROW_WG}) {
          let g = dy[base + i] * gamma[i];
          s1 = s1 + g;
          s2 = s2 + g * (x[base + i] - mean) * rstd;
        }
        let mg = blockSum(s1) / f32(max(D, 1));
        let mgx = blockSum(s2) / f32(max(D, 1));
        for (var i = t; i < D; i = i + ${ROW_WG}) {
          let xh = (x[base + i] - mean) * rstd;
          result[base + i] = rstd * (dy[base + i] * gamma[i] - mg - xh * mgx);
        }`);
}

/** Rows summed per partial of the gamma/beta gradients. */
export const PARAM_GRAD_ROWS = 128;

/**
 * [2, P, D] partial sums over chunks of PARAM_GRAD_ROWS rows: [0] Σ dy·x̂ (dgamma), [1] Σ dy (dbeta).
 * The caller sums over P (a tfjs Sum): enough workgroups to fill a GPU without atomics.
 */
export function layerNormGradParamsProgram(rows: number, dim: number): Program {
  const parts = ceil(rows, PARAM_GRAD_ROWS);
  return {
    outputShape: [2, parts, dim],
    shaderKey: `omnitokLayerNormGradParams_${PARAM_GRAD_ROWS}`,
    dispatchLayout: { x: [2], y: [1] },
    dispatch: [ceil(dim, 64), parts, 1],
    variableNames: ['dy', 'x', 'stats'],
    workgroupSize: [64, 1, 1],
    uniforms: 'rows : i32, dim : i32,',
    getUserCode: () => `
      fn main() {
        let D = uniforms.dim;
        let c = i32(workgroupId.x) * 64 + i32(localId.x);
        let p = i32(workgroupId.y);
        let P = i32(numWorkgroups.y);
        if (c >= D) { return; }
        let r0 = p * ${PARAM_GRAD_ROWS};
        let r1 = min(uniforms.rows, r0 + ${PARAM_GRAD_ROWS});
        var sg = 0.0;
        var sb = 0.0;
        for (var r = r0; r < r1; r = r + 1) {
          let d = dy[r * D + c];
          sg = sg + d * (x[r * D + c] - stats[r * 2]) * stats[r * 2 + 1];
          sb = sb + d;
        }
        result[p * D + c] = sg;
        result[(P + p) * D + c] = sb;
      }`,
  };
}

// ---------------------------------------------------------------------------------------------- GELU

export const GELU_CODES = { erf: 0, tanh: 1, quick: 2 } as const;
export type GeluKind = keyof typeof GELU_CODES;

/** GELU forward; `erf`: x·Φ(x), `tanh`: the GPT-2 approximation, `quick`: x·σ(1.702x). */
export function geluProgram(shape: number[], size: number, kind: GeluKind): Program {
  const body = {
    erf: 'let y = 0.5 * v * (1.0 + erf_(v * 0.7071067811865476));',
    tanh: 'let u = clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -15.0, 15.0); let y = 0.5 * v * (1.0 + tanh(u));',
    quick: 'let y = v / (1.0 + exp(-1.702 * v));',
  }[kind];
  return flat(shape, size, `omnitokGelu_${kind}`, ['x'], '', `let v = x[index]; ${body} result[index] = y;`);
}

/** dy · GELU'(x). */
export function geluGradProgram(shape: number[], size: number, kind: GeluKind): Program {
  const body = {
    erf: 'let d = 0.5 * (1.0 + erf_(v * 0.7071067811865476)) + v * 0.3989422804014327 * exp(-0.5 * v * v);',
    tanh: `let u = clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -15.0, 15.0); let th = tanh(u);
           let d = 0.5 * (1.0 + th) + 0.5 * v * (1.0 - th * th) * 0.7978845608028654 * (1.0 + 0.134145 * v * v);`,
    quick: 'let s = 1.0 / (1.0 + exp(-1.702 * v)); let d = s + 1.702 * v * s * (1.0 - s);',
  }[kind];
  return flat(shape, size, `omnitokGeluGrad_${kind}`, ['x', 'dy'], '', `let v = x[index]; ${body} result[index] = dy[index] * d;`);
}

// --------------------------------------------------------------------------------------------- AdamW

/** Which of the updated tensors the AdamW program writes. */
export const ADAMW_OUT = { m: 0, v: 1, p: 2 } as const;

/**
 * One AdamW step (the arithmetic of optim.ts): m' = β1·m + (1−β1)·g, v' = β2·v + (1−β2)·g²,
 * p' = p·decay − lr/bc1 · m' / (√v'/√bc2 + eps). `which` picks the output; m', v' are recomputed by
 * the p' pass from the old moments (cheaper than a second pass over memory for a 3-output kernel).
 */
export function adamWProgram(shape: number[], size: number, which: number): Program {
  const out = ['result[index] = m1;', 'result[index] = v1;', 'result[index] = p[index] * uniforms.decay - uniforms.stepSize * m1 / (sqrt(v1) * uniforms.rsbc2 + uniforms.eps);'][which];
  return flat(
    shape,
    size,
    `omnitokAdamW_${which}`,
    ['p', 'g', 'm', 'v'],
    'beta1 : f32, beta2 : f32, eps : f32, decay : f32, stepSize : f32, rsbc2 : f32,',
    `_ = p[index]; // every binding must be used: the pipeline layout is 'auto'
     let gi = g[index];
     let m1 = uniforms.beta1 * m[index] + (1.0 - uniforms.beta1) * gi;
     let v1 = uniforms.beta2 * v[index] + (1.0 - uniforms.beta2) * gi * gi;
     ${out}`,
  );
}
