import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { activityError } from './activityError';
import { ACTIVITY } from './names';
import type { ErrorInfo } from '../domain/errors';
import { pollDelaySeconds, type PollSchedule } from '../domain/pollSchedule';
import type { OutcomeInput, ProgressStatus, ScoreJobOutput } from './contracts';

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

/** Rounds of recordOutcome (each with the retry policy) before the orchestration itself fails. */
export const OUTCOME_ROUNDS = 12;

/**
 * Writes the terminal outcome (the only place one is written) and ends. A table outage is waited out
 * on the poll schedule like any other (about an hour at the default cap); if the record still cannot be
 * written, or the error is permanent, the orchestration fails visibly and the reconciler finds the job.
 */
export function* finish(
  context: OrchestrationContext,
  schedule: PollSchedule,
  outcome: OutcomeInput,
  extra: Pick<ScoreJobOutput, 'amlJobName' | 'polls'> = {},
): Generator<Task, ScoreJobOutput, unknown> {
  for (let round = 1; ; round++) {
    const r = yield* run<{ ok: true }>(context, ACTIVITY.recordOutcome, outcome);
    if (r.ok) break;
    if (!r.error.retryable || round >= OUTCOME_ROUNDS)
      throw new Error(
        `The ${outcome.status} outcome could not be recorded: ${r.error.code}: ${r.error.message}`,
      );
    const now = context.df.currentUtcDateTime;
    const fireAt = new Date(now.getTime() + pollDelaySeconds(schedule, round - 1) * 1000);
    context.df.setCustomStatus({
      phase: 'Recording',
      nextCheckAt: fireAt.toISOString(),
      outage: {
        since: now.toISOString(),
        missedChecks: round,
        lastError: `${r.error.code}: ${r.error.message}`,
      },
    } satisfies ProgressStatus);
    yield context.df.createTimer(fireAt);
  }
  context.df.setCustomStatus({ phase: 'Done' });
  return {
    jobId: outcome.jobId,
    status: outcome.status,
    ...(outcome.error ? { error: outcome.error } : {}),
    ...(outcome.outputBlob ? { outputBlob: outcome.outputBlob } : {}),
    ...extra,
  };
}
