import { continuousTokens, discreteTokens } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import { distinctRows } from './evaluate.js';

describe('distinctRows', () => {
  it('groups identical token sequences by content (not by name), keeping first occurrences in order', () => {
    const img = (v: number, source: string) => continuousTokens({ modality: 'image', preset: 'p', source, data: new Float32Array([v, v + 1, v + 2, v + 3]), shape: [2, 2], grid: [1, 2] });
    const rows = [img(1, 'a.png'), img(2, 'b.png'), img(1, 'copy-of-a.png'), img(3, 'c.png'), img(2, 'b.png')];
    const d = distinctRows(rows);
    expect(d.first).toEqual([0, 1, 3]);
    expect(Array.from(d.of)).toEqual([0, 1, 0, 2, 1]);
  });
  it('compares discrete ids too; a different shape or value is a different item', () => {
    const txt = (ids: number[]) => discreteTokens({ modality: 'text', preset: 'p', ids: Int32Array.from(ids), vocabSize: 10, length: ids.length });
    const d = distinctRows([txt([1, 2, 3]), txt([1, 2, 3]), txt([1, 2, 4]), txt([1, 2])]);
    expect(Array.from(d.of)).toEqual([0, 0, 1, 2]);
  });
});
