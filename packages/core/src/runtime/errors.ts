import { OmniError } from '../errors/index.js';

/** Error codes of the runtime (the core table in errors/ holds the tokenizer-side ones). */
export const RuntimeErrorCode = {
  NonFinite: 'E_NON_FINITE',
  BackendUnavailable: 'E_BACKEND_UNAVAILABLE',
  WeightImport: 'E_WEIGHT_IMPORT',
  Checkpoint: 'E_CHECKPOINT',
  OutOfMemory: 'E_OUT_OF_MEMORY',
  Device: 'E_DEVICE',
} as const;

/**
 * A loss or a gradient became NaN or ±Infinity. `step` is the optimizer step (0-based) at which it
 * happened, `quantity` what was checked (`loss`, `gradient norm`) and `value` its value. Parameters are
 * left untouched: the step that produced the non-finite value is not applied.
 */
export class NonFiniteError extends OmniError {
  readonly step: number;
  readonly quantity: string;
  readonly value: number;

  constructor(step: number, quantity: string, value: number, options?: ErrorOptions) {
    super(
      RuntimeErrorCode.NonFinite,
      `Non-finite ${quantity} at step ${step}: ${value}. The update was not applied; lower the learning rate, clip gradients or check the inputs.`,
      { step, quantity, value: String(value) },
      options,
    );
    this.step = step;
    this.quantity = quantity;
    this.value = value;
  }
}

/** A requested backend cannot run here; `hint` says how to make it available. */
export class BackendUnavailableError extends OmniError {
  readonly backend: string;
  readonly reason: string;
  readonly hint: string;

  constructor(backend: string, reason: string, hint: string, options?: ErrorOptions) {
    super(RuntimeErrorCode.BackendUnavailable, `Backend ${JSON.stringify(backend)} is unavailable: ${reason}. ${hint}`, { backend, reason, hint }, options);
    this.backend = backend;
    this.reason = reason;
    this.hint = hint;
  }
}

/**
 * A training or inference step ran out of memory on `backend` (`what`: the engine's own words, e.g.
 * WebAssembly's `Aborted()` when its 4 GB heap is full); `hint` says what to change.
 */
export class OutOfMemoryError extends OmniError {
  readonly backend: string;
  readonly what: string;
  readonly hint: string;

  constructor(backend: string, what: string, hint: string, options?: ErrorOptions) {
    super(RuntimeErrorCode.OutOfMemory, `Out of memory on backend ${JSON.stringify(backend)} (${what}). ${hint}`, { backend, what, hint }, options);
    this.backend = backend;
    this.what = what;
    this.hint = hint;
  }
}

/**
 * The GPU reported an error while work was queued (`kind`: `validation`, `internal`, or `device-lost`:
 * a crash or reset of the GPU), with its `messages` (the first few). What the work computed is not to be
 * trusted, nor what it updated: resume from a checkpoint. Out-of-memory errors are OutOfMemoryError.
 */
export class DeviceError extends OmniError {
  readonly backend: string;
  readonly kind: string;
  readonly messages: readonly string[];

  constructor(backend: string, kind: string, messages: readonly string[], options?: ErrorOptions) {
    super(
      RuntimeErrorCode.Device,
      `The ${backend} device reported ${kind === 'device-lost' ? 'that it was lost' : `${kind} errors`} while a step ran: ${messages.join(' | ')}. The step's results and updates cannot be trusted; resume from the last checkpoint.`,
      { backend, kind, messages: [...messages] },
      options,
    );
    this.backend = backend;
    this.kind = kind;
    this.messages = messages;
  }
}

/** WebAssembly's heap limit: tfjs-backend-wasm is a wasm32 module. */
const WASM_HEAP = '4 GB';

/**
 * `error` as an OutOfMemoryError when it is one in disguise — WebAssembly's `Aborted()` (what
 * tfjs-backend-wasm throws when its heap cannot grow; the module is unusable afterwards) or a
 * JavaScript allocation failure (`Array buffer allocation failed`, `Invalid typed array length`) —
 * else undefined. `hint` is appended to the message (callers name their own options).
 */
export function asOutOfMemory(error: unknown, backend: string, hint: string): OutOfMemoryError | undefined {
  // one raised where the caller's options are unknown gets the caller's hint
  if (error instanceof OutOfMemoryError) return error.hint === hint ? error : new OutOfMemoryError(error.backend, error.what, hint, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  if (backend === 'wasm' && /^Aborted\(|Cannot enlarge memory|Out of memory/i.test(message)) {
    return new OutOfMemoryError(backend, `WebAssembly's heap, at most ${WASM_HEAP}, is full: ${message.split('.')[0]}`, hint, { cause: error });
  }
  if (error instanceof RangeError && /Array buffer allocation failed|Invalid typed array length/.test(message)) {
    return new OutOfMemoryError(backend, message, hint, { cause: error });
  }
  return undefined;
}

/**
 * Weights could not be loaded into a model: tensors missing, unexpected or of the wrong shape.
 * `missing` are parameters of the model with no tensor, `unexpected` tensors with no parameter,
 * `mismatched` lists `name: expected [..] got [..]`.
 */
export class WeightImportError extends OmniError {
  readonly missing: readonly string[];
  readonly unexpected: readonly string[];
  readonly mismatched: readonly string[];

  constructor(source: string, problems: { missing?: readonly string[]; unexpected?: readonly string[]; mismatched?: readonly string[] }, options?: ErrorOptions) {
    const missing = [...(problems.missing ?? [])];
    const unexpected = [...(problems.unexpected ?? [])];
    const mismatched = [...(problems.mismatched ?? [])];
    const parts: string[] = [];
    const list = (xs: string[]) => (xs.length > 8 ? `${xs.slice(0, 8).join(', ')}, … (${xs.length} in all)` : xs.join(', '));
    if (mismatched.length > 0) parts.push(`shape mismatch: ${list(mismatched)}`);
    if (missing.length > 0) parts.push(`missing: ${list(missing)}`);
    if (unexpected.length > 0) parts.push(`unexpected: ${list(unexpected)}`);
    super(RuntimeErrorCode.WeightImport, `Cannot load weights from ${source}: ${parts.join('; ')}.`, { source, missing, unexpected, mismatched }, options);
    this.missing = Object.freeze(missing);
    this.unexpected = Object.freeze(unexpected);
    this.mismatched = Object.freeze(mismatched);
  }
}

/** A checkpoint directory or file is absent, incomplete or inconsistent. */
export class CheckpointError extends OmniError {
  readonly path: string;
  readonly reason: string;

  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(RuntimeErrorCode.Checkpoint, `Bad checkpoint ${path}: ${reason}`, { path, reason }, options);
    this.path = path;
    this.reason = reason;
  }
}
