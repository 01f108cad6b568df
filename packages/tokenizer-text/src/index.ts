export { BpeTokenizer, clipTokenizer } from './bpe-tokenizer.js';
