/**
 * Every failure the pipeline raises says whether trying again can help. Activities throw only
 * retryable errors (Durable's retry policy re-runs them); permanent ones are returned as results
 * so that a retry policy never wastes attempts on them.
 */
export type ErrorCode =
  | 'ConfigInvalid'
  | 'InputEmpty'
  | 'InputHeaderOnly'
  | 'InputTooLarge'
  | 'InputNotText'
  | 'InputNotCsv'
  | 'InputMissingColumns'
  | 'InputInvalidValues'
  | 'InputChanged'
  | 'InputNotFound'
  | 'AmlValidation'
  | 'AmlAuth'
  | 'AmlNotFound'
  | 'AmlThrottled'
  | 'AmlUnavailable'
  | 'AmlJobFailed'
  | 'AmlJobCanceled'
  | 'AmlBadResponse'
  | 'AmlUnknownStatus'
  | 'StorageAuth'
  | 'StorageUnavailable'
  | 'StorageConflict'
  | 'PredictionsInvalid'
  | 'TimedOut'
  | 'Canceled'
  | 'Internal';

export class PipelineError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Server-suggested wait (Retry-After), when there was one. */
  readonly retryAfterMs?: number;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { retryable?: boolean; cause?: unknown; retryAfterMs?: number } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'PipelineError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
  }

  toJSON(): ErrorInfo {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

export interface ErrorInfo {
  code: ErrorCode;
  message: string;
  retryable?: boolean;
}

export function isRetryable(err: unknown): boolean {
  return err instanceof PipelineError && err.retryable;
}

export function toErrorInfo(err: unknown): ErrorInfo {
  if (err instanceof PipelineError) return err.toJSON();
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'Internal', message };
}
