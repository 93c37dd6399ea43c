import type { OrchestrationContext, Task } from 'durable-functions';
import { ACTIVITY, BATCH_DONE_EVENT, CANCEL_EVENT } from './names';
import type {
  BatchDone,
  JoinBatchInput,
  JoinBatchResult,
  ScoreJobInput,
  ScoreJobOutput,
  StagedFile,
} from './contracts';
import { finish, run } from './steps';
import { waitAndPublish } from './waiting';

/**
 * A small file's way through a shared AML job: join the open batch of its deployment, wait for the
 * batch to tell how it ended, then publish this file's own predictions (or end as the batch did).
 * The batch's orchestration (batch.ts) owns the AML job; this one still owns its job's record, so every
 * file keeps its own status, outbox file and errors file.
 */
export function* scoreInBatch(
  context: OrchestrationContext,
  input: ScoreJobInput & { batching: NonNullable<ScoreJobInput['batching']> },
  staged: StagedFile,
  deployment: string | undefined,
): Generator<Task, ScoreJobOutput, unknown> {
  const { jobId } = input;
  const joined = yield* run<JoinBatchResult>(context, ACTIVITY.joinBatch, {
    jobId,
    staged,
    ...(deployment ? { deployment } : {}),
    limits: input.batching,
  } satisfies JoinBatchInput);
  if (!joined.ok)
    return yield* finish(context, input.schedule, { jobId, status: 'Failed', error: joined.error });
  const { batchId } = joined;

  // The batch closes within its window and then has the job deadline of its own; past both (plus a
  // margin for the batch's own recording), it has been lost: say so rather than wait for ever.
  const now = context.df.currentUtcDateTime;
  const lostAt = new Date(
    now.getTime() + (input.batching.windowSeconds + input.deadlineSeconds + 3600) * 1000,
  );
  context.df.setCustomStatus({ phase: 'Batching', batchId });
  const done = context.df.waitForExternalEvent(BATCH_DONE_EVENT);
  const cancel = context.df.waitForExternalEvent(CANCEL_EVENT);
  const timer = context.df.createTimer(lostAt);
  const winner = yield context.df.Task.any([done, cancel, timer]);
  if (winner !== timer) timer.cancel();

  if (winner === cancel) {
    return yield* finish(context, input.schedule, {
      jobId,
      status: 'Canceled',
      error: { code: 'Canceled', message: 'Canceled on request.', retryable: true },
      cancel: {
        requestedAt: context.df.currentUtcDateTime.toISOString(),
        confirmed: false,
        amlAnswer: `Not sent: the AML job of batch ${batchId} scores other files too; this file's predictions are not published.`,
      },
    });
  }
  if (winner === timer) {
    return yield* finish(context, input.schedule, {
      jobId,
      status: 'Failed',
      error: {
        code: 'BatchLost',
        message: `Batch ${batchId} did not report an end in time; retry the job (POST /api/jobs/${jobId}/retry).`,
        retryable: true,
      },
    });
  }

  const result = done.result as BatchDone;
  const amlJobName = result.amlJobName ?? batchId;
  if (!result.scored) {
    return yield* finish(
      context,
      input.schedule,
      {
        jobId,
        status: result.status === 'Succeeded' ? 'Failed' : result.status,
        ...(result.error
          ? { error: { ...result.error, message: `Batch ${batchId}: ${result.error.message}` } }
          : {}),
      },
      { amlJobName },
    );
  }
  return yield* waitAndPublish(
    context,
    input,
    {
      startedAt: context.df.currentUtcDateTime.toISOString(),
      staged: { ...staged, predictionRuns: result.predictionRuns ?? [] },
      amlJobName,
      polls: 0,
      amlStatus: 'Completed',
      timing: {}, // nothing left to wait for: no duration estimate
    },
    cancel,
  );
}
