/** Error answers shaped like Azure ML's, so clients are tested against realistic bodies. */

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** One entry of AML's validation error list; the field names are AML's own (PascalCase). */
export interface ValidationIssue {
  PropertyName: string;
  ErrorMessage: string;
  ErrorCode: string;
}

export const VALIDATION_PREFIX = 'The Job request provided has the following validation errors: ';

export function validationError(issues: readonly ValidationIssue[]): HttpError {
  return new HttpError(400, 'UserError', VALIDATION_PREFIX + JSON.stringify(issues));
}

/** ARM-style `{ error: { code, message } }`, or the bare message when the plain-text fault is on. */
export function errorBody(err: HttpError, plainText: boolean): { contentType: string; body: string } {
  if (plainText) return { contentType: 'text/plain; charset=utf-8', body: err.message };
  return {
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify({ error: { code: err.code, message: err.message } }),
  };
}

/** A run-time failure of a job; it ends up in the job resource as `properties.error`. */
export class JobFailure extends Error {
  constructor(
    readonly code: 'UserError' | 'SystemError',
    message: string,
  ) {
    super(message);
    this.name = 'JobFailure';
  }
}
