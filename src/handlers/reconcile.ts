import type { Deps } from '../app/deps';
import { BatchHeads } from '../adapters/batchHeads';
import {
  ACTIVE_STATUSES,
  type InspectableOrchestrations,
  type InstanceView,
} from '../adapters/orchestrations';
import type { ErrorInfo } from '../domain/errors';
import { deriveJobId } from '../domain/jobId';
import { isTerminal, type JobPatch, type JobRecord, type JobState } from '../domain/jobRecord';
import { closed, lostBatchError, type BatchHead } from '../domain/batch';
import type { ScoreJobOutput } from '../orchestration/contracts';
import { ensureBatchRecord } from '../activities/batchRecord';
import { batchDoneOf, notifyMembers } from '../activities/notifyMembers';
import { ensureOrchestration, startJob } from './startJob';

/**
 * The reconciler: what triggers and crashes can leave behind, put right on a timer.
 *
 * 1. A batch record (`b…`) that has not ended while its orchestration can no longer end it (missing,
 *    failed, terminated, completed without recording the end) is ended: Failed, `BatchLost`, retryable
 *    (or the outcome a completed orchestration returned). Not resumed like a job: its members' lost-batch
 *    timers run from their join, so a batch started again could outlive them; failing it lets each
 *    member's retry join a live batch at once. A batch with no record yet (a deployment's current head)
 *    whose orchestration is gone is first closed and recorded, then ended the same way.
 * 2. A job whose record has not ended while its orchestration is missing (never started, purged) is
 *    resumed: its orchestration starts again from the record; every step is safe to repeat, and the
 *    AML job name saved on the record keeps a second AML job from starting. One whose orchestration
 *    failed, was terminated or completed without recording its outcome is ended on the record, since
 *    nothing else will ever end it. A batch member still waiting (its orchestration runs) on a batch
 *    whose record has ended is told that end again (BatchDone): the batch's own notice was lost, went
 *    to an earlier execution, or never came (its batch was ended by part 1). A member takes the first
 *    BatchDone it gets, so telling it twice is harmless.
 * 3. An inbox blob with no job (an Event Grid event lost or dead-lettered, a blob uploaded before the
 *    subscription existed) gets its job, within the look-back window.
 *
 * Bounded: a run changes at most `reconcileMaxItems` jobs and batches (resumed, ended, told or started)
 * and reads at most ten times as many records and blobs (listing pages is not counted); what is left
 * waits for the next run. Idempotent and safe when runs overlap: starting a job
 * is insert-if-absent plus a check for an instance, and record updates only move forward.
 * Every part leaves alone anything younger than the grace period, which may still be in flight.
 */

export interface ReconcileReport {
  /** Records and blobs read. */
  examined: number;
  /** Jobs whose missing orchestration was started again. */
  resumed: string[];
  /** Jobs and batches ended on the record because their orchestration can no longer end them. */
  ended: { jobId: string; status: JobState; runtimeStatus: string }[];
  /** Batch members told again how their ended batch ended. */
  told: string[];
  /** Jobs started for inbox blobs that had none. */
  started: string[];
  /** Items that failed (a transient fault): each is tried again by the next run. */
  failed: { item: string; message: string }[];
  /** True when the run stopped at its bound with work possibly left. */
  exhausted: boolean;
}

/** One item's failure does not stop the run; the next run tries it again. */
async function guarded(report: ReconcileReport, item: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    report.failed.push({ item, message: (err as Error)?.message ?? String(err) });
  }
}

const LIST_PAGE = 1000;
const READS_PER_CHANGE = 10;

/** What the record says when the orchestration is gone for good, by the instance's runtime status. */
function deadEnd(runtimeStatus: string, output: unknown, at: string): { status: JobState; patch: JobPatch } {
  const fail = (code: ErrorInfo['code'], message: string, status: JobState = 'Failed') => {
    // `at` is part of the record's error; built apart so it fits whichever ErrorInfo shape is current.
    const error = { code, message, retryable: true, at };
    return { status, patch: { error } };
  };
  if (runtimeStatus === 'Completed') {
    const out = output as Partial<ScoreJobOutput> | undefined;
    if (out?.status && isTerminal(out.status)) {
      const patch: JobPatch = {};
      if (out.error) patch.error = { ...out.error, ...{ at } };
      if (out.outputBlob) patch.outputBlob = out.outputBlob;
      return { status: out.status, patch };
    }
    return fail('Internal', 'The job stopped without recording its outcome. Retry the job.');
  }
  if (runtimeStatus === 'Terminated' || runtimeStatus === 'Canceled') {
    return fail(
      'Canceled',
      'The job was stopped outside the app (its orchestration was terminated); an AML job it started may still be running.',
      'Canceled',
    );
  }
  return fail('Internal', 'The job stopped on an unexpected error (see the function logs). Retry the job.');
}

