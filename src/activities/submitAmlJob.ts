import { isAmlStatus } from '../domain/amlStatus';
import { withAmlStatus } from '../domain/jobRecord';
import type { SubmitInput, SubmitResult } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

/**
 * Starts the AML batch job and saves its name on the record before returning: a retried activity
 * (or a replay) finds the name and does not start a second job.
 */
export async function submitAmlJob(input: SubmitInput, d: Deps): Promise<SubmitResult> {
  const existing = await d.jobs.get(input.jobId);
  if (existing?.amlJobName) {
    return {
      ok: true,
      amlJobName: existing.amlJobName,
      amlStatus: existing.amlStatus && isAmlStatus(existing.amlStatus) ? existing.amlStatus : 'NotStarted',
    };
  }
  const job = await d.aml.submit({
    inputUri: input.staged.inputUri,
    outputUri: input.staged.outputUri,
    requestId: input.jobId,
    ...(input.deployment ? { deployment: input.deployment } : {}),
  });
  const now = d.now();
  await d.jobs.transition(
    input.jobId,
    'Submitted',
    {
      amlJobName: job.name,
      amlStatus: job.status,
      amlStatusHistory: withAmlStatus(undefined, job.status, now),
      amlPolls: 0,
      ...(job.studioUrl ? { amlStudioUrl: job.studioUrl } : {}),
    },
    now,
  );
  return { ok: true, amlJobName: job.name, amlStatus: job.status };
}
