import { JobHistory } from '../adapters/jobHistory';
import { estimateDuration as estimate } from '../domain/durationEstimate';
import { PipelineError } from '../domain/errors';
import type { EstimateInput, EstimateResult } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

const histories = new WeakMap<Deps, JobHistory>();

/**
 * How long this AML job will likely take, from the deployment's recent finished jobs of similar size.
 * An optimisation only: any failure is answered as permanent (no retries to wait for) and the
 * orchestrator falls back to the plain schedule.
 */
export async function estimateDuration(input: EstimateInput, d: Deps): Promise<EstimateResult> {
  let history = histories.get(d);
  if (!history) histories.set(d, (history = new JobHistory(d.jobs.client)));
  try {
    // '' is the endpoint's default deployment; only progress from before that field reads the record.
    const deployment =
      input.deployment !== undefined
        ? input.deployment || undefined
        : (await d.jobs.get(input.jobId))?.deployment;
    const e = estimate(await history.finished(deployment, d.now()), input.rows);
    return { ok: true, ...(e ? { estimate: e } : {}) };
  } catch (err) {
    const code = err instanceof PipelineError ? err.code : 'Internal';
    throw new PipelineError(code, `No duration estimate: ${(err as Error).message}`, {
      retryable: false,
      cause: err,
    });
  }
}
