import * as tf from '@tensorflow/tfjs';
import { envVar } from '../../env.js';
import type { AdamWHyper } from '../fused-ops.js';
import { matMulDims } from '../matmul-dims.js';
import {
  ADAMW_OUT,
  adamWWgsl,
  adamWInPlaceProgram,
  type AttentionShape,
  attentionDScoresProgram,
  attentionDScoresRowsProgram,
  attentionGradKVProgram,
  attentionProbsProgram,
  attentionGradQProgram,
  attentionProgram,
  attentionTiledProgram,
  attentionTiledGradKVProgram,
  attentionTiledGradQProgram,
  TILED_ATTN_GRAD_WORKGROUP_BYTES,
  TILED_ATTN_HEAD_DIM,
  TILED_ATTN_WORKGROUP_BYTES,
  attentionDeltaProgram,
  attentionSoftmaxProgram,
  attentionSoftmaxRowsProgram,
  SOFTMAX_ROWS_MAX_SEQ,
  GELU_CODES,
  geluGradProgram,
  geluProgram,
  layerNormGradParamsProgram,
  layerNormGradXProgram,
  layerNormGradXRowsProgram,
  layerNormProgram,
  layerNormRowsProgram,
  l2NormalizeProgram,
  l2NormalizeGradProgram,
  pairedCeLinesProgram,
  pairedCeGradProgram,
  meanProgram,
  LAYER_NORM_ROWS_MAX_DIM,
  MATRIX_GEMM_WORKGROUP_BYTES,
  EXTRA_OUTPUT,
  matMulProgram,
  type MatMulTile,
  type MatrixUnit,
  matrixTile,
  type Program,
  type GemmEpilogue,
  type GeluKind,
  toF32Program,
  zeroI32Program,
  embeddingGradAccumulateProgram,
  embeddingGradRoundProgram,
  EMBED_WORDS,
  EMBED_ACC_BYTES,
  columnPartialsProgram,
  partialsSumProgram,
  PARAM_GRAD_ROWS,
  SUMSQ_CHUNK,
  SUMSQ_GROUP,
  sumSquaresProgram,
  stepGuardProgram,
  TILE_128,
  TILE_128V,
  TILE_128X64V,
  TILE_64X128V,
  TILE_64V,
  TILE_64,
  splitKSumProgram,
  SCALAR_LOADS,
  type Uniforms,
  type VecLoads,
} from './programs.js';

/*
 * omnitok's WebGPU kernels, registered into TensorFlow.js' kernel registry for the `webgpu` backend:
 * `BatchMatMul` and `_FusedMatMul` are replaced (the originals are kept and still run the cases ours
 * leave out: non-f32, general batch broadcasting, activations other than linear), and the fused ops
 * (LayerNorm, GELU, AdamW) are new kernel names called from kernels/webgpu/fused-ops.ts. Being kernels,
 * they show up in tf.profile (with GPU times where the adapter has `timestamp-query`) and their
 * outputs are ordinary tensors. `setWebgpuKernels(false)` restores the stock kernels (benchmarks).
 */

export const WEBGPU = 'webgpu';
export const WG_LAYER_NORM = 'OmnitokWgLayerNorm';
export const WG_LAYER_NORM_GRAD_X = 'OmnitokWgLayerNormGradX';
export const WG_LAYER_NORM_GRAD_PARAMS = 'OmnitokWgLayerNormGradParams';
export const WG_GELU = 'OmnitokWgGelu';
export const WG_GELU_GRAD = 'OmnitokWgGeluGrad';
export const WG_SUM_SQUARES = 'OmnitokWgSumSquares';
export const WG_STEP_GUARD = 'OmnitokWgStepGuard';
export const WG_PARTIALS_SUM = 'OmnitokWgPartialsSum';
export const WG_COLUMN_SUM = 'OmnitokWgColumnSum';
export const WG_WEIGHT_BIAS_GRAD = 'OmnitokWgWeightBiasGrad';
export const WG_ATTENTION = 'OmnitokWgAttention';
export const WG_ATTENTION_GRAD = 'OmnitokWgAttentionGrad';
export const WG_ATTENTION_GEMM = 'OmnitokWgAttentionGemm';
export const WG_LINEAR_RESIDUAL = 'OmnitokWgLinearResidual';
export const WG_LINEAR_GELU = 'OmnitokWgLinearGelu';
export const WG_MATMUL_GELU_GRAD = 'OmnitokWgMatMulGeluGrad';
export const WG_L2_NORMALIZE = 'OmnitokWgL2Normalize';
export const WG_L2_NORMALIZE_GRAD = 'OmnitokWgL2NormalizeGrad';
export const WG_PAIRED_CE = 'OmnitokWgPairedCe';
export const WG_PAIRED_CE_GRAD = 'OmnitokWgPairedCeGrad';
export const WG_EMBEDDING_GRAD = 'OmnitokWgEmbeddingGrad';

