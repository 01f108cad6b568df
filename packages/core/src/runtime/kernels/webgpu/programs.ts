/*
 * WGSL programs for TensorFlow.js' webgpu backend (`@tensorflow/tfjs-backend-webgpu` 4.x), run through
 * its `runWebGPUProgram`: the backend prepends the bindings (`result` read_write, one read-only
 * `array<f32>` per name in `variableNames`), a `uniforms` struct (shapes, strides, then ours) and the
 * `_start` entry point that calls our `main()` (2-D/3-D dispatch layouts) or `main(index)` (flat ones).
 * Pipelines are cached by `shaderKey` + input ranks/dtypes, so every compile-time constant baked into
 * the code (tile sizes, transposes, variant) is part of the key; sizes travel as uniforms.
 * All accumulation is f32.
 *
 * A program with more than one output binds each further output as an input named `extraOutput(…)`
 * (prefix EXTRA_OUTPUT), which the device's shader hook declares `read_write` (webgpu-kernels.ts,
 * `rewriteShaders`); the kernel passes fresh tensors there. One dispatch then writes what took a
 * dispatch per output (LayerNorm's row statistics, dγ and dβ, a weight gradient and its bias gradient).
 */

/** Prefix of the input names a program writes (its extra outputs); see the header. */
export const EXTRA_OUTPUT = 'omnitokOut';
export const extraOutput = (name: string): string => `${EXTRA_OUTPUT}${name}`;

/** The subset of tfjs-backend-webgpu's WebGPUProgram these programs fill in. */
export interface Program {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  /** Lanes per element of each input's storage array (tfjs declares array<vec4<f32>> for 4); 1 if absent. */
  variableComponents?: number[];
  /** Lanes per element of the output's storage array (`result`); 1 if absent. */
  outputComponent?: number;
  workgroupSize: [number, number, number];
  uniforms?: string;
  size?: boolean;
  /** `result` is array<atomic<i32>> (tfjs then writes no setOutput helpers); its tensor is passed in, filled. */
  atomic?: boolean;
  getUserCode: () => string;
}

/** Uniform values in the order of `Program.uniforms`. */
export type Uniforms = { type: 'int32' | 'float32'; data: number[] }[];

const ceil = (a: number, b: number) => Math.ceil(a / b);

