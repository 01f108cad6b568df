import type { ClipBatch, TowerInput } from '@omnitok/clip';
import type { TokenSequence } from '@omnitok/core';
import type { TF } from '@omnitok/core/runtime';

/** Stacks the tokens of one modality into a tower input ([B, N, D] float32, or [B, L] ids + mask + EOT index). */
export function stackTokens(tf: TF, rows: readonly TokenSequence[]): TowerInput {
  const B = rows.length;
  const first = rows[0]!;
  if (first.kind === 'continuous') {
    const [N, D] = first.shape;
    const data = new Float32Array(B * N * D);
    let mask: Float32Array | undefined;
    rows.forEach((r, b) => {
      data.set((r as typeof first).data, b * N * D);
      if (r.mask) {
        mask ??= new Float32Array(B * N).fill(1);
        for (let i = 0; i < N; i++) mask[b * N + i] = r.mask[i]!;
      }
    });
    // padded 2-D rows (NaFlex images) carry their own grids: towers with per-grid positions read them
    const grid = mask && rows.every((r) => r.kind === 'continuous' && r.grid.length === 2) ? Int32Array.from(rows.flatMap((r) => (r as typeof first).grid)) : undefined;
    return { tokens: tf.tensor3d(data, [B, N, D]), mask: mask && tf.tensor2d(mask, [B, N]), ...(grid ? { grid } : {}) };
  }
  const L = first.shape[0];
  const ids = new Int32Array(B * L);
  const mask = new Float32Array(B * L);
  const eot = new Int32Array(B);
  rows.forEach((r, b) => {
    const d = r as typeof first;
    ids.set(d.ids, b * L);
    for (let i = 0; i < L; i++) mask[b * L + i] = d.mask[i]!;
    eot[b] = d.eotIndex ?? Math.max(0, d.length - 1);
  });
  return { tokens: tf.tensor2d(ids, [B, L], 'int32'), mask: tf.tensor2d(mask, [B, L]), eotIndex: tf.tensor1d(eot, 'int32') };
}

export function makeBatch(tf: TF, samples: readonly { tokens: Readonly<Record<string, TokenSequence>> }[], modalities: readonly string[]): ClipBatch {
  return Object.fromEntries(modalities.map((m) => [m, stackTokens(tf, samples.map((s) => s.tokens[m]!))]));
}

export function disposeBatch(tf: TF, batch: ClipBatch): void {
  for (const input of Object.values(batch)) {
    if (input instanceof tf.Tensor) input.dispose();
    else tf.dispose([input.tokens, input.mask, input.eotIndex].filter((t): t is NonNullable<typeof t> => t !== undefined));
  }
}