/** What runWebGPUProgram needs of tfjs-backend-webgpu's WebGPUBackend (not imported: optional peer). */
interface WebGPUBackendLike {
  runWebGPUProgram(program: Program, inputs: tf.TensorInfo[], dtype: tf.DataType, uniforms?: Uniforms, output?: tf.TensorInfo): tf.TensorInfo;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

type KernelArgs = { inputs: Record<string, tf.TensorInfo | undefined>; backend: unknown; attrs?: Record<string, unknown> };
type KernelFunc = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
/** One uniform entry per scalar field (tfjs aligns each entry by its length, like a vector). */
const ints = (...xs: number[]): Uniforms => xs.map((x) => ({ type: 'int32', data: [x] }));
const floats = (...xs: number[]): Uniforms => xs.map((x) => ({ type: 'float32', data: [x] }));


/** Workgroups a GEMM should launch to fill a large GPU about twice (H100: 132 SMs, 2 workgroups each). */
const TARGET_WORKGROUPS = 512;
/** Split-K only over K ranges at least this long (each split adds an M·N partial to write and sum). */
const MIN_K_CHUNK = 256;

/** OMNITOK_WEBGPU_MATMUL_TILE values. */
const FORCED_TILES: Readonly<Record<string, MatMulTile>> = { '64': TILE_64, '128': TILE_128, '128v': TILE_128V, '128x64v': TILE_128X64V, '64x128v': TILE_64X128V, '64v': TILE_64V };

/** Workgroup memory of an f32 tile's staged A and B slices (vec4 rows padded by one vec4; see matMulProgram), per stage. */
const tileBytes = (t: MatMulTile) => (t.stages ?? 1) * (t.vec4 ? t.tk * (4 * t.rm + 1 + 4 * t.rn + 1) * 16 : t.tk * 16 * (t.rm + t.rn) * 4);

/** What a webgpu backend's device (the active one by default) grants a workgroup (WebGPU's default where it says nothing). */
function workgroupStorageLimit(backend: unknown = tf.backend()): number {
  return (backend as { device?: { limits?: { maxComputeWorkgroupStorageSize?: number } } }).device?.limits?.maxComputeWorkgroupStorageSize ?? 16384;
}

export interface MatMulPlan {
  readonly tile: MatMulTile;
  readonly splits: number;
  /** K per split, a multiple of the tile's K slice. */
  readonly kChunk: number;
}

/**
 * Tile and split-K choice. Products with enough output tiles (a layer's forward and input gradient:
 * M = batch × tokens) take 64×128 tiles (4×8 per thread, vec4 reads): on an H200 they ran the ViT-S
 * forward GEMMs at 20–28 TFLOP/s against 15–21 on 128×128 and the input gradients at 18–26 against
 * 17–24 (bench/results/gemm-gpu-h200-run4.txt). Products with few output tiles and a long K (weight
 * gradients) take 128×128 tiles (8×8, vec4) split over K; the rest 64×64 (4×4). Split-K when the
 * tiles alone leave the GPU mostly idle and K is long (the weight gradients XᵀdY of a linear layer:
 * M, N = the layer's widths, K = batch × tokens). OMNITOK_WEBGPU_MATMUL_TILE=64|128|128v|128x64v|64x128v|64v
 * forces the tile (the last three: vec4 tiles of other shapes, for the GPU sweep),
 * OMNITOK_WEBGPU_MATMUL_VARIANT=scalar picks the scalar tiles everywhere (default: the vec4 ones),
 * =scalar64 only for the small tile (as run 5 planned: see `smallTile`),
 * OMNITOK_WEBGPU_SPLITK=0 turns splitting off, =N forces N splits where K allows.
 * OMNITOK_WEBGPU_MATMUL_TK, _UNROLL and _STAGES change how the tile's code is written
 * (`codegenOptions`). `allowMatrix` (the
 * layers' GEMMs: matMul and a linear layer's weight gradient): the f16 matrix GEMM when
 * `setWebgpuMatmulPrecision` turned it on, with the same split-K rule.
 */
export function planMatMul(m: number, n: number, k: number, batch: number, allowMatrix = false): MatMulPlan {
  const tiles = (t: MatMulTile) => Math.ceil(m / (16 * t.rm)) * Math.ceil(n / (16 * t.rn)) * batch;
  const variant = envVar('OMNITOK_WEBGPU_MATMUL_VARIANT');
  const scalar = variant === 'scalar';
  const big = scalar ? TILE_128 : TILE_128V;
  const wide = scalar ? TILE_128 : TILE_64X128V;
  const forced = FORCED_TILES[envVar('OMNITOK_WEBGPU_MATMUL_TILE') ?? ''];
  let tile: MatMulTile;
  if (allowMatrix && matrixUnit) tile = matrixTile(matrixUnit);
  else if (forced) tile = forced;
  else if (n >= 128 && tiles(TILE_64X128V) >= TARGET_WORKGROUPS) tile = wide;
  else if (m >= 128 && n >= 128 && k >= 8 * MIN_K_CHUNK) tile = big;
  else tile = smallTile(variant);
  tile = codegenOptions(tile);
  const count = tiles(tile);
  let splits = 1;
  const splitEnv = envVar('OMNITOK_WEBGPU_SPLITK');
  const forcedSplits = Number(splitEnv);
  if (splitEnv === '0') splits = 1;
  else if (forcedSplits > 1) splits = forcedSplits;
  else if (count < TARGET_WORKGROUPS / 2) splits = Math.min(Math.ceil(TARGET_WORKGROUPS / count), Math.floor(k / MIN_K_CHUNK));
  splits = Math.max(1, Math.min(splits, Math.ceil(k / tile.tk), Math.floor(65535 / batch)));
  const kChunk = Math.ceil(Math.ceil(k / splits) / tile.tk) * tile.tk;
  splits = Math.ceil(k / kChunk);
  return { tile, splits, kChunk };
}

/**
 * The 64 × 64 tile for products too small for the others (attention's per-head products; a text tower's
 * 4 096-row ones at ViT-S batch 128): 4 × 4 outputs a thread read as one vec4 of A and one of B per k
 * (`TILE_64V`) rather than eight scalars. Measured on the big ViT-S products (bench/results): the
 * scalar 64-tile ran 10–14 TFLOP/s on an H100 (run 2), the vec4 one 17–25 on an H200 (run 4) — where
 * the 128-tile's figures moved 0.99–1.17× between those runs. Run 5 still planned the scalar tile for
 * these products: 23 ms of its 116 ms step ran on it, at 7–13 TFLOP/s. OMNITOK_WEBGPU_MATMUL_VARIANT=
 * scalar or scalar64 keeps the scalar tile (the A/B of `bench/gpu-run.sh`'s `s-prev`).
 */
function smallTile(variant = envVar('OMNITOK_WEBGPU_MATMUL_VARIANT')): MatMulTile {
  return variant === 'scalar' || variant === 'scalar64' ? TILE_64 : TILE_64V;
}

/**
 * The f32 tiles' code-generation switches, for the GPU sweep (bench/gemm-gpu.mjs) and the A/B runs of
 * `bench/gpu-run.sh` — none measured on a GPU yet, so each is off unless asked for; one whose workgroup
 * memory the device does not grant is left off. OMNITOK_WEBGPU_MATMUL_TK=32: K slices of 32 instead of
 * 16 in a vec4 tile (half the barriers per FMA, twice the workgroup memory: 128×128 needs 33 KiB).
 * OMNITOK_WEBGPU_MATMUL_UNROLL=1: the slice's multiply-adds written out per k (`MatMulTile.unroll`).
 * OMNITOK_WEBGPU_MATMUL_STAGES=2: two staged slices, one barrier per slice (`MatMulTile.stages`).
 */
function codegenOptions(tile: MatMulTile): MatMulTile {
  if (tile.matrix) return tile;
  const fits = (t: MatMulTile) => tileBytes(t) <= workgroupStorageLimit();
  let t = tile;
  if (envVar('OMNITOK_WEBGPU_MATMUL_TK') === '32' && t.vec4 && fits({ ...t, tk: 32 })) t = { ...t, tk: 32 };
  if (envVar('OMNITOK_WEBGPU_MATMUL_UNROLL') === '1') t = { ...t, unroll: true };
  if (envVar('OMNITOK_WEBGPU_MATMUL_STAGES') === '2' && fits({ ...t, stages: 2 })) t = { ...t, stages: 2 };
  return t;
}

/** A strided view of a GEMM operand: base offset, row stride, strides of the two batch dims. */
export interface GemmOperand {
  readonly off: number;
  readonly ld: number;
  readonly s0: number;
  readonly s1: number;
}

/** Everything `matMulProgram` takes as uniforms (the order of GEMM_UNIFORMS). */
export interface GemmCall {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** Size of the second batch dim (the first is batch / batch1). */
  readonly batch1: number;
  readonly batch: number;
  readonly kChunk: number;
  readonly a: GemmOperand;
  readonly b: GemmOperand;
  readonly c: GemmOperand;
  readonly splitStride: number;
  readonly alpha: number;
}

/**
 * OMNITOK_WEBGPU_MATMUL_LOADS=vec4: the f32 GEMMs read each operand whose view allows it four floats a
 * load (`VecLoads`): offset, row and batch strides and the length of its contiguous axis (k for A and
 * for a transposed B, else m / n) multiples of 4 — every ViT-S and ViT-B product, attention's P aside
 * (rows of 197). For the GPU sweep: not yet measured there, so off unless asked for.
 */
function vecLoads(g: Pick<GemmCall, 'm' | 'n' | 'k' | 'a' | 'b'>, transA: boolean, transB: boolean): VecLoads {
  if (envVar('OMNITOK_WEBGPU_MATMUL_LOADS') !== 'vec4') return SCALAR_LOADS;
  const aligned = (v: GemmOperand, contiguous: number) => [v.off, v.ld, v.s0, v.s1, contiguous].every((x) => x % 4 === 0);
  return { a: aligned(g.a, transA ? g.m : g.k), b: aligned(g.b, transB ? g.k : g.n) };
}

/**
 * Whether a GEMM on `tile` writes C as vec4s (`GemmSpec.vecStores`): on the vec4 f32 tiles where N and
 * C's view (offset, row, batch and split strides) are multiples of 4 — every ViT-S/B layer's output,
 * attention's per-head outputs of O and dQ/dK/dV (not its N × N scores: rows of 197). Default on;
 * OMNITOK_WEBGPU_MATMUL_STORES=scalar keeps four scalar stores a thread (how runs 1–5 wrote C).
 */
function vecStores(tile: MatMulTile, g: Pick<GemmCall, 'n' | 'c' | 'splitStride'>): boolean {
  if (!tile.vec4 || tile.matrix || envVar('OMNITOK_WEBGPU_MATMUL_STORES') === 'scalar') return false;
  return [g.n, g.c.off, g.c.ld, g.c.s0, g.c.s1, g.splitStride].every((x) => x % 4 === 0);
}

function gemmUniforms(g: GemmCall): Uniforms {
  return [
    ...ints(g.m, g.n, g.k, g.batch1, g.a.s0, g.a.s1, g.b.s0, g.b.s1, g.batch, g.kChunk),
    ...ints(g.a.ld, g.b.ld, g.c.ld, g.a.off, g.b.off, g.c.off, g.c.s0, g.c.s1, g.splitStride),
    ...floats(g.alpha),
  ];
}

/**
 * C = α·op(A)·op(B) over strided views, written into `out` (which may be a larger buffer: the view's
 * offset and strides place it), no split-K. For multiplying heads of a fused buffer in place.
 */
function stridedGemm(backend: WebGPUBackendLike, a: tf.TensorInfo, b: tf.TensorInfo, out: tf.TensorInfo, transA: boolean, transB: boolean, g: Omit<GemmCall, 'kChunk' | 'splitStride'>): void {
  // small products (attention's N × N per head): the 64-tile wastes less on edges (`smallTile`: vec4
  // reads unless the scalar one is asked for). For the GPU sweep: OMNITOK_WEBGPU_ATTN_TILE names another
  // tile for them (a key of FORCED_TILES: 64 the scalar 64-tile, 64x128v / 128x64v the wider vec4
  // tiles) or `plan`: the layers' plan, f16 GEMMs on the matrix unit included where they are on
  // (autocast's choice for attention's products)
  const attnTile = envVar('OMNITOK_WEBGPU_ATTN_TILE') ?? '';
  const planned = (allowMatrix = false) => planMatMul(g.m, g.n, g.k, g.batch, allowMatrix).tile;
  const small = () => (attnTile === 'plan' ? planned(true) : codegenOptions(FORCED_TILES[attnTile] ?? smallTile()));
  const tile = g.m * g.n <= 256 * 256 ? small() : planned();
  const call: GemmCall = { ...g, kChunk: Math.ceil(g.k / tile.tk) * tile.tk, splitStride: 0 };
  runF32(backend, matMulProgram({ outputShape: [...out.shape], batch: g.batch, m: g.m, n: g.n, transA, transB, vecStores: vecStores(tile, call) }, tile, vecLoads(g, transA, transB)), [a, b], gemmUniforms(call), out);
}

/**
 * What `ourMatMul` applies in the GEMM's epilogue (`GemmEpilogue`): the bias [N], a residual and GELU's
 * input `pre` (tensors of the output's size and layout), `gelu` (then it returns [GELU(v), v]) or
 * `geluGrad`.
 */
interface EpilogueArgs {
  readonly bias?: tf.TensorInfo;
  readonly residual?: tf.TensorInfo;
  readonly pre?: tf.TensorInfo;
  readonly gelu?: GeluKind;
  readonly geluGrad?: GeluKind;
}

/**
 * Runs our GEMM when the case is one it covers, else returns undefined (the stock kernel runs) — with
 * `ep`, the epilogue: [C, GELU's input] for a `gelu` one, else C.
 */
function ourMatMul(args: KernelArgs, ep: EpilogueArgs = {}): tf.TensorInfo | tf.TensorInfo[] | undefined {
  const a = args.inputs.a!;
  const b = args.inputs.b!;
  const { bias, residual, pre } = ep;
  const attrs = args.attrs ?? {};
  const transA = Boolean(attrs.transposeA);
  const transB = Boolean(attrs.transposeB);
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return undefined;
  const act = attrs.activation as string | undefined;
  if ((act !== undefined && act !== 'linear') || args.inputs.preluActivationWeights) return undefined;
  const dims = matMulDims(a.shape, b.shape, transA, transB);
  if (!dims) return undefined; // the stock kernel throws the proper error
  const { m, k, n } = dims;
  const batchShapeA = a.shape.slice(0, -2);
  const batchShapeB = b.shape.slice(0, -2);
  const outRank = Math.max(batchShapeA.length, batchShapeB.length);
  if (outRank > 2) return undefined; // rank > 4: the stock kernel
  // batch dims broadcast like numpy; padded on the left to two dims [B0, B1]
  const padA = [1, 1, ...batchShapeA].slice(-2);
  const padB = [1, 1, ...batchShapeB].slice(-2);
  const padOut = [0, 1].map((i) => (padA[i] === 1 ? padB[i]! : padA[i]!));
  if ([0, 1].some((i) => padA[i] !== 1 && padB[i] !== 1 && padA[i] !== padB[i])) return undefined; // the stock kernel throws
  const batchShape = padOut.slice(2 - outRank);
  const batchStrides = (pad: number[], size: number) => [pad[0] === 1 ? 0 : pad[1]! * size, pad[1] === 1 ? 0 : size];
  const [sa0, sa1] = batchStrides(padA, m * k);
  const [sb0, sb1] = batchStrides(padB, k * n);
  if (bias && (bias.dtype !== 'float32' || prod(bias.shape) !== n)) return undefined;
  const outShape = [...batchShape, m, n];
  if (outShape.length > 4) return undefined;
  if ([residual, pre].some((t) => t && (t.dtype !== 'float32' || prod(t.shape) !== prod(outShape)))) return undefined;
  const batch = padOut[0]! * padOut[1]!;
  if (batch > 65535) return undefined;
  const backend = args.backend as WebGPUBackendLike;
  const plan = planMatMul(m, n, k, batch, true);
  const call: GemmCall = {
    m, n, k, batch1: padOut[1]!, batch, kChunk: plan.kChunk,
    a: { off: 0, ld: transA ? m : k, s0: sa0!, s1: sa1! },
    b: { off: 0, ld: transB ? k : n, s0: sb0!, s1: sb1! },
    c: { off: 0, ld: n, s0: padOut[1]! * m * n, s1: m * n },
    splitStride: batch * m * n,
    alpha: 1,
  };
  const uniforms = gemmUniforms(call);
  const loads = vecLoads(call, transA, transB);
  const epilogue: GemmEpilogue = { bias: Boolean(bias), residual: Boolean(residual), gelu: ep.gelu, geluGrad: ep.geluGrad };
  const epInputs = [bias, residual, pre].filter((t): t is tf.TensorInfo => t !== undefined);
  // a `gelu` epilogue's second output: GELU's input, the output's shape
  const extras = ep.gelu ? [backend.makeTensorInfo(outShape, 'float32')] : [];
  const spec = { outputShape: outShape, batch, m, n, transA, transB, vecStores: vecStores(plan.tile, call) };
  let out: tf.TensorInfo;
  if (plan.splits === 1) {
    out = runWithOutputs(backend, matMulProgram({ ...spec, epilogue }, plan.tile, loads), [a, b, ...epInputs], extras, uniforms, backend.makeTensorInfo(outShape, 'float32'));
  } else {
    // split-K: partial products [splits·batch, M, N], then their sum with the epilogue
    const partialShape = [plan.splits * batch, m, n];
    const partial = runF32(backend, matMulProgram({ ...spec, outputShape: partialShape, splits: plan.splits }, plan.tile, loads), [a, b], uniforms, backend.makeTensorInfo(partialShape, 'float32'));
    const size = batch * m * n;
    out = runWithOutputs(backend, splitKSumProgram(outShape, size, epilogue), [partial, ...epInputs], extras, ints(plan.splits, n, size, 0));
    backend.disposeData(partial.dataId);
  }
  return ep.gelu ? [out, extras[0]!] : out;
}

/** The dtype of the buffer behind t (the webgpu backend keeps a cast int32 → float32 in i32 storage). */
function storedDtype(backend: WebGPUBackendLike, t: tf.TensorInfo): string {
  return (backend as unknown as { tensorMap?: { get(id: tf.DataId): { dtype?: string } | undefined } }).tensorMap?.get(t.dataId)?.dtype ?? t.dtype;
}

/**
 * runWebGPUProgram with every input in f32 storage (our shaders read array<f32>): inputs stored
 * otherwise are copied first and the copies released after.
 */
function runF32(backend: WebGPUBackendLike, program: Program, inputs: tf.TensorInfo[], uniforms?: Uniforms, output?: tf.TensorInfo): tf.TensorInfo {
  const temps: tf.TensorInfo[] = [];
  const list = inputs.map((t) => {
    if (storedDtype(backend, t) === 'float32') return t;
    const copy = backend.runWebGPUProgram(toF32Program([...t.shape], prod(t.shape)), [t], 'float32');
    temps.push(copy);
    return copy;
  });
  const result = backend.runWebGPUProgram(program, list, 'float32', uniforms, output);
  for (const t of temps) backend.disposeData(t.dataId);
  return result;
}

/**
 * runF32 for a program that also writes `extras` (fresh float32 tensors, one per trailing
 * `EXTRA_OUTPUT` name of its variableNames, bound after `inputs`): one dispatch, several outputs. The
 * device's shaders get the rewrite that makes those bindings writable (`rewriteShaders`, idempotent).
 */
function runWithOutputs(backend: WebGPUBackendLike, program: Program, inputs: tf.TensorInfo[], extras: tf.TensorInfo[], uniforms?: Uniforms, output?: tf.TensorInfo): tf.TensorInfo {
  const names = program.variableNames.slice(inputs.length);
  if (names.length !== extras.length || names.some((n) => !n.startsWith(EXTRA_OUTPUT))) {
    throw new Error(`${program.shaderKey}: ${extras.length} extra output(s) for the bindings ${JSON.stringify(names)}`);
  }
  if (extras.length > 0) rewriteShaders((backend as unknown as { device?: ShaderDevice }).device);
  return runF32(backend, program, [...inputs, ...extras], uniforms, output);
}

/** An AdamW update's hyperparameters shared by all its parameters (each has its own decay). */
type AdamWShared = Omit<AdamWHyper, 'decay'>;

/** AdamW's bias corrections as the programs use them: the step size lr/bc1 and 1/√bc2. */
const adamWCorrections = (h: AdamWShared): Uniforms => floats(h.lr / h.bc1, 1 / Math.sqrt(h.bc2));

/** The three AdamW programs' uniforms: β1, β2, eps, decay, then the corrections. */
const adamWUniforms = (h: AdamWShared, decay: number): Uniforms => [...floats(h.beta1, h.beta2, h.eps, decay), ...adamWCorrections(h)];

const rowsOf = (x: tf.TensorInfo) => prod(x.shape.slice(0, -1));
const dimOf = (x: tf.TensorInfo) => x.shape[x.shape.length - 1]!;

/**
 * Whether LayerNorm's forward and dx run with their rows in registers (8 rows a workgroup: rows up to
 * LAYER_NORM_ROWS_MAX_DIM wide) rather than a workgroup per row (OMNITOK_WEBGPU_LN=block, and wider
 * rows: as run 5 measured them, 1.2 + 1.1 ms of its ViT-S step for 26 LayerNorms).
 */
function layerNormRows(dim: number): boolean {
  return dim <= LAYER_NORM_ROWS_MAX_DIM && envVar('OMNITOK_WEBGPU_LN') !== 'block';
}

const FUSED: Record<string, KernelFunc> = {
  // x [..., D] → [y, stats [rows, 2] (mean, rstd)]: one dispatch; the backward reads the stats
  [WG_LAYER_NORM]: ({ inputs, backend, attrs }) => {
    const b = backend as WebGPUBackendLike;
    const x = inputs.x!;
    const rows = rowsOf(x);
    const u: Uniforms = [...ints(rows, dimOf(x)), ...floats(attrs!.eps as number)];
    const stats = b.makeTensorInfo([rows, 2], 'float32');
    const program = layerNormRows(dimOf(x)) ? layerNormRowsProgram([...x.shape], rows, dimOf(x)) : layerNormProgram([...x.shape], rows);
    return [runWithOutputs(b, program, [x, inputs.gamma!, inputs.beta!], [stats], u), stats] as never;
  },
  [WG_LAYER_NORM_GRAD_X]: ({ inputs, backend }) => {
    const x = inputs.x!;
    const rows = rowsOf(x);
    const u: Uniforms = ints(rows, dimOf(x));
    const acc = inputs.acc;
    const program = layerNormRows(dimOf(x)) ? layerNormGradXRowsProgram([...x.shape], rows, dimOf(x), Boolean(acc)) : layerNormGradXProgram([...x.shape], rows, Boolean(acc));
    return runF32(backend as WebGPUBackendLike, program, [inputs.dy!, x, inputs.gamma!, inputs.stats!, ...(acc ? [acc] : [])], u);
  },
  [WG_LAYER_NORM_GRAD_PARAMS]: ({ inputs, backend }) => {
    const x = inputs.x!;
    const rows = rowsOf(x);
    const u: Uniforms = ints(rows, dimOf(x));
    return runF32(backend as WebGPUBackendLike, layerNormGradParamsProgram(rows, dimOf(x)), [inputs.dy!, x, inputs.stats!], u);
  },
  [WG_GELU]: ({ inputs, backend, attrs }) => {
    const x = inputs.x!;
    return runF32(backend as WebGPUBackendLike, geluProgram([...x.shape], prod(x.shape), geluKind(attrs!.kind)), [x]);
  },
  [WG_GELU_GRAD]: ({ inputs, backend, attrs }) => {
    const x = inputs.x!;
    return runF32(backend as WebGPUBackendLike, geluGradProgram([...x.shape], prod(x.shape), geluKind(attrs!.kind)), [x, inputs.dy!]);
  },
  // ids [P] (int32), dy [P, D], attrs.vocab → dE [vocab, D]: the same bits on every run (see
  // embeddingGradAccumulateProgram); zeroing, accumulating and rounding are three dispatches a pass, a
  // pass per EMBED_ACC_BYTES of accumulator (OMNITOK_WEBGPU_EMBED_GRAD_ROWS: table rows a pass)
  [WG_EMBEDDING_GRAD]: ({ inputs, backend, attrs }) => {
    const b = backend as WebGPUBackendLike;
    const ids = inputs.ids!;
    const vocab = attrs!.vocab as number;
    const dim = dimOf(inputs.dy!);
    const count = prod(ids.shape) * dim;
    const perPass = Math.max(1, Math.min(vocab, Number(envVar('OMNITOK_WEBGPU_EMBED_GRAD_ROWS')) || Math.floor(EMBED_ACC_BYTES / (dim * EMBED_WORDS * 4))));
    const words = perPass * dim * EMBED_WORDS + 1; // the last: the flag
    const dy = storedDtype(b, inputs.dy!) === 'float32' ? inputs.dy! : b.runWebGPUProgram(toF32Program([...inputs.dy!.shape], prod(inputs.dy!.shape)), [inputs.dy!], 'float32');
    const out = b.makeTensorInfo([vocab, dim], 'float32');
    for (let v0 = 0; v0 < vocab; v0 += perPass) {
      const n = Math.min(perPass, vocab - v0);
      const acc = b.runWebGPUProgram(zeroI32Program(words), [], 'int32');
      b.runWebGPUProgram(embeddingGradAccumulateProgram(count, words), [dy, ids], 'int32', ints(count, dim, v0, n, words - 1), acc);
      b.runWebGPUProgram(embeddingGradRoundProgram([vocab, dim], n * dim), [acc], 'float32', ints(n * dim, v0 * dim, words - 1), out);
      b.disposeData(acc.dataId);
    }
    if (dy !== inputs.dy) b.disposeData(dy.dataId);
    return out;
  },
  // partials (a WG_SUM_SQUARES output), loss [1] and the guard of a step still in flight (optional)
  // → [norm, scale, finite]: the device-side step guard
  [WG_STEP_GUARD]: ({ inputs, backend, attrs }) => {
    const partials = inputs.partials!;
    const prev = inputs.prev;
    const u: Uniforms = [...ints(prod(partials.shape)), ...floats((attrs!.clipNorm as number) ?? 0, (attrs!.gradScale as number | undefined) ?? 1)];
    return runF32(backend as WebGPUBackendLike, stepGuardProgram(Boolean(prev)), prev ? [partials, inputs.loss!, prev] : [partials, inputs.loss!], u);
  },
};

/** B, N, H, Dh of a fused attention call from qkv [B, N, 3D] and the attrs. */
function attentionShape(qkv: tf.TensorInfo, attrs: Record<string, unknown>, masked: boolean): AttentionShape {
  const [batch, seq, threeD] = qkv.shape as [number, number, number];
  const heads = attrs.heads as number;
  return { batch, seq, heads, headDim: threeD / 3 / heads, causal: Boolean(attrs.causal), masked, unrolled: unrollLoops() };
}

const attentionUniforms = (s: AttentionShape): Uniforms => [
  ...ints(s.seq, s.heads, s.heads * s.headDim),
  ...floats(1 / Math.sqrt(s.headDim)),
  ...ints(s.headDim, 16),
];

// qkv [B, N, 3D] → [the output [B, N, D], each query row's (max, log Σ exp) [B·H·N, 2]]: one dispatch
FUSED[WG_ATTENTION] = ({ inputs, backend, attrs }) => {
  const { qkv, mask } = inputs;
  const s = attentionShape(qkv!, attrs!, Boolean(mask));
  const b = backend as WebGPUBackendLike;
  const program = tiledAttention(backend, s, 'OMNITOK_WEBGPU_ATTN_FWD') ? attentionTiledProgram(s) : attentionProgram(s);
  const lse = b.makeTensorInfo([s.batch * s.heads * s.seq, 2], 'float32');
  return [runWithOutputs(b, program, mask ? [qkv!, mask] : [qkv!], [lse], attentionUniforms(s)), lse] as never;
};

/**
 * Whether the forward (OMNITOK_WEBGPU_ATTN_FWD=tiled) or the backward (OMNITOK_WEBGPU_ATTN_BWD=tiled)
 * runs the tiled programs: head dim 64 and a device that grants their workgroup memory (26 / 30 KiB;
 * tfjs asks for the adapter's maximum, 32 KiB or more on every adapter we know; WebGPU's default is 16).
 */
function tiledAttention(backend: unknown, s: AttentionShape, env: 'OMNITOK_WEBGPU_ATTN_FWD' | 'OMNITOK_WEBGPU_ATTN_BWD'): boolean {
  if (envVar(env) !== 'tiled' || s.headDim !== TILED_ATTN_HEAD_DIM) return false;
  return workgroupStorageLimit(backend) >= (env === 'OMNITOK_WEBGPU_ATTN_FWD' ? TILED_ATTN_WORKGROUP_BYTES : TILED_ATTN_GRAD_WORKGROUP_BYTES);
}

/** Strided views of a GEMM attention call: a head of q/k/v in qkv [B, N, 3D], of dO/O in [B, N, D], of a score matrix in [B·H, N, N]. */
function attentionViews(s: AttentionShape) {
  const { seq: N, heads: H, headDim: Dh } = s;
  const D = H * Dh;
  return {
    qkv: (part: number) => ({ off: part * D, ld: 3 * D, s0: N * 3 * D, s1: Dh }),
    rows: { off: 0, ld: D, s0: N * D, s1: Dh },
    scores: { off: 0, ld: N, s0: H * N * N, s1: N * N },
    nn: { m: N, n: N, k: Dh, batch1: H, batch: s.batch * H, alpha: 1 },
    nd: { m: N, n: Dh, k: N, batch1: H, batch: s.batch * H },
  };
}

/**
 * GEMM attention forward (OMNITOK_WEBGPU_ATTN_FWD=gemm): qkv [B, N, 3D] → [O [B, N, D], P [B·H, N, N]]:
 * S = Q·Kᵀ (strided GEMM on the fused buffer), P = softmax(masked(scale·S)) in place, O = P·V written
 * into the heads' column blocks. P is kept for the backward, which then skips S and the probabilities.
 */
FUSED[WG_ATTENTION_GEMM] = ({ inputs, backend, attrs }) => {
  const { qkv, mask } = inputs;
  const b = backend as WebGPUBackendLike;
  const s = attentionShape(qkv!, attrs!, Boolean(mask));
  const v = attentionViews(s);
  const { batch: B, seq: N, heads: H, headDim: Dh } = s;
  const probs = b.makeTensorInfo([B * H, N, N], 'float32');
  stridedGemm(b, qkv!, qkv!, probs, false, true, { ...v.nn, a: v.qkv(0), b: v.qkv(1), c: v.scores }); // S = Q·Kᵀ
  // S → P: rows in registers, 8 to a workgroup, up to 512 keys (OMNITOK_WEBGPU_ATTN_SOFTMAX=block: a
  // workgroup per row, as run 5 measured it)
  const rowsSoftmax = N <= SOFTMAX_ROWS_MAX_SEQ && envVar('OMNITOK_WEBGPU_ATTN_SOFTMAX') !== 'block';
  runF32(b, rowsSoftmax ? attentionSoftmaxRowsProgram(s) : attentionSoftmaxProgram(s), mask ? [mask] : [], [...attentionUniforms(s), ...ints(B * H * N)], probs);
  const out = b.makeTensorInfo([B, N, H * Dh], 'float32');
  stridedGemm(b, probs, qkv!, out, false, false, { ...v.nd, alpha: 1, a: v.scores, b: v.qkv(2), c: v.rows }); // O = P·V
  return [out, probs];
};

/**
 * The attention backward, from the forward's output and row softmax statistics (Δ = dO·O per row next to
 * them), or from the P a GEMM forward kept. `gemm` (default): the N × N score matrices per head are materialized
 * (N ≤ a few hundred tokens: 119 MB for ViT-S at batch 128) and everything else is strided GEMMs on
 * the fused qkv buffer: S = QKᵀ, dP = dO·Vᵀ, P and dS in place, then dQ = scale·dS·K, dK = scale·dSᵀ·Q,
 * dV = Pᵀ·dO written straight into their column blocks of dqkv — 8 dispatches, all GEMM-rate.
 * `flash` (OMNITOK_WEBGPU_ATTN_BWD=flash): no N × N buffer, three programs with a thread per query /
 * per key (row statistics, dQ, dK|dV) — memory O(N), but the per-key program keeps 4·Dh floats per
 * thread (spills at Dh 64). `tiled` (OMNITOK_WEBGPU_ATTN_BWD=tiled, Dh 64): the same three steps with
 * GEMM-style programs (32 own rows × 16-row tiles, vec4 micro-tiles; programs.ts). A P kept by the GEMM
 * forward takes precedence over both.
 */
FUSED[WG_ATTENTION_GRAD] = ({ inputs, backend, attrs }) => {
  const { qkv, dy, out, lse, probs, mask } = inputs;
  const b = backend as WebGPUBackendLike;
  const s = attentionShape(qkv!, attrs!, Boolean(mask));
  const u = attentionUniforms(s);
  const withMask = (xs: tf.TensorInfo[]) => (mask ? [...xs, mask] : xs);
  if (probs) return attentionGradFromProbs(b, s, qkv!, dy!, out!, probs);
  const stats = runF32(b, attentionDeltaProgram(s), [dy!, out!, lse!], u);
  const tiled = tiledAttention(backend, s, 'OMNITOK_WEBGPU_ATTN_BWD');
  if (tiled || envVar('OMNITOK_WEBGPU_ATTN_BWD') === 'flash') {
    // two programs write disjoint columns of one dqkv: dQ, then dK | dV
    const dqkv = b.makeTensorInfo([...qkv!.shape], 'float32');
    runF32(b, tiled ? attentionTiledGradQProgram(s) : attentionGradQProgram(s), withMask([qkv!, dy!, stats]), u, dqkv);
    runF32(b, tiled ? attentionTiledGradKVProgram(s) : attentionGradKVProgram(s), withMask([qkv!, dy!, stats]), u, dqkv);
    b.disposeData(stats.dataId);
    return dqkv;
  }
  const v = attentionViews(s);
  const scores = b.makeTensorInfo([s.batch * s.heads, s.seq, s.seq], 'float32');
  stridedGemm(b, qkv!, qkv!, scores, false, true, { ...v.nn, a: v.qkv(0), b: v.qkv(1), c: v.scores }); // S = Q·Kᵀ
  runF32(b, attentionProbsProgram(s), withMask([stats]), u, scores); // S → P
  const dqkv = attentionGradWithProbs(b, s, qkv!, dy!, scores, (dScores) => runF32(b, attentionDScoresProgram(s), [scores, stats], u, dScores));
  for (const t of [stats, scores]) b.disposeData(t.dataId);
  return dqkv;
};

/**
 * The GEMM backward with P kept by the GEMM forward — 5 dispatches: dP = dO·Vᵀ, then dS with Δ computed
 * along (one program; OMNITOK_WEBGPU_ATTN_DELTA=separate: the Δ program first, then dS, as run 5
 * measured them), then the three products below.
 */
function attentionGradFromProbs(b: WebGPUBackendLike, s: AttentionShape, qkv: tf.TensorInfo, dy: tf.TensorInfo, out: tf.TensorInfo, probs: tf.TensorInfo): tf.TensorInfo {
  const u = attentionUniforms(s);
  if (envVar('OMNITOK_WEBGPU_ATTN_DELTA') === 'separate') {
    const stats = runF32(b, attentionDeltaProgram(s, false), [dy, out], u); // (unused, unused, Δ) per row
    const dqkv = attentionGradWithProbs(b, s, qkv, dy, probs, (dScores) => runF32(b, attentionDScoresProgram(s), [probs, stats], u, dScores));
    b.disposeData(stats.dataId);
    return dqkv;
  }
  const rows = s.batch * s.heads * s.seq;
  return attentionGradWithProbs(b, s, qkv, dy, probs, (dScores) => runF32(b, attentionDScoresRowsProgram(s), [probs, dy, out], [...u, ...ints(rows)], dScores));
}

/**
 * From P [B·H, N, N]: dP = dO·Vᵀ, `toDScores` turns it into dS = P∘(dP − Δ) in place, then dQ =
 * scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO, each written into its column block of dqkv.
 */
function attentionGradWithProbs(b: WebGPUBackendLike, s: AttentionShape, qkv: tf.TensorInfo, dy: tf.TensorInfo, probs: tf.TensorInfo, toDScores: (dScores: tf.TensorInfo) => void): tf.TensorInfo {
  const v = attentionViews(s);
  const dqkv = b.makeTensorInfo([...qkv.shape], 'float32');
  const dScores = b.makeTensorInfo([s.batch * s.heads, s.seq, s.seq], 'float32');
  stridedGemm(b, dy, qkv, dScores, false, true, { ...v.nn, a: v.rows, b: v.qkv(2), c: v.scores }); // dP = dO·Vᵀ
  toDScores(dScores); // dP → dS
  const scale = 1 / Math.sqrt(s.headDim);
  stridedGemm(b, dScores, qkv, dqkv, false, false, { ...v.nd, alpha: scale, a: v.scores, b: v.qkv(1), c: v.qkv(0) }); // dQ = scale·dS·K
  stridedGemm(b, dScores, qkv, dqkv, true, false, { ...v.nd, alpha: scale, a: v.scores, b: v.qkv(0), c: v.qkv(1) }); // dK = scale·dSᵀ·Q
  stridedGemm(b, probs, dy, dqkv, true, false, { ...v.nd, alpha: 1, a: v.scores, b: v.rows, c: v.qkv(2) }); // dV = Pᵀ·dO
  b.disposeData(dScores.dataId);
  return dqkv;
}

/**
 * `ourMatMul` for the kernels that only our GEMM runs (no stock kernel behind them): where it does not
 * apply, an error naming the kernel, the operands' shapes, what it `wants` besides them and the shape of
 * the input `got` (the epilogue's tensor).
 */
function epilogueMatMul(name: string, args: KernelArgs, ep: EpilogueArgs, wants: string, got: string): tf.TensorInfo | tf.TensorInfo[] {
  const out = ourMatMul(args, ep);
  if (!out) throw new Error(`${name}: float32 a ${JSON.stringify(args.inputs.a?.shape)} · b ${JSON.stringify(args.inputs.b?.shape)}${wants}, got ${got} ${JSON.stringify(args.inputs[got]?.shape)}`);
  return out;
}

// a [M, K] · b [K, N] + bias [N] + residual [M, N]: a linear layer that ends a residual branch, the
// residual added in the GEMM's epilogue (the Add it replaces read two [M, N] tensors and wrote one)
FUSED[WG_LINEAR_RESIDUAL] = (args) =>
  epilogueMatMul(WG_LINEAR_RESIDUAL, args, { bias: args.inputs.bias, residual: args.inputs.residual }, " + bias + a residual of the product's size", 'residual');

// a [M, K] · b [K, N] + bias [N] → [GELU(v), v] with v the product plus bias: a linear layer followed by
// GELU, the activation applied in the GEMM's epilogue, which also keeps v for the backward (the GELU
// dispatch it replaces read v and wrote GELU(v))
FUSED[WG_LINEAR_GELU] = (args) =>
  epilogueMatMul(WG_LINEAR_GELU, args, { bias: args.inputs.bias, gelu: geluKind(args.attrs!.kind) }, " + a bias of the product's width", 'bias');

// op(a) · op(b) times GELU′(pre), pre of the product's shape: the input gradient dY·Wᵀ of a linear layer
// that a GELU feeds, carried through that GELU in the GEMM's epilogue (the GELU-gradient dispatch it
// replaces read the product and pre and wrote their product)
FUSED[WG_MATMUL_GELU_GRAD] = (args) =>
  epilogueMatMul(WG_MATMUL_GELU_GRAD, args, { pre: args.inputs.pre, geluGrad: geluKind(args.attrs!.kind) }, " and GELU's input of the product's size", 'pre');

// x [..., D] → [x / max(‖x‖, 1e-12) per row, Σx² [rows]]: one dispatch (rows up to LAYER_NORM_ROWS_MAX_DIM wide)
FUSED[WG_L2_NORMALIZE] = ({ inputs, backend }) => {
  const b = backend as WebGPUBackendLike;
  const x = inputs.x!;
  const rows = rowsOf(x);
  const sumSq = b.makeTensorInfo([rows], 'float32');
  return [runWithOutputs(b, l2NormalizeProgram([...x.shape], rows, dimOf(x)), [x], [sumSq], ints(rows, dimOf(x))), sumSq] as never;
};

// dy, y, Σx² → dx of the row normalization above: one dispatch
FUSED[WG_L2_NORMALIZE_GRAD] = ({ inputs, backend }) => {
  const y = inputs.y!;
  const rows = rowsOf(y);
  return runF32(backend as WebGPUBackendLike, l2NormalizeGradProgram([...y.shape], rows, dimOf(y)), [inputs.dy!, y, inputs.sumSq!], ints(rows, dimOf(y)));
};

// logits [n, n] → [the mean cross-entropy of its rows and its columns against the diagonal [1], the
// 2n lines' log-sum-exps [2n]]: 2 dispatches (each line's lse and term, then their mean)
FUSED[WG_PAIRED_CE] = ({ inputs, backend }) => {
  const b = backend as WebGPUBackendLike;
  const logits = inputs.logits!;
  const n = logits.shape[0]!;
  const terms = b.makeTensorInfo([2 * n], 'float32');
  const lse = runWithOutputs(b, pairedCeLinesProgram(n), [logits], [terms], ints(n));
  const loss = runF32(b, meanProgram(2 * n), [terms], [...ints(2 * n), ...floats(2 * n)]);
  b.disposeData(terms.dataId);
  return [loss, lse];
};

// logits [n, n], lse [2n], dy [1] → d logits: one dispatch
FUSED[WG_PAIRED_CE_GRAD] = ({ inputs, backend }) => {
  const logits = inputs.logits!;
  const n = logits.shape[0]!;
  return runF32(backend as WebGPUBackendLike, pairedCeGradProgram(n), [logits, inputs.lse!, inputs.dy!], ints(n));
};

// inputs g0, g1, … → [P] partial sums of squares (each gradient its own range); the caller sums them
FUSED[WG_SUM_SQUARES] = ({ inputs, backend }) => {
  const b = backend as WebGPUBackendLike;
  const list = Object.keys(inputs)
    .sort((x, y) => Number(x.slice(1)) - Number(y.slice(1)))
    .map((k) => inputs[k]!);
  const parts = list.map((t) => Math.max(1, Math.ceil(prod(t.shape) / SUMSQ_CHUNK)));
  const total = parts.reduce((x, y) => x + y, 0);
  const output = b.makeTensorInfo([total], 'float32');
  // an empty tensor would leave its one slot unwritten
  if (list.some((t) => prod(t.shape) === 0)) throw new Error('sum of squares of an empty tensor');
  let offset = 0;
  const k = sumSquaresGroupLimit((b as unknown as Partial<RawDispatchBackend>).device);
  for (let g = 0; g < list.length; g += k) {
    const group = list.slice(g, g + k);
    const u: Uniforms = [];
    let chunks = 0;
    group.forEach((t, i) => {
      u.push(...ints(prod(t.shape), chunks));
      chunks += parts[g + i]!;
    });
    u.push(...ints(offset, chunks));
    runF32(b, sumSquaresProgram(total, chunks, group.length), group, u, output);
    offset += chunks;
  }
  return output;
};

// partial [2, P, C] → [Σ_P group 0, Σ_P group 1] (LayerNorm's dγ, dβ): one dispatch
FUSED[WG_PARTIALS_SUM] = ({ inputs, backend }) => {
  const b = backend as WebGPUBackendLike;
  const partial = inputs.partial!;
  const [groups, parts, cols] = partial.shape as [number, number, number];
  if (groups !== 2) throw new Error(`partials: ${groups} groups where dγ and dβ make 2`);
  const second = b.makeTensorInfo([cols], 'float32');
  return [runWithOutputs(b, partialsSumProgram(cols, true), [partial], [second], ints(parts, 0)), second] as never;
};

// x [..., C] → [C]: column sums (a bias gradient) without tfjs' transpose + reduce
FUSED[WG_COLUMN_SUM] = ({ inputs, backend }) => {
  const b = backend as WebGPUBackendLike;
  const x = inputs.x!;
  const cols = dimOf(x);
  const rows = rowsOf(x);
  const partial = runF32(b, columnPartialsProgram(rows, cols), [x], ints(rows, cols));
  const out = runF32(b, partialsSumProgram(cols), [partial], ints(Math.ceil(rows / PARAM_GRAD_ROWS), 0));
  b.disposeData(partial.dataId);
  return out;
};

// x [T, in], dy [T, out] → [dW = xᵀ·dy [in, out], db = Σ_T dy [out]]: one GEMM of xᵀ·dy that also
// writes the column sums of dy as an extra output row (matMulProgram's `columnSums`), then one sum of the
// split-K partials writing both blocks — 2 dispatches and one pass over dy, where the GEMM plus column
// sums took 4 and two.
FUSED[WG_WEIGHT_BIAS_GRAD] = ({ inputs, backend }) => {
  const b = backend as WebGPUBackendLike;
  const x = inputs.x!;
  const dy = inputs.dy!;
  const [t, inDim] = x.shape as [number, number];
  const outDim = dy.shape[1]!;
  const plan = planMatMul(inDim, outDim, t, 1, true);
  const partialShape = [plan.splits, inDim + 1, outDim]; // per split: dW rows, then the db row
  const partialSize = (inDim + 1) * outDim;
  const call: GemmCall = {
    m: inDim, n: outDim, k: t, batch1: 1, batch: 1, kChunk: plan.kChunk,
    a: { off: 0, ld: inDim, s0: 0, s1: 0 },
    b: { off: 0, ld: outDim, s0: 0, s1: 0 },
    c: { off: 0, ld: outDim, s0: 0, s1: 0 },
    splitStride: partialSize,
    alpha: 1,
  };
  const uniforms = gemmUniforms(call);
  const program = matMulProgram({ outputShape: partialShape, batch: 1, m: inDim, n: outDim, transA: true, transB: false, splits: plan.splits, columnSums: true, vecStores: vecStores(plan.tile, call) }, plan.tile, vecLoads(call, true, false));
  const partial = runF32(b, program, [x, dy], uniforms, b.makeTensorInfo(partialShape, 'float32'));
  const db = b.makeTensorInfo([outDim], 'float32');
  const size = inDim * outDim;
  const dw = runWithOutputs(b, splitKSumProgram([inDim, outDim], size, {}, outDim), [partial], [db], ints(plan.splits, outDim, partialSize, 0, size, outDim));
  b.disposeData(partial.dataId);
  return [dw, db];
};

function geluKind(code: unknown): keyof typeof GELU_CODES {
  const kind = (Object.keys(GELU_CODES) as (keyof typeof GELU_CODES)[]).find((k) => GELU_CODES[k] === code);
  if (!kind) throw new Error(`GELU kind code ${String(code)} is not one of ${Object.values(GELU_CODES).join(', ')}`);
  return kind;
}

export { ADAMW_OUT, GELU_CODES };

let stock: Map<string, tf.KernelConfig> | undefined;
let active = false;
let softwareAdapter = false;

// ------------------------------------------------------------------------------ f16 matrix GEMMs

/** The f16 matrix GEMM's unit while `setWebgpuMatmulPrecision` has it on, else undefined (f32 GEMMs). */
let matrixUnit: MatrixUnit | undefined;

/**
 * What the layers' GEMMs (matMul, linear layers forward and backward) compute in on webgpu: `f32`
 * (default), `f16` — operands rounded to f16 as they are staged, products accumulated in f32, on the
 * GPU's matrix unit (tensor cores) through Dawn's experimental subgroup matrices — or `f16-emulated`:
 * the same program with the matrix products done by plain f32 FMAs (any adapter with `shader-f16`; for
 * tests and for checking f16 numerics where there is no matrix unit). The attention kernels, LayerNorm,
 * GELU, reductions and AdamW stay f32 either way.
 */
export type MatmulPrecision = 'f32' | 'f16' | 'f16-emulated';

export interface MatmulPrecisionState {
  readonly precision: MatmulPrecision;
  /** The matrix program's unit while f16 is on. */
  readonly unit?: MatrixUnit;
  /** Why the requested f16 is not on (the GEMMs stay f32). */
  readonly reason?: string;
}

/** The facts of the adapter the device came from that the f16 GEMM depends on (see `noteWebgpuAdapter`). */
interface MatrixAdapterFacts {
  readonly subgroupMinSize?: number;
  readonly subgroupMaxSize?: number;
  readonly configs: readonly { componentType: string; resultComponentType: string; M: number; N: number; K: number }[];
  /** The adapter's feature names (sorted), quoted when f16 is refused for a missing device feature. */
  readonly features: readonly string[];
}

let adapterFacts: MatrixAdapterFacts = { configs: [], features: [] };
let precisionState: MatmulPrecisionState = { precision: 'f32' };

/**
 * Records the adapter's subgroup sizes and subgroup-matrix configurations (Dawn's `GPUAdapterInfo`;
 * WebIDL objects, so read field by field). Called by initBackend for the adapter it hands tfjs.
 */
export function noteWebgpuAdapter(info: unknown, features?: Iterable<unknown>): void {
  const i = (info ?? {}) as { subgroupMinSize?: number; subgroupMaxSize?: number; subgroupMatrixConfigs?: Iterable<Record<string, unknown>> };
  adapterFacts = {
    subgroupMinSize: i.subgroupMinSize,
    subgroupMaxSize: i.subgroupMaxSize,
    configs: [...(i.subgroupMatrixConfigs ?? [])].map((c) => ({
      componentType: String(c.componentType),
      resultComponentType: String(c.resultComponentType),
      M: Number(c.M),
      N: Number(c.N),
      K: Number(c.K),
    })),
    features: [...(features ?? [])].map(String).sort(),
  };
}

/** The precision the layers' GEMMs run in now (and why an f16 request was refused). */
export function webgpuMatmulPrecision(): MatmulPrecisionState {
  return precisionState;
}

interface PrecisionDevice {
  features?: { has(f: string): boolean };
  pushErrorScope?(filter: string): void;
  popErrorScope?(): Promise<{ message: string } | null>;
}

/**
 * Switches the layers' GEMMs between f32 and f16 operands with f32 accumulation (`MatmulPrecision`).
 * `f16` needs the device features `shader-f16` and `chromium-experimental-subgroup-matrix` (initBackend
 * asks for them where the adapter has them; Dawn lists the latter only with its `allow_unsafe_apis`
 * toggle, which OMNITOK_WEBGPU_MATMUL=f16 adds), subgroups exactly 32 wide and the f16 → f32 16×16×16
 * configuration. Before turning on, a self-check multiplies two 150 × 80 · 80 × 140 matrices of values
 * f16 holds exactly (so every product and partial sum is exact in f32) and demands the exact result:
 * a compile failure or a misread matrix layout keeps f32 and says why (`reason`). Never throws for an
 * unavailable f16; resolves to the state now in force.
 */
export async function setWebgpuMatmulPrecision(precision: MatmulPrecision): Promise<MatmulPrecisionState> {
  matrixUnit = undefined;
  if (precision === 'f32') return (precisionState = { precision: 'f32' });
  const refuse = (reason: string) => (precisionState = { precision: 'f32', reason: `${precision} GEMMs unavailable: ${reason}` });
  if (!webgpuKernelsActive()) return refuse('the webgpu backend with omnitok kernels is not active');
  const device = (tf.backend() as { device?: PrecisionDevice }).device;
  const configs = () => adapterFacts.configs.map((c) => `${c.componentType}→${c.resultComponentType} ${c.M}×${c.N}×${c.K}`).join(', ') || 'none';
  const offered = () => `the adapter offers: ${adapterFacts.features.join(', ') || 'nothing'}; subgroup-matrix configurations: ${configs()}`;
  if (!device?.features?.has('shader-f16')) return refuse(`the device has no shader-f16 (${offered()}; on NVIDIA Dawn offers it only with its vulkan_enable_f16_on_nvidia toggle, which initBackend adds when f16 GEMMs are asked for at the start: OMNITOK_WEBGPU_MATMUL=f16 or { matmulPrecision: 'f16' })`);
  const limit = workgroupStorageLimit();
  if (limit < MATRIX_GEMM_WORKGROUP_BYTES) return refuse(`the device grants ${limit} bytes of workgroup memory, the program needs ${MATRIX_GEMM_WORKGROUP_BYTES}`);
  let units: MatrixUnit[] = ['emulated'];
  if (precision === 'f16') {
    if (!device.features.has('chromium-experimental-subgroup-matrix')) {
      return refuse(`the device has no chromium-experimental-subgroup-matrix (Dawn offers it with allow_unsafe_apis where the Vulkan driver has cooperative matrices; ${offered()})`);
    }
    const { subgroupMinSize: lo, subgroupMaxSize: hi } = adapterFacts;
    if (lo !== 32 || hi !== 32) return refuse(`subgroups are ${lo ?? '?'}–${hi ?? '?'} wide; the program needs exactly 32`);
    const f16 = adapterFacts.configs.some((c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === 16 && c.N === 16 && c.K === 16);
    if (!f16) return refuse(`no f16 → f32 16×16×16 subgroup-matrix configuration (the adapter has: ${configs()})`);
    units = ['subgroup', 'subgroup-bool'];
  }
  const failures: string[] = [];
  for (const unit of units) {
    const failure = await checkMatrixUnit(unit, device);
    if (!failure) {
      matrixUnit = unit;
      return (precisionState = { precision, unit });
    }
    failures.push(`${unit}: ${failure}`);
  }
  return refuse(`the self-check failed (${failures.join('; ')})`);
}

/**
 * `count` eighths in [−1, 1] in a pattern that differs along every axis of a matrix (17 values, a
 * prime stride): exact in f16, their products 64ths, and sums of up to 2¹⁸ of those exact in f32 — so a
 * GEMM on f16 operands must reproduce the f32 result bit for bit (the self-check and the tests).
 */
export function f16ExactValues(count: number, seed: number): Float32Array {
  return Float32Array.from({ length: count }, (_, i) => (((i * 7919 + seed * 104729) % 17) - 8) / 8);
}

/**
 * Runs the self-check GEMM (see setWebgpuMatmulPrecision) on `unit` of the active webgpu backend:
 * undefined when exact, else what went wrong. Leaves the precision as it was (exported for tests).
 */
export async function matrixSelfCheck(unit: MatrixUnit): Promise<string | undefined> {
  const previous = matrixUnit;
  try {
    return await checkMatrixUnit(unit, (tf.backend() as { device?: PrecisionDevice }).device ?? {});
  } finally {
    matrixUnit = previous;
  }
}

async function checkMatrixUnit(unit: MatrixUnit, device: PrecisionDevice): Promise<string | undefined> {
  const [m, k, n] = [150, 80, 140];
  const a = f16ExactValues(m * k, 1);
  const b = f16ExactValues(k * n, 2);
  const expected = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
    expected[i * n + j] = s;
  }
  matrixUnit = unit;
  // a shader Tint rejects is a validation error; one the driver's compiler rejects, an internal one
  device.pushErrorScope?.('internal');
  device.pushErrorScope?.('validation');
  let got: Float32Array | undefined;
  let thrown: unknown;
  try {
    const c = tf.tidy(() => tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])));
    got = (await c.data()) as Float32Array;
    c.dispose();
  } catch (error) {
    thrown = error;
  } finally {
    matrixUnit = undefined;
  }
  const validation = await device.popErrorScope?.();
  const internal = await device.popErrorScope?.();
  if (validation) return `WebGPU validation error: ${validation.message.split('\n')[0]}`;
  if (internal) return `WebGPU internal error: ${internal.message.split('\n')[0]}`;
  if (thrown) return `threw ${(thrown as Error).message ?? String(thrown)}`;
  const bad = expected.findIndex((e, i) => got![i] !== e);
  return bad < 0 ? undefined : `C[${Math.floor(bad / n)}, ${bad % n}] = ${got![bad]}, expected ${expected[bad]}`;
}

