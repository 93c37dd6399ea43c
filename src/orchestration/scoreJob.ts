import type { OrchestrationContext, Task } from 'durable-functions';
import { ACTIVITY } from './names';
import type {
  ScoreJobInput,
  ScoreJobOutput,
  ScoreJobProgress,
  SubmitInput,
  SubmitResult,
  ValidateInput,
  ValidateResult,
} from './contracts';
import { scoreInBatch } from './batched';
import { finish, run } from './steps';
import { waitAndPublish } from './waiting';

/**
 * One job, start to end: validate and stage → submit → wait on durable timers, checking AML on a
 * backoff schedule → publish (waiting.ts) → record the outcome. A small file, with coalescing on,
 * shares a batch's AML job instead of submitting its own (batched.ts). Replayed from history on every
 * wake-up, so it reads time only from `currentUtcDateTime` and does all I/O through activities.
 * Every terminal outcome is written here, through the recordOutcome activity.
 */
export function* scoreJobOrchestrator(
  context: OrchestrationContext,
): Generator<Task, ScoreJobOutput, unknown> {
  const input = context.df.getInput<ScoreJobInput>();
  if (input.progress) return yield* waitAndPublish(context, input, input.progress);
  const { jobId } = input;

  context.df.setCustomStatus({ phase: 'Validating' });
  const v = yield* run<ValidateResult>(context, ACTIVITY.validateAndStage, {
    jobId,
    source: input.source,
    ...(input.deployment ? { deployment: input.deployment } : {}),
  } satisfies ValidateInput);
  if (!v.ok) {
    // Only the activity can tell the user's file is at fault (it quarantined it); anything else is ours.
    const rejected = 'rejected' in v ? v.rejected : undefined;
    return yield* finish(
      context,
      input.schedule,
      rejected
        ? { jobId, status: 'Rejected', error: v.error, ...rejected }
        : { jobId, status: 'Failed', error: v.error },
    );
  }

  if (input.batching && v.batchable)
    return yield* scoreInBatch(context, { ...input, batching: input.batching }, v.staged, v.deployment);

  context.df.setCustomStatus({ phase: 'Submitting' });
  const sub = yield* run<SubmitResult>(context, ACTIVITY.submitAmlJob, {
    jobId,
    staged: v.staged,
    ...(v.deployment ? { deployment: v.deployment } : {}),
  } satisfies SubmitInput);
  if (!sub.ok) return yield* finish(context, input.schedule, { jobId, status: 'Failed', error: sub.error });

  const progress: ScoreJobProgress = {
    startedAt: context.df.currentUtcDateTime.toISOString(),
    deployment: v.deployment ?? '',
    staged: v.staged,
    amlJobName: sub.amlJobName,
    polls: 0,
    amlStatus: sub.amlStatus,
  };
  return yield* waitAndPublish(context, input, progress);
}
