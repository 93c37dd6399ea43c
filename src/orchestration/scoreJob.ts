import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';
import { nextPollAt } from '../domain/pollSchedule';
import type { ErrorInfo } from '../domain/errors';
import { ACTIVITY, CANCEL_EVENT } from './names';
import type {
  CancelInput,
  CheckInput,
  CheckResult,
  OutcomeInput,
  ProgressStatus,
  PublishInput,
  PublishResult,
  ScoreJobInput,
  ScoreJobOutput,
  ScoreJobProgress,
  SubmitInput,
  SubmitResult,
  ValidateInput,
  ValidateResult,
} from './contracts';

/**
 * One job, start to end: validate and stage → submit → wait on durable timers, checking AML on a
 * backoff schedule → publish. Replayed from history on every wake-up, so it reads time only from
 * `currentUtcDateTime` and does all I/O through activities.
 *
 * The waiting loop runs at most POLLS_PER_EXECUTION checks, then continues as new with its progress:
 * the history stays small however long AML takes.
 */
export const POLLS_PER_EXECUTION = 20;

/** Transient faults are retried by the activities' own policy; permanent ones come back as results. */
export const ACTIVITY_RETRY = (() => {
  const r = new df.RetryOptions(5_000, 6);
  r.backoffCoefficient = 2;
  r.maxRetryIntervalInMilliseconds = 120_000;
  return r;
})();

function parseFailure(err: unknown): ErrorInfo {
  const message = err instanceof Error ? err.message : String(err);
  // Activities throw `<Code>: <message>` (see functions/activities.ts); keep the code when it is there.
  const m = /^([A-Z][A-Za-z]+): ([\s\S]*)$/.exec(message);
  return m ? { code: m[1] as ErrorInfo['code'], message: m[2] ?? message } : { code: 'Internal', message };
}

