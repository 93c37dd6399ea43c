import type { OrchestrationContext, Task, TimerTask } from 'durable-functions';
import { isAmlTerminal } from '../domain/amlStatus';
import type { ErrorInfo } from '../domain/errors';
import type { Outage } from '../domain/jobRecord';
import type { AmlStatus } from '../domain/amlStatus';
import { nextPollAt } from '../domain/pollSchedule';
import { cancelAml } from './cancel';
import { ACTIVITY, AML_STATUS_EVENT, CANCEL_EVENT } from './names';
import type {
  AmlStatusEvent,
  CheckInput,
  CheckResult,
  EstimateInput,
  EstimateResult,
  Outcome,
  OutageInput,
  ProgressStatus,
  PublishInput,
  PublishResult,
  ScoreJobInput,
  ScoreJobOutput,
  ScoreJobProgress,
} from './contracts';
import { finish, run } from './steps';

/**
 * The waiting loop checks at most POLLS_PER_EXECUTION times, then continues as new with its progress:
 * the history stays small however long AML takes.
 */
export const POLLS_PER_EXECUTION = 20;

/**
 * Checks made at once on an AML status event, per AML job. Events can be duplicated or stale; past this
 * many, they are no longer listened to and the schedule alone decides.
 */
export const MAX_EVENT_CHECKS = 3;

/**
 * From a submitted AML job to the end: sleep on a durable timer, check AML, repeat on the backoff schedule
 * (or, with a learned duration estimate, sparsely early and densely around the expected end); an AML status
 * event (functions/amlEvents.ts) cuts the sleep short for an immediate check; then publish. A check or
 * publish that cannot get through (retries exhausted) is not a verdict: it is recorded as an outage and tried
 * again on the schedule. Only an answer from AML, a cancel request or the deadline ends the job; when our
 * side gives up while AML may still be running, the AML job is cancelled first. Events are hints: one that
 * is lost (it may also be taken by a wait already answered, or dropped by continueAsNew) costs only time.
 */
