import { PipelineError } from '../domain/errors';

interface RestLike {
  statusCode?: number;
  code?: string;
  message?: string;
  details?: { errorCode?: string };
}

const TRANSIENT_NETWORK = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'REQUEST_SEND_ERROR',
]);

/** Translates a storage SDK failure into a typed error that says whether to retry, at the adapter edge. */
export function translateStorageError(err: unknown, what: string): PipelineError {
  if (err instanceof PipelineError) return err;
  const e = (err ?? {}) as RestLike;
  const status = e.statusCode;
  const code = e.details?.errorCode ?? e.code ?? '';
  const msg = `${what}: ${(e.message ?? String(err)).split('\n')[0]}`;
  // A missing container is our configuration (a setting names it), never a problem with the user's file.
  if (code === 'ContainerNotFound') {
    return new PipelineError(
      'StorageContainerMissing',
      `${what}: the container does not exist in the configured account.`,
      { cause: err },
    );
  }
  if (status === 404) return new PipelineError('InputNotFound', msg, { cause: err });
  if (status === 412 || code === 'ConditionNotMet') {
    return new PipelineError('InputChanged', `${what}: the blob changed while it was being processed`, {
      cause: err,
    });
  }
  if (status === 409) return new PipelineError('StorageConflict', msg, { cause: err });
  if (status === 401 || status === 403) {
    return new PipelineError(
      'StorageAuth',
      `${what}: access denied (${code || status}). The app's identity needs a data-plane role on this account ` +
        `(Storage Blob Data Contributor for blobs, Storage Table Data Contributor for tables); Contributor alone is not enough.`,
      { cause: err },
    );
  }
  if (
    status === 408 ||
    status === 429 ||
    (status !== undefined && status >= 500) ||
    TRANSIENT_NETWORK.has(e.code ?? '')
  ) {
    return new PipelineError('StorageUnavailable', msg, { retryable: true, cause: err });
  }
  if (status === undefined)
    return new PipelineError('StorageUnavailable', msg, { retryable: true, cause: err });
  return new PipelineError('Internal', msg, { cause: err });
}