export async function reconcile(
  d: Deps,
  orch: InspectableOrchestrations,
  now: Date = d.now(),
): Promise<ReconcileReport> {
  const { reconcileMaxItems: max, reconcileGraceSeconds, reconcileLookbackHours } = d.settings.api;
  const settledBefore = new Date(now.getTime() - reconcileGraceSeconds * 1000);
  const report: ReconcileReport = {
    examined: 0,
    resumed: [],
    ended: [],
    told: [],
    started: [],
    failed: [],
    exhausted: false,
  };
  const waiting = new Waiting(d, report);
  const changed = (): number =>
    report.resumed.length +
    report.ended.length +
    report.told.length +
    waiting.pending +
    report.started.length;
  const readsLeft = (): number => max * READS_PER_CHANGE - report.examined;
  const budgetLeft = (): number => Math.min(max - changed(), readsLeft());

  /** Every unfinished record of one kind, page by page; false when the run's bound was reached. */
  const sweep = async (batches: boolean, each: (rec: JobRecord) => Promise<void>): Promise<boolean> => {
    let token: string | undefined;
    do {
      if (budgetLeft() <= 0) return false;
      const page = await d.jobs.listUnfinished({
        updatedBefore: settledBefore,
        top: Math.min(readsLeft(), LIST_PAGE),
        batches,
        ...(token ? { continuationToken: token } : {}),
      });
      for (const rec of page.jobs) {
        if (budgetLeft() <= 0) return false;
        report.examined++;
        await guarded(report, `${batches ? 'batch' : 'job'} ${rec.jobId}`, () => each(rec));
      }
      token = page.continuationToken;
    } while (token);
    return true;
  };

  // 1. Batches (their current heads, then records that have not ended); 2. job records that have not
  // ended (batches first, so a batch ended here is told to its waiting members in the same run).
  const heads = new BatchHeads(d.jobs.client);
  const headsChecked = async (): Promise<boolean> => {
    for (const h of await heads.list()) {
      if (budgetLeft() <= 0) return false;
      if (Date.parse(h.head.openedAt) >= settledBefore.getTime()) continue;
      report.examined++;
      await guarded(report, `batch ${h.head.batchId}`, () => reconcileHead(d, orch, heads, h, now, report));
    }
    return true;
  };
  const swept =
    (await headsChecked()) &&
    (await sweep(true, (rec) => reconcileBatch(d, orch, rec, now, report))) &&
    (await sweep(false, (rec) => reconcileRecord(d, orch, rec, now, report, waiting)));
  await waiting.tell(orch);
  if (!swept) return { ...report, exhausted: true };

  // 3. Inbox blobs without a job.
  const inbox = d.settings.inboxContainer;
  const since = now.getTime() - reconcileLookbackHours * 3600_000;
  let marker: string | undefined;
  do {
    const page = await d.data.listPage(inbox, { maxPageSize: LIST_PAGE, ...(marker ? { marker } : {}) });
    for (const b of page.blobs) {
      const t = b.lastModified.getTime();
      if (t < since || t > settledBefore.getTime()) continue;
      if (budgetLeft() <= 0) return { ...report, exhausted: true };
      report.examined++;
      await guarded(report, `blob ${inbox}/${b.name}`, async () => {
        const version = { container: inbox, name: b.name, etag: b.etag, lastModified: b.lastModified };
        if (await d.jobs.get(deriveJobId(version))) return;
        const job = await startJob(d, orch, version);
        if (job.started) report.started.push(job.jobId);
      });
    }
    marker = page.marker;
  } while (marker);
  return report;
}

async function reconcileRecord(
  d: Deps,
  orch: InspectableOrchestrations,
  rec: JobRecord,
  now: Date,
  report: ReconcileReport,
  waiting: Waiting,
): Promise<void> {
  const view = await orch.inspect(rec.jobId);
  if (!view) {
    if (await ensureOrchestration(d, orch, rec)) report.resumed.push(rec.jobId);
    return;
  }
  // Running, waiting, continued as new, or suspended on purpose: the orchestration will end the job,
  // unless it waits on a batch that has already ended. One publishing has had its BatchDone.
  if (ACTIVE_STATUSES.has(view.runtimeStatus)) {
    if (rec.batchId && rec.status !== 'Publishing') await waiting.note(rec.jobId, rec.batchId);
    return;
  }
  const end = deadEnd(view.runtimeStatus, view.output, now.toISOString());
  await endRecord(d, rec.jobId, end, view.runtimeStatus, now, report);
}