/** Flat elementwise programs: one invocation per output element, `main(index)`. */
const FLAT_WG = 256;
function flat(outputShape: number[], size: number, key: string, variableNames: string[], uniforms: string, body: string, helpers = ''): Program {
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
      ${helpers}
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

export const GELU_CODES = { erf: 0, tanh: 1, quick: 2 } as const;
export type GeluKind = keyof typeof GELU_CODES;

/**
 * WGSL `gelu_(v)` and its derivative `geluD_(v)` for a kind (the GELU programs and the GEMM epilogues
 * share them): `erf` v·Φ(v) with ERF's erf_, `tanh` the GPT-2 approximation, `quick` v·σ(1.702v).
 */
function geluFns(kind: GeluKind): string {
  const [y, d] = {
    erf: ['0.5 * v * (1.0 + erf_(v * 0.7071067811865476))', '0.5 * (1.0 + erf_(v * 0.7071067811865476)) + v * 0.3989422804014327 * exp(-0.5 * v * v)'],
    tanh: [
      '0.5 * v * (1.0 + tanh(clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -15.0, 15.0)))',
      `0.5 * (1.0 + th) + 0.5 * v * (1.0 - th * th) * 0.7978845608028654 * (1.0 + 0.134145 * v * v)`,
    ],
    quick: ['v / (1.0 + exp(-1.702 * v))', 's + 1.702 * v * s * (1.0 - s)'],
  }[kind];
  const pre = { erf: '', tanh: 'let th = tanh(clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -15.0, 15.0));', quick: 'let s = 1.0 / (1.0 + exp(-1.702 * v));' }[kind];
  return `${kind === 'erf' ? ERF : ''}
  fn gelu_(v : f32) -> f32 { return ${y}; }
  fn geluD_(v : f32) -> f32 { ${pre} return ${d}; }`;
}

// ---------------------------------------------------------------------------------------------- GEMM

/**
 * Threads per workgroup: 16 × 16; each computes RM × RN outputs. `vec4: false`: rows ty + 16i,
 * columns tx + 16j, scalar reads of the staged slices. `vec4: true` (RM, RN ∈ {4, 8}): rows
 * 64g + ty·4 + e (g < RM/4, e < 4), columns likewise, so a thread reads its operands of one k as
 * RM/4 + RN/4 vec4 loads from workgroup memory instead of RM + RN scalar ones (each quarter-warp reads
 * 128 contiguous bytes).
 */
export interface MatMulTile {
  readonly rm: number;
  readonly rn: number;
  /** Depth of a shared-memory K slice. */
  readonly tk: number;
  readonly vec4?: boolean;
  /**
   * The K slice's multiply-adds written out per k (constant offsets into the staged tiles) instead of
   * a WGSL loop: whether the driver's compiler unrolls the loop itself is what the GPU sweep measures
   * (`OMNITOK_WEBGPU_MATMUL_UNROLL=1`).
   */
  readonly unroll?: boolean;
  /**
   * 2: two staged K slices in workgroup memory, the next one stored while the current one is
   * multiplied — one barrier per slice instead of two, twice the workgroup memory
   * (`OMNITOK_WEBGPU_MATMUL_STAGES=2`). Default 1.
   */
  readonly stages?: 1 | 2;
  /** The f16 matrix-unit GEMM (`matrixMatMulProgram`) instead: see `MatrixUnit`. */
  readonly matrix?: MatrixUnit;
}
/**
 * Which operands `matMulProgram` reads from global memory as vec4 (four neighbours along the operand's
 * contiguous axis in one 16-byte load) instead of one f32 per load: a quarter of the load instructions
 * and of their index arithmetic (and bounds clamps). Only for views the caller found aligned
 * (`vecLoads` in webgpu-kernels.ts): offset, row and batch strides and the contiguous axis' length
 * multiples of 4.
 */
export interface VecLoads {
  readonly a: boolean;
  readonly b: boolean;
}
export const SCALAR_LOADS: VecLoads = { a: false, b: false };
export const TILE_64: MatMulTile = { rm: 4, rn: 4, tk: 16 };
export const TILE_128: MatMulTile = { rm: 8, rn: 8, tk: 16 };
export const TILE_128V: MatMulTile = { rm: 8, rn: 8, tk: 16, vec4: true };
/** vec4 tiles of other shapes, for the GEMM sweep (bench/gemm-gpu.mjs; OMNITOK_WEBGPU_MATMUL_TILE). */
export const TILE_128X64V: MatMulTile = { rm: 8, rn: 4, tk: 16, vec4: true };
export const TILE_64X128V: MatMulTile = { rm: 4, rn: 8, tk: 16, vec4: true };
export const TILE_64V: MatMulTile = { rm: 4, rn: 4, tk: 16, vec4: true };

/**
 * How `matrixMatMulProgram` multiplies its f16 tiles: `subgroup` with WGSL's subgroup matrices
 * (Dawn's `chromium_experimental_subgroup_matrix`: tensor cores through Vulkan cooperative matrices),
 * the layout as a template parameter (`subgroupMatrixLoad<T, row_major>(p, offset, stride)`, Dawn from
 * mid-2025); `subgroup-bool` the same in the earlier spelling (`subgroupMatrixLoad<T>(p, offset,
 * col_major, stride)`); `emulated` with plain f32 FMAs over the same staged f16 tiles, one thread per
 * result element, in the same layout — everything but the three matrix builtins, on any adapter with
 * `shader-f16` (how CI tests the program on lavapipe, which has no matrix unit).
 */
export type MatrixUnit = 'subgroup' | 'subgroup-bool' | 'emulated';
/** The matrix GEMM's tile: 128 × 128 outputs, K slices of 32 (see matrixMatMulProgram). */
export const matrixTile = (unit: MatrixUnit): MatMulTile => ({ rm: 8, rn: 8, tk: 32, matrix: unit });

/**
 * What a GEMM does to v = α·acc of the output element (gm, gn) at index `idx` of C before it stores
 * it, in this order: + bias[gn]; + residual[idx] (a linear layer that ends a residual branch); then
 * either `gelu` — C gets GELU(v) and the extra output `Pre` gets v (a linear layer followed by GELU,
 * whose backward needs v) — or `geluGrad` — C gets v·GELU′(pre[idx]) (the input gradient of a linear
 * layer that a GELU feeds: dY·Wᵀ times GELU′ of that GELU's input). `residual`, `pre` and `Pre` have
 * C's shape and layout. A split-K GEMM leaves it all to the sum of its partials (`splitKSumProgram`).
 */
export interface GemmEpilogue {
  readonly bias?: boolean;
  readonly residual?: boolean;
  readonly gelu?: GeluKind;
  readonly geluGrad?: GeluKind;
}
/** The extra output of a `gelu` epilogue: GELU's input. */
export const GELU_PRE_OUT = extraOutput('Pre');
/** An epilogue's bindings after the GEMM's operands: bias, residual, pre, then the extra output. */
const epilogueInputs = (e: GemmEpilogue): string[] => [
  ...(e.bias ? ['bias'] : []),
  ...(e.residual ? ['residual'] : []),
  ...(e.geluGrad ? ['pre'] : []),
  ...(e.gelu ? [GELU_PRE_OUT] : []),
];
const epilogueKey = (e: GemmEpilogue): string =>
  `${e.bias ? '_bias' : ''}${e.residual ? '_res' : ''}${e.gelu ? `_gelu_${e.gelu}` : ''}${e.geluGrad ? `_geluGrad_${e.geluGrad}` : ''}`;
/** The WGSL functions an epilogue calls (module scope). */
const epilogueFns = (e: GemmEpilogue): string => (e.gelu ? geluFns(e.gelu) : e.geluGrad ? geluFns(e.geluGrad) : '');
const hasEpilogue = (e: GemmEpilogue = {}): boolean => Object.values(e).some(Boolean);
function checkEpilogue(e: GemmEpilogue): void {
  if (e.gelu && e.geluGrad) throw new Error('a GEMM epilogue applies GELU or its gradient, not both');
}
/**
 * WGSL that stores `v` with epilogue `e` at C's index `idx` (column `gn`); `wrap` applies to the value
 * before the activation (the matrix GEMM's overflow poisoning). `lanes` 4: v is a vec4 of four
 * neighbouring columns, and idx and gn index C, bias, residual and pre as vec4 arrays.
 */
function epilogueStore(e: GemmEpilogue, v: string, idx: string, gn: string, wrap = (c: string) => c, lanes: 1 | 4 = 1): string {
  const each = (f: string, x: string) => (lanes === 1 ? `${f}(${x})` : `vec4<f32>(${f}(${x}.x), ${f}(${x}.y), ${f}(${x}.z), ${f}(${x}.w))`);
  const c = wrap(`${v}${e.bias ? ` + bias[${gn}]` : ''}${e.residual ? ` + residual[${idx}]` : ''}`);
  if (e.gelu) return `{ let c = ${c}; ${GELU_PRE_OUT}[${idx}] = c; result[${idx}] = ${each('gelu_', 'c')}; }`;
  if (e.geluGrad) return `{ let p = pre[${idx}]; result[${idx}] = (${c}) * ${each('geluD_', 'p')}; }`;
  return `result[${idx}] = ${c};`;
}

/**
 * C[b] = epilogue(α·op(A[b])·op(B[b])) for b < batch (`GemmEpilogue`: bias, residual, GELU or its gradient); A and B read in place whatever their transposes
 * (batch dims [B0, B1] with per-operand strides; a stride of 0 broadcasts). Tiles of (16·rm) × (16·rn) outputs per workgroup,
 * A and B slices staged in workgroup memory as [k][m] and [k][n]; loads follow the contiguous axis of
 * each operand (coalesced for both transposes); edge tiles are zero-filled and masked on write. The
 * next K slice is fetched into registers while the current one is multiplied (one barrier pair per
 * slice, global latency hidden behind the FMAs).
 *
 * Every operand is a strided view (`GemmUniforms`): a base offset, a row stride (lda/ldb/ldc) and two
 * batch strides, so heads of a fused qkv [B, N, 3D] buffer or column blocks of an output can be
 * multiplied and written without copies (the attention backward does).
 *
 * Split-K (`splits` > 1, for few output tiles over a long K: weight gradients XᵀdY): workgroup z
 * covers batch entry z % batch and the K range [s·kChunk, (s+1)·kChunk) with s = z / batch, and
 * writes its partial product at offset s·splitStride (a [splits, batch, M, N] output) that
 * `splitKSumProgram` then sums (applying the epilogue there).
 *
 * `columnSums` (op(B) not transposed, no epilogue): the output has a row M past the product, which the
 * workgroups of the first row tile fill with the column sums of op(B) over their K range (α-scaled;
 * per split, summed like the product): the weight gradient Xᵀ·dY of a linear layer and its bias
 * gradient Σ dY in one pass over dY. Each thread adds up the B values it fetches for staging — with
 * B not transposed they all lie in one column — and the 256 / TN threads of a column sum their totals
 * through workgroup memory at the end. (Until run 5 this was a row of ones appended to op(A): M + 1
 * rows, so a fourth 128-row tile for the 384-row weight gradients of ViT-S — a third more work there.)
 */
export function matMulProgram(spec: GemmSpec, tile: MatMulTile, loads: VecLoads = SCALAR_LOADS): Program {
  const { outputShape, batch, m, n, transA, transB, splits = 1, columnSums = false, vecStores = false } = spec;
  checkEpilogue(spec.epilogue ?? {});
  if (columnSums && (transB || hasEpilogue(spec.epilogue))) throw new Error('column sums of op(B) need B untransposed and no epilogue');
  if (vecStores && (!tile.vec4 || tile.matrix)) throw new Error('vec4 stores are for the vec4 f32 tiles');
  if (tile.matrix) return matrixMatMulProgram(spec, tile.matrix);
  const { rm, rn, tk } = tile;
  const vec4 = Boolean(tile.vec4);
  if (vec4 && (![4, 8].includes(rm) || ![4, 8].includes(rn))) throw new Error('the vec4 GEMM variant computes 4 or 8 rows and columns per thread');
  const ga = rm / 4; // vec4 groups of rows / columns per thread (vec4 variant)
  const gb = rn / 4;
  const TM = 16 * rm;
  const TN = 16 * rn;
  // vec4 variant: rows of the staged slices padded by one vec4 so that the k-strided stores of a
  // non-transposed operand spread over the banks
  const strideA = vec4 ? TM / 4 + 1 : TM;
  const strideB = vec4 ? TN / 4 + 1 : TN;
  const r = outputShape.length;
  const stages = tile.stages ?? 1;
  if (stages !== 1 && stages !== 2) throw new Error(`a GEMM tile stages 1 or 2 K slices; got ${String(stages)}`);
  // elements of one staged slice; with two stages slice s starts at s · size (`aS`/`bS`: the slice
  // multiplied, `aN`/`bN`: the slice stored)
  const sizeA = vec4 ? tk * strideA : TM * tk;
  const sizeB = vec4 ? tk * strideB : TN * tk;
  const base = (v: string) => (stages > 1 ? `${v} + ` : '');
  // offset of staged row kk (a loop variable, or a constant when unrolled) plus `plus`
  const at = (kk: number | 'kk', stride: number, plus: number) => (typeof kk === 'number' ? String(kk * stride + plus) : `kk * ${stride} + ${plus}`);
  const mac = (kk: number | 'kk'): string[] => {
    const lines: string[] = [];
    if (vec4) {
      for (let g = 0; g < ga; g++) lines.push(`let a${g} = As[${base('aS')}${at(kk, strideA, 16 * g)} + ty];`);
      for (let h = 0; h < gb; h++) lines.push(`let b${h} = Bs[${base('bS')}${at(kk, strideB, 16 * h)} + tx];`);
      for (let i = 0; i < rm; i++) {
        const a = `a${i >> 2}[${i & 3}]`;
        for (let h = 0; h < gb; h++) lines.push(`acc[${i * gb + h}] = fma(vec4<f32>(${a}), b${h}, acc[${i * gb + h}]);`);
      }
    } else {
      for (let i = 0; i < rm; i++) lines.push(`let a${i} = As[${base('aS')}${at(kk, TM, 16 * i)} + ty];`);
      for (let j = 0; j < rn; j++) {
        lines.push(`{ let bv = Bs[${base('bS')}${at(kk, TN, 16 * j)} + tx];`);
        for (let i = 0; i < rm; i++) lines.push(`acc[${i * rn + j}] = fma(a${i}, bv, acc[${i * rn + j}]);`);
        lines.push('}');
      }
    }
    return lines;
  };
  const multiply = tile.unroll
    ? Array.from({ length: tk }, (_, kk) => `{\n            ${mac(kk).join('\n            ')}\n          }`).join('\n          ')
    : `for (var kk = 0; kk < ${tk}; kk = kk + 1) {
            ${mac('kk').join('\n            ')}
          }`;
  const staged = (tile: string, stride: number, T: number, next: string) => ({
    // one value at (k, row): [k][row] as vec4 groups of rows (vec4 tiles) or scalars
    one: (k: string, row: string, v: string) =>
      vec4 ? `${tile}[${next}(${k}) * ${stride} + (${row}) / 4][(${row}) % 4] = ${v};` : `${tile}[${next}(${k}) * ${T} + ${row}] = ${v};`,
    // four rows row4·4 + [0, 4) at k (a vec4 load along the rows)
    four: (k: string, row4: string, v: string) =>
      vec4 ? `${tile}[${next}(${k}) * ${stride} + ${row4}] = ${v};` : `for (var j = 0; j < 4; j = j + 1) { ${tile}[${next}(${k}) * ${T} + (${row4}) * 4 + j] = ${v}[j]; }`,
  });
  const sa = staged('As', strideA, TM, base('aN'));
  const sb = staged('Bs', strideB, TN, base('bN'));
  const opA = operandLoads('A', TM, tk, transA, loads.a, 'ra', 'gm', 'M', 'aOff', 'uniforms.lda', 'm0', sa);
  const opB = operandLoads('B', TN, tk, !transB, loads.b, 'rb', 'gn', 'N', 'bOff', 'uniforms.ldb', 'n0', sb);
  const fetch = `
          ${opA.fetch}
          ${opB.fetch}`;
  const store = `${opA.store('')}
          ${opB.store(columnSums ? ' csum = csum + rb[q];' : '')}`;
  // a trip count from uniforms alone (the barriers need uniform control flow, and tfjs hands
  // workgroupId over through a private variable): the last split masks what it lacks
  const kLoop =
    stages === 1
      ? `for (var kt = 0; kt < uniforms.kChunk; kt = kt + ${tk}) {
          ${store}
          workgroupBarrier();
          if (kt + ${tk} < uniforms.kChunk) {
            let k0 = kBegin + kt + ${tk};${fetch}
          }
          ${multiply}
          workgroupBarrier();
        }`
      : `{
          let aN = 0; let bN = 0;
          ${store}
        }
        workgroupBarrier();
        var stage = 0;
        for (var kt = 0; kt < uniforms.kChunk; kt = kt + ${tk}) {
          let more = kt + ${tk} < uniforms.kChunk;
          if (more) {
            let k0 = kBegin + kt + ${tk};${fetch}
          }
          let aS = stage * ${sizeA}; let bS = stage * ${sizeB};
          ${multiply}
          if (more) {
            let aN = (1 - stage) * ${sizeA}; let bN = (1 - stage) * ${sizeB};
            ${store}
          }
          // the slice just stored is complete, and the one multiplied is free for the next store
          workgroupBarrier();
          stage = 1 - stage;
        }`;
  const colsumVec = columnSums && loads.b;
  const e = splits === 1 ? (spec.epilogue ?? {}) : {};
  const out = (v: string) => epilogueStore(e, `${v} * uniforms.alpha`, 'cOff + gm * uniforms.ldc + gn', 'gn');
  const write = vecStores
    ? `for (var i = 0; i < ${rm}; i = i + 1) {
          let gm = m0 + (i / 4) * 64 + ty * 4 + i % 4;
          if (gm >= M) { continue; }
          for (var h = 0; h < ${gb}; h = h + 1) {
            let gn = n0 + h * 64 + tx * 4;
            if (gn < N) { ${epilogueStore(e, `acc[${gb} * i + h] * uniforms.alpha`, '(cOff + gm * uniforms.ldc + gn) / 4', 'gn / 4', undefined, 4)} }
          }
        }`
    : vec4
    ? `for (var i = 0; i < ${rm}; i = i + 1) {
          let gm = m0 + (i / 4) * 64 + ty * 4 + i % 4;
          if (gm >= M) { continue; }
          for (var h = 0; h < ${gb}; h = h + 1) {
            let v = acc[${gb} * i + h];
            for (var j = 0; j < 4; j = j + 1) {
              let gn = n0 + h * 64 + tx * 4 + j;
              if (gn < N) { ${out('v[j]')} }
            }
          }
        }`
    : `for (var i = 0; i < ${rm}; i = i + 1) {
          let gm = m0 + ty + 16 * i;
          if (gm >= M) { break; }
          for (var j = 0; j < ${rn}; j = j + 1) {
            let gn = n0 + tx + 16 * j;
            if (gn < N) { ${out(`acc[i * ${rn} + j]`)} }
          }
        }`;
  return {
    outputShape,
    shaderKey: `omnitokMatMul_${rm}x${rn}x${tk}${vec4 ? 'v' : ''}${tile.unroll ? 'u' : ''}${stages > 1 ? `s${stages}` : ''}_${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}${epilogueKey(e)}${columnSums ? '_colsum' : ''}${vecStores ? '_st4' : ''}${loads.a || loads.b ? `_ld${loads.a ? 'a' : ''}${loads.b ? 'b' : ''}` : ''}`,
    dispatchLayout: { x: [r - 1], y: [r - 2] },
    dispatch: [ceil(n, TN), ceil(m, TM), batch * splits],
    variableNames: ['A', 'B', ...epilogueInputs(e)],
    variableComponents: [loads.a ? 4 : 1, loads.b ? 4 : 1, ...epilogueInputs(e).map(() => (vecStores ? 4 : 1))],
    ...(vecStores ? { outputComponent: 4 } : {}),
    workgroupSize: [16, 16, 1],
    uniforms: GEMM_UNIFORMS,
    getUserCode: () => `${epilogueFns(e)}
      var<workgroup> As : array<${vec4 ? 'vec4<f32>' : 'f32'}, ${stages * sizeA}>;
      var<workgroup> Bs : array<${vec4 ? 'vec4<f32>' : 'f32'}, ${stages * sizeB}>;
      fn main() {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let li = ty * 16 + tx;
        ${gemmSetup(TM, TN)}
        var acc : array<${vec4 ? `vec4<f32>, ${rm * gb}` : `f32, ${rm * rn}`}>;
        var ra : array<${opA.type}, ${opA.count}>;
        var rb : array<${opB.type}, ${opB.count}>;
        var csum = ${colsumVec ? 'vec4<f32>()' : '0.0'};
        {
          let k0 = kBegin;${fetch}
        }
        ${kLoop}
        let cOff = uniforms.offC + split * uniforms.splitStride + b0 * uniforms.strideC0 + b1 * uniforms.strideC1;
        ${columnSums ? matMulColumnSums(TN, vec4, colsumVec, vecStores) : ''}
        ${write}
      }`,
  };
}

/**
 * One operand's share of a K slice for the GEMMs' 256 threads (`matMulProgram`, `matrixMatMulProgram`):
 * `count` registers per thread (`type`), `fetch` reads them from global memory at k0 (zero outside the
 * matrix or the split's K range; consecutive threads read consecutive addresses whatever the
 * transposes), `store(extra)` moves them into the staged tile (`tile.one`: one value at (k, row);
 * `tile.four`: four rows at k, for vec4 loads along the rows). `rowsContiguous`: the operand's rows of the tile (m of A, n of B) are
 * its contiguous axis (A transposed, B not); else k is. Scalar loads follow the contiguous axis one f32
 * each; vec4 loads (`vec`) take four neighbours along it — the caller guarantees the alignment.
 */
function operandLoads(
  X: string,
  T: number,
  tk: number,
  rowsContiguous: boolean,
  vec: boolean,
  reg: string,
  g: string,
  limit: string,
  off: string,
  ld: string,
  origin: string,
  tile: { one: (k: string, row: string, v: string) => string; four?: (k: string, row4: string, v: string) => string },
) {
  const at = (row: string, k: string) => (rowsContiguous ? `${k} * ${ld} + ${row}` : `${row} * ${ld} + ${k}`);
  if (!vec) {
    const count = (T * tk) / 256;
    const coord = rowsContiguous ? `let rr = e % ${T}; let kq = e / ${T};` : `let kq = e % ${tk}; let rr = e / ${tk};`;
    return {
      type: 'f32',
      count,
      fetch: `for (var q = 0; q < ${count}; q = q + 1) { let e = li + q * 256; ${coord} let ${g} = ${origin} + rr; let gk = k0 + kq;
            var val = 0.0; if (${g} < ${limit} && gk < kEnd) { val = ${X}[${off} + ${at(g, 'gk')}]; } ${reg}[q] = val; }`,
      store: (extra: string) => `for (var q = 0; q < ${count}; q = q + 1) { let e = li + q * 256; ${coord} ${tile.one('kq', 'rr', `${reg}[q]`)}${extra} }`,
    };
  }
  const count = (T * tk) / 1024;
  // rows contiguous: a vec4 is rows 4·r4 + [0, 4) at one k; else k-steps 4·k4 + [0, 4) of one row
  const coord = rowsContiguous ? `let r4 = e % ${T / 4}; let kq = e / ${T / 4};` : `let k4 = e % ${tk / 4}; let rr = e / ${tk / 4};`;
  const first = rowsContiguous ? { row: 'r4 * 4', k: 'kq' } : { row: 'rr', k: 'k4 * 4' };
  return {
    type: 'vec4<f32>',
    count,
    fetch: `for (var q = 0; q < ${count}; q = q + 1) { let e = li + q * 256; ${coord} let ${g} = ${origin} + ${first.row}; let gk = k0 + ${first.k};
            var val = vec4<f32>(); if (${g} < ${limit} && gk < kEnd) { val = ${X}[(${off} + ${at(g, 'gk')}) / 4]; } ${reg}[q] = val; }`,
    store: (extra: string) =>
      `for (var q = 0; q < ${count}; q = q + 1) { let e = li + q * 256; ${coord} ${
        rowsContiguous ? tile.four!('kq', 'r4', `${reg}[q]`) : `for (var j = 0; j < 4; j = j + 1) { ${tile.one('k4 * 4 + j', 'rr', `${reg}[q][j]`)} }`
      }${extra} }`,
  };
}

/**
 * `columnSumsEpilogue` in matMulProgram: the sums parked in As (vec4 elements on vec4 tiles), a vec4 per
 * thread with vec4 loads of B; with vec4 stores the totals gather in Bs for one vec4 store per four columns.
 */
function matMulColumnSums(TN: number, vec4Tile: boolean, vecB: boolean, vecStores: boolean): string {
  // element e of As as f32s
  const f = (e: string) => (vec4Tile ? `As[(${e}) / 4][(${e}) % 4]` : `As[${e}]`);
  const vecOut = vecStores ? { park: (v: string) => `Bs[li / 4][li % 4] = ${v};`, read: 'Bs[li]' } : undefined;
  if (!vecB) return columnSumsEpilogue(TN, 1, `${f('li')} = csum;`, (t) => f(t), vecOut);
  return columnSumsEpilogue(TN, 4, vec4Tile ? 'As[li] = csum;' : 'for (var j = 0; j < 4; j = j + 1) { As[li * 4 + j] = csum[j]; }', (t) => f(`${t} * 4 + li % 4`), vecOut);
}

/** What `matMulProgram` multiplies (`splits` defaults to 1, `columnSums` to false, the epilogue to none). */
export interface GemmSpec {
  readonly outputShape: number[];
  readonly batch: number;
  readonly m: number;
  readonly n: number;
  readonly transA: boolean;
  readonly transB: boolean;
  readonly splits?: number;
  /** The column sums of op(B) as an extra row M of C (see matMulProgram). */
  readonly columnSums?: boolean;
  /**
   * A vec4 tile writes each thread's four neighbouring columns as one 16-byte store (C, the epilogue's
   * inputs and its extra output bound as vec4 arrays) instead of four 4-byte ones 16 bytes apart: a
   * warp's store then covers 256 contiguous bytes of a row rather than touching the same 32-byte
   * sectors four times. The caller guarantees N, C's offset, row, batch and split strides multiples
   * of 4 (`vecStores` in webgpu-kernels.ts). With column sums their row goes out as vec4s too.
   */
  readonly vecStores?: boolean;
  readonly epilogue?: GemmEpilogue;
}

/**
 * The end of a `columnSums` GEMM: each thread's sums of the B values it staged — `lanes` columns
 * lanes·(li mod TN/lanes) + [0, lanes), the same for each of its loads (1 with scalar loads of B, 4 with
 * vec4 ones; 256 is a multiple of TN/lanes) — go to workgroup memory the K loop no longer needs
 * (`store`), and the first row tile's workgroups add up each column's 256·lanes / TN threads (`at(t)`:
 * thread t's sum for column li) and write the totals as row M.
 */
function columnSumsEpilogue(TN: number, lanes: 1 | 4, store: string, at: (t: string) => string, vecOut?: { park: (v: string) => string; read: string }): string {
  const groups = TN / lanes;
  // with vec4 stores (`vecOut`): each total parked in workgroup memory, then one vec4 store per four columns
  const write = vecOut
    ? vecOut.park('total * uniforms.alpha')
    : `let gn = n0 + li;
          if (gn < N) { result[cOff + M * uniforms.ldc + gn] = total * uniforms.alpha; }`;
  return `${store}
        workgroupBarrier();
        if (m0 == 0 && li < ${TN}) {
          var total = 0.0;
          for (var g = 0; g < ${256 / groups}; g = g + 1) { let t = li / ${lanes} + g * ${groups}; total = total + ${at('t')}; }
          ${write}
        }
        workgroupBarrier();${
          vecOut
            ? `
        if (m0 == 0 && li < ${TN / 4}) {
          let gn = n0 + li * 4;
          if (gn < N) { result[(cOff + M * uniforms.ldc + gn) / 4] = ${vecOut.read}; }
        }`
            : ''
        }`;
}

/**
 * The GEMM of `matMulProgram` (same uniforms, operand views, split-K, bias and column sums) on a matrix
 * unit: operands rounded to f16 as they are staged, products accumulated in f32 — mixed precision, as
 * PyTorch's fp16 autocast runs a GEMM (inputs stay f32 tensors; no cast passes, no f16 copies).
 *
 * 256 threads as 8 subgroups of 32 (the matrix unit's subgroup: NVIDIA's warp; `webgpu-kernels.ts`
 * enables the program only where the adapter's subgroups are exactly 32 wide) over a 128 × 128 output
 * tile: subgroup s owns rows 32·(s / 2) + [0, 32) and columns 64·(s % 2) + [0, 64), 2 × 4 result
 * matrices of 16 × 16 (f16 16×16×16 → f32, the configuration NVIDIA's cooperative matrices offer).
 * Per K slice of 32: A staged as [m][k] (row stride 40 halves), B as [k][n] (stride 136): 16-byte
 * aligned rows, padded against bank conflicts; the next slice fetched into registers (f32) while the
 * current one is multiplied. The epilogue stores one result matrix per subgroup at a time into
 * workgroup memory, from where each lane writes 8 elements (α, bias, edge masks) — the write pattern
 * of a row-major 16 × 16 block, 64 contiguous bytes per half-warp.
 * An operand value f16 cannot hold (|x| ≥ 65 520, ±Inf, NaN) makes the workgroup write NaN over its
 * whole tile: an overflow surfaces as a non-finite loss or gradient norm (what a dynamic loss scale
 * and the step guard react to) instead of a silently saturated product. Values below f16's range
 * flush towards zero (its subnormals reach 6e-8): gradients want a loss scale (`TrainerOptions.lossScale`).
 * Workgroup memory: 10 240 + 8 704 + 8 192 + 4 = 27 140 bytes (`MATRIX_GEMM_WORKGROUP_BYTES`).
 */
export const MATRIX_GEMM_WORKGROUP_BYTES = 2 * 128 * 40 + 2 * 32 * 136 + 4 * 8 * 256 + 4;
export function matrixMatMulProgram(spec: GemmSpec, unit: MatrixUnit): Program {
  const { outputShape, batch, m, n, transA, transB, splits = 1, columnSums = false } = spec;
  const TM = 128;
  const TN = 128;
  const tk = 32;
  const SA = tk + 8;
  const SB = TN + 8;
  const real = unit !== 'emulated';
  // operands staged as f16: A as [m][k] rows of SA, B as [k][n] rows of SB
  const opA = operandLoads('A', TM, tk, transA, false, 'ra', 'gm', 'M', 'aOff', 'uniforms.lda', 'm0', { one: (k, row, v) => `As[(${row}) * ${SA} + ${k}] = half(${v}, &bad);` });
  const opB = operandLoads('B', TN, tk, !transB, false, 'rb', 'gn', 'N', 'bOff', 'uniforms.ldb', 'n0', { one: (k, row, v) => `Bs[(${k}) * ${SB} + ${row}] = half(${v}, &bad);` });
  const fetch = `
          ${opA.fetch}
          ${opB.fetch}`;
  const ep = splits === 1 ? (spec.epilogue ?? {}) : {};
  // result matrix t = 4i + j: rows sr + 16i, columns sc + 16j of the tile
  const tiles = [0, 1, 2, 3, 4, 5, 6, 7];
  const left = (i: number, kk: number) =>
    unit === 'subgroup'
      ? `subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, u32((sr + ${16 * i}) * ${SA} + ${kk}), ${SA}u)`
      : `subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, u32((sr + ${16 * i}) * ${SA} + ${kk}), false, ${SA}u)`;
  const right = (j: number, kk: number) =>
    unit === 'subgroup'
      ? `subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, row_major>(&Bs, u32(${kk * SB} + sc + ${16 * j}), ${SB}u)`
      : `subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, u32(${kk * SB} + sc + ${16 * j}), false, ${SB}u)`;
  const multiply = real
    ? [0, 16]
        .map(
          (kk) => `{
            let l0 = ${left(0, kk)};
            let l1 = ${left(1, kk)};
            ${[0, 1, 2, 3]
              .map((j) => `{ let r = ${right(j, kk)};
              acc${j} = subgroupMatrixMultiplyAccumulate(l0, r, acc${j});
              acc${4 + j} = subgroupMatrixMultiplyAccumulate(l1, r, acc${4 + j}); }`)
              .join('\n            ')}
          }`,
        )
        .join('\n          ')
    : // lane ℓ holds elements e = ℓ + 32q (q < 8) of each result matrix, row e / 16, column e % 16
      `for (var t = 0; t < 8; t = t + 1) {
            let ar = sr + (t / 4) * 16;
            let bc = sc + (t % 4) * 16;
            for (var q = 0; q < 8; q = q + 1) {
              let e = lane + 32 * q;
              var s = acc[t * 8 + q];
              for (var kk = 0; kk < ${tk}; kk = kk + 1) {
                s = fma(f32(As[(ar + e / 16) * ${SA} + kk]), f32(Bs[kk * ${SB} + bc + e % 16]), s);
              }
              acc[t * 8 + q] = s;
            }
          }`;
  // result matrix t → workgroup memory (one per subgroup) → C, with α, bias and the edge masks
  const writeOut = (store: string, t: string) => `${store}
        workgroupBarrier();
        for (var q = 0; q < 8; q = q + 1) {
          let e = lane + 32 * q;
          let gm = m0 + sr + 16 * (${t} / 4) + e / 16;
          let gn = n0 + sc + 16 * (${t} % 4) + e % 16;
          if (gm < M && gn < N) { ${epilogueStore(ep, 'Cs[sg * 256 + e] * uniforms.alpha', 'cOff + gm * uniforms.ldc + gn', 'gn', (c) => `select(${c}, nan, poison)`)} }
        }
        workgroupBarrier();`;
  const epilogue = real
    ? tiles
        .map((t) =>
          writeOut(
            unit === 'subgroup' ? `subgroupMatrixStore<row_major>(&Cs, u32(sg * 256), acc${t}, 16u);` : `subgroupMatrixStore(&Cs, u32(sg * 256), acc${t}, false, 16u);`,
            `${t}`,
          ),
        )
        .join('\n        ')
    : `for (var t = 0; t < 8; t = t + 1) {
        ${writeOut('for (var q = 0; q < 8; q = q + 1) { Cs[sg * 256 + lane + 32 * q] = acc[t * 8 + q]; }', 't')}
        }`;
  const accumulators = real
    ? tiles.map((t) => `var acc${t} = subgroup_matrix_result<f32, 16, 16>();`).join('\n        ')
    : 'var acc : array<f32, 64>;';
  const r = outputShape.length;
  return {
    outputShape,
    shaderKey: `omnitokMatMulF16_${unit}_${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}${epilogueKey(ep)}${columnSums ? '_colsum' : ''}`,
    dispatchLayout: { x: [r - 1], y: [r - 2] },
    dispatch: [ceil(n, TN), ceil(m, TM), batch * splits],
    variableNames: ['A', 'B', ...epilogueInputs(ep)],
    workgroupSize: [256, 1, 1],
    uniforms: GEMM_UNIFORMS,
    // the enable / diagnostic directives are hoisted above tfjs' prelude (tuneWebgpuBackend)
    getUserCode: () => `
      enable f16;
      ${real ? 'enable chromium_experimental_subgroup_matrix;\n      diagnostic(off, chromium.subgroup_matrix_uniformity);' : ''}
      ${epilogueFns(ep)}
      var<workgroup> As : array<f16, ${TM * SA}>;
      var<workgroup> Bs : array<f16, ${tk * SB}>;
      var<workgroup> Cs : array<f32, ${8 * 256}>;
      var<workgroup> poisoned : atomic<u32>;
      // f32 → f16 for staging; |x| ≥ 65 520 (which rounds to ±Inf), Inf and NaN flag the tile instead,
      // tested on the bits (WGSL lets compilers assume no Inf/NaN in arithmetic)
      fn half(x : f32, bad : ptr<function, bool>) -> f16 {
        let over = (bitcast<u32>(x) & 0x7fffffffu) >= 0x477ff000u;
        *bad = *bad || over;
        return f16(select(x, 0.0, over));
      }
      fn main() {
        let li = i32(localIndex);
        let sg = li / 32;
        let lane = li % 32;
        let sr = (sg / 2) * 32;
        let sc = (sg % 2) * 64;
        ${gemmSetup(TM, TN)}
        ${accumulators}
        var ra : array<f32, ${(TM * tk) / 256}>;
        var rb : array<f32, ${(TN * tk) / 256}>;
        var csum = 0.0;
        var bad = false;
        {
          let k0 = kBegin;${fetch}
        }
        for (var kt = 0; kt < uniforms.kChunk; kt = kt + ${tk}) {
          ${opA.store('')}
          ${opB.store(columnSums ? ' csum = csum + rb[q];' : '')}
          workgroupBarrier();
          if (kt + ${tk} < uniforms.kChunk) {
            let k0 = kBegin + kt + ${tk};${fetch}
          }
          ${multiply}
          workgroupBarrier();
        }
        if (bad) { atomicStore(&poisoned, 1u); }
        workgroupBarrier();
        let nan = bitcast<f32>(atomicLoad(&poisoned) * 0x7fc00000u); // NaN when poisoned (else unused)
        let poison = atomicLoad(&poisoned) != 0u;
        let cOff = uniforms.offC + split * uniforms.splitStride + b0 * uniforms.strideC0 + b1 * uniforms.strideC1;
        ${columnSums ? columnSumsEpilogue(TN, 1, 'Cs[li] = csum;', (t) => `Cs[${t}]`) : ''}
        ${epilogue}
      }`,
  };
}

/** The workgroup's place in a GEMM (see matMulProgram): split, batch entry, tile origin, K range, operand offsets. */
function gemmSetup(TM: number, TN: number): string {
  return `let z = i32(workgroupId.z);
        let split = z / uniforms.batchN;
        let bt = z - split * uniforms.batchN;
        let m0 = i32(workgroupId.y) * ${TM};
        let n0 = i32(workgroupId.x) * ${TN};
        let M = uniforms.dimM;
        let N = uniforms.dimN;
        let K = uniforms.dimK;
        let kBegin = split * uniforms.kChunk;
        let kEnd = min(K, kBegin + uniforms.kChunk);
        let b0 = bt / uniforms.batch1;
        let b1 = bt - b0 * uniforms.batch1;
        let aOff = uniforms.offA + b0 * uniforms.strideA0 + b1 * uniforms.strideA1;
        let bOff = uniforms.offB + b0 * uniforms.strideB0 + b1 * uniforms.strideB1;`;
}

/** The uniforms of `matMulProgram`, in order (see `GemmView` in webgpu-kernels.ts). */
export const GEMM_UNIFORMS =
  'dimM : i32, dimN : i32, dimK : i32, batch1 : i32, strideA0 : i32, strideA1 : i32, strideB0 : i32, strideB1 : i32, batchN : i32, kChunk : i32, ' +
  'lda : i32, ldb : i32, ldc : i32, offA : i32, offB : i32, offC : i32, strideC0 : i32, strideC1 : i32, splitStride : i32, alpha : f32,';

/**
 * Sums the `splits` partial products of a split-K GEMM and applies the GEMM's epilogue (bias, residual,
 * GELU or its gradient: `GemmEpilogue`, at column i % cols): result[i] = epilogue(Σ_s partial[offset +
 * s·stride + i]) for i < size — a whole partial ([splits, size], stride = size) or a block of rows of
 * each. `tail` > 0 (no epilogue): the `tail` elements after the first `size` of each partial are summed
 * into the extra output `Tail` (a column-sums GEMM's bias gradient after its weight gradient: both from
 * one dispatch).
 */
export function splitKSumProgram(outputShape: number[], size: number, epilogue: GemmEpilogue = {}, tail = 0): Program {
  checkEpilogue(epilogue);
  const sum = (i: string) => `var acc = 0.0;
     for (var s = 0; s < uniforms.splits; s = s + 1) { acc = acc + partial[uniforms.offset + s * uniforms.stride + ${i}]; }`;
  if (tail === 0) {
    return flat(
      outputShape,
      size,
      `omnitokSplitKSum${epilogueKey(epilogue)}`,
      ['partial', ...epilogueInputs(epilogue)],
      'splits : i32, cols : i32, stride : i32, offset : i32,',
      `${sum('index')}
     ${epilogueStore(epilogue, 'acc', 'index', 'index % uniforms.cols')}`,
      epilogueFns(epilogue),
    );
  }
  if (hasEpilogue(epilogue)) throw new Error('splitKSumProgram: a tail with an epilogue is not supported');
  const tailOut = extraOutput('Tail');
  return {
    outputShape,
    shaderKey: 'omnitokSplitKSum_tail',
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [ceil(size + tail, FLAT_WG), 1, 1],
    variableNames: ['partial', tailOut],
    workgroupSize: [FLAT_WG, 1, 1],
    uniforms: 'splits : i32, cols : i32, stride : i32, offset : i32, size : i32, tail : i32,',
    getUserCode: () => `
      fn main(index : i32) {
        if (index >= uniforms.size + uniforms.tail) { return; }
        ${sum('index')}
        if (index < uniforms.size) { result[index] = acc; } else { ${tailOut}[index - uniforms.size] = acc; }
      }`,
  };
}

// ----------------------------------------------------------------------------------------- LayerNorm

/** One workgroup per row; tree reductions in workgroup memory. */
const ROW_WG = 128;
/**
 * WGSL: workgroup memory `red` and `fn name(v, isMax)`, the max or the sum of v over each run of
 * `segment` consecutive threads of a `threads`-thread workgroup (a tree in workgroup memory), returned to
 * every thread of the run. Every thread must call it (its barriers need uniform control flow).
 */
function treeReduce(name: string, threads: number, segment: number): string {
  return `
  var<workgroup> red : array<f32, ${threads}>;
  fn ${name}(v : f32, isMax : bool) -> f32 {
    let t = i32(localId.x);
    let lane = ${segment === threads ? 't' : `t % ${segment}`};
    red[t] = v;
    workgroupBarrier();
    for (var s = ${segment / 2}; s > 0; s = s >> 1u) {
      if (lane < s) { red[t] = select(red[t] + red[t + s], max(red[t], red[t + s]), isMax); }
      workgroupBarrier();
    }
    let total = red[t - lane];
    workgroupBarrier();
    return total;
  }`;
}

const REDUCE = `${treeReduce('blockReduce', ROW_WG, ROW_WG)}
  fn blockSum(v : f32) -> f32 { return blockReduce(v, false); }
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

/**
 * y = (x − mean)·rstd·gamma + beta per row of D (two-pass variance, biased), and each row's mean and
 * rstd into the extra output `Stats` [rows, 2] (what the backward kernels read: kept, not recomputed).
 */
export function layerNormProgram(shape: number[], rows: number): Program {
  const stats = extraOutput('Stats');
  return rowProgram(shape, rows, 'omnitokLayerNorm', ['x', 'gamma', 'beta', stats], 'rows : i32, dim : i32, eps : f32,', `
        ${STATS}
        for (var i = t; i < D; i = i + ${ROW_WG}) {
          result[base + i] = (x[base + i] - mean) * rstd * gamma[i] + beta[i];
        }
        if (t == 0 && valid) { ${stats}[row * 2] = mean; ${stats}[row * 2 + 1] = rstd; }`);
}

/**
 * dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·gamma, per row; `accumulate`: + acc (the gradient x's
 * other consumers gave it: the residual stream's, in the same dispatch instead of an Add).
 */
export function layerNormGradXProgram(shape: number[], rows: number, accumulate = false): Program {
  return rowProgram(shape, rows, `omnitokLayerNormGradX${accumulate ? '_acc' : ''}`, ['dy', 'x', 'gamma', 'stats', ...(accumulate ? ['acc'] : [])], 'rows : i32, dim : i32,', `
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
          result[base + i] = rstd * (dy[base + i] * gamma[i] - mg - xh * mgx)${accumulate ? ' + acc[base + i]' : ''};
        }`);
}

/** The widest row the register LayerNorm programs take (32 values a lane); wider rows take the workgroup-per-row ones. */
export const LAYER_NORM_ROWS_MAX_DIM = 1024;

/**
 * A program over rows of `dim` values, 8 rows to a workgroup of 256 threads: each row's 32 lanes hold
 * its values in registers (lane t: columns t, t + 32, …; ⌈dim / 32⌉ a lane, baked into the pipeline)
 * and `laneSum` adds a value up over the row's lanes through workgroup memory (5 levels). The body sees
 * row, valid, D (0 past the last row), base, lane and PER.
 */
function laneRowProgram(outputShape: number[], rows: number, dim: number, key: string, variableNames: string[], uniforms: string, body: string): Program {
  if (dim > LAYER_NORM_ROWS_MAX_DIM) throw new Error(`rows of ${dim} exceed the register programs' ${LAYER_NORM_ROWS_MAX_DIM}`);
  const per = Math.max(1, ceil(dim, 32));
  const r = outputShape.length;
  return {
    outputShape,
    shaderKey: `${key}_rows${per}`,
    dispatchLayout: { x: [r - 1], y: [0] },
    dispatch: rowDispatch(ceil(rows, 8)),
    variableNames,
    workgroupSize: [256, 1, 1],
    uniforms,
    getUserCode: () => `
      ${treeReduce('laneReduce', 256, 32)}
      fn laneSum(v : f32) -> f32 { return laneReduce(v, false); }
      const PER = ${per};
      fn main() {
        // every thread reaches the reductions (uniform control flow); rows past the end do no work
        let t = i32(localId.x);
        let lane = t % 32;
        let row = i32(workgroupId.y * numWorkgroups.x + workgroupId.x) * 8 + t / 32;
        let valid = row < uniforms.rows;
        let D = select(0, uniforms.dim, valid);
        let base = select(0, row * uniforms.dim, valid);
        ${body}
      }`,
  };
}

