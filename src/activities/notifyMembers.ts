import type { Orchestrations } from '../adapters/orchestrations';
import { folderOutput } from '../domain/amlUris';
import { batchScored, memberFileName } from '../domain/batch';
import { isTerminal, type JobRecord } from '../domain/jobRecord';
import { BATCH_DONE_EVENT } from '../orchestration/names';
import type { BatchDone, NotifyMembersInput, TerminalState } from '../orchestration/contracts';
import type { Deps } from '../app/deps';
import { inParallel } from './inParallel';
import { readManifest } from './regroup';

/**
 * Tells every member how its batch ended, with the run files of its own predictions. A member that has
 * already ended (canceled while it waited) no longer listens; Durable drops the event, which is fine.
 * Repeatable: a member takes the first BatchDone and ignores later ones.
 */
export async function notifyMembers(
  input: NotifyMembersInput,
  d: Deps,
  orch: Orchestrations,
): Promise<{ ok: true }> {
  const runs = input.done.scored
    ? await readManifest(d, folderOutput(d.settings.aml.datastorePathPrefix, input.batchId))
    : {};
  await inParallel(input.members, 8, async (jobId) => {
    const done: BatchDone = { ...input.done, predictionRuns: runs[memberFileName(jobId)] ?? [] };
    await orch.raise(jobId, BATCH_DONE_EVENT, done).catch((err: unknown) => {
      // durable-functions' DurableClient.raiseEvent resolves on 410 Gone (the instance has ended) and
      // rejects a 404 with "No instance with ID '<id>' found." (purged): nobody left to tell. Anything
      // else ("The operation failed with an unexpected status code: 503 ...") is retried by the policy.
      if (!/No instance with ID|\b(410|404)\b/.test(String((err as Error)?.message ?? err))) throw err;
    });
  });
  return { ok: true };
}

/**
 * What an ended batch's record tells its members: the same BatchDone its orchestration sends (batch.ts),
 * for the reconciler to send again to members still waiting (undefined while the batch has not ended).
 */
export function batchDoneOf(batch: JobRecord): NotifyMembersInput['done'] | undefined {
  if (!isTerminal(batch.status)) return undefined;
  const e = batch.error;
  return {
    batchId: batch.jobId,
    ...(batch.amlJobName ? { amlJobName: batch.amlJobName } : {}),
    scored: batchScored(batch.status, e?.code),
    status: batch.status as TerminalState,
    ...(e ? { error: { code: e.code, message: e.message, retryable: e.retryable } } : {}),
  };
}
