/**
 * The base of every error omnitok throws on purpose.
 *
 * `code` is stable across releases: match on it (or on `instanceof` a subclass), never on the message.
 * `details` carries the structured fields of the subclass as plain JSON so a CLI or a server can report
 * them without string parsing. Messages always name the offending argument or input and the bad value.
 */
export class OmniError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = Object.freeze({ ...details });
  }

  /** A JSON-able view: `{ name, code, message, ...details }`. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...this.details };
  }
}

/** True for any error raised by omnitok (also across duplicated copies of this package). */
export function isOmniError(error: unknown): error is OmniError {
  return (
    error instanceof OmniError ||
    (typeof error === 'object' &&
      error !== null &&
      typeof (error as { code?: unknown }).code === 'string' &&
      (error as { code: string }).code.startsWith('E_') &&
      error instanceof Error)
  );
}

/** Shortens a value for an error message: long strings and arrays are cut, byte buffers summarized. */
export function describeValue(value: unknown, max = 80): string {
  let text: string;
  if (value instanceof Uint8Array) text = `<${value.byteLength} bytes>`;
  else if (typeof value === 'string') text = JSON.stringify(value);
  else if (typeof value === 'bigint') text = `${value}n`;
  else if (value === undefined) text = 'undefined';
  else if (typeof value === 'function') text = `[function ${value.name || 'anonymous'}]`;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
