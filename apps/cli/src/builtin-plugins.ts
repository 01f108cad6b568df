import type { AnyModalityPlugin } from '@omnitok/core';

/**
 * The plugins the `omnitok` command ships with, in routing priority order (the first plugin that
 * claims a file type gets it). Each comes from its package's factory, loaded on first use so that
 * `omnitok --help` starts without decoding libraries; nothing self-registers.
 */
export async function builtinPlugins(): Promise<AnyModalityPlugin[]> {
  const [{ videoTokenizer }, { imageTokenizer }, { audioTokenizer }, { textTokenizer }, { imuTokenizer }] = await Promise.all([
    import('@omnitok/tokenizer-video'),
    import('@omnitok/tokenizer-image'),
    import('@omnitok/tokenizer-audio'),
    import('@omnitok/tokenizer-text'),
    import('@omnitok/plugin-imu'),
  ]);
  // video before audio: MP4/MKV files carry both, and a file with a video stream is a video
  return [videoTokenizer(), imageTokenizer(), audioTokenizer(), textTokenizer(), imuTokenizer()];
}
