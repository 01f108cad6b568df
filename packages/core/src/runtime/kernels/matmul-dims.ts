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

/**
 * For every batch of the broadcast batch shape `outer` (row-major), the batch of an operand whose batch
 * dims are `dims` (right-aligned, numpy rules: a side of 1 repeats) — e.g. outer [2, 3] and dims [1, 3]
 * give 0 1 2 0 1 2.
 */
export function broadcastBatchIndex(outer: readonly number[], dims: readonly number[]): Int32Array {
  const total = outer.reduce((p, d) => p * d, 1);
  const index = new Int32Array(total);
  const lead = outer.length - dims.length;
  for (let i = 0; i < total; i++) {
    let rest = i;
    let at = 0;
    let stride = 1;
    for (let d = outer.length - 1; d >= lead; d--) {
      const side = dims[d - lead]!;
      const coord = rest % outer[d]!;
      rest = Math.floor(rest / outer[d]!);
      if (side !== 1) at += coord * stride;
      stride *= side;
    }
    index[i] = at;
  }
  return index;
}