/** OMNITOK_WEBGPU_UNROLL=1/0 forces it; by default unrolled except on software adapters (lavapipe). */
function unrollLoops(): boolean {
  const env = envVar('OMNITOK_WEBGPU_UNROLL');
  return env === '1' ? true : env === '0' ? false : !softwareAdapter;
}

/**
 * Registers (on) or removes (off) omnitok's WebGPU kernels. Needs @tensorflow/tfjs-backend-webgpu loaded
 * (its kernels registered). Idempotent. The fused kernel names stay registered when off; only
 * `webgpuKernelsActive()` turns false so the layers take their composite paths.
 */
export function setWebgpuKernels(on: boolean): void {
  if (on === active) return;
  if (!stock) {
    stock = new Map();
    for (const name of ['BatchMatMul', '_FusedMatMul']) {
      const config = tf.getKernel(name, WEBGPU);
      if (config) stock.set(name, config);
    }
    for (const [kernelName, kernelFunc] of Object.entries(FUSED)) {
      if (!tf.getKernel(kernelName, WEBGPU)) tf.registerKernel({ kernelName, backendName: WEBGPU, kernelFunc: kernelFunc as never });
    }
  }
  for (const [name, config] of stock) {
    tf.unregisterKernel(name, WEBGPU);
    if (on) {
      const withBias = name === '_FusedMatMul';
      tf.registerKernel({
        kernelName: name,
        backendName: WEBGPU,
        kernelFunc: ((args: KernelArgs) => ourMatMul(args, withBias ? { bias: args.inputs.bias } : {}) ?? config.kernelFunc(args as never)) as never,
      });
    } else {
      tf.registerKernel(config);
    }
  }
  active = on;
}

