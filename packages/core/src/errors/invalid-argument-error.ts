import { ErrorCode } from './error-codes.js';
import { describeValue, OmniError } from './omni-error.js';

/** An argument of an omnitok function or command had a bad value. */
export class InvalidArgumentError extends OmniError {
  readonly argument: string;
  readonly value: unknown;

  /**
   * @param argument the argument's name as the caller wrote it (`--preset`, `options.size`, `shape[1]`)
   * @param value the value received
   * @param expected what would have been accepted, in words ("a positive integer")
   */
  constructor(argument: string, value: unknown, expected: string, options?: ErrorOptions) {
    super(
      ErrorCode.InvalidArgument,
      `Invalid ${argument}: got ${describeValue(value)}, expected ${expected}.`,
      { argument, value: describeValue(value), expected },
      options,
    );
    this.argument = argument;
    this.value = value;
  }
}
