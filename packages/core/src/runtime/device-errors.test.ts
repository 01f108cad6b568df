import * as tf from '@tensorflow/tfjs';
import { expect, it, vi } from 'vitest';
import { takeDeviceErrors, throwOnDeviceErrors } from './device-errors.js';
import { TransformerEncoder } from './encoder.js';
import { DeviceError, OutOfMemoryError } from './errors.js';
import { AdamW, Trainer } from './optim.js';
import { Rng } from './rng.js';
import { describeBackends } from './test-utils/backends.js';
import { withEnv } from './test-utils/with-env.js';

/*
 * Errors the GPU reports as events (WebGPU's uncaptured errors) fail the training step that follows
 * them with what happened, instead of a "non-finite loss" or silent garbage. Real validation errors on
 * the device; an out-of-memory error as the event Dawn delivers (one cannot be provoked safely here).
 */

interface GpuDevice {
  createBuffer(d: { size: number; usage: number }): unknown;
  dispatchEvent(e: unknown): boolean;
}
const g = globalThis as unknown as { GPUOutOfMemoryError: new (m: string) => unknown; GPUUncapturedErrorEvent: new (t: string, i: { error: unknown }) => unknown };

function setup() {
  const enc = new TransformerEncoder({ size: 'custom', width: 8, depth: 1, heads: 2, tokens: { kind: 'continuous', dim: 4, count: 3 }, projectionDim: 2 }, new Rng(1));
  const x = tf.tensor3d(Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => Math.sin(i)), [2, 3, 4]);
  const params = enc.parameters();
  const trainer = new Trainer(params, { optimizer: new AdamW(params, { lr: 1e-3 }), clipNorm: 1 });
  const loss = () => tf.sum(tf.square(enc.forward(x).embedding)) as tf.Scalar;
  return { trainer, loss, dispose: () => (enc.dispose(), x.dispose()) };
}

describeBackends(
  'GPU errors during a training step',
  () => {
    const device = () => (tf.backend() as unknown as { device: GpuDevice }).device;

    it('a validation error the device reported fails the next step with DeviceError naming it; the step after runs', async () => {
      takeDeviceErrors();
      const s = setup();
      expect(Number.isFinite((await s.trainer.trainStep(s.loss)).loss)).toBe(true);
      device().createBuffer({ size: 4, usage: 0 }); // invalid: Dawn reports it as an uncaptured error
      const tensors = tf.memory().numTensors;
      const failed = await s.trainer.trainStep(s.loss).catch((e: unknown) => e);
      expect(tf.memory().numTensors, 'tensors left behind by the failed step').toBe(tensors);
      expect(failed).toBeInstanceOf(DeviceError);
      expect(failed).toMatchObject({ code: 'E_DEVICE', backend: 'webgpu', kind: 'validation' });
      expect((failed as DeviceError).messages[0]).toMatch(/usages must not be 0/);
      expect((failed as Error).message).toMatch(/resume from the last checkpoint/);
      // reported once: the next step is a normal one
      expect(Number.isFinite((await s.trainer.trainStep(s.loss)).loss)).toBe(true);
      s.dispose();
    });

    it('an out-of-memory error fails the step with OutOfMemoryError (not a non-finite loss), other errors alongside it', async () => {
      takeDeviceErrors();
      const s = setup();
      device().createBuffer({ size: 4, usage: 0 });
      device().dispatchEvent(new g.GPUUncapturedErrorEvent('uncapturederror', { error: new g.GPUOutOfMemoryError('Out of memory while allocating a buffer of 4294967296 bytes') }));
      const failed = await s.trainer.trainStep(s.loss).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(OutOfMemoryError);
      expect(failed).toMatchObject({ code: 'E_OUT_OF_MEMORY', backend: 'webgpu' });
      expect((failed as OutOfMemoryError).what).toBe("the GPU's memory is full: Out of memory while allocating a buffer of 4294967296 bytes");
      expect((failed as OutOfMemoryError).hint).toMatch(/gradient checkpointing/);
      expect(() => throwOnDeviceErrors()).not.toThrow();
      s.dispose();
    });

    it('OMNITOK_DEVICE_ERRORS=warn prints errors other than out-of-memory ones and goes on', async () => {
      takeDeviceErrors();
      const s = setup();
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
      try {
        await withEnv({ OMNITOK_DEVICE_ERRORS: 'warn' }, async () => {
          device().createBuffer({ size: 4, usage: 0 });
          expect(Number.isFinite((await s.trainer.trainStep(s.loss)).loss)).toBe(true);
          expect(warn).toHaveBeenCalledTimes(1);
          expect(String(warn.mock.calls[0]![0])).toMatch(/OMNITOK_DEVICE_ERRORS=warn.*validation errors.*usages must not be 0/);
          device().dispatchEvent(new g.GPUUncapturedErrorEvent('uncapturederror', { error: new g.GPUOutOfMemoryError('Out of memory') }));
          await expect(s.trainer.trainStep(s.loss)).rejects.toBeInstanceOf(OutOfMemoryError);
        });
      } finally {
        warn.mockRestore();
        s.dispose();
      }
    });

    it('notes at most a few errors, and says how many more there were', () => {
      takeDeviceErrors();
      for (let i = 0; i < 11; i++) device().createBuffer({ size: 4, usage: 0 });
      const noted = takeDeviceErrors();
      expect(noted).toHaveLength(9);
      expect(noted.slice(0, 8).every((e) => e.kind === 'validation')).toBe(true);
      expect(noted[8]!.message).toBe('… and 3 more');
      expect(takeDeviceErrors()).toEqual([]);
    });
  },
  ['webgpu'],
);