/**
 * `layerNormProgram` with its rows in registers (`laneRowProgram`, dim ≤ LAYER_NORM_ROWS_MAX_DIM): x read
 * once, two 32-lane reductions a row — where the workgroup-per-row program reads x three times and
 * reduces over 128 threads twice (eight barriers each) for every row.
 */
export function layerNormRowsProgram(shape: number[], rows: number, dim: number): Program {
  const stats = extraOutput('Stats');
  return laneRowProgram(shape, rows, dim, 'omnitokLayerNorm', ['x', 'gamma', 'beta', stats], 'rows : i32, dim : i32, eps : f32,', `
        var v : array<f32, PER>;
        var s = 0.0;
        for (var q = 0; q < PER; q = q + 1) { let i = lane + q * 32; if (i < D) { v[q] = x[base + i]; s = s + v[q]; } }
        let mean = laneSum(s) / f32(max(D, 1));
        var ss = 0.0;
        for (var q = 0; q < PER; q = q + 1) { let i = lane + q * 32; if (i < D) { let c = v[q] - mean; ss = ss + c * c; } }
        let rstd = inverseSqrt(laneSum(ss) / f32(max(D, 1)) + uniforms.eps);
        for (var q = 0; q < PER; q = q + 1) {
          let i = lane + q * 32;
          if (i < D) { result[base + i] = (v[q] - mean) * rstd * gamma[i] + beta[i]; }
        }
        if (lane == 0 && valid) { ${stats}[row * 2] = mean; ${stats}[row * 2 + 1] = rstd; }`);
}

