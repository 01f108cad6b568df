import { fileURLToPath } from 'node:url';
import { describeModalityPlugin } from '@omnitok/core/testing';
import { textTokenizer } from './text-tokenizer.js';

// The contract every omnitok plugin passes. Text decodes any bytes (invalid UTF-8 becomes U+FFFD),
// so there is no garbage input that must fail; a missing file still must.
describeModalityPlugin(textTokenizer(), {
  inputs: [{ text: 'a photo of a cat' }, fileURLToPath(new URL('./__fixtures__/caption.txt', import.meta.url)), { text: '' }],
  garbage: [fileURLToPath(new URL('./__fixtures__/no-such-file.txt', import.meta.url))],
});
