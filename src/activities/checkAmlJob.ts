import { isAmlRunning } from '../domain/amlStatus';
import { withAmlStatus } from '../domain/jobRecord';
import type { CheckInput, CheckResult } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

/**
 * One status check. The record is written only when something a person would see has changed: a new
 * AML status (appended to its history) or the end of an outage. Decided on the record as last
 * written (the job table's ETag cache): a change is one write whose ETag check proves the record
 * current, `cancelRequested` included; no change is confirmed on one read.
 */
export async function checkAmlJob(input: CheckInput, d: Deps): Promise<CheckResult> {
  const job = await d.aml.get(input.amlJobName);
  const now = d.now();
  const rec = await d.jobs.change(
    input.jobId,
    (r) =>
      r.amlStatus !== job.status || r.outage
        ? {
            status: isAmlRunning(job.status) ? 'Running' : r.status,
            patch: {
              amlStatus: job.status,
              amlStatusHistory: withAmlStatus(r.amlStatusHistory, job.status, now),
              amlPolls: input.polls,
              outage: undefined,
            },
          }
        : undefined,
    now,
  );
  return {
    ok: true,
    amlStatus: job.status,
    cancelRequested: rec.cancelRequested === true,
    ...(job.error ? { amlError: job.error } : {}),
  };
}
