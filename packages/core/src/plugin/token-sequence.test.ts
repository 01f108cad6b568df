import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors/index.js';
import { continuousTokens, discreteTokens, gridPositions, isContinuous, isDiscrete, shapeSize } from './token-sequence.js';

describe('token sequences', () => {
  it('enumerates grid positions row-major, last axis fastest', () => {
    expect(Array.from(gridPositions([2, 3]))).toEqual([0, 0, 0, 1, 0, 2, 1, 0, 1, 1, 1, 2]);
    const p = gridPositions([2, 2, 2]);
    expect(Array.from(p.subarray(5 * 3, 6 * 3))).toEqual([1, 0, 1]);
    expect(gridPositions([0, 4])).toHaveLength(0);
  });

  it('builds continuous tokens and derives positions from the grid', () => {
    const t = continuousTokens({ data: new Float32Array(6 * 4), shape: [6, 4], grid: [2, 3], modality: 'image', preset: 'p' });
    expect(t.kind).toBe('continuous');
    expect(isContinuous(t)).toBe(true);
    expect(isDiscrete(t)).toBe(false);
    expect(t.positions).toEqual(gridPositions([2, 3]));
  });

  it('rejects continuous tokens whose data, positions or mask disagree with the shape', () => {
    const base = { shape: [6, 4] as const, grid: [2, 3], modality: 'image', preset: 'p' };
    expect(() => continuousTokens({ ...base, data: new Float32Array(23) })).toThrow(/data\.length.*24/);
    expect(() => continuousTokens({ ...base, data: new Float32Array(24), grid: [2, 2] })).toThrow(/positions\.length/);
    expect(() => continuousTokens({ ...base, data: new Float32Array(24), mask: new Uint8Array(5) })).toThrow(/mask\.length/);
  });

  it('builds discrete tokens with a default mask', () => {
    const t = discreteTokens({ ids: Int32Array.from([49406, 320, 49407, 0, 0]), length: 3, eotIndex: 2, vocabSize: 49408, modality: 'text', preset: 'clip' });
    expect(t.shape).toEqual([5]);
    expect(Array.from(t.mask)).toEqual([1, 1, 1, 0, 0]);
    expect(() => discreteTokens({ ids: new Int32Array(3), length: 4, vocabSize: 2, modality: 'text', preset: 'p' })).toThrow(InvalidArgumentError);
    expect(() => discreteTokens({ ids: new Int32Array(3), length: 1, eotIndex: 3, vocabSize: 2, modality: 'text', preset: 'p' })).toThrow(/eotIndex/);
  });

  it('measures shapes and refuses bad dimensions', () => {
    expect(shapeSize([3, 224, 224])).toBe(150528);
    expect(shapeSize([])).toBe(1);
    expect(() => shapeSize([2, 1.5])).toThrow(/shape\[1\]/);
  });
});
