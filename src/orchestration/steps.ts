import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { activityError } from './activityError';
import { ACTIVITY } from './names';
import type { ErrorInfo } from '../domain/errors';
import type { OutcomeInput, ScoreJobOutput } from './contracts';

export type Failure = { ok: false; error: ErrorInfo };

/**
 * The one retry layer with backoff (README, "Who retries what"): transient faults are thrown by the
 * activities and retried here, 5 s doubling to 2 min, 6 attempts (about 2.5 minutes of trying).
 */
export const ACTIVITY_RETRY = (() => {
  const r = new df.RetryOptions(5_000, 6);
  r.backoffCoefficient = 2;
  r.maxRetryIntervalInMilliseconds = 120_000;
  return r;
})();

/** Calls an activity with the retry policy; a failure, returned or thrown, comes back as a Result. */
export function* run<R extends { ok: boolean }>(
  context: OrchestrationContext,
  name: string,
  input: unknown,
): Generator<Task, R | Failure, unknown> {
  try {
    return (yield context.df.callActivityWithRetry(name, ACTIVITY_RETRY, input)) as R;
  } catch (err) {
    return { ok: false, error: activityError(err, name) };
  }
}

/**
 * Writes the terminal outcome (the only place one is written) and ends. If even the record cannot be
 * written the orchestration fails, visibly, and the reconciler finds the job.
 */
export function* finish(
  context: OrchestrationContext,
  outcome: OutcomeInput,
  extra: Pick<ScoreJobOutput, 'amlJobName' | 'polls'> = {},
): Generator<Task, ScoreJobOutput, unknown> {
  yield context.df.callActivityWithRetry(ACTIVITY.recordOutcome, ACTIVITY_RETRY, outcome);
  context.df.setCustomStatus({ phase: 'Done' });
  return {
    jobId: outcome.jobId,
    status: outcome.status,
    ...(outcome.error ? { error: outcome.error } : {}),
    ...(outcome.outputBlob ? { outputBlob: outcome.outputBlob } : {}),
    ...extra,
  };
}
