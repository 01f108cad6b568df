import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clipTokenizer } from './bpe-tokenizer.js';
import { fixText } from './fix-text.js';

/** Reference ids from openai/CLIP's simple_tokenizer.py (with ftfy 6.3.1); see make-fixtures.py. */
interface Fixture {
  ftfy: string;
  cases: { text: string; ids: number[]; decoded: string; ftfyChanged: boolean }[];
  fixText: { text: string; fixed: string }[];
}
const fixture = JSON.parse(readFileSync(new URL('./__fixtures__/clip-parity.json', import.meta.url), 'utf8')) as Fixture;

describe('parity with openai/CLIP simple_tokenizer.py', () => {
  const tok = clipTokenizer();

  it('the fixture is the real thing: 200+ strings, generated with real ftfy, some of them changed by it', () => {
    expect(fixture.cases.length).toBeGreaterThanOrEqual(200);
    expect(fixture.ftfy).toMatch(/^ftfy 6\./);
    expect(fixture.cases.filter((c) => c.ftfyChanged).length).toBeGreaterThan(20);
  });

  it('encodes every fixture string to the reference ids', () => {
    const mismatches = fixture.cases
      .map((c) => ({ text: c.text, expected: c.ids.join(' '), got: Array.from(tok.encodeIds(c.text)).join(' ') }))
      .filter((m) => m.expected !== m.got);
    expect(mismatches).toEqual([]);
  });

  it('encodes 400 random strings (letters, scripts, emoji, combining marks, entities, mojibake, odd whitespace) to the reference ids', () => {
    const random = JSON.parse(readFileSync(new URL('./__fixtures__/clip-parity-random.json', import.meta.url), 'utf8')) as { ftfy: string; cases: { text: string; ids: number[] }[] };
    expect(random.ftfy).toMatch(/^ftfy 6\./);
    expect(random.cases.length).toBe(400);
    const mismatches = random.cases
      .map((c) => ({ text: c.text, expected: c.ids.join(' '), got: Array.from(tok.encodeIds(c.text)).join(' ') }))
      .filter((m) => m.expected !== m.got);
    expect(mismatches).toEqual([]);
  });

  it('decodes the reference ids to the reference text', () => {
    const mismatches = fixture.cases.filter((c) => tok.decode(c.ids) !== c.decoded).map((c) => c.text);
    expect(mismatches).toEqual([]);
  });

  it('fixText matches ftfy.fix_text on mojibake, entities, widths, ligatures, controls', () => {
    const mismatches = fixture.fixText.map((c) => ({ text: c.text, expected: c.fixed, got: fixText(c.text) })).filter((m) => m.got !== m.expected);
    expect(mismatches).toEqual([]);
  });

  it('encodes the anchor caption', () => {
    expect(Array.from(tok.encode('a photo of a cat').ids.subarray(0, 8))).toEqual([49406, 320, 1125, 539, 320, 2368, 49407, 0]);
  });
});
