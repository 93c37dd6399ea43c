import type { OrchestrationContext, Task } from 'durable-functions';
import { batchScored } from '../domain/batch';
import { ACTIVITY, BATCH_CLOSE_EVENT } from './names';
import type {
  BatchInput,
  CloseBatchInput,
  CloseBatchResult,
  NotifyMembersInput,
  ScoreJobOutput,
  ScoreJobProgress,
  SubmitInput,
  SubmitResult,
} from './contracts';
import { finish, run } from './steps';
import { waitAndPublish } from './waiting';

/**
 * One batch of small files, one AML job (instance id = batch id, started by the first file's
 * joinBatch): wait for the window to pass (or the batch to fill), close and stage it, then the same AML
 * steps as a single job (submit, wait, "publish" = regroup the output per file), and finally tell every
 * member how it ended. The batch's record has a job's shape, so it is written by the same activities.
 */
export function* batchOrchestrator(context: OrchestrationContext): Generator<Task, ScoreJobOutput, unknown> {
  const input = context.df.getInput<BatchInput>();
  const batchId = input.jobId;
  let ended: ScoreJobOutput;
  let members: string[];
  if (input.progress) {
    members = input.progress.staged.members ?? [];
    ended = yield* waitAndPublish(context, input, input.progress);
  } else {
    context.df.setCustomStatus({ phase: 'Batching', batchId });
    const closesAt = new Date(input.batch.closesAt);
    if (closesAt.getTime() > context.df.currentUtcDateTime.getTime()) {
      const timer = context.df.createTimer(closesAt);
      const full = context.df.waitForExternalEvent(BATCH_CLOSE_EVENT);
      if ((yield context.df.Task.any([timer, full])) === full) timer.cancel();
    }
    const closed = yield* run<CloseBatchResult>(context, ACTIVITY.closeBatch, {
      batchId,
      ...(input.deployment ? { deployment: input.deployment } : {}),
    } satisfies CloseBatchInput);
    if (!closed.ok) {
      // Without a member list nobody can be told here: the reconciler tells the members of an ended
      // batch record that are still waiting (handlers/reconcile.ts), else their lost-batch timer ends them.
      return yield* finish(context, input.schedule, {
        jobId: batchId,
        status: 'Failed',
        error: closed.error,
      });
    }
    members = closed.staged.members ?? [];
    context.df.setCustomStatus({ phase: 'Submitting', batchId });
    const sub = yield* run<SubmitResult>(context, ACTIVITY.submitAmlJob, {
      jobId: batchId,
      staged: closed.staged,
      ...(input.deployment ? { deployment: input.deployment } : {}),
    } satisfies SubmitInput);
    if (sub.ok) {
      const progress: ScoreJobProgress = {
        startedAt: context.df.currentUtcDateTime.toISOString(),
        deployment: input.deployment ?? '',
        staged: closed.staged,
        amlJobName: sub.amlJobName,
        polls: 0,
        amlStatus: sub.amlStatus,
      };
      ended = yield* waitAndPublish(context, input, progress);
    } else {
      ended = yield* finish(context, input.schedule, { jobId: batchId, status: 'Failed', error: sub.error });
    }
  }
  // Continued as new: the next execution goes on waiting and tells the members at its end.
  if (ended.status === 'Running') return ended;

  const scored = batchScored(ended.status, ended.error?.code);
  yield* run(context, ACTIVITY.notifyMembers, {
    batchId,
    members,
    done: {
      batchId,
      ...(ended.amlJobName ? { amlJobName: ended.amlJobName } : {}),
      scored,
      status: ended.status as NotifyMembersInput['done']['status'],
      ...(ended.error ? { error: ended.error } : {}),
    },
  } satisfies NotifyMembersInput);
  return ended;
}
