// Captions/s of CLIP text tokenization into [B, 77] rows: @omnitok/tokenizer-text (built dist,
// `clipTokenizer().encodeBatch`) against transformers.js' CLIPTokenizer, same captions, same run.
//
//   cd packages/tokenizer-text && npx tsup && cd ../../bench && node text-tokenizer.bench.mjs [rounds] [captions]
//
// transformers.js normally downloads tokenizer.json from the Hugging Face hub; there is no network
// here, so the tokenizer.json / tokenizer_config.json of openai/clip-vit-base-patch32 are rebuilt
// from the same bundled vocabulary (same vocab, merges, normalizer, pre-tokenizer, specials) and
// `new CLIPTokenizer(tokenizerJSON, tokenizerConfig)` is constructed from them directly.
//
// Captions: deterministic, COCO-like (templates × objects × places, some numbers and punctuation,
// a few accented / CJK / emoji ones). Both tokenizers keep a word cache, so every round after the
// first is warm for both; the first (cold) round of each is reported separately.
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { CLIPTokenizer } from '@huggingface/transformers';
import { BpeTokenizer, clipTokenizer } from '../packages/tokenizer-text/dist/index.js';

const rounds = Number(process.argv[2] ?? 7);
const count = Number(process.argv[3] ?? 20_000);

// ---- captions ------------------------------------------------------------------------------------
let seed = 12345;
const rand = (n) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
const pick = (xs) => xs[rand(xs.length)];
const subjects = ['a cat', 'two dogs', 'a man', 'a woman', 'a group of people', 'a red car', 'an old bicycle', 'a small boat', 'three birds',
  'a child', 'a plate of food', 'a giraffe', 'an elephant', 'a pizza', 'a laptop', 'a train', 'a skateboarder', 'a surfer', 'a horse', 'a teddy bear'];
const verbs = ['sitting on', 'standing next to', 'riding', 'walking along', 'lying on', 'looking at', 'parked near', 'flying over', 'playing with', 'eating'];
const places = ['a wooden table', 'the beach', 'a busy street', 'a snowy mountain', 'the kitchen counter', 'a grassy field', 'a city park', 'the river bank',
  'an airport runway', 'a living room couch', 'a baseball field', 'the train station'];
const extras = ['', '', '', ' at sunset', ' in the rain', ', close-up', '.', '!', ' with 2 friends', ' on a sunny day', " (it's blurry)", ' — black & white photo',
  ' in Zürich', ' near the café', ' 東京', ' 🐱', ' at 3:45 pm', ' in 1999'];
const captions = Array.from({ length: count }, () => {
  const s = `${pick(subjects)} ${pick(verbs)} ${pick(places)}${pick(extras)}`;
  return rand(4) === 0 ? s[0].toUpperCase() + s.slice(1) : s;
});

// ---- transformers.js tokenizer built from the same files ----------------------------------------
const ours = clipTokenizer();
const { tokens, merges } = ours.vocabulary;
const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
const special = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
const tokenizerJSON = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [special(49406, '<|startoftext|>'), special(49407, '<|endoftext|>')],
  normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
  pre_tokenizer: {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" }, behavior: 'Removed', invert: true },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  },
  post_processor: { type: 'RobertaProcessing', sep: ['<|endoftext|>', 49407], cls: ['<|startoftext|>', 49406], trim_offsets: false, add_prefix_space: false },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE', dropout: null, unk_token: '<|endoftext|>', continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false, byte_fallback: false,
    vocab, merges: merges.map(([a, b]) => `${a} ${b}`),
  },
};
const tokenizerConfig = {
  tokenizer_class: 'CLIPTokenizer', bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: '<|endoftext|>',
  model_max_length: 77, do_lower_case: true, add_prefix_space: false, errors: 'replace',
};
const hf = new CLIPTokenizer(tokenizerJSON, tokenizerConfig);

// ---- parity (ids of the real part of each row) ---------------------------------------------------
const hfIds = (text) => hf(text, { add_special_tokens: true, return_tensor: false }).input_ids;
const diff = (list) => list.filter((t) => hfIds(t).join(' ') !== Array.from(ours.encode(t, { contextLength: 10_000 }).ids.subarray(0, ours.encode(t, { contextLength: 10_000 }).length)).join(' '));
const captionDiffs = diff(captions.slice(0, 2000));
const fixture = JSON.parse(readFileSync(new URL('../packages/tokenizer-text/src/__fixtures__/clip-parity.json', import.meta.url), 'utf8'));
const fixtureDiffs = fixture.cases.filter((c) => hfIds(c.text).slice(1, -1).join(' ') !== c.ids.join(' '));

// ---- timing --------------------------------------------------------------------------------------
const runOurs = (tok) => tok.encodeBatch(captions, { contextLength: 77 });
const runHf = () => hf(captions, { padding: 'max_length', truncation: true, max_length: 77 });
const time = (fn) => {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const coldOurs = time(() => runOurs(new BpeTokenizer(ours.vocabulary, { kind: 'clip-bpe' })));
const coldHf = time(runHf); // first call: empty BPE cache
const tOurs = [];
const tHf = [];
for (let r = 0; r < rounds; r++) {
  if (r % 2 === 0) {
    tOurs.push(time(() => runOurs(ours)));
    tHf.push(time(runHf));
  } else {
    tHf.push(time(runHf));
    tOurs.push(time(() => runOurs(ours)));
  }
}
const rate = (s) => count / s;
const fmt = (n) => Math.round(n).toLocaleString('en-US');
console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} (${availableParallelism()} threads), ${count} captions, ${rounds} rounds, context 77`);
console.log(`omnitok encodeBatch      warm ${fmt(rate(median(tOurs)))} captions/s   cold (empty cache) ${fmt(rate(coldOurs))} captions/s`);
console.log(`transformers.js CLIP     warm ${fmt(rate(median(tHf)))} captions/s   cold (empty cache) ${fmt(rate(coldHf))} captions/s`);
console.log(`ratio omnitok / transformers.js: warm ${(median(tHf) / median(tOurs)).toFixed(2)}x, cold ${(coldHf / coldOurs).toFixed(2)}x`);
console.log(`ids differing (real part of the row): ${captionDiffs.length} of 2000 bench captions; ` +
  `transformers.js vs openai/CLIP on the ${fixture.cases.length} parity strings: ${fixtureDiffs.length} differ (omnitok: 0, see tests)`);
if (process.env.VERBOSE) for (const c of fixtureDiffs.slice(0, 20)) console.log('  differs:', JSON.stringify(c.text));
