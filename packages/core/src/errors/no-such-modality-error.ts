import { ErrorCode } from './error-codes.js';
import { OmniError } from './omni-error.js';

/** A plugin was looked up by a name that no registered plugin has. `known` lists the registered names. */
export class NoSuchModalityError extends OmniError {
  readonly requested: string;
  readonly known: readonly string[];

  constructor(requested: string, known: readonly string[], options?: ErrorOptions) {
    super(
      ErrorCode.NoSuchModality,
      `No modality plugin named ${JSON.stringify(requested)}. Registered: ${known.length > 0 ? known.join(', ') : '(none)'}.`,
      { requested, known: [...known] },
      options,
    );
    this.requested = requested;
    this.known = Object.freeze([...known]);
  }
}
