import { PipelineError, toErrorInfo } from '../domain/errors';
import type { CancelInput, CancelResult } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

/** Asks AML to cancel (management plane); without workspace coordinates there is no cancel to call. */
export async function cancelAmlJob(input: CancelInput, d: Deps): Promise<CancelResult> {
  try {
    return { ok: true, requested: await d.aml.cancel(input.amlJobName) };
  } catch (err) {
    if (err instanceof PipelineError && !err.retryable) return { ok: false, error: toErrorInfo(err) };
    throw err;
  }
}