export function* scoreJobOrchestrator(
  context: OrchestrationContext,
): Generator<Task, ScoreJobOutput, unknown> {
  const input = context.df.getInput<ScoreJobInput>();
  const { jobId } = input;
  const now = (): Date => context.df.currentUtcDateTime;
  const status = (s: ProgressStatus): void => context.df.setCustomStatus(s);

  const end = function* (
    outcome: OutcomeInput['status'],
    error: ErrorInfo,
    extra: Partial<ScoreJobOutput> = {},
  ): Generator<Task, ScoreJobOutput, unknown> {
    const rec: OutcomeInput = { jobId, status: outcome, error };
    yield context.df.callActivityWithRetry(ACTIVITY.recordOutcome, ACTIVITY_RETRY, rec);
    status({ phase: 'Done' });
    return { jobId, status: outcome, error, ...extra };
  };

  try {
    let progress: ScoreJobProgress;
    if (input.progress) {
      progress = input.progress;
    } else {
      status({ phase: 'Validating' });
      const v = (yield context.df.callActivityWithRetry(ACTIVITY.validateAndStage, ACTIVITY_RETRY, {
        jobId,
        source: input.source,
      } satisfies ValidateInput)) as ValidateResult;
      if (!v.ok) {
        status({ phase: 'Done' });
        // The activity has recorded the outcome (Rejected, with the quarantine copy) itself.
        return { jobId, status: v.error.code.startsWith('Input') ? 'Rejected' : 'Failed', error: v.error };
      }
      status({ phase: 'Submitting' });
      const sub = (yield context.df.callActivityWithRetry(ACTIVITY.submitAmlJob, ACTIVITY_RETRY, {
        jobId,
        staged: v.staged,
      } satisfies SubmitInput)) as SubmitResult;
      if (!sub.ok) {
        status({ phase: 'Done' });
        return { jobId, status: 'Failed', error: sub.error };
      }
      progress = {
        startedAt: now().toISOString(),
        staged: v.staged,
        amlJobName: sub.amlJobName,
        polls: 0,
        amlStatus: sub.amlStatus,
      };
    }

    const { amlJobName } = progress;
    const startedAt = new Date(progress.startedAt);
    const deadline = new Date(startedAt.getTime() + input.deadlineSeconds * 1000);
    const cancelEvent = context.df.waitForExternalEvent(CANCEL_EVENT);
    const cancelAml = function* (): Generator<Task, void, unknown> {
      yield context.df.callActivityWithRetry(ACTIVITY.cancelAmlJob, ACTIVITY_RETRY, {
        jobId,
        amlJobName,
      } satisfies CancelInput);
    };
    const canceled = function* (): Generator<Task, ScoreJobOutput, unknown> {
      yield* cancelAml();
      return yield* end(
        'Canceled',
        { code: 'Canceled', message: 'Canceled on request.' },
        { amlJobName, polls: progress.polls },
      );
    };

    let completed = false;
    for (let i = 0; i < POLLS_PER_EXECUTION && !completed; i++) {
      if (now().getTime() >= deadline.getTime()) {
        yield* cancelAml();
        return yield* end(
          'TimedOut',
          {
            code: 'TimedOut',
            message: `AML job ${amlJobName} did not finish within ${input.deadlineSeconds} s (last status ${progress.amlStatus ?? 'unknown'}); it was asked to cancel.`,
          },
          { amlJobName, polls: progress.polls },
        );
      }
      const fireAt = nextPollAt(input.schedule, progress.polls, now(), deadline);
      status({
        phase: 'Waiting',
        amlJobName,
        ...(progress.amlStatus ? { amlStatus: progress.amlStatus } : {}),
        polls: progress.polls,
        elapsedSeconds: Math.round((now().getTime() - startedAt.getTime()) / 1000),
        nextCheckAt: fireAt.toISOString(),
      });
      const timer = context.df.createTimer(fireAt);
      const winner = yield context.df.Task.any([timer, cancelEvent]);
      if (winner === cancelEvent) {
        timer.cancel();
        return yield* canceled();
      }

      const check = (yield context.df.callActivityWithRetry(ACTIVITY.checkAmlJob, ACTIVITY_RETRY, {
        jobId,
        amlJobName,
        polls: progress.polls + 1,
      } satisfies CheckInput)) as CheckResult;
      progress = { ...progress, polls: progress.polls + 1 };
      if (!check.ok) return yield* end('Failed', check.error, { amlJobName, polls: progress.polls });
      progress = { ...progress, amlStatus: check.amlStatus };
      if (check.cancelRequested) return yield* canceled();

      switch (check.amlStatus) {
        case 'Completed':
          completed = true;
          break;
        case 'Failed':
          return yield* end(
            'Failed',
            {
              code: 'AmlJobFailed',
              message: `AML job ${amlJobName} failed${check.amlError ? `: ${check.amlError}` : ' (see the job logs in the workspace: logs/user/error.txt)'}`,
            },
            { amlJobName, polls: progress.polls },
          );
        case 'Canceled':
          return yield* end(
            'Canceled',
            { code: 'AmlJobCanceled', message: `AML job ${amlJobName} was canceled in Azure ML.` },
            { amlJobName, polls: progress.polls },
          );
        case 'Unknown':
        case 'Paused':
          return yield* end(
            'Failed',
            {
              code: 'AmlUnknownStatus',
              message: `AML job ${amlJobName} reports status ${check.amlStatus}; not waiting on it.`,
            },
            { amlJobName, polls: progress.polls },
          );
        default:
          break;
      }
    }

    if (!completed) {
      context.df.continueAsNew({ ...input, progress } satisfies ScoreJobInput);
      return { jobId, status: 'Running', amlJobName, polls: progress.polls };
    }

    status({ phase: 'Publishing', amlJobName, amlStatus: 'Completed', polls: progress.polls });
    const pub = (yield context.df.callActivityWithRetry(ACTIVITY.publishPredictions, ACTIVITY_RETRY, {
      jobId,
      source: input.source,
      staged: progress.staged,
    } satisfies PublishInput)) as PublishResult;
    status({ phase: 'Done' });
    if (!pub.ok) return { jobId, status: 'Failed', error: pub.error, amlJobName, polls: progress.polls };
    return { jobId, status: 'Succeeded', outputBlob: pub.outputBlob, amlJobName, polls: progress.polls };
  } catch (err) {
    // An activity ran out of retries on a transient fault: record it, so no job is left without an end.
    return yield* end('Failed', parseFailure(err));
  }
}

export const scoreJobHandler: OrchestrationHandler = scoreJobOrchestrator;
