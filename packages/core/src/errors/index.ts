export { ErrorCode } from './error-codes.js';
export { OmniError, isOmniError, describeValue } from './omni-error.js';
export { InvalidArgumentError } from './invalid-argument-error.js';
export { DecodeError } from './decode-error.js';
export { UnsupportedFormatError } from './unsupported-format-error.js';
export { BadPresetError } from './bad-preset-error.js';
export { NoSuchModalityError } from './no-such-modality-error.js';
export { DuplicateModalityError } from './duplicate-modality-error.js';
export { SpecVersionError } from './spec-version-error.js';