/** `layerNormGradXProgram` with its rows in registers (dy and x read once; see layerNormRowsProgram). */
export function layerNormGradXRowsProgram(shape: number[], rows: number, dim: number, accumulate = false): Program {
  return laneRowProgram(shape, rows, dim, `omnitokLayerNormGradX${accumulate ? '_acc' : ''}`, ['dy', 'x', 'gamma', 'stats', ...(accumulate ? ['acc'] : [])], 'rows : i32, dim : i32,', `
        let sr = select(0, row, valid);
        let mean = stats[sr * 2];
        let rstd = stats[sr * 2 + 1];
        var g : array<f32, PER>;
        var xh : array<f32, PER>;
        var s1 = 0.0;
        var s2 = 0.0;
        for (var q = 0; q < PER; q = q + 1) {
          let i = lane + q * 32;
          if (i < D) {
            g[q] = dy[base + i] * gamma[i];
            xh[q] = (x[base + i] - mean) * rstd;
            s1 = s1 + g[q];
            s2 = s2 + g[q] * xh[q];
          }
        }
        let mg = laneSum(s1) / f32(max(D, 1));
        let mgx = laneSum(s2) / f32(max(D, 1));
        for (var q = 0; q < PER; q = q + 1) {
          let i = lane + q * 32;
          if (i < D) { result[base + i] = rstd * (g[q] - mg - xh[q] * mgx)${accumulate ? ' + acc[base + i]' : ''}; }
        }`);
}

/** Rows summed per partial of the gamma/beta gradients. */
export const PARAM_GRAD_ROWS = 128;

/**
 * [2, P, D] partial sums over chunks of PARAM_GRAD_ROWS rows: [0] Σ dy·x̂ (dgamma), [1] Σ dy (dbeta);
 * `partialsSumProgram` then sums over P. A workgroup of 64 columns × 4 row lanes takes a chunk: lane g
 * walks rows g, g + 4, … (each row's 64 columns one coalesced read), and the four lanes' sums meet in
 * workgroup memory — four times the threads, and the reads in flight, of a thread per column walking
 * all 128 rows (as run 5 measured it: 1.5 ms for the 26 LayerNorms of a ViT-S step, ~30 % of the
 * memory's rate).
 */
export function layerNormGradParamsProgram(rows: number, dim: number): Program {
  const parts = ceil(rows, PARAM_GRAD_ROWS);
  return {
    outputShape: [2, parts, dim],
    shaderKey: `omnitokLayerNormGradParams_${PARAM_GRAD_ROWS}x4`,
    dispatchLayout: { x: [2], y: [1] },
    dispatch: [ceil(dim, 64), parts, 1],
    variableNames: ['dy', 'x', 'stats'],
    workgroupSize: [256, 1, 1],
    uniforms: 'rows : i32, dim : i32,',
    getUserCode: () => `
      var<workgroup> sums : array<vec2<f32>, 256>;
      fn main() {
        let D = uniforms.dim;
        let t = i32(localId.x);
        let g = t / 64;
        let c = i32(workgroupId.x) * 64 + t % 64;
        let p = i32(workgroupId.y);
        let P = i32(numWorkgroups.y);
        let r0 = p * ${PARAM_GRAD_ROWS};
        let r1 = min(uniforms.rows, r0 + ${PARAM_GRAD_ROWS});
        var sg = 0.0;
        var sb = 0.0;
        if (c < D) {
          for (var r = r0 + g; r < r1; r = r + 4) {
            let d = dy[r * D + c];
            sg = sg + d * (x[r * D + c] - stats[r * 2]) * stats[r * 2 + 1];
            sb = sb + d;
          }
        }
        sums[t] = vec2<f32>(sg, sb);
        workgroupBarrier();
        if (t < 64 && c < D) {
          let s = sums[t] + sums[t + 64] + sums[t + 128] + sums[t + 192];
          result[p * D + c] = s.x;
          result[(P + p) * D + c] = s.y;
        }
      }`,
  };
}

// ---------------------------------------------------------------------------------------------- GELU

/** GELU forward; `erf`: x·Φ(x), `tanh`: the GPT-2 approximation, `quick`: x·σ(1.702x). */
export function geluProgram(shape: number[], size: number, kind: GeluKind): Program {
  return flat(shape, size, `omnitokGelu_${kind}`, ['x'], '', 'result[index] = gelu_(x[index]);', geluFns(kind));
}

/** dy · GELU'(x). */
export function geluGradProgram(shape: number[], size: number, kind: GeluKind): Program {
  return flat(shape, size, `omnitokGeluGrad_${kind}`, ['x', 'dy'], '', 'result[index] = dy[index] * geluD_(x[index]);', geluFns(kind));
}

// ------------------------------------------------------------------------------ contrastive losses

/** Below this sum of squares a row is scaled by 1/√L2_EPS instead of 1/‖x‖ (torch's F.normalize floors ‖x‖ at 1e-12). */
const L2_EPS = '1e-24';

/**
 * y = x / max(‖x‖, 1e-12) per row of `dim` (rows in registers, `laneRowProgram`), and each row's Σx²
 * into the extra output `SumSq` [rows] for the backward.
 */
export function l2NormalizeProgram(shape: number[], rows: number, dim: number): Program {
  const sumSq = extraOutput('SumSq');
  return laneRowProgram(shape, rows, dim, 'omnitokL2Normalize', ['x', sumSq], 'rows : i32, dim : i32,', `
        var v : array<f32, PER>;
        var s = 0.0;
        for (var q = 0; q < PER; q = q + 1) { let i = lane + q * 32; if (i < D) { v[q] = x[base + i]; s = s + v[q] * v[q]; } }
        let ss = laneSum(s);
        let r = inverseSqrt(max(ss, ${L2_EPS}));
        for (var q = 0; q < PER; q = q + 1) { let i = lane + q * 32; if (i < D) { result[base + i] = v[q] * r; } }
        if (lane == 0 && valid) { ${sumSq}[row] = ss; }`);
}

/** dx = r·(dy − y·(y·dy)) with r = 1/‖x‖ (r·dy where the norm was floored), per row, from y and Σx². */
export function l2NormalizeGradProgram(shape: number[], rows: number, dim: number): Program {
  return laneRowProgram(shape, rows, dim, 'omnitokL2NormalizeGrad', ['dy', 'y', 'sumSq'], 'rows : i32, dim : i32,', `
        let ss = sumSq[select(0, row, valid)];
        let r = inverseSqrt(max(ss, ${L2_EPS}));
        let floored = ss < ${L2_EPS};
        var g : array<f32, PER>;
        var yv : array<f32, PER>;
        var s = 0.0;
        for (var q = 0; q < PER; q = q + 1) {
          let i = lane + q * 32;
          if (i < D) { g[q] = dy[base + i]; yv[q] = y[base + i]; s = s + g[q] * yv[q]; }
        }
        let dot = select(laneSum(s), 0.0, floored);
        for (var q = 0; q < PER; q = q + 1) { let i = lane + q * 32; if (i < D) { result[base + i] = r * (g[q] - yv[q] * dot); } }`);
}

/**
 * The first step of `pairedCrossEntropy` on logits L [n, n]: for each of the 2n lines — rows i < n, then
 * columns j — its log-sum-exp (online: a running max and sum per lane over elements lane, lane + 32, …,
 * then combined over the 32 lanes; 8 lines a 256-thread workgroup) into the output [2n], and lse − L_kk
 * (its cross-entropy against the diagonal) into the extra output `Terms` [2n].
 */
export function pairedCeLinesProgram(n: number): Program {
  const terms = extraOutput('Terms');
  return {
    outputShape: [2 * n],
    shaderKey: 'omnitokPairedCeLines',
    dispatchLayout: { x: [0] },
    dispatch: rowDispatch(ceil(2 * n, 8)),
    variableNames: ['logits', terms],
    workgroupSize: [256, 1, 1],
    uniforms: 'n : i32,',
    getUserCode: () => `
      ${treeReduce('laneReduce', 256, 32)}
      // (a flat dispatch layout: tfjs hands main the global index, workgroup · 256 + local index)
      fn main(index : i32) {
        let t = i32(localId.x);
        let lane = t % 32;
        let N = uniforms.n;
        let line = index / 32;
        let valid = line < 2 * N;
        let isRow = line < N;
        let k = select(line - N, line, isRow); // the row or column index
        var m = -3.0e38;
        var s = 0.0;
        if (valid) {
          for (var j = lane; j < N; j = j + 32) {
            let v = logits[select(j * N + k, k * N + j, isRow)];
            if (v > m) { s = s * exp(m - v) + 1.0; m = v; } else { s = s + exp(v - m); }
          }
        }
        let mx = laneReduce(m, true);
        let total = laneReduce(s * exp(m - mx), false);
        let lse = mx + log(total);
        if (lane == 0 && valid) {
          result[line] = lse;
          ${terms}[line] = lse - logits[k * N + k];
        }
      }`,
  };
}

/** Σ of `count` values / `divisor` into [1]: one workgroup (the loss from pairedCeLinesProgram's terms). */
export function meanProgram(count: number): Program {
  return {
    outputShape: [1],
    shaderKey: 'omnitokMean',
    dispatchLayout: { x: [0] },
    dispatch: [1, 1, 1],
    variableNames: ['x'],
    workgroupSize: [ROW_WG, 1, 1],
    uniforms: 'count : i32, divisor : f32,',
    getUserCode: () => `
      ${REDUCE}
      fn main(index : i32) {
        let t = i32(localId.x);
        var s = 0.0;
        for (var i = t; i < uniforms.count; i = i + ${ROW_WG}) { s = s + x[i]; }
        let total = blockSum(s);
        if (t == 0) { result[0] = total / uniforms.divisor; }
      }`,
  };
}

/**
 * dL = g/(2n)·(softmax_row(L) + softmax_col(L) − 2I) for `pairedCrossEntropy`'s loss g·loss: from L,
 * the lines' log-sum-exps [2n] and g [1]; one thread an element.
 */
export function pairedCeGradProgram(n: number): Program {
  return flat([n, n], n * n, 'omnitokPairedCeGrad', ['logits', 'lse', 'dy'], 'n : i32,', `
        let N = uniforms.n;
        let i = index / N;
        let j = index - i * N;
        let v = logits[index];
        let p = exp(v - lse[i]) + exp(v - lse[N + j]) - select(0.0, 2.0, i == j);
        result[index] = dy[0] * p / f32(2 * N);`);
}

// ------------------------------------------------------------------------------ embedding gradient

/**
 * The embedding table's gradient dE[v] = Σ_{p : ids[p] = v} dY[p], the same on every run.
 *
 * TensorFlow.js' ScatterNd on webgpu adds floats with compare-exchange loops, so the order of the adds
 * into a repeated id's row — and the row's last bits — changed from run to run: two identical training
 * runs of a text tower drifted apart by ~1e-6 within three steps. Here each dY value is added to its
 * element's accumulator as a 128-bit fixed-point integer (EMBED_WORDS little-endian u32 words, two's
 * complement, units of 2^−64) by 32-bit atomic adds whose carries are counted exactly: integer addition
 * is associative, so the words end as the exact sum whatever order the adds ran in, and
 * `embeddingGradRoundProgram` rounds it to the nearest f32 (ties to even) — the correctly rounded sum,
 * where a float loop's error grows with the number of repeats (a padding id: thousands).
 * Limits: a value below 2^−40 in magnitude keeps only its multiples of 2^−64 (truncated toward 0;
 * below 2^−64 it adds nothing); a non-finite value, or one of magnitude ≥ 2^40, sets the flag word
 * (the last one), and then every element of the result is NaN (a step guard then skips the step);
 * ≤ EMBED_MAX_TERMS positions, so that no sum can leave the 128-bit range. The accumulator takes 16
 * bytes a table element, so a large table is done in passes of at most EMBED_ACC_BYTES of it (rows
 * v0 … v0 + n − 1 each; every pass reads all of dy and checks every value for the flag).
 */
export const EMBED_WORDS = 4;
export const EMBED_MAX_TERMS = 2 ** 22;
export const EMBED_ACC_BYTES = 512 * 2 ** 20;

/** WGSL: the two's complement of a 128-bit integer (EMBED_WORDS little-endian words): −w. */
const NEGATED_WORDS = `
      fn negated(w : array<u32, ${EMBED_WORDS}>) -> array<u32, ${EMBED_WORDS}> {
        var r = w;
        var c = 1u;
        for (var i = 0; i < ${EMBED_WORDS}; i++) {
          r[i] = ~w[i] + c;
          c = select(0u, 1u, c == 1u && r[i] == 0u);
        }
        return r;
      }`;

/** Zeros [size] into an int32 tensor (the accumulator before `embeddingGradAccumulateProgram`). */
export function zeroI32Program(size: number): Program {
  return flat([size], size, 'omnitokZeroI32', [], '', 'result[index] = 0;');
}

