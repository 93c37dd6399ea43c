import { BatchHeads } from '../adapters/batchHeads';
import { inputFolder } from '../domain/amlUris';
import type { Orchestrations } from '../adapters/orchestrations';
import { nextJoinStep, openBatch, type BatchHead, type BatchMember } from '../domain/batch';
import { PipelineError } from '../domain/errors';
import { BATCH_CLOSE_EVENT } from '../orchestration/names';
import type { BatchInput, JoinBatchInput, JoinBatchResult } from '../orchestration/contracts';
import type { Deps } from '../app/deps';
import { ensureBatchRecord } from './batchRecord';

/**
 * Puts one validated file into the open batch of its deployment, opening the next batch when that one
 * has closed, passed its window or has no room (domain/batch.ts). Every head write is conditional on
 * the head read just before, so concurrent files, a retried activity and the batch closing at the same
 * moment serialise: a file is in exactly one batch.
 *
 * The member's record names the batch it is about to join before the head is written: a retry after a
 * crash finds that batch (the head, or the record of a batch already replaced) and does not join twice.
 */
export async function joinBatch(
  input: JoinBatchInput,
  d: Deps,
  orch: Orchestrations,
): Promise<JoinBatchResult> {
  const heads = new BatchHeads(d.jobs.client);
  const member: BatchMember = {
    jobId: input.jobId,
    rows: input.staged.rows,
    bytes: input.staged.bytes,
    input: input.staged.inputPath,
  };
  const intended = (await d.jobs.get(input.jobId))?.batchId;
  for (let attempt = 0; attempt < 20; attempt++) {
    // Many files arriving together contend for one row: a short random pause spreads their retries.
    if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * 25 * Math.min(attempt, 8)));
    const { head, etag } = await heads.read(input.deployment);
    if (intended && intended !== head?.batchId) {
      const earlier = await d.jobs.get(intended);
      if (earlier?.files?.some((f) => f.jobId === input.jobId)) return { ok: true, batchId: intended };
    }
    const now = d.now();
    const step = nextJoinStep(head, member, input.limits, now);
    switch (step.kind) {
      case 'already':
        await started(d, orch, head!);
        return { ok: true, batchId: head!.batchId };
      case 'join':
        await intend(d, input.jobId, step.head.batchId);
        if (!(await heads.write(step.head, etag))) continue;
        await started(d, orch, step.head);
        return { ok: true, batchId: step.head.batchId };
      case 'close':
        // The open batch cannot take this file (window passed, or no room): close it for everyone.
        if (await heads.write(step.head, etag)) await started(d, orch, step.head);
        continue;
      case 'replace':
      case 'create': {
        // A closed head is replaced only once its record holds its member list.
        if (head) await ensureBatchRecord(d, head);
        const next = openBatch(member, input.deployment, input.limits, now);
        await intend(d, input.jobId, next.batchId);
        if (!(await heads.write(next, etag))) continue;
        await started(d, orch, next);
        return { ok: true, batchId: next.batchId };
      }
    }
  }
  throw new PipelineError('StorageConflict', `job ${input.jobId} could not join a batch under contention`, {
    retryable: true,
  });
}

async function intend(d: Deps, jobId: string, batchId: string): Promise<void> {
  await d.jobs.transition(jobId, 'Validating', { batchId }, d.now());
}

/**
 * The batch's orchestration runs (started by whoever first needs it, checked first: startNew would
 * restart a finished instance), and hears at once that its head closed early.
 */
async function started(d: Deps, orch: Orchestrations, head: BatchHead): Promise<void> {
  if ((await orch.state(head.batchId)) === 'none') {
    const s = d.settings;
    const input: BatchInput = {
      jobId: head.batchId,
      source: {
        container: s.aml.datastoreContainer,
        name: inputFolder(s.aml.datastorePathPrefix, head.batchId),
        etag: '',
      },
      schedule: s.poll,
      deadlineSeconds: s.jobDeadlineSeconds,
      ...(head.deployment ? { deployment: head.deployment } : {}),
      batch: { closesAt: head.closesAt },
    };
    try {
      await orch.startBatch(head.batchId, input);
    } catch (err) {
      if ((await orch.state(head.batchId)) === 'none') throw err;
    }
  }
  if (head.state === 'closed') await orch.raise(head.batchId, BATCH_CLOSE_EVENT, { closedAt: head.closedAt });
}