/**
 * Registers the kernels unless OMNITOK_WEBGPU_KERNELS=0 (then TensorFlow.js' own kernels run).
 * `softwareAdapter`: a CPU rasterizer (lavapipe…), where loops are kept rolled (fast shader compiles).
 */
export function registerWebgpuKernels(options: { softwareAdapter?: boolean } = {}): void {
  softwareAdapter = Boolean(options.softwareAdapter);
  const env = envVar('OMNITOK_WEBGPU_KERNELS');
  setWebgpuKernels(env !== '0');
}

/** True when the active backend is `webgpu` and omnitok's kernels are registered. */
export function webgpuKernelsActive(): boolean {
  return active && tf.getBackend() === WEBGPU;
}

/**
 * Host-side trims of TensorFlow.js' webgpu backend (each dispatch is host work: the step of a small
 * model is bound by it, see README.md): `getBindGroupLayout(0)`, which tfjs calls on every dispatch
 * (a call into Dawn that returns a new wrapper object each time), is answered from a cache per
 * pipeline; OMNITOK_WEBGPU_SUBMIT_BATCH=N sets how many dispatches tfjs records before a queue submit
 * (tfjs' WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE, default 15); uniform buffers are made stable and bind groups
 * reused across steps (`stableUniformBuffers`, `cacheBindGroups`; OMNITOK_WEBGPU_BIND_GROUP_CACHE=0
 * turns both off). Idempotent.
 */