export function* waitAndPublish(
  context: OrchestrationContext,
  input: ScoreJobInput,
  start: ScoreJobProgress,
  /**
   * A cancel wait the caller already has open (a batch member): the engine hands an event to the newest
   * open wait of its name, so a second wait here would miss a cancel raised while publish is retried.
   */
  cancelWait?: Task,
): Generator<Task, ScoreJobOutput, unknown> {
  const { jobId } = input;
  const { amlJobName } = start;
  let progress = start;
  const now = (): Date => context.df.currentUtcDateTime;
  const startedAt = new Date(progress.startedAt);
  const deadline = new Date(startedAt.getTime() + input.deadlineSeconds * 1000);
  const cancelEvent = cancelWait ?? context.df.waitForExternalEvent(CANCEL_EVENT);
  let amlEvent = context.df.waitForExternalEvent(AML_STATUS_EVENT);

  const end = (outcome: Outcome): Generator<Task, ScoreJobOutput, unknown> =>
    finish(
      context,
      input.schedule,
      { jobId, ...(progress.amlStatus ? { amlStatus: progress.amlStatus } : {}), ...outcome },
      { amlJobName, polls: progress.polls },
    );
  /** Our side ends a job AML may still be running: cancel it there first, and record how that went. */
  const giveUp = function* (
    status: 'Failed' | 'TimedOut' | 'Canceled',
    error: ErrorInfo,
  ): Generator<Task, ScoreJobOutput, unknown> {
    const stillRunning = !(progress.amlStatus && isAmlTerminal(progress.amlStatus));
    if (!stillRunning || error.code === 'AmlNotFound') return yield* end({ status, error });
    const c = yield* cancelAml(context, { jobId, amlJobName });
    return yield* end({ status, error, ...c });
  };
  /** A check (or publish) begun at `at` ran out of retries: one more missed, the outage goes on. */
  const missed = function* (error: ErrorInfo, at: Date): Generator<Task, void, unknown> {
    const outage: Outage = {
      since: progress.outage?.since ?? at.toISOString(),
      lastError: error,
      missedChecks: (progress.outage?.missedChecks ?? 0) + 1,
    };
    progress = { ...progress, outage };
    yield* run(context, ACTIVITY.recordOutage, { jobId, outage } satisfies OutageInput);
  };

  // Once per AML job (carried across continueAsNew): an activity reads the history, the orchestrator stays pure.
  if (input.schedule.learned && !progress.timing) {
    const est = yield* run<EstimateResult>(context, ACTIVITY.estimateDuration, {
      jobId,
      rows: progress.staged.rows,
      ...(progress.deployment !== undefined
        ? { deployment: progress.deployment }
        : input.deployment
          ? { deployment: input.deployment }
          : {}),
    } satisfies EstimateInput);
    progress = { ...progress, timing: est.ok && est.estimate ? { estimate: est.estimate } : {} };
  }
  const estimate = progress.timing?.estimate;
  const learned = estimate ? { startedAt, estimate } : undefined;
  /** An event worth a check now: about our AML job, saying it ended. */
  const worthACheck = (e: AmlStatusEvent | undefined): boolean =>
    e?.amlJobName === amlJobName && isAmlTerminal(e.amlStatus as AmlStatus);

  for (let i = 0; i < POLLS_PER_EXECUTION; i++) {
    const completed = progress.amlStatus === 'Completed';
    if (now().getTime() >= deadline.getTime()) {
      const what = completed
        ? `its predictions could not be published (${progress.outage?.lastError.message ?? 'no answer'})`
        : `AML job ${amlJobName} did not finish (last status ${progress.amlStatus ?? 'unknown'})`;
      return yield* giveUp('TimedOut', {
        code: 'TimedOut',
        message: `The job did not end within ${input.deadlineSeconds} s: ${what}.`,
        retryable: true,
      });
    }

    // Publishing goes at once; only a publish that could not get through waits for the schedule.
    if (!completed || progress.outage) {
      const n = completed ? progress.outage!.missedChecks - 1 : progress.polls;
      const fireAt = nextPollAt(input.schedule, n, now(), deadline, completed ? undefined : learned);
      context.df.setCustomStatus(waitingStatus(progress, now(), startedAt, fireAt));
      const listening = (): boolean => !completed && (progress.eventChecks ?? 0) < MAX_EVENT_CHECKS;
      let timer: TimerTask | undefined;
      for (;;) {
        // An event that arrived while we were not waiting (a check under way) completed its task already, and
        // durable-functions does not let a new Task.any see an already completed child: look first.
        let winner: Task | undefined = cancelEvent.isCompleted
          ? cancelEvent
          : listening() && amlEvent.isCompleted
            ? amlEvent
            : undefined;
        if (!winner) {
          timer ??= context.df.createTimer(fireAt);
          winner = (yield context.df.Task.any(
            listening() ? [timer, cancelEvent, amlEvent] : [timer, cancelEvent],
          )) as Task;
        }
        if (winner === timer) break;
        timer?.cancel();
        timer = undefined; // a cancelled timer must not be yielded again: sleep on a new one to the same time
        if (winner === cancelEvent) return yield* giveUp('Canceled', canceledOnRequest());
        const event = amlEvent.result as AmlStatusEvent | undefined;
        amlEvent = context.df.waitForExternalEvent(AML_STATUS_EVENT);
        if (worthACheck(event)) {
          progress = { ...progress, eventChecks: (progress.eventChecks ?? 0) + 1 };
          break;
        }
      }
    }

    if (!completed) {
      const attemptAt = now();
      const check = yield* run<CheckResult>(context, ACTIVITY.checkAmlJob, {
        jobId,
        amlJobName,
        polls: progress.polls + 1,
      } satisfies CheckInput);
      progress = { ...progress, polls: progress.polls + 1 };
      if (!check.ok) {
        if (check.error.retryable) {
          yield* missed(check.error, attemptAt);
          continue;
        }
        return yield* giveUp('Failed', check.error);
      }
      const { outage: _answered, ...rest } = progress;
      progress = { ...rest, amlStatus: check.amlStatus };
      if (check.cancelRequested) return yield* giveUp('Canceled', canceledOnRequest());
      switch (check.amlStatus) {
        case 'Completed':
          break;
        case 'Failed':
          return yield* end({
            status: 'Failed',
            error: {
              code: 'AmlJobFailed',
              message: `AML job ${amlJobName} failed${check.amlError ? `: ${check.amlError}` : ' (see the job logs in the workspace: logs/user/error.txt)'}`,
              retryable: false,
            },
          });
        case 'Canceled':
          return yield* end({
            status: 'Canceled',
            error: {
              code: 'AmlJobCanceled',
              message: `AML job ${amlJobName} was canceled in Azure ML.`,
              retryable: true,
            },
          });
        case 'Unknown':
        case 'Paused':
          return yield* giveUp('Failed', {
            code: 'AmlUnknownStatus',
            message: `AML job ${amlJobName} reports status ${check.amlStatus}; not waiting on it.`,
            retryable: false,
          });
        default:
          continue;
      }
    }

    context.df.setCustomStatus({
      phase: 'Publishing',
      amlJobName,
      amlStatus: 'Completed',
      polls: progress.polls,
    } satisfies ProgressStatus);
    const publishAt = now();
    const pub = yield* run<PublishResult>(context, ACTIVITY.publishPredictions, {
      jobId,
      source: input.source,
      staged: progress.staged,
    } satisfies PublishInput);
    if (pub.ok) return yield* end(publishedOutcome(pub, amlJobName));
    if (!pub.error.retryable) return yield* end({ status: 'Failed', error: pub.error });
    yield* missed(pub.error, publishAt);
  }

  context.df.continueAsNew({ ...input, progress } satisfies ScoreJobInput);
  return { jobId, status: 'Running', amlJobName, polls: progress.polls };
}

