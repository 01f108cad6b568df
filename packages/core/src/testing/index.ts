/**
 * @omnitok/core/testing — the conformance kit for modality plugins (needs vitest, an optional peer).
 */
export { describeModalityPlugin, type ConformanceFixtures } from './describe-modality-plugin.js';
export { corruptedCopies } from './corrupt-bytes.js';
