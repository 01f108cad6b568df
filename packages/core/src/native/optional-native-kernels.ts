/**
 * `@omnitok/native-kernels`, an optional peer: loaded once, on first use, by dynamic import (the
 * package may be absent). The tokenizer packages use its JPEG decoder, its resize and its process
 * spawner; each caller picks the function it needs and falls back when it is missing (an addon built
 * before that function existed, another platform).
 */
export interface OptionalNativeKernels {
  decodeJpeg?(bytes: Uint8Array, maxPixels: number): Promise<{ data: Uint8Array; width: number; height: number } | string>;
  jpegDecoder?(): string;
  resizeNormalize?(
    src: Uint8Array, geometry: Int32Array, hStart: Int32Array, hCount: Int32Array, hWeights: Int32Array,
    vStart: Int32Array, vCount: Int32Array, vWeights: Int32Array, out: Float32Array, offset: number,
    rowBase: Int32Array, col: Int32Array, lut: Float32Array,
  ): Promise<void>;
  /** Linux: posix_spawn + pidfd (see {@link spawnTool}). */
  spawnProcess?(file: string, args: readonly string[], stdout: number): NativeSpawnResult;
  killProcess?(handle: unknown, signal: number): boolean;
}

/** What the addon's `spawnProcess` returns: the started child, or why it could not start. */
export type NativeSpawnResult =
  | { pid: number; stdout: number; stderr: number; exit: Promise<[code: number | null, signal: number | null]>; handle: unknown }
  | { errno: number; message: string };

let loading: Promise<OptionalNativeKernels | undefined> | undefined;

/** The addon's kernels, or undefined when the package is not installed or its addon did not load. */
export function loadOptionalNativeKernels(): Promise<OptionalNativeKernels | undefined> {
  loading ??= (async () => {
    try {
      const native = (await import('@omnitok/native-kernels' as string)) as { loadNativeKernels(): { ok: boolean; kernels?: OptionalNativeKernels } };
      const r = native.loadNativeKernels();
      return r.ok ? r.kernels : undefined;
    } catch {
      return undefined; // not installed
    }
  })();
  return loading;
}
