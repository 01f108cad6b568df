import { describe, expect, it } from 'vitest';
import { isOmniError } from '../errors/index.js';
import { asOutOfMemory, OutOfMemoryError, RuntimeErrorCode } from './errors.js';

describe('asOutOfMemory', () => {
  const hint = 'Use a smaller --batch-size.';

  it("names WebAssembly's Aborted() (its heap could not grow) an OutOfMemoryError, with the hint and the cause", () => {
    const abort = new Error('Aborted(). Build with -sASSERTIONS for more info.');
    const e = asOutOfMemory(abort, 'wasm', hint)!;
    expect(e).toBeInstanceOf(OutOfMemoryError);
    expect(isOmniError(e)).toBe(true);
    expect(e.code).toBe(RuntimeErrorCode.OutOfMemory);
    expect(e.backend).toBe('wasm');
    expect(e.message).toBe(`Out of memory on backend "wasm" (WebAssembly's heap, at most 4 GB, is full: Aborted()). ${hint}`);
    expect(e.cause).toBe(abort);
    expect(asOutOfMemory(new Error('Cannot enlarge memory arrays to size 4294967296 bytes'), 'wasm', hint)).toBeInstanceOf(OutOfMemoryError);
  });

  it('names a JavaScript allocation failure one on any backend', () => {
    const e = asOutOfMemory(new RangeError('Array buffer allocation failed'), 'cpu', hint)!;
    expect(e.backend).toBe('cpu');
    expect(e.what).toBe('Array buffer allocation failed');
  });

  it('leaves every other error alone (undefined), an Aborted() off wasm included', () => {
    expect(asOutOfMemory(new Error('shape mismatch'), 'wasm', hint)).toBeUndefined();
    expect(asOutOfMemory(new Error('Aborted(). Build with -sASSERTIONS for more info.'), 'native', hint)).toBeUndefined();
    expect(asOutOfMemory(new RangeError('Maximum call stack size exceeded'), 'cpu', hint)).toBeUndefined();
    expect(asOutOfMemory('Aborted()', 'cpu', hint)).toBeUndefined();
  });

  it('keeps an OutOfMemoryError, with the caller\'s hint in place of the one it was raised with', () => {
    const already = new OutOfMemoryError('webgpu', 'device memory', hint);
    expect(asOutOfMemory(already, 'webgpu', hint)).toBe(already);
    const rehinted = asOutOfMemory(already, 'cpu', 'Use --grad-checkpointing.')!;
    expect(rehinted).toMatchObject({ backend: 'webgpu', what: 'device memory', hint: 'Use --grad-checkpointing.', cause: already });
    expect(rehinted.message).toBe('Out of memory on backend "webgpu" (device memory). Use --grad-checkpointing.');
  });
});