/** Ends a record that has not ended; reported only by the run whose write ended it (runs may overlap). */
async function endRecord(
  d: Deps,
  id: string,
  end: { status: JobState; patch: JobPatch },
  runtimeStatus: string,
  now: Date,
  report: ReconcileReport,
): Promise<void> {
  // The last decision taken is the one that stands: written, or nothing to do on a fresh read.
  let wrote = false;
  await d.jobs.change(id, (rec) => ((wrote = !isTerminal(rec.status)) ? end : undefined), now);
  if (wrote) report.ended.push({ jobId: id, status: end.status, runtimeStatus });
}

/** A batch record that has not ended: ended when its orchestration can no longer end it. */
async function reconcileBatch(
  d: Deps,
  orch: InspectableOrchestrations,
  rec: JobRecord,
  now: Date,
  report: ReconcileReport,
): Promise<void> {
  const view = await orch.inspect(rec.jobId);
  if (view && ACTIVE_STATUSES.has(view.runtimeStatus)) return;
  await endBatch(d, rec, view, now, report);
}

/**
 * A deployment's current batch that has no record yet (open, or closed but not yet staged): when its
 * orchestration is gone, its member list is frozen as a closing file would freeze it (a file joining
 * at the same moment loses the conditional write, reads again and opens the next batch), recorded, and
 * the record ended; otherwise its members would wait for a close that never comes.
 */
async function reconcileHead(
  d: Deps,
  orch: InspectableOrchestrations,
  heads: BatchHeads,
  { head, etag }: { head: BatchHead; etag: string },
  now: Date,
  report: ReconcileReport,
): Promise<void> {
  if (await d.jobs.get(head.batchId)) return; // the batch sweep's
  const view = await orch.inspect(head.batchId);
  if (view && ACTIVE_STATUSES.has(view.runtimeStatus)) return;
  const frozen = closed(head, now);
  if (head.state === 'open' && !(await heads.write(frozen, etag))) return; // changed since: next run
  await endBatch(d, await ensureBatchRecord(d, frozen), view, now, report);
}

async function endBatch(
  d: Deps,
  rec: JobRecord,
  view: InstanceView | undefined,
  now: Date,
  report: ReconcileReport,
): Promise<void> {
  const runtimeStatus = view?.runtimeStatus ?? 'missing';
  const at = now.toISOString();
  const out = view?.output as Partial<ScoreJobOutput> | undefined;
  // Completed with an outcome the record lacks: that outcome (as for a job). Anything else: lost.
  const end =
    runtimeStatus === 'Completed' && out?.status && isTerminal(out.status)
      ? deadEnd(runtimeStatus, out, at)
      : {
          status: 'Failed' as const,
          patch: { error: { ...lostBatchError(runtimeStatus, rec.amlJobName), at } },
        };
  await endRecord(d, rec.jobId, end, runtimeStatus, now, report);
}

/**
 * Members whose orchestration still waits on an ended batch, gathered per batch during the job sweep
 * (each batch record read once per run) and told together: one regroup-manifest read per batch.
 */
class Waiting {
  private readonly batches = new Map<string, { rec?: JobRecord; members: string[] }>();
  /** Members noted to be told: they count against the run's bound as they are noted. */
  pending = 0;

  constructor(
    private readonly d: Deps,
    private readonly report: ReconcileReport,
  ) {}

  async note(jobId: string, batchId: string): Promise<void> {
    let b = this.batches.get(batchId);
    if (!b) {
      this.report.examined++;
      b = { members: [] };
      const rec = await this.d.jobs.get(batchId);
      if (rec) b.rec = rec;
      this.batches.set(batchId, b);
    }
    // Only a member of the batch's frozen list: a job's record names the batch it meant to join before
    // joining, and may have joined another after losing a race.
    if (b.rec && isTerminal(b.rec.status) && b.rec.files?.some((f) => f.jobId === jobId)) {
      b.members.push(jobId);
      this.pending++;
    }
  }

  async tell(orch: InspectableOrchestrations): Promise<void> {
    for (const [batchId, b] of this.batches) {
      const done = b.rec && batchDoneOf(b.rec);
      if (!done || !b.members.length) continue;
      await guarded(this.report, `batch ${batchId} members`, async () => {
        await notifyMembers({ batchId, members: b.members, done }, this.d, orch);
        this.report.told.push(...b.members);
      });
      this.pending -= b.members.length;
    }
  }
}
