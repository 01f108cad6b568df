import { envVar } from './env.js';
import { DeviceError, OutOfMemoryError } from './errors.js';

/*
 * Errors a GPU reports on its own. WebGPU does not throw where work is queued: an allocation the GPU's
 * memory cannot hold, a failed validation or a lost device become events ("uncaptured errors"), the
 * buffers and commands involved become invalid, and the work goes on — reads of invalid buffers come
 * back as zeros, a submit with an invalid command does nothing. A training step would then report a
 * "non-finite loss" (the wrong cause and the wrong advice) or, worse, train on garbage.
 *
 * `watchDeviceErrors(device)` (initBackend does it for webgpu) notes every such event; the trainers call
 * `throwOnDeviceErrors()` once a step's results have been read back (by then the GPU has run the step,
 * and Dawn has delivered its errors), which throws OutOfMemoryError for out-of-memory errors and
 * DeviceError for the rest, and clears them. Nothing is noted on backends without a device.
 * OMNITOK_DEVICE_ERRORS=warn prints the errors other than out-of-memory ones instead of throwing
 * (benchmarks on a new driver: a run that reports its errors beats one that stops at the first).
 */

/** One noted error. */
export interface NotedDeviceError {
  readonly kind: 'out-of-memory' | 'validation' | 'internal' | 'device-lost';
  readonly message: string;
}

/** The parts of a GPUDevice this uses. */
interface DeviceLike {
  addEventListener?(type: 'uncapturederror', listener: (event: { error?: { message?: string; constructor?: { name?: string } } }) => void): void;
  lost?: Promise<{ reason?: string; message?: string }>;
}

/** What a step reports at most (the first errors explain the rest). */
const KEEP = 8;
const MEMORY_HINT = 'Use a smaller batch, gradient checkpointing (setGradCheckpointing) or gradient caching.';

const noted: NotedDeviceError[] = [];
let dropped = 0;
const watched = new WeakSet<object>();

function note(error: NotedDeviceError): void {
  if (noted.length < KEEP) noted.push(error);
  else dropped++;
}

/** Starts noting `device`'s uncaptured errors and its loss (once per device; a destroyed device is not an error). */
export function watchDeviceErrors(device: unknown): void {
  const d = device as DeviceLike | null;
  if (!d || typeof d !== 'object' || watched.has(d) || typeof d.addEventListener !== 'function') return;
  watched.add(d);
  d.addEventListener('uncapturederror', (event) => {
    const name = event.error?.constructor?.name ?? '';
    const kind = /OutOfMemory/i.test(name) ? 'out-of-memory' : /Internal/i.test(name) ? 'internal' : 'validation';
    note({ kind, message: String(event.error?.message ?? 'unknown error').split('\n')[0]! });
  });
  d.lost?.then((info) => {
    if (info?.reason !== 'destroyed') note({ kind: 'device-lost', message: info?.message || 'the device was lost' });
  });
}

/** The errors noted since the last call (and clears them). */
export function takeDeviceErrors(): NotedDeviceError[] {
  const out = noted.splice(0);
  if (dropped > 0) out.push({ kind: out[0]?.kind ?? 'validation', message: `… and ${dropped} more` });
  dropped = 0;
  return out;
}

/**
 * Throws what the device noted since the last call, if anything: OutOfMemoryError (`backend`, the
 * device's message, `hint`) when any error was an out-of-memory one, else DeviceError. Clears them.
 */
export function throwOnDeviceErrors(backend = 'webgpu', hint = MEMORY_HINT): void {
  if (noted.length === 0) return;
  const errors = takeDeviceErrors();
  const oom = errors.find((e) => e.kind === 'out-of-memory');
  if (oom) throw new OutOfMemoryError(backend, `the GPU's memory is full: ${oom.message}`, hint);
  const lost = errors.find((e) => e.kind === 'device-lost');
  const error = new DeviceError(backend, lost ? 'device-lost' : errors[0]!.kind, errors.map((e) => e.message));
  if (envVar('OMNITOK_DEVICE_ERRORS') === 'warn') console.warn(`omnitok (OMNITOK_DEVICE_ERRORS=warn): ${error.message}`);
  else throw error;
}
