import { ErrorCode } from './error-codes.js';
import { OmniError } from './omni-error.js';

/** Two plugins were registered under the same name. */
export class DuplicateModalityError extends OmniError {
  readonly pluginName: string;

  constructor(pluginName: string, options?: ErrorOptions) {
    super(
      ErrorCode.DuplicateModality,
      `A modality plugin named ${JSON.stringify(pluginName)} is already registered; plugin names must be unique.`,
      { pluginName },
      options,
    );
    this.pluginName = pluginName;
  }
}
