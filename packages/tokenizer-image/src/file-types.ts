import { ascii, type FileTypeSignature, matchesMagic } from '@omnitok/core';

/** The formats the image plugin decodes, with the magic bytes the registry routes by. */
export const IMAGE_FILE_TYPES: readonly FileTypeSignature[] = [
  { format: 'jpeg', extensions: ['jpg', 'jpeg', 'jpe', 'jfif'], mimeType: 'image/jpeg', magic: [{ bytes: [0xff, 0xd8, 0xff] }] },
  { format: 'png', extensions: ['png'], mimeType: 'image/png', magic: [{ bytes: [0x89, ...ascii('PNG\r\n'), 0x1a, 0x0a] }] },
  { format: 'webp', extensions: ['webp'], mimeType: 'image/webp', magic: [{ bytes: [...ascii('RIFF'), null, null, null, null, ...ascii('WEBP')] }] },
  { format: 'gif', extensions: ['gif'], mimeType: 'image/gif', magic: [{ bytes: ascii('GIF87a') }, { bytes: ascii('GIF89a') }] },
  { format: 'tiff', extensions: ['tif', 'tiff'], mimeType: 'image/tiff', magic: [{ bytes: [...ascii('II'), 42, 0] }, { bytes: [...ascii('MM'), 0, 42] }] },
  { format: 'avif', extensions: ['avif'], mimeType: 'image/avif', magic: [{ offset: 4, bytes: ascii('ftypavif') }, { offset: 4, bytes: ascii('ftypavis') }] },
];

/** The format whose magic bytes start `bytes`, if any. */
export function sniffImageFormat(bytes: Uint8Array): string | undefined {
  for (const sig of IMAGE_FILE_TYPES) if (sig.magic!.some((m) => matchesMagic(bytes, m))) return sig.format;
  return undefined;
}