/** Adds dy [P, D] (f32) into the accumulator rows ids [P] (i32) pick, those in v0 … v0 + n − 1: one thread a dy element. */
export function embeddingGradAccumulateProgram(size: number, accWords: number): Program {
  return {
    outputShape: [accWords],
    shaderKey: 'omnitokEmbedGradAcc',
    dispatchLayout: { x: [0] },
    dispatch: [ceil(size, FLAT_WG), 1, 1],
    variableNames: ['dy', 'ids'],
    workgroupSize: [FLAT_WG, 1, 1],
    uniforms: 'count : i32, dim : i32, v0 : i32, n : i32, flag : i32,',
    atomic: true,
    getUserCode: () => `
      ${NEGATED_WORDS}
      // adds a to word i; 1 when the word wrapped past 2^32 (the carry into the next word)
      fn addWord(i : i32, a : u32) -> u32 {
        if (a == 0u) { return 0u; }
        let old = bitcast<u32>(atomicAdd(&result[i], bitcast<i32>(a)));
        return select(0u, 1u, old + a < old);
      }
      fn main(index : i32) {
        if (index >= uniforms.count) { return; }
        let p = index / uniforms.dim;
        let bits = bitcast<u32>(dy[index]);
        let e = i32((bits >> 23u) & 0xffu);
        if (e >= 167) { atomicOr(&result[uniforms.flag], 1); return; } // Inf, NaN or |x| >= 2^40, whatever its id
        let id = ids[p] - uniforms.v0; // the row in this pass's accumulator
        if (id < 0 || id >= uniforms.n) { return; }
        if (e == 0) { return; } // ±0 (and denormals, below the grid)
        let mant = (bits & 0x7fffffu) | 0x800000u;
        // x = mant · 2^(e − 150) = mant · 2^s units of 2^−64, s ≤ 80: the words q and q + 1 ≤ 3
        let s = e - 86;
        var w = array<u32, ${EMBED_WORDS}>(0u, 0u, 0u, 0u);
        if (s < 0) {
          if (s > -24) { w[0] = mant >> u32(-s); }
        } else {
          let q = s / 32;
          let r = u32(s - q * 32);
          w[q] = mant << r;
          if (r != 0u) { w[q + 1] = mant >> (32u - r); }
        }
        if ((bits >> 31u) == 1u) { w = negated(w); } // −x
        let base = (id * uniforms.dim + (index - p * uniforms.dim)) * ${EMBED_WORDS};
        var carry = 0u;
        for (var i = 0; i < ${EMBED_WORDS}; i++) {
          let a = w[i] + carry;
          carry = select(0u, 1u, a < w[i]) + addWord(base + i, a); // at most one of the two wraps
        }
      }`,
  };
}

/**
 * The accumulator [n·D·EMBED_WORDS + 1] (i32) → rows v0 … v0 + n − 1 of dE [V, D] (`result`, the whole
 * table's tensor, passed in): each sum rounded to the nearest f32.
 */
export function embeddingGradRoundProgram(shape: number[], size: number): Program {
  return {
    outputShape: shape,
    shaderKey: 'omnitokEmbedGradRound',
    dispatchLayout: { x: shape.map((_, i) => i) },
    dispatch: [ceil(size, FLAT_WG), 1, 1],
    variableNames: ['acc'],
    workgroupSize: [FLAT_WG, 1, 1],
    uniforms: 'count : i32, offset : i32, flag : i32,',
    getUserCode: () => `
      ${NEGATED_WORDS}
      fn main(index : i32) {
        if (index >= uniforms.count) { return; }
        let at = uniforms.offset + index;
        if (acc[uniforms.flag] != 0) { result[at] = uniforms.NAN; return; }
        var w = array<u32, ${EMBED_WORDS}>();
        for (var i = 0; i < ${EMBED_WORDS}; i++) { w[i] = bitcast<u32>(acc[index * ${EMBED_WORDS} + i]); }
        let neg = (w[${EMBED_WORDS - 1}] >> 31u) == 1u;
        if (neg) { w = negated(w); }
        var t = ${EMBED_WORDS - 1};
        while (t >= 0 && w[max(t, 0)] == 0u) { t = t - 1; }
        if (t < 0) { result[at] = 0.0; return; }
        // the 32 bits from the highest set one (bit b of the magnitude) down, then what lies below them
        let lz = countLeadingZeros(w[t]);
        let b = 32 * t + 31 - i32(lz);
        let low = select(0u, w[max(t - 1, 0)], t > 0);
        let top = select((w[t] << lz) | (low >> (32u - lz)), w[t], lz == 0u);
        let rest = select(low << lz, low, lz == 0u);
        var below = 0u;
        for (var i = 0; i < t - 1; i++) { below = below | w[i]; }
        let mant = top >> 8u; // 24 bits, the leading one included
        let half = ((top >> 7u) & 1u) == 1u;
        let sticky = (top & 0x7fu) != 0u || rest != 0u || below != 0u;
        let m = mant + select(0u, 1u, half && (sticky || (mant & 1u) == 1u)); // 2^24 when it carries: still exact
        let v = ldexp(f32(m), b - 87); // mant's lowest bit is 2^(b − 23) units of 2^−64
        result[at] = select(v, -v, neg);
      }`,
  };
}

// --------------------------------------------------------------------------------------------- AdamW

/** Which of the updated tensors an AdamW program writes. */
export const ADAMW_OUT = { m: 0, v: 1, p: 2 } as const;

/**
 * AdamW in place (the optimizer owns m and v; p when nothing else shares its buffer): the output
 * binding *is* the tensor updated, read and written by each invocation. `which` m: m ← β1·m + (1−β1)·g·s;
 * v: v ← β2·v + (1−β2)·(g·s)²; p (after m and v): p ← p·decay − lr/bc1 · m / (√v/√bc2 + eps). A guard
 * scale s ≤ 0 (a non-finite step) leaves all three as they were.
 */
export function adamWInPlaceProgram(shape: number[], size: number, which: number): Program {
  const names = which === ADAMW_OUT.p ? ['m', 'v', 'guard'] : ['g', 'guard'];
  const body = [
    'let gi = g[index] * scale; result[index] = uniforms.beta1 * result[index] + (1.0 - uniforms.beta1) * gi;',
    'let gi = g[index] * scale; result[index] = uniforms.beta2 * result[index] + (1.0 - uniforms.beta2) * gi * gi;',
    'result[index] = result[index] * uniforms.decay - uniforms.stepSize * m[index] / (sqrt(v[index]) * uniforms.rsbc2 + uniforms.eps);',
  ][which];
  return flat(
    shape,
    size,
    `omnitokAdamWInPlace_${which}`,
    names,
    'beta1 : f32, beta2 : f32, eps : f32, decay : f32, stepSize : f32, rsbc2 : f32,',
    `let scale = guard[1];
     if (scale <= 0.0) { return; }
     ${body}`,
  );
}

/**
 * AdamW on the p, m and v of `k` parameters in one dispatch: a whole WGSL module, run outside tfjs'
 * one-output programs (`adamWOneDispatch` binds the variables' own buffers read-write). Parameter j
 * takes the workgroups [start_j, start_j + ⌈size_j / 256⌉) of one grid, numbered over 2-D (x ≤ 65 535
 * workgroups) so that the largest embedding tables fit. Bindings 4j … 4j + 3 are p, m, v (read-write)
 * and g of parameter j, then the step guard and the uniforms (the shared hyperparameters, then each
 * parameter's decay, size and first workgroup). Same arithmetic, in the same order, as the three
 * `adamWInPlaceProgram`s; `k` is bounded by the device's storage buffers per stage (4k + 1).
 */
export function adamWWgsl(k: number): string {
  const fields = Array.from({ length: k }, (_, j) => `decay${j} : f32, size${j} : i32, start${j} : i32`).join(', ');
  const bindings = Array.from({ length: k }, (_, j) =>
    [`p${j} : array<f32>`, `m${j} : array<f32>`, `v${j} : array<f32>`]
      .map((d, i) => `@group(0) @binding(${4 * j + i}) var<storage, read_write> ${d};`)
      .concat(`@group(0) @binding(${4 * j + 3}) var<storage, read> g${j} : array<f32>;`)
      .join('\n'),
  ).join('\n');
  // each parameter's range of workgroups, the last one first (a workgroup updates one parameter)
  const bodies = Array.from({ length: k }, (_, j) => k - 1 - j)
    .map(
      (j) => `  if (w >= h.start${j}) {
    let i = (w - h.start${j}) * 256 + i32(li);
    if (i >= h.size${j}) { return; }
    let gi = g${j}[i] * scale;
    let mi = h.beta1 * m${j}[i] + (1.0 - h.beta1) * gi;
    let vi = h.beta2 * v${j}[i] + (1.0 - h.beta2) * gi * gi;
    m${j}[i] = mi;
    v${j}[i] = vi;
    p${j}[i] = p${j}[i] * h.decay${j} - h.stepSize * mi / (sqrt(vi) * h.rsbc2 + h.eps);
    return;
  }`,
    )
    .join('\n');
  return `
struct Hyper { beta1 : f32, beta2 : f32, eps : f32, stepSize : f32, rsbc2 : f32, rowGroups : i32, ${fields} }
${bindings}
@group(0) @binding(${4 * k}) var<storage, read> guard : array<f32>;
@group(0) @binding(${4 * k + 1}) var<uniform> h : Hyper;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_index) li : u32) {
  let w = i32(wg.y) * h.rowGroups + i32(wg.x);
  let scale = guard[1];
  if (scale <= 0.0) { return; }
${bodies}
}`;
}

/**
 * The step guard, one workgroup: from the sum-of-squares partials of every gradient and the loss,
 * [norm, scale, finite] with norm = gradScale·√Σ and scale = gradScale·min(clipNorm / (norm + 1e-6), 1)
 * (gradScale when clipNorm ≤ 0; gradScale = 1/S undoes a loss scale S),
 * like torch's clip_grad_norm_, or 0 when the loss or the norm is NaN/±Inf; finite = 1, or 0 then.
 * `chained`: a fourth input, the guard of the step before (still in flight when this one was queued),
 * whose finite = 0 sets this scale to 0 too — a step queued behind a non-finite one is not applied.
 * Finiteness is tested on the bits (exponent all ones), which no fast-math compiler folds away.
 */
export function stepGuardProgram(chained = false): Program {
  return {
    outputShape: [3],
    shaderKey: `omnitokStepGuard${chained ? '_chained' : ''}`,
    dispatchLayout: { x: [0] },
    dispatch: [1, 1, 1],
    variableNames: chained ? ['partials', 'loss', 'prev'] : ['partials', 'loss'],
    workgroupSize: [256, 1, 1],
    uniforms: 'parts : i32, clipNorm : f32, gradScale : f32,',
    getUserCode: () => `
      var<workgroup> red : array<f32, 256>;
      fn finite_(x : f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
      fn main(unused : i32) {
        let t = i32(localId.x);
        var acc = 0.0;
        for (var i = t; i < uniforms.parts; i = i + 256) { acc = acc + partials[i]; }
        red[t] = acc;
        workgroupBarrier();
        for (var s = 128; s > 0; s = s >> 1u) {
          if (t < s) { red[t] = red[t] + red[t + s]; }
          workgroupBarrier();
        }
        if (t == 0) {
          let norm = sqrt(red[0]) * uniforms.gradScale;
          var scale = uniforms.gradScale;
          if (uniforms.clipNorm > 0.0) { scale = scale * min(uniforms.clipNorm / (norm + 1e-6), 1.0); }
          let finite = finite_(norm) && finite_(loss[0]);
          if (!finite${chained ? ' || prev[2] == 0.0' : ''}) { scale = 0.0; }
          result[0] = norm;
          result[1] = scale;
          result[2] = select(0.0, 1.0, finite);
        }
      }`,
  };
}

// ----------------------------------------------------------------------------------------- attention

/**
 * Self-attention straight from the fused projection qkv [B, N, 3D] (columns q | k | v, each head-major)
 * with the masking of layers/attention.ts: scores = (q·k)·scale, + (1 − keep_j)·(−1e9) with a key
 * mask, + (−1e9) for j > i when causal, softmax over keys. Flash-attention style: one thread per query
 * row (q and the output accumulator in registers), keys/values staged in workgroup memory BK at a
 * time, an online softmax (running max and sum, rescaled once per key block). Causal without a key mask
 * skips the key blocks past the query block (their weights underflow to exactly 0 in f32 anyway).
 * Dh (≤ MAX_ATTN_HEAD_DIM = 64: ViT-S/B, CLIP), the masks and the tile sizes are compile-time; B, N, H, D are uniforms.
 */
/** Keeps the staged tiles (2 × 16 × Dh f32 + 128 B) within WebGPU's default 16 KiB of workgroup memory with room. */
export const MAX_ATTN_HEAD_DIM = 64;
const ATTN_BQ = 64;
const ATTN_BK = 16;
const ATTN_UNIFORMS = 'seqLen : i32, heads : i32, width : i32, scale : f32, hdim : i32, bk : i32,';
const NEG = '-3.0e38';

export interface AttentionShape {
  readonly batch: number;
  readonly seq: number;
  readonly heads: number;
  readonly headDim: number;
  readonly causal: boolean;
  readonly masked: boolean;
  /**
   * Constant loop bounds over Dh and the key tile (true: what a GPU compiler unrolls and keeps in
   * registers) or bounds from uniforms (false: lavapipe's LLVM takes ~6 s per pipeline to unroll these
   * loops, ~0.2 s otherwise). Same arithmetic, same order either way.
   */
  readonly unrolled: boolean;
}

const attnKey = (name: string, s: AttentionShape) => `${name}_${s.headDim}_${s.causal ? 'c' : 'n'}${s.masked ? 'm' : ''}${s.unrolled ? '_u' : '_r'}`;

/** Shared WGSL: indices of q/k/v/o, the masked score of (query i, key j). */
function attnCommon(s: AttentionShape): string {
  return `
  const DH = ${s.headDim};
  fn qkvIndex(b : i32, row : i32, part : i32, h : i32) -> i32 {
    return (b * uniforms.seqLen + row) * 3 * uniforms.width + part * uniforms.width + h * DH;
  }
  fn oIndex(b : i32, row : i32, h : i32) -> i32 {
    return (b * uniforms.seqLen + row) * uniforms.width + h * DH;
  }
  fn maskedScore(dot : f32, b : i32, i : i32, j : i32) -> f32 {
    var sc = dot * uniforms.scale;
    ${s.masked ? 'sc = sc + (1.0 - mask[b * uniforms.seqLen + j]) * -1.0e9;' : ''}
    ${s.causal ? 'if (j > i) { sc = sc + -1.0e9; }' : ''}
    return sc;
  }`;
}

/** Loop bounds from uniforms (see AttentionShape.unrolled). */
function rolled(code: string): string {
  return code
    .replace(/d < DH;/g, 'd < uniforms.hdim;')
    .replace(/(kj|qq) < ${ATTN_BK};/g, '$1 < uniforms.bk;');
}

function attnProgram(outputShape: number[], s: AttentionShape, key: string, variableNames: string[], dispatchX: number, body: string, extraOutputs: string[] = []): Program {
  return {
    outputShape,
    shaderKey: attnKey(key, s),
    dispatchLayout: { x: [outputShape.length - 1], y: [0] },
    dispatch: [dispatchX, s.batch * s.heads, 1],
    variableNames: [...variableNames, ...(s.masked ? ['mask'] : []), ...extraOutputs],
    workgroupSize: [ATTN_BQ, 1, 1],
    uniforms: ATTN_UNIFORMS,
    getUserCode: () => `${attnCommon(s)}\n${s.unrolled ? body : rolled(body)}`,
  };
}

/**
 * The key-block loop of a query-per-thread program: stages K (and V) tiles, then runs `perKey` for each
 * key of the tile (with `dot` = q·k_j available through `kdot(kj)`). `vars` are the per-thread registers.
 */
