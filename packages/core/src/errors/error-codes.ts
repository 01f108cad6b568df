/** Every stable error code omnitok uses. Codes are never renamed or reused. */
export const ErrorCode = {
  InvalidArgument: 'E_INVALID_ARGUMENT',
  Decode: 'E_DECODE',
  UnsupportedFormat: 'E_UNSUPPORTED_FORMAT',
  BadPreset: 'E_BAD_PRESET',
  NoSuchModality: 'E_NO_SUCH_MODALITY',
  DuplicateModality: 'E_DUPLICATE_MODALITY',
  SpecVersion: 'E_SPEC_VERSION',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
