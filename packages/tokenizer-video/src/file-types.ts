import { ascii, type FileTypeSignature, matchesMagic } from '@omnitok/core';

// ISO BMFF brands that mark a video file. 'M4A ' (audio) is left to the audio plugin.
const MP4_BRANDS = ['isom', 'iso2', 'iso4', 'iso5', 'iso6', 'mp41', 'mp42', 'avc1', 'M4V ', 'M4VH', 'M4VP', 'dash', 'MSNV', 'mmp4', '3gp4', '3gp5', '3gp6', '3g2a', 'NDAS'];
const ftyp = (brand: string) => ({ offset: 4, bytes: ascii(`ftyp${brand}`) });

/**
 * The formats the video plugin declares to the registry (magic bytes win over the extension):
 * MP4 / M4V / 3GP (`ftyp` at offset 4 with a video brand), QuickTime (`ftypqt  `), WebM / Matroska
 * (EBML `1A 45 DF A3`) and AVI (`RIFF····AVI `). ffmpeg reads many more; those can be passed as paths.
 */
export const VIDEO_FILE_TYPES: readonly FileTypeSignature[] = [
  { format: 'mp4', extensions: ['mp4', 'm4v', '3gp'], mimeType: 'video/mp4', magic: MP4_BRANDS.map(ftyp) },
  { format: 'mov', extensions: ['mov', 'qt'], mimeType: 'video/quicktime', magic: [ftyp('qt  ')] },
  { format: 'webm', extensions: ['webm'], mimeType: 'video/webm', magic: [{ bytes: [0x1a, 0x45, 0xdf, 0xa3] }] },
  { format: 'mkv', extensions: ['mkv'], mimeType: 'video/x-matroska', magic: [{ bytes: [0x1a, 0x45, 0xdf, 0xa3] }] },
  { format: 'avi', extensions: ['avi'], mimeType: 'video/x-msvideo', magic: [{ bytes: [...ascii('RIFF'), null, null, null, null, ...ascii('AVI ')] }] },
];

export const SUPPORTED_VIDEO_FORMATS: readonly string[] = VIDEO_FILE_TYPES.map((t) => t.format);

/**
 * The container of a file from its first bytes (at least 64 for the WebM / Matroska distinction):
 * `mp4`, `mov`, `webm`, `mkv`, `avi`, or undefined. Any other `ftyp` brand counts as `mp4`.
 */
export function sniffVideoFormat(head: Uint8Array): string | undefined {
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) {
    return Buffer.from(head.subarray(0, 64)).includes('webm') ? 'webm' : 'mkv';
  }
  for (const t of VIDEO_FILE_TYPES) if (t.magic?.some((m) => matchesMagic(head, m))) return t.format;
  if (matchesMagic(head, { offset: 4, bytes: ascii('ftyp') })) return 'mp4';
  return undefined;
}
