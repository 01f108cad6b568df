import { fileURLToPath } from 'node:url';
import { describeModalityPlugin } from '@omnitok/core/testing';
import { imageTokenizer } from './image-tokenizer.js';

const fixture = (name: string) => fileURLToPath(new URL(`./__fixtures__/${name}`, import.meta.url));

// The contract every omnitok plugin passes (shapes, JSON presets, determinism, typed errors, no leaks).
describeModalityPlugin(imageTokenizer(), {
  inputs: [fixture('chelsea.jpg')],
  presets: ['clip-vit-b-16', 'clip-vit-b-32', 'siglip-224', 'imagenet'],
  augment: true,
  seed: 3,
});
