// An error that becomes one HTTP answer to the agent: status, a stable code, a sentence, extra
// JSON fields (the bad line's number, ...) and headers (Retry-After).
export class HttpError extends Error {
  readonly status: number;
  /** Stable machine-readable reason, e.g. 'invalid_json'; also the metrics label. */
  readonly code: string;
  readonly fields: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, fields: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.headers = headers;
  }

  toJSON(): Record<string, unknown> {
    return { error: this.message, code: this.code, ...this.fields };
  }
}

/** 503 with Retry-After (whole seconds, at least 1): the agent keeps the batch and retries. */
export function unavailable(message: string, retryAfterMs: number, code: string): HttpError {
  return new HttpError(503, code, message, {}, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) });
}