export function tuneWebgpuBackend(backend: unknown): void {
  const b = backend as { pipelineCache?: Record<string, unknown>; omnitokTuned?: boolean; device?: ShaderDevice };
  if (!b || b.omnitokTuned || !b.pipelineCache) return;
  rewriteShaders(b.device);
  const memo = (pipeline: unknown) => {
    const p = pipeline as { getBindGroupLayout?: (i: number) => unknown; omnitokMemo?: boolean };
    if (!p || typeof p.getBindGroupLayout !== 'function' || p.omnitokMemo) return;
    const original = p.getBindGroupLayout.bind(p);
    const layouts = new Map<number, unknown>();
    p.getBindGroupLayout = (i: number) => {
      let layout = layouts.get(i);
      if (!layout) layouts.set(i, (layout = original(i)));
      return layout;
    };
    p.omnitokMemo = true;
  };
  for (const pipeline of Object.values(b.pipelineCache)) memo(pipeline);
  b.pipelineCache = new Proxy(b.pipelineCache, {
    set(target, key, value) {
      memo(value);
      target[key as string] = value;
      return true;
    },
  });
  const batch = Number(envVar('OMNITOK_WEBGPU_SUBMIT_BATCH'));
  if (Number.isInteger(batch) && batch > 0) tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', batch);
  if (envVar('OMNITOK_WEBGPU_BIND_GROUP_CACHE') !== '0') {
    stableUniformBuffers(backend);
    lowestFreeBufferFirst(backend);
    cacheBindGroups((backend as { device?: BindGroupDevice }).device);
  }
  b.omnitokTuned = true;
}