function queryLoop(s: AttentionShape, withV: boolean, perBlock: string): string {
  const skip = s.causal && !s.masked;
  return `
  var<workgroup> Ks : array<f32, ${ATTN_BK * s.headDim}>;
  ${withV ? `var<workgroup> Vs : array<f32, ${ATTN_BK * s.headDim}>;` : ''}
  var<workgroup> kEndShared : i32;
  fn main() {
    let t = i32(localId.x);
    let bh = i32(workgroupId.y);
    let b = bh / uniforms.heads;
    let h = bh - b * uniforms.heads;
    let q0 = i32(workgroupId.x) * ${ATTN_BQ};
    let i = q0 + t;
    let validQ = i < uniforms.seqLen;
    let qi = select(0, i, validQ);
    if (t == 0) { kEndShared = ${skip ? `min(uniforms.seqLen, q0 + ${ATTN_BQ})` : 'uniforms.seqLen'}; }
    let kEnd = workgroupUniformLoad(&kEndShared);
    var q : array<f32, DH>;
    for (var d = 0; d < DH; d = d + 1) { q[d] = qkv[qkvIndex(b, qi, 0, h) + d]; }
    PRELUDE
    for (var k0 = 0; k0 < kEnd; k0 = k0 + ${ATTN_BK}) {
      for (var e = t; e < ${ATTN_BK} * DH; e = e + ${ATTN_BQ}) {
        let kj = e / DH;
        let d = e - kj * DH;
        let j = min(k0 + kj, uniforms.seqLen - 1);
        Ks[e] = qkv[qkvIndex(b, j, 1, h) + d];
        ${withV ? 'Vs[e] = qkv[qkvIndex(b, j, 2, h) + d];' : ''}
      }
      workgroupBarrier();
      var sc : array<f32, ${ATTN_BK}>;
      var bm = ${NEG};
      for (var kj = 0; kj < ${ATTN_BK}; kj = kj + 1) {
        let j = k0 + kj;
        var dot = 0.0;
        for (var d = 0; d < DH; d = d + 1) { dot = dot + q[d] * Ks[kj * DH + d]; }
        sc[kj] = select(${NEG}, maskedScore(dot, b, qi, j), j < uniforms.seqLen);
        bm = max(bm, sc[kj]);
      }
      ${perBlock}
      workgroupBarrier();
    }
    EPILOGUE
  }`;
}

/** The forward attention programs' second output: each query row's (m, log l), [B·H·N, 2]. */
const LSE = extraOutput('Lse');

/**
 * Forward: the output [B, N, D] (heads merged) and, as a second output `Lse` [B·H·N, 2], every query
 * row's max score m and log Σ exp(score − m), which the backward needs: with them, its
 * statistics are one dot product per row instead of another pass over every key. Kept apart, not as
 * one logsumexp m + log l: a row whose every key is masked has m ≈ −1e9, where f32 rounds the log
 * away and P = exp(s − lse) would come out n times too large for n equal keys (the composite
 * softmax gives each 1/n).
 */
export function attentionProgram(s: AttentionShape): Program {
  const D = s.heads * s.headDim;
  const code = queryLoop(
    s,
    true,
    `
      let mNew = max(m, bm);
      let corr = exp(m - mNew);
      l = l * corr;
      for (var d = 0; d < DH; d = d + 1) { acc[d] = acc[d] * corr; }
      for (var kj = 0; kj < ${ATTN_BK}; kj = kj + 1) {
        let p = exp(sc[kj] - mNew);
        l = l + p;
        for (var d = 0; d < DH; d = d + 1) { acc[d] = acc[d] + p * Vs[kj * DH + d]; }
      }
      m = mNew;`,
  )
    .replace('PRELUDE', `var acc : array<f32, DH>;\n    var m = ${NEG};\n    var l = 0.0;`)
    .replace(
      'EPILOGUE',
      `if (validQ) {
      for (var d = 0; d < DH; d = d + 1) { result[oIndex(b, i, h) + d] = acc[d] / l; }
      ${LSE}[(bh * uniforms.seqLen + i) * 2] = m;
      ${LSE}[(bh * uniforms.seqLen + i) * 2 + 1] = log(l);
    }`,
    );
  return attnProgram([s.batch, s.seq, D], s, 'omnitokAttention', ['qkv'], Math.ceil(s.seq / ATTN_BQ), code, [LSE]);
}

/** Head dim of the tiled attention programs (ViT-S/B, CLIP): a row is 16 vec4, staged 17 apart. */
export const TILED_ATTN_HEAD_DIM = 64;
const TQ = 32; // forward: query rows per workgroup
const TK = 32; // forward: keys per staged tile
const SV = TILED_ATTN_HEAD_DIM / 4 + 1; // vec4 stride of a staged row (conflict-free across rows)
/**
 * Workgroup memory of the tiled programs in bytes (the largest, the forward's; above WebGPU's default
 * 16 KiB: the caller checks the device's limit).
 */
export const TILED_ATTN_WORKGROUP_BYTES = 16 * ((TQ + TK) * SV + TK * (TQ / 4 + 1) + 2 * 16 * (TQ / 4 + 1)) + 4;
/** The four rows / vec4 lanes a thread of a tiled program owns, as repeated WGSL. */
const four = (f: (r: number, c: string) => string) => [0, 1, 2, 3].map((r) => f(r, 'xyzw'[r]!)).join('\n');

/**
 * A WGSL function staging `rows` rows (from row0, clamped to N − 1) of a head into a workgroup block of
 * vec4 [row][Dh/4] with stride SV: from qkv (part 0 q, 1 k, 2 v) or from dy ([B, N, D], part ignored).
 * Global reads run along each row (16 threads a row).
 */
function stageFn(name: string, rows: number, threads: number, from: 'qkv' | 'dy'): string {
  const index = from === 'qkv' ? 'qkvIndex(b, row, part, h)' : 'oIndex(b, row, h)';
  return `
  fn ${name}(dst : ptr<workgroup, array<vec4<f32>, ${rows * SV}>>, t : i32, b : i32, h : i32, part : i32, row0 : i32) {
    for (var e = t; e < ${rows * (SV - 1)}; e = e + ${threads}) {
      let r = e / ${SV - 1};
      let c = e - r * ${SV - 1};
      let row = min(row0 + r, uniforms.seqLen - 1);
      let g = ${index} + c * 4;
      (*dst)[r * ${SV} + c] = vec4<f32>(${from}[g], ${from}[g + 1], ${from}[g + 2], ${from}[g + 3]);
    }
  }`;
}

/**
 * The opening of a tiled program's main(): thread (ty, tx) with `cols` threads a row, the head (b, h)
 * of workgroup y, the first row `row0` of workgroup x's block of `rows`, N, and the loop bound `bound`
 * = `boundExpr`, made workgroup-uniform through `${bound}Shared` (which the program declares).
 */
function tiledPrologue(cols: number, rows: number, row0: string, bound: string, boundExpr: string): string {
  return `
    let t = i32(localId.x);
    let tx = t % ${cols};
    let ty = t / ${cols};
    let bh = i32(workgroupId.y);
    let b = bh / uniforms.heads;
    let h = bh - b * uniforms.heads;
    let ${row0} = i32(workgroupId.x) * ${rows};
    let N = uniforms.seqLen;
    if (t == 0) { ${bound}Shared = ${boundExpr}; }
    let ${bound} = workgroupUniformLoad(&${bound}Shared);`;
}

/**
 * The per-thread dot products of the tiled programs: for the thread's four own rows (r) and two tile
 * rows (A = tx, B = tx + `second`), the products of own rows `own` with tile rows `tile` over Dh,
 * accumulated as vec4 (8 vec4 FMA chains), summed into sA / sB (vec4 over r).
 */
function tiledDots(name: string, own: string, tile: string, second: number): string {
  return `
      ${four((r) => `var ${name}a${r} = vec4<f32>(0.0);\n      var ${name}b${r} = vec4<f32>(0.0);`)}
      for (var c = 0; c < ${SV - 1}; c = c + 1) {
        let ta = ${tile}[tx * SV + c];
        let tb = ${tile}[(tx + ${second}) * SV + c];
        ${four((r) => `let o${r} = ${own}[(ty * 4 + ${r}) * SV + c];\n        ${name}a${r} = fma(o${r}, ta, ${name}a${r});\n        ${name}b${r} = fma(o${r}, tb, ${name}b${r});`)}
      }
      let ${name}A = vec4<f32>(${[0, 1, 2, 3].map((r) => `dot(${name}a${r}, vec4<f32>(1.0))`).join(', ')});
      let ${name}B = vec4<f32>(${[0, 1, 2, 3].map((r) => `dot(${name}b${r}, vec4<f32>(1.0))`).join(', ')});`;
}

/** WGSL: writes a vec4 to result[o … o + 3] (the binding is a flat array<f32>). */
const STORE4 = `
  fn store4(o : i32, y : vec4<f32>) {
    result[o] = y.x;
    result[o + 1] = y.y;
    result[o + 2] = y.z;
    result[o + 3] = y.w;
  }`;

/** Checks the head dim of a tiled attention program. */
function assertTiledHeadDim(s: AttentionShape): void {
  if (s.headDim !== TILED_ATTN_HEAD_DIM) throw new Error(`tiled attention needs head dim ${TILED_ATTN_HEAD_DIM}, got ${s.headDim}`);
}

/**
 * Tiled forward (`OMNITOK_WEBGPU_ATTN_FWD=tiled`, Dh = 64), the same outputs as `attentionProgram`
 * ([B, N, D] and the rows' (m, log l)): a workgroup of 128 threads takes 32 query rows of a
 * head and walks the keys 32 at a time, GEMM-style instead of a thread per row. Thread (ty, tx) =
 * (t / 16, t % 16) owns rows 4ty…4ty+3: their scores against keys tx and tx + 16 (8 vec4 FMA
 * accumulators over Dh, from vec4 reads of the staged Q and K rows — 32 FMAs per 6 vec4 loads where the
 * thread-per-row kernel did one FMA per scalar load), and their output columns 4tx…4tx+3. The online
 * softmax's tile maxima and sums go through workgroup memory (16 partials per row); every thread of a
 * row reads them in the same order, so all 16 hold the same m and l. Staged rows are 17 vec4 apart
 * (Dh/4 + 1), P and the partials 9 apart: quarter-warps hit distinct banks. Masking, the causal key
 * skip and the −3e38 of keys past N are those of the thread-per-row kernel.
 */
export function attentionTiledProgram(s: AttentionShape): Program {
  assertTiledHeadDim(s);
  const D = s.heads * s.headDim;
  const skip = s.causal && !s.masked;
  const code = `
  const SV = ${SV};
  const PV = ${TQ / 4 + 1};          // vec4 stride of a key's P row and of a thread's partials
  var<workgroup> Qs : array<vec4<f32>, ${TQ * SV}>;
  var<workgroup> KVs : array<vec4<f32>, ${TK * SV}>;
  var<workgroup> Ps : array<vec4<f32>, ${TK} * PV>;
  var<workgroup> redM : array<vec4<f32>, 16 * PV>;
  var<workgroup> redL : array<vec4<f32>, 16 * PV>;
  var<workgroup> kEndShared : i32;
  ${stageFn('stage', TQ, 128, 'qkv')}
  ${STORE4}
  fn main() {${tiledPrologue(16, TQ, 'q0', 'kEnd', skip ? `min(N, q0 + ${TQ})` : 'N')}
    stage(&Qs, t, b, h, 0, q0);
    var m = vec4<f32>(${NEG});
    var l = vec4<f32>(0.0);
    ${four((r) => `var acc${r} = vec4<f32>(0.0);`)}
    for (var k0 = 0; k0 < kEnd; k0 = k0 + ${TK}) {
      stage(&KVs, t, b, h, 1, k0);
      workgroupBarrier();
      ${tiledDots('s', 'Qs', 'KVs', 16)}
      let ja = k0 + tx;
      let jb = ja + 16;
      var sca : vec4<f32>;
      var scb : vec4<f32>;
      ${four((r, c) => `sca.${c} = select(${NEG}, maskedScore(sA.${c}, b, q0 + ty * 4 + ${r}, ja), ja < N);\n      scb.${c} = select(${NEG}, maskedScore(sB.${c}, b, q0 + ty * 4 + ${r}, jb), jb < N);`)}
      redM[tx * PV + ty] = max(sca, scb);
      workgroupBarrier();
      stage(&KVs, t, b, h, 2, k0);
      var mt = redM[ty];
      for (var x = 1; x < 16; x = x + 1) { mt = max(mt, redM[x * PV + ty]); }
      let mNew = max(m, mt);
      let corr = exp(m - mNew);
      let pa = exp(sca - mNew);
      let pb = exp(scb - mNew);
      Ps[tx * PV + ty] = pa;
      Ps[(tx + 16) * PV + ty] = pb;
      redL[tx * PV + ty] = pa + pb;
      workgroupBarrier();
      var lt = redL[ty];
      for (var x = 1; x < 16; x = x + 1) { lt = lt + redL[x * PV + ty]; }
      l = l * corr + lt;
      ${four((r, c) => `acc${r} = acc${r} * corr.${c};`)}
      for (var j = 0; j < ${TK}; j = j + 1) {
        let p = Ps[j * PV + ty];
        let v = KVs[j * SV + tx];
        ${four((r, c) => `acc${r} = fma(vec4<f32>(p.${c}), v, acc${r});`)}
      }
      m = mNew;
      workgroupBarrier();
    }
    ${four(
      (r, c) => `{
      let i = q0 + ty * 4 + ${r};
      if (i < N) {
        store4(oIndex(b, i, h) + tx * 4, acc${r} / l.${c});
        if (tx == 0) { ${LSE}[(bh * N + i) * 2] = m.${c}; ${LSE}[(bh * N + i) * 2 + 1] = log(l.${c}); }
      }
    }`,
    )}
  }`;
  return {
    outputShape: [s.batch, s.seq, D],
    shaderKey: attnKey('omnitokAttentionTiled', { ...s, unrolled: true }),
    dispatchLayout: { x: [2], y: [0] }, // a y entry keeps tfjs from calling a flat main(index)
    dispatch: [Math.ceil(s.seq / TQ), s.batch * s.heads, 1],
    variableNames: [...(s.masked ? ['qkv', 'mask'] : ['qkv']), LSE],
    workgroupSize: [128, 1, 1],
    uniforms: ATTN_UNIFORMS,
    getUserCode: () => `${attnCommon(s)}\n${code}`,
  };
}

const BQ = 32; // backward: rows of a workgroup's own block (queries for dQ, keys for dK/dV)
const BT = 16; // backward: rows of a walked tile (keys for dQ, queries for dK/dV)
const BPV = BQ / 4 + 1; // vec4 stride of a tile row of P / dS

/** Workgroup memory of the tiled backward's programs in bytes (dK/dV's: own K, V blocks, walked Q, dO tiles, Pᵀ, dSᵀ, m, log l, Δ). */
export const TILED_ATTN_GRAD_WORKGROUP_BYTES = 16 * (2 * (BQ + BT) * SV + 2 * BT * BPV) + 12 * BT + 4;

function tiledGradProgram(s: AttentionShape, key: string, body: string): Program {
  assertTiledHeadDim(s);
  return {
    outputShape: [s.batch, s.seq, 3 * s.heads * s.headDim],
    shaderKey: attnKey(key, { ...s, unrolled: true }),
    dispatchLayout: { x: [2], y: [0] },
    dispatch: [Math.ceil(s.seq / BQ), s.batch * s.heads, 1],
    variableNames: s.masked ? ['qkv', 'dy', 'stats', 'mask'] : ['qkv', 'dy', 'stats'],
    workgroupSize: [64, 1, 1],
    uniforms: ATTN_UNIFORMS,
    getUserCode: () => `${attnCommon(s)}
  const SV = ${SV};
  const PV = ${BPV};
  ${STORE4}
  ${body}`,
  };
}

