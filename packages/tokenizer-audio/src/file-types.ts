import { ascii, fileTypeByExtension, matchesMagic, type FileTypeSignature } from '@omnitok/core';

/** Audio formats the plugin declares to the registry (magic wins over the extension). */
export const AUDIO_FILE_TYPES: readonly FileTypeSignature[] = [
  { format: 'wav', extensions: ['wav', 'wave'], mimeType: 'audio/wav', magic: [{ bytes: [...ascii('RIFF'), null, null, null, null, ...ascii('WAVE')] }, { bytes: [...ascii('RIFX'), null, null, null, null, ...ascii('WAVE')] }, { bytes: [...ascii('RF64'), null, null, null, null, ...ascii('WAVE')] }] },
  { format: 'mp3', extensions: ['mp3'], mimeType: 'audio/mpeg', magic: [{ bytes: ascii('ID3') }, { bytes: [0xff, 0xfb] }, { bytes: [0xff, 0xf3] }, { bytes: [0xff, 0xf2] }] },
  { format: 'flac', extensions: ['flac'], mimeType: 'audio/flac', magic: [{ bytes: ascii('fLaC') }] },
  { format: 'ogg', extensions: ['ogg', 'oga', 'opus'], mimeType: 'audio/ogg', magic: [{ bytes: ascii('OggS') }] },
  { format: 'm4a', extensions: ['m4a'], mimeType: 'audio/mp4', magic: [{ offset: 4, bytes: ascii('ftypM4A ') }] },
  { format: 'aac', extensions: ['aac'], mimeType: 'audio/aac', magic: [{ bytes: [0xff, 0xf1] }, { bytes: [0xff, 0xf9] }] },
];

/** Containers whose audio track `decodeAudio` also reads (video files), not declared to the registry. */
const VIDEO_CONTAINERS: readonly FileTypeSignature[] = [
  { format: 'mp4', extensions: ['mp4', 'm4v', 'mov', '3gp'], magic: [{ offset: 4, bytes: ascii('ftyp') }] },
  { format: 'webm', extensions: ['webm', 'mkv'], magic: [{ bytes: [0x1a, 0x45, 0xdf, 0xa3] }] },
  { format: 'avi', extensions: ['avi'], magic: [{ bytes: [...ascii('RIFF'), null, null, null, null, ...ascii('AVI ')] }] },
];

/** Every format name `decodeAudio` accepts, for error messages. */
export const SUPPORTED_AUDIO_FORMATS: readonly string[] = [...AUDIO_FILE_TYPES, ...VIDEO_CONTAINERS].map((t) => t.format);

/** The format of a file from its first bytes, else its extension; undefined when neither is known. */
export function sniffAudioFormat(head: Uint8Array, extension?: string): string | undefined {
  const all = [...AUDIO_FILE_TYPES, ...VIDEO_CONTAINERS];
  for (const t of all) if (t.magic?.some((m) => matchesMagic(head, m))) return t.format;
  return fileTypeByExtension(all, extension)?.format;
}