interface ShaderDevice {
  createShaderModule(d: { code: string }): unknown;
  omnitokRewrites?: boolean;
}

/**
 * The device's shader modules, rewritten on the way to Dawn (once per device; idempotent):
 * - tfjs puts its bindings and helpers before a program's code, and WGSL wants `enable` and
 *   `diagnostic` directives before any declaration: they are moved to the top (the matrix GEMM's
 *   `enable f16;` and `enable chromium_experimental_subgroup_matrix;`);
 * - tfjs declares every input `var<storage, read>`: the inputs a program writes (named with the
 *   EXTRA_OUTPUT prefix, programs.ts) are declared `read_write` instead — how one dispatch writes
 *   several outputs (`runWithOutputs`). The pipelines' 'auto' layouts follow the declarations.
 */
function rewriteShaders(device: ShaderDevice | undefined): void {
  if (!device || typeof device.createShaderModule !== 'function' || device.omnitokRewrites) return;
  const create = device.createShaderModule.bind(device);
  const directive = /^[ \t]*(?:enable|diagnostic)\b[^;\n]*;[ \t]*$/gm;
  const writable = new RegExp(`var<storage, read> (${EXTRA_OUTPUT}\\w*)\\s*:`, 'g');
  device.createShaderModule = (d: { code: string }) => {
    let code = d.code.includes(EXTRA_OUTPUT) ? d.code.replace(writable, 'var<storage, read_write> $1 :') : d.code;
    const found = code.match(directive);
    if (found) code = `${found.map((l) => l.trim()).join('\n')}\n${code.replace(directive, '')}`;
    return code === d.code ? create(d) : create({ ...d, code });
  };
  device.omnitokRewrites = true;
}