/**
 * Tiled backward, dQ (`OMNITOK_WEBGPU_ATTN_BWD=tiled`, Dh = 64): from the rows' (m, log l, Δ) in stats, a
 * workgroup of 64 threads takes 32 query rows of a head (Q and dO staged once) and walks the keys 16
 * at a time: S = QKᵀ and dP = dO·Vᵀ for the tile (thread (ty, tx) = (t / 8, t % 8): its queries
 * 4ty…4ty+3 against keys tx and tx + 8), P = exp((masked(scale·S) − m) − log l), dS = P∘(dP − Δ) through
 * workgroup memory, then dQ += dS·K for its queries and columns 4tx…, 32 + 4tx… (two vec4). Writes
 * dQ·scale into columns [0, D) of dqkv. Causal without a key mask stops at the row block's last query.
 */
export function attentionTiledGradQProgram(s: AttentionShape): Program {
  const skip = s.causal && !s.masked;
  return tiledGradProgram(
    s,
    'omnitokAttentionTiledGradQ',
    `
  var<workgroup> Qs : array<vec4<f32>, ${BQ * SV}>;
  var<workgroup> dOs : array<vec4<f32>, ${BQ * SV}>;
  var<workgroup> Ks : array<vec4<f32>, ${BT * SV}>;
  var<workgroup> Vs : array<vec4<f32>, ${BT * SV}>;
  var<workgroup> dSs : array<vec4<f32>, ${BT} * PV>;
  var<workgroup> kEndShared : i32;
  ${stageFn('stageOwn', BQ, 64, 'qkv')}
  ${stageFn('stageOwnDy', BQ, 64, 'dy')}
  ${stageFn('stageTile', BT, 64, 'qkv')}
  fn main() {${tiledPrologue(8, BQ, 'q0', 'kEnd', skip ? `min(N, q0 + ${BQ})` : 'N')}
    stageOwn(&Qs, t, b, h, 0, q0);
    stageOwnDy(&dOs, t, b, h, 0, q0);
    var rowMax : vec4<f32>;
    var logSum : vec4<f32>;
    var delta : vec4<f32>;
    ${four((r, c) => `{ let row = (bh * N + min(q0 + ty * 4 + ${r}, N - 1)) * 3; rowMax.${c} = stats[row]; logSum.${c} = stats[row + 1]; delta.${c} = stats[row + 2]; }`)}
    ${four((r) => `var dq${r}0 = vec4<f32>(0.0);\n    var dq${r}1 = vec4<f32>(0.0);`)}
    for (var k0 = 0; k0 < kEnd; k0 = k0 + ${BT}) {
      stageTile(&Ks, t, b, h, 1, k0);
      stageTile(&Vs, t, b, h, 2, k0);
      workgroupBarrier();
      ${tiledDots('s', 'Qs', 'Ks', 8)}
      ${tiledDots('g', 'dOs', 'Vs', 8)}
      let ja = k0 + tx;
      let jb = ja + 8;
      var pA : vec4<f32>;
      var pB : vec4<f32>;
      ${four((r, c) => `pA.${c} = select(0.0, exp((maskedScore(sA.${c}, b, q0 + ty * 4 + ${r}, min(ja, N - 1)) - rowMax.${c}) - logSum.${c}), ja < N);\n      pB.${c} = select(0.0, exp((maskedScore(sB.${c}, b, q0 + ty * 4 + ${r}, min(jb, N - 1)) - rowMax.${c}) - logSum.${c}), jb < N);`)}
      dSs[tx * PV + ty] = pA * (gA - delta);
      dSs[(tx + 8) * PV + ty] = pB * (gB - delta);
      workgroupBarrier();
      for (var j = 0; j < ${BT}; j = j + 1) {
        let ds = dSs[j * PV + ty];
        let k0v = Ks[j * SV + tx];
        let k1v = Ks[j * SV + tx + 8];
        ${four((r, c) => `dq${r}0 = fma(vec4<f32>(ds.${c}), k0v, dq${r}0);\n        dq${r}1 = fma(vec4<f32>(ds.${c}), k1v, dq${r}1);`)}
      }
      workgroupBarrier();
    }
    ${four(
      (r) => `{
      let i = q0 + ty * 4 + ${r};
      if (i < N) {
        let o = qkvIndex(b, i, 0, h) + tx * 4;
        store4(o, dq${r}0 * uniforms.scale);
        store4(o + 32, dq${r}1 * uniforms.scale);
      }
    }`,
    )}
  }`,
  );
}

/**
 * Tiled backward, dK and dV (`OMNITOK_WEBGPU_ATTN_BWD=tiled`): a workgroup of 64 threads takes 32 keys
 * of a head (K and V staged once) and walks the queries 16 at a time: Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ for
 * the tile (its keys 4ty…4ty+3 against queries tx and tx + 8), Pᵀ and dSᵀ = Pᵀ∘(dPᵀ − Δ) through
 * workgroup memory, then dV += Pᵀ·dO and dK += dSᵀ·Q for its keys and columns 4tx…, 32 + 4tx….
 * Writes dK·scale and dV into columns [D, 3D) of dqkv. Causal without a key mask starts at the tile
 * holding the block's first key (earlier queries give these keys exactly zero weight).
 */
export function attentionTiledGradKVProgram(s: AttentionShape): Program {
  const skip = s.causal && !s.masked;
  return tiledGradProgram(
    s,
    'omnitokAttentionTiledGradKV',
    `
  var<workgroup> Ks : array<vec4<f32>, ${BQ * SV}>;
  var<workgroup> Vs : array<vec4<f32>, ${BQ * SV}>;
  var<workgroup> Qs : array<vec4<f32>, ${BT * SV}>;
  var<workgroup> dOs : array<vec4<f32>, ${BT * SV}>;
  var<workgroup> Ps : array<vec4<f32>, ${BT} * PV>;
  var<workgroup> dSs : array<vec4<f32>, ${BT} * PV>;
  var<workgroup> Ms : array<f32, ${BT}>;
  var<workgroup> Ls : array<f32, ${BT}>;
  var<workgroup> Ds : array<f32, ${BT}>;
  var<workgroup> qStartShared : i32;
  ${stageFn('stageOwn', BQ, 64, 'qkv')}
  ${stageFn('stageTile', BT, 64, 'qkv')}
  ${stageFn('stageTileDy', BT, 64, 'dy')}
  fn main() {${tiledPrologue(8, BQ, 'k0', 'qStart', skip ? `(k0 / ${BT}) * ${BT}` : '0')}
    stageOwn(&Ks, t, b, h, 1, k0);
    stageOwn(&Vs, t, b, h, 2, k0);
    ${four((r) => `var dk${r}0 = vec4<f32>(0.0);\n    var dk${r}1 = vec4<f32>(0.0);\n    var dv${r}0 = vec4<f32>(0.0);\n    var dv${r}1 = vec4<f32>(0.0);`)}
    for (var i0 = qStart; i0 < N; i0 = i0 + ${BT}) {
      stageTile(&Qs, t, b, h, 0, i0);
      stageTileDy(&dOs, t, b, h, 0, i0);
      if (t < ${BT}) {
        let row = (bh * N + min(i0 + t, N - 1)) * 3;
        Ms[t] = stats[row];
        Ls[t] = stats[row + 1];
        Ds[t] = stats[row + 2];
      }
      workgroupBarrier();
      ${tiledDots('s', 'Ks', 'Qs', 8)}
      ${tiledDots('g', 'Vs', 'dOs', 8)}
      let ia = i0 + tx;
      let ib = ia + 8;
      var pA : vec4<f32>;
      var pB : vec4<f32>;
      ${four((r, c) => `pA.${c} = select(0.0, exp((maskedScore(sA.${c}, b, ia, min(k0 + ty * 4 + ${r}, N - 1)) - Ms[tx]) - Ls[tx]), ia < N);\n      pB.${c} = select(0.0, exp((maskedScore(sB.${c}, b, ib, min(k0 + ty * 4 + ${r}, N - 1)) - Ms[tx + 8]) - Ls[tx + 8]), ib < N);`)}
      Ps[tx * PV + ty] = pA;
      Ps[(tx + 8) * PV + ty] = pB;
      dSs[tx * PV + ty] = pA * (gA - Ds[tx]);
      dSs[(tx + 8) * PV + ty] = pB * (gB - Ds[tx + 8]);
      workgroupBarrier();
      for (var q = 0; q < ${BT}; q = q + 1) {
        let p = Ps[q * PV + ty];
        let ds = dSs[q * PV + ty];
        let o0 = dOs[q * SV + tx];
        let o1 = dOs[q * SV + tx + 8];
        let x0 = Qs[q * SV + tx];
        let x1 = Qs[q * SV + tx + 8];
        ${four((r, c) => `dv${r}0 = fma(vec4<f32>(p.${c}), o0, dv${r}0);\n        dv${r}1 = fma(vec4<f32>(p.${c}), o1, dv${r}1);\n        dk${r}0 = fma(vec4<f32>(ds.${c}), x0, dk${r}0);\n        dk${r}1 = fma(vec4<f32>(ds.${c}), x1, dk${r}1);`)}
      }
      workgroupBarrier();
    }
    ${four(
      (r) => `{
      let j = k0 + ty * 4 + ${r};
      if (j < N) {
        let ok = qkvIndex(b, j, 1, h) + tx * 4;
        let ov = qkvIndex(b, j, 2, h) + tx * 4;
        store4(ok, dk${r}0 * uniforms.scale);
        store4(ok + 32, dk${r}1 * uniforms.scale);
        store4(ov, dv${r}0);
        store4(ov + 32, dv${r}1);
      }
    }`,
    )}
  }`,
  );
}

/**
 * Backward part 1: [B·H·N, 3] = (m_i, log l_i from the forward, Δ_i = dO_i · O_i) per query row, one
 * value per invocation (the forward computed m and l with the same online-softmax arithmetic the
 * backward used to repeat); without the forward's statistics (a kept P) the first two are 0.
 */
export function attentionDeltaProgram(s: AttentionShape, withLse = true): Program {
  return flat(
    [s.batch * s.heads * s.seq, 3],
    s.batch * s.heads * s.seq * 3,
    `omnitokAttentionDelta${withLse ? '' : '_noLse'}`,
    withLse ? ['dy', 'attnOut', 'lse'] : ['dy', 'attnOut'],
    ATTN_UNIFORMS,
    `let row = index / 3;
     let slot = index - row * 3;
     if (slot < 2) { result[index] = ${withLse ? 'lse[row * 2 + slot]' : '0.0'}; return; }
     let N = uniforms.seqLen;
     let bh = row / N;
     let i = row - bh * N;
     let b = bh / uniforms.heads;
     let h = bh - b * uniforms.heads;
     let o = (b * N + i) * uniforms.width + h * uniforms.hdim;
     var delta = 0.0;
     for (var d = 0; d < uniforms.hdim; d = d + 1) { delta = delta + dy[o + d] * attnOut[o + d]; }
     result[index] = delta;`,
  );
}

/** A softmax program's row `row` of the score matrices: its head bh, query i, sample b, offset base and length n (0 past the last row). */
function softmaxRow(row: string): string {
  return `let row = ${row};
        let valid = row < uniforms.rows;
        let N = uniforms.seqLen;
        let r = select(0, row, valid);
        let bh = r / N;
        let i = r - bh * N;
        let b = bh / uniforms.heads;
        let base = r * N;
        let n = select(0, N, valid);`;
}

/**
 * GEMM attention forward (`OMNITOK_WEBGPU_ATTN_FWD=gemm`), the step between S = QKᵀ and O = P·V: each
 * row of the score matrices [B·H, N, N] becomes P = softmax(masked(scale·S)) in place — one workgroup
 * per row (max, then the sum of exponentials, as block reductions), the same masking as the fused kernel.
 */
export function attentionSoftmaxProgram(s: AttentionShape): Program {
  const rows = s.batch * s.heads * s.seq;
  return {
    outputShape: [s.batch * s.heads, s.seq, s.seq],
    shaderKey: `omnitokAttentionSoftmax_${s.causal ? 'c' : 'n'}${s.masked ? 'm' : ''}`,
    dispatchLayout: { x: [2], y: [0] },
    dispatch: rowDispatch(rows),
    variableNames: s.masked ? ['mask'] : [],
    workgroupSize: [ROW_WG, 1, 1],
    uniforms: `${ATTN_UNIFORMS} rows : i32,`,
    getUserCode: () => `${attnCommon(s)}
      ${REDUCE}
      fn main() {
        // rows past the end do no work, but take part in the barriers (uniform control flow)
        ${softmaxRow('rowIndex()')}
        let t = i32(localId.x);
        var m = ${NEG};
        for (var j = t; j < n; j = j + ${ROW_WG}) { m = max(m, maskedScore(result[base + j], b, i, j)); }
        m = blockReduce(m, true);
        var l = 0.0;
        for (var j = t; j < n; j = j + ${ROW_WG}) { l = l + exp(maskedScore(result[base + j], b, i, j) - m); }
        l = blockReduce(l, false);
        for (var j = t; j < n; j = j + ${ROW_WG}) { result[base + j] = exp(maskedScore(result[base + j], b, i, j) - m) / l; }
      }`,
  };
}

/** Rows of attentionSoftmaxRowsProgram: the longest row it keeps in registers (16 values a lane). */
export const SOFTMAX_ROWS_MAX_SEQ = 512;

/**
 * The same softmax as attentionSoftmaxProgram, 8 rows to a workgroup of 256 threads: each row's 32
 * lanes read its scores once, coalesced (lane t takes columns t, t + 32, …), keep them in registers
 * (⌈N / 32⌉ a lane, baked into the pipeline), and reduce the row's max and sum over the 32 lanes through
 * workgroup memory (5 levels). The thread-per-column program gave each of the B·H·N rows (151 k for
 * ViT-S at batch 128) a 128-thread workgroup, read the row three times and reduced twice over 128
 * threads: 0.31 ms a layer on an H200 in run 5 for 238 MB of traffic (≈ 0.05 ms at the memory's rate).
 * For N ≤ SOFTMAX_ROWS_MAX_SEQ; longer rows take the thread-per-column program.
 */
export function attentionSoftmaxRowsProgram(s: AttentionShape): Program {
  const rows = s.batch * s.heads * s.seq;
  const per = Math.max(1, Math.ceil(s.seq / 32));
  if (s.seq > SOFTMAX_ROWS_MAX_SEQ) throw new Error(`rows of ${s.seq} exceed the register softmax's ${SOFTMAX_ROWS_MAX_SEQ}`);
  return {
    outputShape: [s.batch * s.heads, s.seq, s.seq],
    shaderKey: `omnitokAttentionSoftmaxRows${per}_${s.causal ? 'c' : 'n'}${s.masked ? 'm' : ''}`,
    dispatchLayout: { x: [2], y: [0] },
    dispatch: rowDispatch(ceil(rows, 8)),
    variableNames: s.masked ? ['mask'] : [],
    workgroupSize: [256, 1, 1],
    uniforms: `${ATTN_UNIFORMS} rows : i32,`,
    getUserCode: () => `${attnCommon(s)}
      // a row's 32 lanes combine their values
      ${treeReduce('laneReduce', 256, 32)}
      fn main() {
        let t = i32(localId.x);
        let lane = t % 32;
        ${softmaxRow('i32(workgroupId.y * numWorkgroups.x + workgroupId.x) * 8 + t / 32')}
        var v : array<f32, ${per}>;
        var m = ${NEG};
        for (var q = 0; q < ${per}; q = q + 1) {
          let j = lane + q * 32;
          if (j < n) { v[q] = maskedScore(result[base + j], b, i, j); m = max(m, v[q]); }
        }
        m = laneReduce(m, true);
        var l = 0.0;
        for (var q = 0; q < ${per}; q = q + 1) {
          let j = lane + q * 32;
          if (j < n) { v[q] = exp(v[q] - m); l = l + v[q]; }
        }
        l = laneReduce(l, false);
        for (var q = 0; q < ${per}; q = q + 1) {
          let j = lane + q * 32;
          if (j < n) { result[base + j] = v[q] / l; }
        }
      }`,
  };
}