/**
 * Every row is accounted for: all scored is a success; some without a prediction is a success with a
 * warning pointing at the errors file; none scored is a failure that retrying the same file will not fix.
 */
export function publishedOutcome(pub: Extract<PublishResult, { ok: true }>, amlJobName: string): Outcome {
  const counts = {
    rowsScored: pub.rows,
    rowsFailed: pub.rowsFailed,
    ...(pub.errorsBlob ? { errorsBlob: pub.errorsBlob } : {}),
  };
  const total = pub.rows + pub.rowsFailed;
  const where = `They are listed with their input line numbers in ${pub.errorsBlob ?? 'the errors file'}; the AML job ${amlJobName}'s logs say why.`;
  if (pub.rows === 0 && pub.rowsFailed > 0) {
    return {
      status: 'Failed',
      ...counts,
      error: {
        code: 'AllRowsFailed',
        message: `The model deployment returned no prediction for any of the ${total} rows. ${where}`,
        retryable: false,
      },
    };
  }
  return {
    status: 'Succeeded',
    ...(pub.outputBlob ? { outputBlob: pub.outputBlob } : {}),
    ...counts,
    ...(pub.rowsFailed > 0
      ? { warnings: [`${pub.rowsFailed} of ${total} rows got no prediction. ${where}`] }
      : {}),
  };
}

function canceledOnRequest(): ErrorInfo {
  return { code: 'Canceled', message: 'Canceled on request.', retryable: true };
}

function waitingStatus(p: ScoreJobProgress, now: Date, startedAt: Date, fireAt: Date): ProgressStatus {
  return {
    phase: p.amlStatus === 'Completed' ? 'Publishing' : 'Waiting',
    amlJobName: p.amlJobName,
    ...(p.amlStatus ? { amlStatus: p.amlStatus } : {}),
    polls: p.polls,
    elapsedSeconds: Math.round((now.getTime() - startedAt.getTime()) / 1000),
    nextCheckAt: fireAt.toISOString(),
    ...(p.outage
      ? {
          outage: {
            since: p.outage.since,
            missedChecks: p.outage.missedChecks,
            lastError: `${p.outage.lastError.code}: ${p.outage.lastError.message}`,
          },
        }
      : {}),
  };
}
