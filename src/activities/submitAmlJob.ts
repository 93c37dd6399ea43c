import { isAmlStatus, type AmlStatus } from '../domain/amlStatus';
import { withAmlStatus } from '../domain/jobRecord';
import type { SubmitInput, SubmitResult } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

/**
 * Starts the AML batch job and saves its name on the record before returning: a retried activity
 * (or a replay) finds the name and does not start a second job. A folder (a split file's parts, a
 * batch's files) goes as a `UriFolder` input; a batch's files then learn which AML job scores them.
 */
export async function submitAmlJob(input: SubmitInput, d: Deps): Promise<SubmitResult> {
  const existing = await d.jobs.get(input.jobId);
  let job: { name: string; status: AmlStatus; studioUrl?: string };
  if (existing?.amlJobName) {
    job = {
      name: existing.amlJobName,
      status: existing.amlStatus && isAmlStatus(existing.amlStatus) ? existing.amlStatus : 'NotStarted',
      ...(existing.amlStudioUrl ? { studioUrl: existing.amlStudioUrl } : {}),
    };
  } else {
    job = await d.aml.submit({
      inputUri: input.staged.inputUri,
      outputUri: input.staged.outputUri,
      requestId: input.jobId,
      ...(input.deployment ? { deployment: input.deployment } : {}),
      ...(input.staged.folder ? { folder: true } : {}),
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
  }
  // AML's run events find the orchestration that owns the job through this index (amlEventsTrigger).
  if (d.settings.poll.events) await d.amlJobs.put(job.name, input.jobId);
  // A batch's files learn which AML job scores them: one table transaction per partition.
  if (input.staged.members?.length)
    await d.jobs.transitionMany(
      input.staged.members,
      'Submitted',
      { amlJobName: job.name, ...(job.studioUrl ? { amlStudioUrl: job.studioUrl } : {}) },
      d.now(),
    );
  return { ok: true, amlJobName: job.name, amlStatus: job.status };
}