/** Backward part 2: dQ_i = scale · Σ_j P_ij (dO_i·v_j − Δ_i) k_j, written into columns [0, D) of dqkv. */
export function attentionGradQProgram(s: AttentionShape): Program {
  const D = s.heads * s.headDim;
  const code = queryLoop(
    s,
    true,
    `
      for (var kj = 0; kj < ${ATTN_BK}; kj = kj + 1) {
        let p = exp((sc[kj] - rowMax) - logSum);
        var dp = 0.0;
        for (var d = 0; d < DH; d = d + 1) { dp = dp + dO[d] * Vs[kj * DH + d]; }
        let ds = p * (dp - delta);
        for (var d = 0; d < DH; d = d + 1) { dq[d] = dq[d] + ds * Ks[kj * DH + d]; }
      }`,
  )
    .replace(
      'PRELUDE',
      `var dO : array<f32, DH>;
    var dq : array<f32, DH>;
    for (var d = 0; d < DH; d = d + 1) { dO[d] = dy[oIndex(b, qi, h) + d]; }
    let r = (bh * uniforms.seqLen + qi) * 3;
    let rowMax = stats[r];
    let logSum = stats[r + 1];
    let delta = stats[r + 2];`,
    )
    .replace('EPILOGUE', 'if (validQ) { for (var d = 0; d < DH; d = d + 1) { result[qkvIndex(b, i, 0, h) + d] = dq[d] * uniforms.scale; } }');
  return attnProgram([s.batch, s.seq, 3 * D], s, 'omnitokAttentionGradQ', ['qkv', 'dy', 'stats'], Math.ceil(s.seq / ATTN_BQ), code);
}

/**
 * Backward part 3: one thread per key j, queries staged BK at a time: dV_j = Σ_i P_ij dO_i,
 * dK_j = scale · Σ_i P_ij (dO_i·v_j − Δ_i) q_i, written into columns [D, 3D) of dqkv. Causal without a
 * key mask starts at the key block's first query (earlier queries give j exactly zero weight).
 */
export function attentionGradKVProgram(s: AttentionShape): Program {
  const D = s.heads * s.headDim;
  const skip = s.causal && !s.masked;
  const code = `
  var<workgroup> Qs : array<f32, ${ATTN_BK * s.headDim}>;
  var<workgroup> dOs : array<f32, ${ATTN_BK * s.headDim}>;
  var<workgroup> Ms : array<f32, ${ATTN_BK}>;
  var<workgroup> Ls : array<f32, ${ATTN_BK}>;
  var<workgroup> Ds : array<f32, ${ATTN_BK}>;
  var<workgroup> qStartShared : i32;
  fn main() {
    let t = i32(localId.x);
    let bh = i32(workgroupId.y);
    let b = bh / uniforms.heads;
    let h = bh - b * uniforms.heads;
    let k0 = i32(workgroupId.x) * ${ATTN_BQ};
    let j = k0 + t;
    let validK = j < uniforms.seqLen;
    let kj = select(0, j, validK);
    if (t == 0) { qStartShared = ${skip ? `(k0 / ${ATTN_BK}) * ${ATTN_BK}` : '0'}; }
    let qStart = workgroupUniformLoad(&qStartShared);
    var kr : array<f32, DH>;
    var vr : array<f32, DH>;
    var dk : array<f32, DH>;
    var dv : array<f32, DH>;
    for (var d = 0; d < DH; d = d + 1) {
      kr[d] = qkv[qkvIndex(b, kj, 1, h) + d];
      vr[d] = qkv[qkvIndex(b, kj, 2, h) + d];
    }
    for (var i0 = qStart; i0 < uniforms.seqLen; i0 = i0 + ${ATTN_BK}) {
      for (var e = t; e < ${ATTN_BK} * DH; e = e + ${ATTN_BQ}) {
        let qq = e / DH;
        let d = e - qq * DH;
        let i = min(i0 + qq, uniforms.seqLen - 1);
        Qs[e] = qkv[qkvIndex(b, i, 0, h) + d];
        dOs[e] = dy[oIndex(b, i, h) + d];
      }
      if (t < ${ATTN_BK}) {
        let i = i0 + t;
        let r = (bh * uniforms.seqLen + min(i, uniforms.seqLen - 1)) * 3;
        Ms[t] = stats[r];
        Ls[t] = stats[r + 1];
        Ds[t] = stats[r + 2];
      }
      workgroupBarrier();
      for (var qq = 0; qq < ${ATTN_BK}; qq = qq + 1) {
        let i = i0 + qq;
        var dot = 0.0;
        var dp = 0.0;
        for (var d = 0; d < DH; d = d + 1) {
          dot = dot + Qs[qq * DH + d] * kr[d];
          dp = dp + dOs[qq * DH + d] * vr[d];
        }
        let p = select(0.0, exp((maskedScore(dot, b, i, kj) - Ms[qq]) - Ls[qq]), i < uniforms.seqLen);
        let ds = p * (dp - Ds[qq]);
        for (var d = 0; d < DH; d = d + 1) {
          dv[d] = dv[d] + p * dOs[qq * DH + d];
          dk[d] = dk[d] + ds * Qs[qq * DH + d];
        }
      }
      workgroupBarrier();
    }
    if (validK) {
      for (var d = 0; d < DH; d = d + 1) {
        result[qkvIndex(b, j, 1, h) + d] = dk[d] * uniforms.scale;
        result[qkvIndex(b, j, 2, h) + d] = dv[d];
      }
    }
  }`;
  return attnProgram([s.batch, s.seq, 3 * D], s, 'omnitokAttentionGradKV', ['qkv', 'dy', 'stats'], Math.ceil(s.seq / ATTN_BQ), code);
}

/**
 * GEMM attention backward, elementwise steps over the score matrices [B·H, N, N] (row i = query,
 * column j = key), each in place in its own buffer: `probs` turns the scores S = QKᵀ into
 * P = exp((masked(scale·S) − m_i) − log l_i); `dscores` turns dP = dO·Vᵀ into dS = P ∘ (dP − Δ_i).
 */
export function attentionProbsProgram(s: AttentionShape): Program {
  return attnFlat(s, 'omnitokAttentionProbs', ['stats'], `let r = (bh * N + i) * 3; result[index] = exp((maskedScore(result[index], b, i, j) - stats[r]) - stats[r + 1]);`);
}

/**
 * The GEMM backward's dP → dS with Δ computed in place (the path where the forward kept P): 8 rows of
 * the score matrices to a 256-thread workgroup; a row's 32 lanes take Δ_i = dO_i · O_i over the head's
 * Dh columns (lane d, d + 32, …; reduced over the lanes), then dS = P ∘ (dP − Δ_i) along the row, lane j,
 * j + 32, … (coalesced). Replaces attentionDeltaProgram (a thread per row, each reading its Dh values
 * with a stride of the model width: 0.79 ms of a ViT-S step in run 5) plus attentionDScoresProgram: one
 * dispatch instead of two a layer. No row length limit (nothing kept in registers).
 */
export function attentionDScoresRowsProgram(s: AttentionShape): Program {
  const rows = s.batch * s.heads * s.seq;
  return {
    outputShape: [s.batch * s.heads, s.seq, s.seq],
    shaderKey: 'omnitokAttentionDScoresRows',
    dispatchLayout: { x: [2], y: [0] },
    dispatch: rowDispatch(ceil(rows, 8)),
    variableNames: ['probs', 'dy', 'attnOut'],
    workgroupSize: [256, 1, 1],
    uniforms: `${ATTN_UNIFORMS} rows : i32,`,
    getUserCode: () => `
      ${treeReduce('laneReduce', 256, 32)}
      fn main() {
        let t = i32(localId.x);
        let lane = t % 32;
        ${softmaxRow('i32(workgroupId.y * numWorkgroups.x + workgroupId.x) * 8 + t / 32')}
        let h = bh - b * uniforms.heads;
        let o = (b * N + i) * uniforms.width + h * uniforms.hdim;
        let dh = select(0, uniforms.hdim, valid);
        var part = 0.0;
        for (var d = lane; d < dh; d = d + 32) { part = part + dy[o + d] * attnOut[o + d]; }
        let delta = laneReduce(part, false);
        for (var j = lane; j < n; j = j + 32) { result[base + j] = probs[base + j] * (result[base + j] - delta); }
      }`,
  };
}

/** See attentionProbsProgram. */
export function attentionDScoresProgram(s: AttentionShape): Program {
  return attnFlat({ ...s, masked: false }, 'omnitokAttentionDScores', ['probs', 'stats'], `result[index] = probs[index] * (result[index] - stats[(bh * N + i) * 3 + 2]);`);
}

function attnFlat(s: AttentionShape, key: string, variableNames: string[], body: string): Program {
  const size = s.batch * s.heads * s.seq * s.seq;
  return {
    outputShape: [s.batch * s.heads, s.seq, s.seq],
    shaderKey: `${key}_${s.causal ? 'c' : 'n'}${s.masked ? 'm' : ''}`,
    dispatchLayout: { x: [0, 1, 2] },
    dispatch: [ceil(size, FLAT_WG), 1, 1],
    variableNames: s.masked ? [...variableNames, 'mask'] : variableNames,
    workgroupSize: [FLAT_WG, 1, 1],
    uniforms: ATTN_UNIFORMS,
    size: true,
    getUserCode: () => `${attnCommon(s)}
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let N = uniforms.seqLen;
        let bh = index / (N * N);
        let rem = index - bh * N * N;
        let i = rem / N;
        let j = rem - i * N;
        let b = bh / uniforms.heads;
        ${body}
      }`,
  };
}

/** Copies x into f32 storage (a float tensor cast from int32/bool keeps an i32 buffer on webgpu). */
export function toF32Program(shape: number[], size: number): Program {
  return flat(shape, size, 'omnitokToF32', ['x'], '', 'result[index] = f32(x[index]);');
}

// ----------------------------------------------------------------------------------- sum of squares

/** Elements per workgroup of the sum-of-squares partials (256 threads × 16). */
export const SUMSQ_CHUNK = 4096;

/**
 * Most tensors one sum-of-squares dispatch reads: the output and 15 inputs fill the 16 storage buffers
 * lavapipe and (run 5) the H200 grant a stage; a device with WebGPU's minimum of 8 takes 7
 * (`sumSquaresGroupLimit`, webgpu-kernels.ts).
 */
export const SUMSQ_GROUP = 15;

/**
 * Σ x² of up to SUMSQ_GROUP tensors as ceil(nᵢ / SUMSQ_CHUNK) partial sums each, written from
 * `offset` on into a shared [P] output that every gradient of a global norm writes its own range of
 * (one dispatch per group of gradients instead of Square + Sum + Add per gradient). Workgroup w
 * belongs to tensor i when startᵢ ≤ w < startᵢ₊₁ (chunk starts as uniforms, uniform per workgroup).
 */
export function sumSquaresProgram(totalPartials: number, chunks: number, inputs: number): Program {
  if (!(inputs >= 1 && inputs <= SUMSQ_GROUP)) throw new Error(`sum of squares of ${inputs} tensors per dispatch (1…${SUMSQ_GROUP})`);
  const names = Array.from({ length: inputs }, (_, i) => `x${i}`);
  // sizes travel as uniforms: the pipeline is cached by shaderKey (the group size) alone
  const uniforms = names.map((_, i) => `count${i} : i32, start${i} : i32,`).join(' ') + ' offset : i32, chunks : i32,';
  const pick = names
    .map((_, i) => `if (wg >= uniforms.start${i}) { which = ${i}; count = uniforms.count${i}; local = wg - uniforms.start${i}; }`)
    .join('\n        ');
  const read = names.map((n, i) => `case ${i}: { v = ${n}[i]; }`).join(' ');
  return {
    outputShape: [totalPartials],
    shaderKey: `omnitokSumSquares_${inputs}`,
    dispatchLayout: { x: [0] },
    dispatch: [chunks, 1, 1],
    variableNames: names,
    workgroupSize: [256, 1, 1],
    uniforms,
    getUserCode: () => `
      var<workgroup> red : array<f32, 256>;
      fn main(unused : i32) {
        let t = i32(localId.x);
        let wg = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
        var which = 0;
        var count = 0;
        var local = 0;
        ${pick}
        let base = local * ${SUMSQ_CHUNK};
        var acc = 0.0;
        for (var q = 0; q < ${SUMSQ_CHUNK / 256}; q = q + 1) {
          let i = base + q * 256 + t;
          if (i < count) {
            var v = 0.0;
            switch which { ${read} default: {} }
            acc = acc + v * v;
          }
        }
        red[t] = acc;
        workgroupBarrier();
        for (var s = 128; s > 0; s = s >> 1u) {
          if (t < s) { red[t] = red[t] + red[t + s]; }
          workgroupBarrier();
        }
        if (t == 0 && wg < uniforms.chunks) { result[uniforms.offset + wg] = red[0]; }
      }`,
  };
}

// ------------------------------------------------------------------------------------- column sums

/** [P, cols] partial column sums of x viewed as [rows, cols], PARAM_GRAD_ROWS rows per partial. */
export function columnPartialsProgram(rows: number, cols: number): Program {
  const parts = Math.ceil(rows / PARAM_GRAD_ROWS);
  return {
    outputShape: [parts, cols],
    shaderKey: `omnitokColumnPartials_${PARAM_GRAD_ROWS}`,
    dispatchLayout: { x: [1], y: [0] },
    dispatch: [Math.ceil(cols / 64), parts, 1],
    variableNames: ['x'],
    workgroupSize: [64, 1, 1],
    uniforms: 'rows : i32, cols : i32,',
    getUserCode: () => `
      fn main() {
        let C = uniforms.cols;
        let c = i32(workgroupId.x) * 64 + i32(localId.x);
        let p = i32(workgroupId.y);
        if (c >= C) { return; }
        let r1 = min(uniforms.rows, (p + 1) * ${PARAM_GRAD_ROWS});
        var acc = 0.0;
        for (var r = p * ${PARAM_GRAD_ROWS}; r < r1; r = r + 1) { acc = acc + x[r * C + c]; }
        result[p * C + c] = acc;
      }`,
  };
}

/**
 * [cols]: Σ_p partial[group, p, c] over the P partials of one group of a [G, P, cols] buffer; `both`:
 * groups 0 and 1 of a [2, P, cols] buffer in one dispatch, group 1 into the extra output `Second`
 * (LayerNorm's dγ and dβ).
 */
export function partialsSumProgram(cols: number, both = false): Program {
  const second = extraOutput('Second');
  // four running sums (four independent reads in flight a thread), added at the end
  const sum = (acc: string, group: string) => `var ${acc} = 0.0;
        {
          let at = ${group} * uniforms.parts;
          var s4 = vec4<f32>();
          var p = 0;
          for (; p + 3 < uniforms.parts; p = p + 4) {
            s4 = s4 + vec4<f32>(partial[(at + p) * C + index], partial[(at + p + 1) * C + index], partial[(at + p + 2) * C + index], partial[(at + p + 3) * C + index]);
          }
          for (; p < uniforms.parts; p = p + 1) { s4.x = s4.x + partial[(at + p) * C + index]; }
          ${acc} = (s4.x + s4.y) + (s4.z + s4.w);
        }`;
  const body = both
    ? `${sum('first', '0')}
        ${sum('other', '1')}
        result[index] = first;
        ${second}[index] = other;`
    : `${sum('acc', 'uniforms.group')}
        result[index] = acc;`;
  return flat([cols], cols, `omnitokPartialsSum${both ? '_both' : ''}`, both ? ['partial', second] : ['partial'], 'parts : i32, group : i32,', `
        let C = uniforms.outShape;
        ${body}`);
}
