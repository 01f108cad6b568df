/**
 * @omnitok/tokenizer-video — video to tubelet tokens through ffmpeg (the npm-shipped binary, spawned
 * directly, or OMNITOK_FFMPEG / OMNITOK_FFPROBE). Frames are preprocessed by @omnitok/tokenizer-image and
 * the audio track is handed to @omnitok/tokenizer-audio. Nothing registers itself on import: create the
 * plugin with `videoTokenizer()` and pass it to `createModalityRegistry`, or call the stages directly.
 */
export { videoTokenizer, type VideoTokenizer, type VideoTokenizerOptions } from './video-tokenizer.js';
export { decodeVideo, withVideoFile, type DecodedVideo, type VideoDecodeOptions } from './decode-video.js';
export { probeVideo, parseProbe, FfprobeFailure, type VideoProbe, type VideoStreamInfo, type ProbeOptions } from './probe-video.js';
export { readFrames, countedFrameTimes, type VideoFrame, type ReadFramesOptions } from './read-frames.js';
export { startPreprocessPool, defaultPreprocessWorkers, type PreprocessPool } from './preprocess-pool.js';
export { planFrames, uniformSubsample, type FramePlan, type SamplingContext, type SamplingOptions } from './sample-frames.js';
export { preprocessVideo, tokenizeVideo, resolveVideoPreset, WORKER_MIN_FRAMES, type VideoFeatures, type VideoTokens, type VideoPreprocessOptions } from './preprocess-video.js';
export { streamVideoWindows, type VideoWindow, type VideoWindowOptions } from './stream-video-windows.js';
export { tubeletize, tubeletizeInto, imageAsVideo, tokenizeImageAsVideo, type TubeletInput } from './tubeletize.js';
export { extractAudioTrack, type AudioTrack, type AudioTrackOptions } from './extract-audio-track.js';
export { VIDEO_PRESETS, DEFAULT_VIDEO_PRESET, validateVideoPreset, type VideoPreset, type VideoSampling, type ResolvedVideoPreset } from './presets.js';
export { VIDEO_FILE_TYPES, SUPPORTED_VIDEO_FORMATS, sniffVideoFormat } from './file-types.js';
