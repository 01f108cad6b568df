/**
 * M, K, N of op(A)·op(B) from the operands' shapes (the last two dims, `transA` / `transB` applied), or
 * undefined when the inner dimensions disagree (the stock kernel then throws the proper error). Shared
 * by the `native` and `webgpu` GEMM overrides.
 */
export function matMulDims(a: readonly number[], b: readonly number[], transA: boolean, transB: boolean): { m: number; k: number; n: number } | undefined {
  const ra = a.length;
  const rb = b.length;
  const m = transA ? a[ra - 1]! : a[ra - 2]!;
  const k = transA ? a[ra - 2]! : a[ra - 1]!;
  const kb = transB ? b[rb - 1]! : b[rb - 2]!;
  const n = transB ? b[rb - 2]! : b[rb - 1]!;
  return k === kb ? { m, k, n } : undefined;
}
