import { ErrorCode } from './error-codes.js';
import { describeValue, OmniError } from './omni-error.js';

/** A plugin declares a `specVersion` this version of `@omnitok/core` does not implement. */
export class SpecVersionError extends OmniError {
  readonly pluginName: string;
  readonly specVersion: unknown;
  readonly supported: readonly number[];

  constructor(pluginName: string, specVersion: unknown, supported: readonly number[], options?: ErrorOptions) {
    super(
      ErrorCode.SpecVersion,
      `Modality plugin ${JSON.stringify(pluginName)} declares specVersion ${describeValue(specVersion)}; ` +
        `this @omnitok/core supports ${supported.join(', ')}.`,
      { pluginName, specVersion: describeValue(specVersion), supported: [...supported] },
      options,
    );
    this.pluginName = pluginName;
    this.specVersion = specVersion;
    this.supported = Object.freeze([...supported]);
  }
}
