import { fileURLToPath } from 'node:url';
import { describeModalityPlugin } from '@omnitok/core/testing';
import { audioTokenizer } from './audio-tokenizer.js';

const fixture = (name: string) => fileURLToPath(new URL(`./__fixtures__/${name}`, import.meta.url));

// The contract every omnitok plugin passes (shapes, JSON presets, determinism, typed errors, no leaks).
describeModalityPlugin(audioTokenizer(), { inputs: [fixture('speech.wav'), fixture('noise.wav')] });
