import { ErrorCode } from './error-codes.js';
import { OmniError } from './omni-error.js';

/**
 * A preset was unknown (by name) or invalid (a custom preset with a bad field).
 * For an unknown name `known` lists the plugin's presets; for a bad field `field` names it.
 */
export class BadPresetError extends OmniError {
  readonly modality: string;
  readonly preset: string;
  readonly field: string | undefined;
  readonly known: readonly string[];

  constructor(
    modality: string,
    preset: string,
    problem: { field?: string; reason?: string; known?: readonly string[] },
    options?: ErrorOptions,
  ) {
    const known = problem.known ?? [];
    const message = problem.field
      ? `Bad ${modality} preset ${JSON.stringify(preset)}: field ${JSON.stringify(problem.field)} ${problem.reason ?? 'is invalid'}.`
      : `Unknown ${modality} preset ${JSON.stringify(preset)}${problem.reason ? ` (${problem.reason})` : ''}. Known presets: ${
          known.length > 0 ? known.join(', ') : '(none)'
        }.`;
    super(ErrorCode.BadPreset, message, { modality, preset, field: problem.field, reason: problem.reason, known: [...known] }, options);
    this.modality = modality;
    this.preset = preset;
    this.field = problem.field;
    this.known = Object.freeze([...known]);
  }
}
