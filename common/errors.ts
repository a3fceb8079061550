// Typed errors. Every message names the subsystem and, where there is one, what to do next.

export class ProcflowError extends Error {
  /** Stable machine-readable code, e.g. 'CONFIG_INVALID'. */
  readonly code: string;
  /** What the user can do about it. */
  readonly hint: string | undefined;

  constructor(code: string, message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProcflowError';
    this.code = code;
    this.hint = hint;
  }
}

export class ConfigError extends ProcflowError {
  constructor(message: string, hint?: string) {
    super('CONFIG_INVALID', `config: ${message}`, hint);
    this.name = 'ConfigError';
  }
}

/** One line for a terminal: message plus hint. */
export function describeError(err: unknown): string {
  if (err instanceof ProcflowError) return err.hint ? `${err.message}\n  hint: ${err.hint}` : err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
