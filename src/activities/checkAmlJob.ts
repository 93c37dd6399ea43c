import { isAmlRunning } from '../domain/amlStatus';
import { PipelineError, toErrorInfo } from '../domain/errors';
import type { CheckInput, CheckResult } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

/** One status check. The record is written only when something a person would see has changed. */
export async function checkAmlJob(input: CheckInput, d: Deps): Promise<CheckResult> {
  try {
    const job = await d.aml.get(input.amlJobName);
    const rec = await d.jobs.get(input.jobId);
    if (rec && rec.amlStatus !== job.status) {
      await d.jobs.transition(
        input.jobId,
        isAmlRunning(job.status) ? 'Running' : rec.status,
        { amlStatus: job.status, amlPolls: input.polls },
        d.now(),
      );
    }
    return {
      ok: true,
      amlStatus: job.status,
      cancelRequested: rec?.cancelRequested === true,
      ...(job.error ? { amlError: job.error } : {}),
    };
  } catch (err) {
    if (err instanceof PipelineError && !err.retryable) return { ok: false, error: toErrorInfo(err) };
    throw err;
  }
}
