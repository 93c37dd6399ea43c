import { isAmlRunning } from '../domain/amlStatus';
import { withAmlStatus } from '../domain/jobRecord';
import type { CheckInput, CheckResult } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

/**
 * One status check. The record is written only when something a person would see has changed: a new
 * AML status (appended to its history) or the end of an outage.
 */
export async function checkAmlJob(input: CheckInput, d: Deps): Promise<CheckResult> {
  const job = await d.aml.get(input.amlJobName);
  const rec = await d.jobs.get(input.jobId);
  if (rec && (rec.amlStatus !== job.status || rec.outage)) {
    const now = d.now();
    await d.jobs.transition(
      input.jobId,
      isAmlRunning(job.status) ? 'Running' : rec.status,
      {
        amlStatus: job.status,
        amlStatusHistory: withAmlStatus(rec.amlStatusHistory, job.status, now),
        amlPolls: input.polls,
        outage: undefined,
      },
      now,
    );
  }
  return {
    ok: true,
    amlStatus: job.status,
    cancelRequested: rec?.cancelRequested === true,
    ...(job.error ? { amlError: job.error } : {}),
  };
}
