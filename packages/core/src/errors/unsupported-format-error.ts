import { ErrorCode } from './error-codes.js';
import { OmniError } from './omni-error.js';

/**
 * An input's format (extension, magic bytes, codec) is not one that the plugin — or any registered
 * plugin — reads. `supported` lists what would have been accepted.
 */
export class UnsupportedFormatError extends OmniError {
  readonly input: string;
  readonly format: string | undefined;
  readonly supported: readonly string[];

  constructor(input: string, format: string | undefined, supported: readonly string[], options?: ErrorOptions) {
    const what = format ? `format ${JSON.stringify(format)}` : 'an unrecognized format';
    const list = supported.length > 0 ? supported.join(', ') : '(none)';
    super(
      ErrorCode.UnsupportedFormat,
      `Unsupported input ${input}: ${what}. Supported: ${list}.`,
      { input, format, supported: [...supported] },
      options,
    );
    this.input = input;
    this.format = format;
    this.supported = Object.freeze([...supported]);
  }
}
