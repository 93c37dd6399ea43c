/**
 * Every failure the pipeline raises says whether trying again can help, and is one or two sentences a
 * person can act on. Stack traces and SDK/RPC wrappers stay in the logs (the `cause`), never on a record.
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
  | 'StorageContainerMissing'
  | 'PredictionsInvalid'
  | 'AllRowsFailed'
  | 'DeploymentInvalid'
  | 'BatchLost'
  | 'TimedOut'
  | 'Canceled'
  | 'Internal';

/** What crosses the activity boundary and lands on the job record (which adds `at`). */
export interface ErrorInfo {
  code: ErrorCode;
  message: string;
  retryable: boolean;
}

/** Records hold one or two sentences; service texts can be kilobytes of JSON. */
export const MAX_MESSAGE_CHARS = 600;

export function shortMessage(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_MESSAGE_CHARS ? `${flat.slice(0, MAX_MESSAGE_CHARS - 1)}…` : flat;
}

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
    return { code: this.code, message: shortMessage(this.message), retryable: this.retryable };
  }
}

/** Anything thrown becomes ErrorInfo; an error we did not type is a defect of ours, named as such. */
export function toErrorInfo(err: unknown): ErrorInfo {
  if (err instanceof PipelineError) return err.toJSON();
  const first = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
  return {
    code: 'Internal',
    message: shortMessage(`Unexpected error: ${first} (details are in the logs).`),
    retryable: false,
  };
}

/** The structured part of a thrown error that crosses the activity boundary (FailureDetails.Properties). */
export function errorProperties(err: unknown): { code: ErrorCode; retryable: boolean } | undefined {
  return err instanceof PipelineError ? { code: err.code, retryable: err.retryable } : undefined;
}
