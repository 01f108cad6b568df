import type { FileTypeSignature } from '@omnitok/core';

/** Plain text files. Text has no magic number; a UTF-8 byte order mark is taken as one. */
export const TEXT_FILE_TYPES: readonly FileTypeSignature[] = [
  { format: 'txt', extensions: ['txt', 'text'], mimeType: 'text/plain', magic: [{ bytes: [0xef, 0xbb, 0xbf] }] },
];