type UniformEntry = { type: string; data: number[] };
interface UniformBackend {
  device: { createBuffer(d: { size: number; usage: number }): object; limits?: { minUniformBufferOffsetAlignment?: number } };
  queue: { writeBuffer(buffer: object, offset: number, data: ArrayBuffer, dataOffset: number, size: number): void };
  makeUniforms(uniforms: UniformEntry[]): { offset: number; size: number; buffer: object };
  submitQueue(): void;
}

/** Bytes of one uniform arena chunk: WebGPU's smallest maxUniformBufferBindingSize, 256 dispatches at 256-byte slots. */
const UNIFORM_CHUNK = 65536;

/**
 * Uniforms that recur, written once a submit. tfjs takes each dispatch's uniform buffer from its
 * buffer pool, in an order that drifts from step to step (so no two steps bind the same buffers and
 * bind groups could never be reused), and writes it with a `writeBuffer` of its own: ~780 queue writes
 * a ViT-S step, each a call into Dawn. Here a submit's dispatches take consecutive slots (aligned to the
 * device's minUniformBufferOffsetAlignment) of 64 KiB arena chunks, staged on the host and written with
 * one `writeBuffer` per chunk when the submit goes out — the k-th dispatch of a submit always binds the
 * same chunk and offset, so its bind group recurs, and the slots are free again after the submit (the
 * queue runs a submit's dispatches before any later write lands: what tfjs' own pool relies on too).
 * OMNITOK_WEBGPU_UNIFORM_ARENA=0: a buffer per dispatch (the k-th of its size in a submit, written at
 * once), as before. The layout is tfjs 4.x's `makeUniforms`: WGSL alignment of scalars and vectors up
 * to 6 lanes.
 */
function stableUniformBuffers(backend: unknown): void {
  const b = backend as UniformBackend;
  if (typeof b?.makeUniforms !== 'function' || typeof b.submitQueue !== 'function' || !b.device || !b.queue) return;
  const UNIFORM = 0x40; // GPUBufferUsage.UNIFORM
  const COPY_DST = 0x8; // GPUBufferUsage.COPY_DST
  const arena = envVar('OMNITOK_WEBGPU_UNIFORM_ARENA') !== '0';
  const slotAlign = Math.max(16, b.device.limits?.minUniformBufferOffsetAlignment ?? 256);
  const chunks: { buffer: object; bytes: ArrayBuffer; i32: Int32Array; u32: Uint32Array; f32: Float32Array }[] = [];
  let chunk = 0; // the chunk the next slot comes from
  let used = 0; // its bytes taken
  const pools = new Map<number, object[]>(); // without the arena: the buffers of each size
  const taken = new Map<number, number>(); // and how many of them this submit took
  b.makeUniforms = (uniforms) => {
    let offset = 0;
    let previous = 0;
    let maxAlign = 1;
    const offsets: number[] = [];
    for (const u of uniforms) {
      if (u.data.length === 0) u.data = [1];
      const n = u.data.length;
      if (n > 6) throw new Error(`Unsupported ${n}D shape`);
      let align = n === 1 ? 4 : n === 2 ? 8 : 16;
      if (previous === 5 || previous === 6) align = 16;
      maxAlign = Math.max(maxAlign, align);
      offset = Math.ceil(offset / align) * align;
      previous = n;
      offsets.push(offset);
      offset += n * 4;
    }
    const size = Math.ceil(offset / maxAlign) * maxAlign;
    if (arena && size <= UNIFORM_CHUNK) {
      if (used + size > UNIFORM_CHUNK) {
        chunk++;
        used = 0;
      }
      let c = chunks[chunk];
      if (!c) {
        const bytes = new ArrayBuffer(UNIFORM_CHUNK);
        c = { buffer: b.device.createBuffer({ size: UNIFORM_CHUNK, usage: UNIFORM | COPY_DST }), bytes, i32: new Int32Array(bytes), u32: new Uint32Array(bytes), f32: new Float32Array(bytes) };
        chunks.push(c);
      }
      const at = used;
      uniforms.forEach((u, i) => {
        const view = u.type === 'int32' ? c.i32 : u.type === 'uint32' ? c.u32 : c.f32;
        view.set(u.data, (at + offsets[i]!) / 4);
      });
      used = Math.ceil((at + size) / slotAlign) * slotAlign;
      return { offset: at, size, buffer: c.buffer };
    }
    const bytes = new ArrayBuffer(size);
    uniforms.forEach((u, i) => {
      const View = u.type === 'int32' ? Int32Array : u.type === 'uint32' ? Uint32Array : Float32Array;
      new View(bytes, offsets[i]!, u.data.length).set(u.data);
    });
    const k = taken.get(size) ?? 0;
    taken.set(size, k + 1);
    let pool = pools.get(size);
    if (!pool) pools.set(size, (pool = []));
    const buffer = (pool[k] ??= b.device.createBuffer({ size, usage: UNIFORM | COPY_DST }));
    b.queue.writeBuffer(buffer, 0, bytes, 0, size);
    return { offset: 0, size, buffer };
  };
  const submit = b.submitQueue.bind(b);
  b.submitQueue = () => {
    // the staged slots land before the submit's dispatches run (a chunk that only the last slot
    // overflowed into holds that slot)
    for (let i = 0; i <= chunk && i < chunks.length; i++) {
      const bytes = i < chunk ? UNIFORM_CHUNK : used;
      if (bytes > 0) b.queue.writeBuffer(chunks[i]!.buffer, 0, chunks[i]!.bytes, 0, bytes);
    }
    chunk = 0;
    used = 0;
    submit();
    taken.clear();
  };
}

/** A numbering of objects in the order they are first asked about (weakly held). */
function objectIds(): (o: object) => number {
  const ids = new WeakMap<object, number>();
  let next = 0;
  return (o) => {
    let id = ids.get(o);
    if (id === undefined) ids.set(o, (id = next++));
    return id;
  };
}

interface PoolBackend {
  bufferManager?: {
    freeBuffers?: Map<string, object[]>;
    acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): object;
    releaseBuffer(buffer: object, reuse?: boolean): void;
  };
}

/**
 * tfjs' buffer pool hands out the most recently freed buffer of a size (a stack), so which buffer a
 * dispatch gets depends on the order the previous step freed them — which drifts from step to step,
 * and with it every bind group (measured on lavapipe: half of a step's bind groups were new each step).
 * Here each size's free list stays sorted so that the buffer created first is handed out first: the
 * choice depends only on the set of free buffers, which is the same at the start of every step once
 * the pool has grown to the step's needs — the same buffers, hence the same bind groups, each step.
 */
function lowestFreeBufferFirst(backend: unknown): void {
  const manager = (backend as PoolBackend).bufferManager;
  if (!manager?.freeBuffers || typeof manager.releaseBuffer !== 'function' || typeof manager.acquireBuffer !== 'function') return;
  const rank = objectIds(); // ranked when first handed out: creation order
  const acquire = manager.acquireBuffer.bind(manager);
  manager.acquireBuffer = (...args) => {
    const buffer = acquire(...args);
    rank(buffer);
    return buffer;
  };
  const release = manager.releaseBuffer.bind(manager);
  const free = manager.freeBuffers;
  manager.releaseBuffer = (buffer: object, reuse = true) => {
    release(buffer, reuse);
    // tfjs pushed it (when reused) onto its size's list, which pop()s from the end: keep each list in
    // descending rank so that the end holds the lowest
    for (const list of free.values()) {
      if (list[list.length - 1] !== buffer) continue;
      const r = rank(buffer);
      let i = list.length - 1;
      while (i > 0 && rank(list[i - 1]!) < r) {
        list[i] = list[i - 1]!;
        i--;
      }
      list[i] = buffer;
      return;
    }
  };
}

interface BindGroupEntry {
  readonly binding: number;
  readonly resource: { readonly buffer?: object; readonly offset?: number; readonly size?: number };
}
interface BindGroupDevice {
  createBindGroup(descriptor: { layout: object; entries: readonly BindGroupEntry[] }): unknown;
  omnitokBindGroups?: BindGroupCacheStats;
}

/** Hits and misses of the bind-group cache (see {@link tuneWebgpuBackend}), for benches. */
export interface BindGroupCacheStats {
  hits: number;
  misses: number;
  size: number;
}

/** Bind groups kept at most; least recently used ones are dropped first. */
const BIND_GROUP_CACHE = 8192;

/**
 * TensorFlow.js creates a bind group for every dispatch (≈ 14 µs of Dawn's time each, most of the
 * host cost of a dispatch after tfjs' own JavaScript), though its buffer pool hands the same buffers
 * to the same dispatches step after step. Bind groups are immutable descriptions of (layout, buffer
 * ranges), so one made for the same layout and the same buffers, offsets and sizes is the same object
 * in effect: they are cached (LRU) by exactly that key. A destroyed buffer is never handed out again,
 * so its entries are simply never hit. OMNITOK_WEBGPU_BIND_GROUP_CACHE=0 turns it off.
 */
function cacheBindGroups(device: BindGroupDevice | undefined): void {
  if (!device || typeof device.createBindGroup !== 'function' || device.omnitokBindGroups) return;
  const original = device.createBindGroup.bind(device);
  const idOf = objectIds();
  const cache = new Map<string, unknown>();
  const stats: BindGroupCacheStats = { hits: 0, misses: 0, size: 0 };
  device.createBindGroup = (descriptor) => {
    let key = String(idOf(descriptor.layout));
    for (const e of descriptor.entries) {
      const r = e.resource;
      if (!r?.buffer) return original(descriptor); // samplers, textures: not ours
      key += `|${e.binding}:${idOf(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}`;
    }
    let group = cache.get(key);
    if (group !== undefined) {
      cache.delete(key); // most recently used last
      cache.set(key, group);
      stats.hits++;
      return group;
    }
    group = original(descriptor);
    cache.set(key, group);
    if (cache.size > BIND_GROUP_CACHE) cache.delete(cache.keys().next().value!);
    stats.misses++;
    stats.size = cache.size;
    return group;
  };
  device.omnitokBindGroups = stats;
}

