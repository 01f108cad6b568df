import { ErrorCode } from './error-codes.js';
import { OmniError } from './omni-error.js';

/**
 * An input was in a supported format but could not be decoded: truncated, corrupt, empty, too large.
 * `input` names the file (its path) or the buffer (`<N bytes>`); `reason` says what was wrong.
 */
export class DecodeError extends OmniError {
  readonly input: string;
  readonly modality: string;
  readonly reason: string;

  constructor(input: string, modality: string, reason: string, options?: ErrorOptions) {
    super(ErrorCode.Decode, `Cannot decode ${modality} input ${input}: ${reason}`, { input, modality, reason }, options);
    this.input = input;
    this.modality = modality;
    this.reason = reason;
  }
}
