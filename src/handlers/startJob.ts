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

/**
 * Turns one version of one inbox blob into exactly one job, however often it is delivered:
 * the record is created first (insert-if-absent), then the orchestration is started only if no
 * instance with the job's id exists. Checking matters: Durable's `startNew` would overwrite a
 * *finished* instance with the same id and silently run a finished job again.
 */
export async function startJob(
  d: Deps,
  orch: Orchestrations,
  blob: { container: string; name: string; etag?: string; lastModified?: Date },
): Promise<StartedJob> {
  const info =
    blob.etag && blob.lastModified
      ? { etag: blob.etag, lastModified: blob.lastModified }
      : await d.data.info(blob.container, blob.name);
  const etag = normalizeEtag(info.etag);
  const jobId = deriveJobId({
    container: blob.container,
    name: blob.name,
    etag,
    lastModified: info.lastModified,
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
  });
  if (!created && isTerminal(record.status)) return { jobId, started: false, record };
  if ((await orch.state(jobId)) !== 'none') return { jobId, started: false, record };

  const input: ScoreJobInput = {
    jobId,
    source: { container: blob.container, name: blob.name, etag: `"${etag}"` },
    schedule: d.settings.poll,
    deadlineSeconds: d.settings.jobDeadlineSeconds,
  };
  try {
    await orch.start(jobId, input);
  } catch (err) {
    // Two deliveries raced past the check: the other one started it, which is all we wanted.
    if ((await orch.state(jobId)) === 'none') throw err;
    return { jobId, started: false, record };
  }
  return { jobId, started: true, record };
}