/** The bind-group cache's counters on the active webgpu backend (undefined when it is not on). */
export function webgpuBindGroupCacheStats(): BindGroupCacheStats | undefined {
  return (tf.backend() as unknown as { device?: BindGroupDevice }).device?.omnitokBindGroups;
}

/** Only this tensor holds its buffer (no clone, reshape or other tensor shares it): safe to update in place. */
function soleOwner(backend: unknown, t: tf.Tensor): boolean {
  const b = backend as { refCount?: (id: tf.DataId) => number };
  return typeof b.refCount === 'function' && b.refCount(t.dataId) === 1;
}

/** What the one-dispatch AdamW uses of tfjs-backend-webgpu 4.x's WebGPUBackend (internals: checked before use). */
interface RawDispatchBackend {
  device: {
    limits?: { maxStorageBuffersPerShaderStage?: number };
    createShaderModule(d: { code: string }): object;
    createComputePipeline(d: { layout: 'auto'; compute: { module: object; entryPoint: string } }): { getBindGroupLayout(i: number): object };
    createBindGroup(d: { layout: object; entries: readonly BindGroupEntry[] }): object;
  };
  tensorMap: { get(id: tf.DataId): { resource?: object } | undefined };
  uploadToGPU(id: tf.DataId): void;
  ensureCommandEncoderReady(): void;
  commandEncoder: { beginComputePass(d: object): RawComputePass } | null;
  computePassEncoder: RawComputePass | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
  makeUniforms(uniforms: UniformEntry[]): { offset: number; size: number; buffer: object };
  dispatchCountInPass: number;
  commandQueueOwnedIds: { add(id: tf.DataId): void };
  activeTimers?: unknown;
}
interface RawComputePass {
  setPipeline(p: object): void;
  setBindGroup(i: number, g: object): void;
  dispatchWorkgroups(x: number, y: number, z: number): void;
}

/** Per device and parameter count: the one-dispatch AdamW pipeline and its bind-group layout (Dawn returns a new layout object per call, which would defeat the bind-group cache). */
const adamWPipelines = new WeakMap<object, Map<number, { pipeline: object; layout: object }>>();

/**
 * Most parameters one AdamW dispatch updates: 4 storage buffers each plus the guard, within the
 * device's limit (WebGPU's default 8: one), at most MAX_ADAMW_GROUP; OMNITOK_WEBGPU_ADAMW_GROUP=N
 * lowers it (1: a dispatch per parameter, as before, for measuring one against the other).
 */
export const MAX_ADAMW_GROUP = 8;
type LimitsDevice = { limits?: { maxStorageBuffersPerShaderStage?: number } } | undefined;
/** Storage buffers one shader stage may bind on `device` (WebGPU's default 8 where it cannot tell). */
const storageBuffersPerStage = (device: LimitsDevice): number => device?.limits?.maxStorageBuffersPerShaderStage ?? 8;

function adamWGroupLimit(device: LimitsDevice): number {
  const buffers = storageBuffersPerStage(device);
  const limit = Math.max(1, Math.min(MAX_ADAMW_GROUP, Math.floor((buffers - 1) / 4)));
  const asked = Number(envVar('OMNITOK_WEBGPU_ADAMW_GROUP'));
  return Number.isInteger(asked) && asked >= 1 ? Math.min(asked, limit) : limit;
}

/** Tensors one sum-of-squares dispatch reads: the device's storage buffers a stage less the output, at most SUMSQ_GROUP. */
function sumSquaresGroupLimit(device: LimitsDevice): number {
  return Math.max(1, Math.min(SUMSQ_GROUP, storageBuffersPerStage(device) - 1));
}

/** How many gradients one sum-of-squares dispatch (the global norm) reads on the active webgpu device. */
export function webgpuSumSquaresGroupSize(): number {
  return sumSquaresGroupLimit((tf.backend() as unknown as Partial<RawDispatchBackend>).device);
}

/** How many parameters one AdamW dispatch updates on the active webgpu device (1 where it cannot tell). */
export function webgpuAdamWGroupSize(): number {
  return adamWGroupLimit((tf.backend() as unknown as Partial<RawDispatchBackend>).device);
}
let directDispatches = 0;

/**
 * Dispatches recorded outside tfjs' runWebGPUProgram so far (the one-dispatch AdamW), for benches that
 * count a step's dispatches by wrapping runWebGPUProgram.
 */
export function webgpuDirectDispatches(): number {
  return directDispatches;
}

/** One parameter's AdamW update: its tensors (sole owners, float32) and its decay factor. */
interface AdamWItem {
  p: tf.Tensor;
  m: tf.Tensor;
  v: tf.Tensor;
  grad: tf.Tensor;
  decay: number;
}

/**
 * AdamW of up to `adamWGroupLimit` parameters as one dispatch that binds their p, m and v read-write
 * (`adamWWgsl`) — tfjs programs have a single writable output, hence three dispatches per parameter
 * otherwise (37% of a ViT-S step's dispatches; g, m and v were read twice), and one parameter per
 * dispatch where the device grants only WebGPU's default 8 storage buffers. Recorded into tfjs' own
 * command encoder and compute pass, with the buffers marked as in use until the submit (so tfjs neither
 * frees nor recycles them earlier) and tfjs' submit batching kept. False (nothing done) where the
 * backend lacks what it needs, while tfjs is timing kernels (tf.profile), or with
 * OMNITOK_WEBGPU_ADAMW=programs.
 */
function adamWOneDispatch(backend: unknown, items: readonly AdamWItem[], guard: tf.Tensor, h: AdamWShared): boolean {
  const b = backend as RawDispatchBackend;
  if (envVar('OMNITOK_WEBGPU_ADAMW') === 'programs') return false;
  if (!b.device || !b.tensorMap || !b.commandQueueOwnedIds || typeof b.uploadToGPU !== 'function' || typeof b.ensureCommandEncoderReady !== 'function') return false;
  if (typeof b.endComputePassEncoder !== 'function' || typeof b.submitQueue !== 'function' || typeof b.makeUniforms !== 'function' || b.activeTimers != null) return false;
  const k = items.length;
  if (k < 1 || k > adamWGroupLimit(b.device)) return false;
  const starts: number[] = [];
  let groups = 0;
  for (const it of items) {
    starts.push(groups);
    groups += Math.ceil(it.p.size / 256);
  }
  const x = Math.min(groups, 65535);
  const y = Math.ceil(groups / x);
  if (y > 65535) return false;
  let byCount = adamWPipelines.get(b.device);
  if (!byCount) adamWPipelines.set(b.device, (byCount = new Map()));
  let adamW = byCount.get(k);
  if (!adamW) {
    const pipeline = b.device.createComputePipeline({ layout: 'auto', compute: { module: b.device.createShaderModule({ code: adamWWgsl(k) }), entryPoint: 'main' } });
    adamW = { pipeline, layout: pipeline.getBindGroupLayout(0) };
    byCount.set(k, adamW);
  }
  const tensors = [...items.flatMap((it) => [it.p, it.m, it.v, it.grad]), guard];
  const buffers = tensors.map((t) => {
    b.uploadToGPU(t.dataId);
    return b.tensorMap.get(t.dataId)?.resource;
  });
  if (buffers.some((r) => !r)) return false;
  const uniforms = b.makeUniforms([
    ...floats(h.beta1, h.beta2, h.eps),
    ...adamWCorrections(h),
    ...ints(x),
    ...items.flatMap((it, j) => [...floats(it.decay), ...ints(it.p.size, starts[j]!)]),
  ]);
  const entries: BindGroupEntry[] = [
    ...buffers.map((buffer, i) => ({ binding: i, resource: { buffer: buffer!, offset: 0, size: 4 * tensors[i]!.size } })),
    { binding: tensors.length, resource: uniforms },
  ];
  const bindGroup = b.device.createBindGroup({ layout: adamW.layout, entries });
  b.ensureCommandEncoderReady();
  b.computePassEncoder ??= b.commandEncoder!.beginComputePass({});
  b.computePassEncoder.setPipeline(adamW.pipeline);
  b.computePassEncoder.setBindGroup(0, bindGroup);
  b.computePassEncoder.dispatchWorkgroups(x, y, 1);
  directDispatches++;
  for (const t of tensors) b.commandQueueOwnedIds.add(t.dataId);
  b.dispatchCountInPass++;
  if (b.dispatchCountInPass >= (tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number)) {
    b.endComputePassEncoder();
    b.submitQueue();
  }
  return true;
}

/**
 * AdamW on p, m, v in place for each parameter, writing the variables' own buffers (no new buffers, no
 * disposals): one dispatch per group of parameters (`adamWOneDispatch`, as many as the device's storage
 * buffers allow), or three one-output programs per parameter where that cannot run. A variable whose
 * buffer another tensor shares (a clone, the tensor it was created from) or that is not stored as
 * float32 first gets a float32 copy of its own (`assign`), so that other tensor keeps its values. `h`:
 * the hyperparameters all parameters of this update share (`decay` is per parameter). Call inside a
 * tidy (the copies are intermediates).
 */
export function adamWInPlace(params: readonly { p: tf.Variable; g: tf.Tensor; m: tf.Variable; v: tf.Variable; decay: number }[], guard: tf.Tensor, h: AdamWShared): void {
  const backend = tf.backend();
  const b = backend as unknown as WebGPUBackendLike;
  const own = (t: tf.Tensor) => (storedDtype(b, t) === 'float32' ? t : tf.mul(t, 1));
  const items: AdamWItem[] = params.map(({ p, g, m, v, decay }) => {
    for (const t of [p, m, v]) if (!soleOwner(backend, t) || storedDtype(b, t) !== 'float32') t.assign(tf.mul(t, 1));
    return { p, m, v, grad: own(g), decay };
  });
  const scale = own(guard);
  const k = adamWGroupLimit((backend as unknown as Partial<RawDispatchBackend>).device);
  for (let at = 0; at < items.length; at += k) {
    const group = items.slice(at, at + k);
    if (adamWOneDispatch(backend, group, scale, h)) continue;
    for (const it of group) {
      const u = adamWUniforms(h, it.decay);
      const shape = [...it.p.shape];
      const size = it.p.size;
      b.runWebGPUProgram(adamWInPlaceProgram(shape, size, ADAMW_OUT.m), [it.grad, scale], 'float32', u, it.m);
      b.runWebGPUProgram(adamWInPlaceProgram(shape, size, ADAMW_OUT.v), [it.grad, scale], 'float32', u, it.v);
      b.runWebGPUProgram(adamWInPlaceProgram(shape, size, ADAMW_OUT.p), [it.m, it.v, scale], 'float32', u, it.p);
    }
  }
  // tfjs keeps a CPU copy of values it has read back and answers later reads from it: drop it
  const map = (b as unknown as { tensorMap?: { get(id: tf.DataId): { values?: unknown } | undefined } }).tensorMap;
  for (const it of items) {
    for (const t of [it.p, it.m, it.v]) {
      const data = map?.get(t.dataId);
      if (data) data.values = null;
    }
  }
}
