import type { Deps } from '../app/deps';
import type { Orchestrations } from '../adapters/orchestrations';
import { deriveJobId, normalizeEtag } from '../domain/jobId';
import { isTerminal, type JobRecord } from '../domain/jobRecord';
import type { ScoreJobInput } from '../orchestration/contracts';

export interface StartedJob {
  jobId: string;
  /** False when this delivery found the job already there (a redelivered trigger, an API upload). */
  started: boolean;
  record: JobRecord;
}

export interface BlobToScore {
  container: string;
  name: string;
  /** The version, when the caller knows it; otherwise the blob's current properties are read. */
  etag?: string;
  lastModified?: Date;
  /** For a retry: which attempt this is and the job it retries. */
  attempt?: number;
  retryOf?: string;
  /** A deployment asked for through the API (checked by the caller); kept on the record for resumes. */
  deployment?: string;
}

/** The orchestration's input for a job; the same for a first start and for a resume by the reconciler. */
export function scoreJobInput(
  d: Deps,
  rec: Pick<JobRecord, 'jobId' | 'sourceContainer' | 'sourceBlob' | 'sourceEtag' | 'deployment'>,
): ScoreJobInput {
  const sh = d.settings.shaping;
  return {
    jobId: rec.jobId,
    source: { container: rec.sourceContainer, name: rec.sourceBlob, etag: `"${rec.sourceEtag}"` },
    schedule: d.settings.poll,
    deadlineSeconds: d.settings.jobDeadlineSeconds,
    ...(rec.deployment ? { deployment: rec.deployment } : {}),
    ...(sh.batchWindowSeconds > 0
      ? {
          batching: {
            windowSeconds: sh.batchWindowSeconds,
            maxFiles: sh.batchMaxFiles,
            maxBytes: sh.batchMaxBytes,
          },
        }
      : {}),
  };
}

/**
 * Starts the orchestration of a job whose record exists, unless an instance with its id exists.
 * Checking matters: Durable's `startNew` would overwrite a *finished* instance with the same id and
 * silently run a finished job again. Returns whether this call started it.
 */
export async function ensureOrchestration(d: Deps, orch: Orchestrations, rec: JobRecord): Promise<boolean> {
  if ((await orch.state(rec.jobId)) !== 'none') return false;
  try {
    await orch.start(rec.jobId, scoreJobInput(d, rec));
  } catch (err) {
    // Two callers raced past the check (the extension refuses to start a running instance again):
    // the other one started it, which is all we wanted.
    if ((await orch.state(rec.jobId)) === 'none') throw err;
    return false;
  }
  return true;
}

/**
 * Turns one version of one inbox blob (one attempt at it) into exactly one job, however often it is
 * delivered: the record is created first (insert-if-absent), then the orchestration is started only
 * if no instance with the job's id exists.
 */
export async function startJob(d: Deps, orch: Orchestrations, blob: BlobToScore): Promise<StartedJob> {
  const info =
    blob.etag && blob.lastModified
      ? { etag: blob.etag, lastModified: blob.lastModified }
      : await d.data.info(blob.container, blob.name);
  const etag = normalizeEtag(info.etag);
  const attempt = blob.attempt ?? 0;
  const jobId = deriveJobId({
    container: blob.container,
    name: blob.name,
    etag,
    lastModified: info.lastModified,
    attempt,
  });
  const now = d.now().toISOString();
  const { created, record } = await d.jobs.create({
    jobId,
    status: 'Received',
    sourceContainer: blob.container,
    sourceBlob: blob.name,
    sourceEtag: etag,
    receivedAt: info.lastModified.toISOString(),
    createdAt: now,
    updatedAt: now,
    phases: { Received: now },
    attempt,
    ...(blob.retryOf ? { retryOf: blob.retryOf } : {}),
    ...(blob.deployment ? { deployment: blob.deployment } : {}),
  });
  if (!created && isTerminal(record.status)) return { jobId, started: false, record };
  return { jobId, started: await ensureOrchestration(d, orch, record), record };
}
