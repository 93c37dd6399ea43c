/**
 * The reconciler and batches, against Azurite with the real activities building the batch (startJob,
 * validateAndStage, joinBatch, closeBatch, submit's record, recordOutcome, publishPredictions' regroup)
 * and the real durable-functions DurableClient talking to the fake of the extension's client API
 * (test/support/durableApiFake.ts). What a member does with the BatchDone the reconciler raises is
 * played through the real replay engine (dev/runtime/durable/memoryHost.ts) with the member's real
 * activity results, and its outcome written by the real recordOutcome activity.
 */
import { Readable } from 'node:stream';
import type { DurableClient } from 'durable-functions';
import type { Deps } from '../../../src/app/deps';
import { closeBatch } from '../../../src/activities/closeBatch';
import { joinBatch } from '../../../src/activities/joinBatch';
import { publishPredictions } from '../../../src/activities/publishPredictions';
import { recordOutcome } from '../../../src/activities/recordOutcome';
import { validateAndStage } from '../../../src/activities/validateAndStage';
import { BatchHeads } from '../../../src/adapters/batchHeads';
import { durableOrchestrations, type InspectableOrchestrations } from '../../../src/adapters/orchestrations';
import { reconcile } from '../../../src/handlers/reconcile';
import { scoreJobInput, startJob } from '../../../src/handlers/startJob';
import type {
  BatchDone,
  BatchLimitsInput,
  JoinBatchResult,
  OutcomeInput,
  StagedFile,
  ValidateResult,
} from '../../../src/orchestration/contracts';
import { ACTIVITY, BATCH_DONE_EVENT } from '../../../src/orchestration/names';
import { scoreJobOrchestrator } from '../../../src/orchestration/scoreJob';
import { simulate } from '../../../dev/runtime/durable/memoryHost';
import { testDeps } from '../../support/deps';
import { startDurableApiFake, type DurableApiFake, type RuntimeStatus } from '../../support/durableApiFake';
import { expectDeterministic } from '../../support/replay';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DurableClient: Client } = require('durable-functions/lib/src/durableClient/DurableClient') as {
  DurableClient: new (data: unknown) => DurableClient;
};

jest.setTimeout(120_000);

let durable: DurableApiFake;
let orch: InspectableOrchestrations;
/** Every BatchDone delivered to a running instance, with its payload (the fake API records names only). */
let told: { id: string; data: BatchDone }[];

beforeAll(async () => {
  durable = await startDurableApiFake();
  const real = durableOrchestrations(new Client(durable.clientData));
  orch = {
    ...real,
    raise: async (id, event, data) => {
      const before = durable.events.length;
      await real.raise(id, event, data);
      // Delivered: the fake took it (a running instance); 410 and 404 are dropped, as on Azure.
      if (event === BATCH_DONE_EVENT && durable.events.length > before)
        told.push({ id, data: data as BatchDone });
    },
  };
});
afterAll(async () => durable?.close());

const LIMITS: BatchLimitsInput = { windowSeconds: 60, maxFiles: 10, maxBytes: 100_000 };
const minutes = (n: number) => new Date(Date.now() + n * 60_000);
const tellsTo = (id: string) => told.filter((t) => t.id === id).map((t) => t.data);

let d: Deps;
beforeEach(async () => {
  told = [];
  d = await testDeps({
    BATCH_WINDOW_SECONDS: String(LIMITS.windowSeconds),
    RECONCILE_GRACE_SECONDS: '300',
  });
});

interface Member {
  jobId: string;
  v: ValidateResult & { ok: true; staged: StagedFile };
  joined: JoinBatchResult;
}

/** Files dropped, their jobs started (record + instance), validated, staged and joined to one batch. */
async function batchOf(...names: string[]): Promise<{ batchId: string; members: Member[] }> {
  const members: Member[] = [];
  for (const [i, name] of names.entries()) {
    const body = `carat,cut,color,clarity\n0.${i + 1},Ideal,E,SI1\n0.5,Good,F,VS2\n`;
    await d.data.upload(d.settings.inboxContainer, name, Readable.from([Buffer.from(body)]));
    const job = await startJob(d, orch, { container: d.settings.inboxContainer, name });
    const v = await validateAndStage({ jobId: job.jobId, source: scoreJobInput(d, job.record).source }, d);
    if (!v.ok || !v.batchable) throw new Error(`${name}: ${JSON.stringify(v)}`);
    const joined = await joinBatch({ jobId: job.jobId, staged: v.staged, limits: LIMITS }, d, orch);
    members.push({ jobId: job.jobId, v, joined });
  }
  const ids = new Set(members.map((m) => (m.joined.ok ? m.joined.batchId : '')));
  expect(ids.size).toBe(1);
  return { batchId: [...ids][0]!, members };
}

/** The batch closed, staged and submitted as its orchestration would have left it. */
async function submitted(batchId: string): Promise<StagedFile> {
  const closed = await closeBatch({ batchId }, d);
  if (!closed.ok) throw new Error(JSON.stringify(closed));
  await d.jobs.transition(
    batchId,
    'Submitted',
    { amlJobName: `aml-${batchId}`, amlStatus: 'Running' },
    new Date(),
  );
  await d.jobs.transitionMany(
    closed.staged.members!,
    'Submitted',
    { amlJobName: `aml-${batchId}` },
    new Date(),
  );
  return closed.staged;
}

function setOrch(id: string, status: RuntimeStatus | 'missing', output?: unknown): void {
  if (status === 'missing') return void durable.instances.delete(id);
  const i = durable.instances.get(id)!;
  i.runtimeStatus = status;
  i.output = output;
}

/**
 * The member's own orchestration from its start, through the real replay engine, with the results its
 * activities really gave (validate, join) and the BatchDone the reconciler raised; its outcome is then
 * written by the real recordOutcome.
 */
async function memberEnds(m: Member, done: BatchDone): Promise<OutcomeInput> {
  const start = new Date();
  const input = { ...scoreJobInput(d, (await d.jobs.get(m.jobId))!), batching: LIMITS };
  const outcomes: OutcomeInput[] = [];
  const r = await simulate(scoreJobOrchestrator, {
    instanceId: m.jobId,
    input,
    start,
    activities: (name, inp) => {
      if (name === ACTIVITY.validateAndStage) return { result: m.v };
      if (name === ACTIVITY.joinBatch) return { result: m.joined };
      if (name === ACTIVITY.recordOutcome) {
        outcomes.push(inp as OutcomeInput);
        return { result: { ok: true } };
      }
      throw new Error(`unexpected activity ${name}`);
    },
    events: [{ at: new Date(start.getTime() + 1000), name: BATCH_DONE_EVENT, data: done }],
  });
  await expectDeterministic(scoreJobOrchestrator, m.jobId, r);
  expect(outcomes).toHaveLength(1);
  await recordOutcome(outcomes[0]!, d);
  setOrch(m.jobId, 'Completed', r.output);
  return outcomes[0]!;
}

describe('a batch whose orchestration can no longer end it', () => {
  test.each([
    ['missing', /its orchestration is gone \(never started or purged\)/],
    ['Failed', /its orchestration failed \(see the function logs\)/],
    ['Terminated', /its orchestration was terminated outside the app/],
    ['Completed', /its orchestration completed without recording the outcome/],
  ] as const)(
    '%s: the batch record ends Failed (BatchLost, retryable) and every waiting member ends Failed with that error in the same run',
    async (status, why) => {
      const { batchId, members } = await batchOf(`${status}/a.csv`, `${status}/b.csv`);
      await submitted(batchId);
      setOrch(batchId, status);

      const report = await reconcile(d, orch, minutes(10));
      expect(report).toMatchObject({ failed: [], exhausted: false, resumed: [] });
      expect(report.ended).toEqual([
        { jobId: batchId, status: 'Failed', runtimeStatus: status === 'missing' ? 'missing' : status },
      ]);
      const batch = await d.jobs.get(batchId);
      expect(batch).toMatchObject({
        status: 'Failed',
        error: { code: 'BatchLost', retryable: true, message: expect.stringMatching(why) },
      });
      // The AML job was submitted: the error says it may still be running.
      expect(batch?.error?.message).toContain(`Its AML job aml-${batchId} may still be running.`);
      // Not started again: a batch is ended, not resumed.
      expect(durable.starts.filter((s) => s.instanceId === batchId)).toHaveLength(1);

      expect(report.told.sort()).toEqual(members.map((m) => m.jobId).sort());
      for (const m of members) {
        const [done, ...again] = tellsTo(m.jobId);
        expect(again).toEqual([]);
        expect(done).toEqual({
          batchId,
          amlJobName: `aml-${batchId}`,
          scored: false,
          status: 'Failed',
          error: { code: 'BatchLost', message: batch!.error!.message, retryable: true },
          predictionRuns: [],
        });
        const outcome = await memberEnds(m, done!);
        expect(outcome).toEqual({
          jobId: m.jobId,
          status: 'Failed',
          error: {
            code: 'BatchLost',
            message: `Batch ${batchId}: ${batch!.error!.message}`,
            retryable: true,
          },
        });
        expect(await d.jobs.get(m.jobId)).toMatchObject({
          status: 'Failed',
          batchId,
          error: {
            code: 'BatchLost',
            retryable: true,
            message: expect.stringMatching(`^Batch ${batchId}: `),
          },
        });
      }

      // Run again: nothing left to do (the batch ended, its members too).
      const again = await reconcile(d, orch, minutes(10));
      expect({ ended: again.ended, told: again.told, resumed: again.resumed }).toEqual({
        ended: [],
        told: [],
        resumed: [],
      });
    },
  );

  test('closed but never staged (record Received, no AML job): Failed without an AML warning', async () => {
    const { batchId, members } = await batchOf('early/a.csv');
    await closeBatch({ batchId }, d); // staged, not submitted
    setOrch(batchId, 'Terminated');
    const report = await reconcile(d, orch, minutes(10));
    expect(report.ended).toEqual([{ jobId: batchId, status: 'Failed', runtimeStatus: 'Terminated' }]);
    const batch = await d.jobs.get(batchId);
    expect(batch?.error?.message).not.toMatch(/AML job/);
    expect(tellsTo(members[0]!.jobId)).toEqual([
      expect.objectContaining({
        scored: false,
        status: 'Failed',
        error: expect.objectContaining({ code: 'BatchLost' }),
      }),
    ]);
  });

  test('completed with an outcome its record lacks: that outcome is recorded, and the members publish from it', async () => {
    const { batchId, members } = await batchOf('late/a.csv', 'late/b.csv');
    const staged = await submitted(batchId);
    // AML's output, regrouped per file by the batch's real publish step (writes the manifest).
    const aml = members.map((m, i) => `0,${i}.5,${m.jobId}.csv\n1,${i}.7,${m.jobId}.csv\n`).join('');
    const ds = d.settings.aml.datastoreContainer;
    await d.datastore.putText(ds, staged.outputPath, aml, 'text/csv');
    const p = await publishPredictions(
      { jobId: batchId, source: { container: ds, name: staged.inputPath, etag: '' }, staged },
      d,
    );
    expect(p).toMatchObject({ ok: true, rowsFailed: 0 });
    setOrch(batchId, 'Completed', { jobId: batchId, status: 'Succeeded', amlJobName: `aml-${batchId}` });

    const report = await reconcile(d, orch, minutes(10));
    expect(report.ended).toEqual([{ jobId: batchId, status: 'Succeeded', runtimeStatus: 'Completed' }]);
    for (const m of members)
      expect(tellsTo(m.jobId)).toEqual([
        {
          batchId,
          amlJobName: `aml-${batchId}`,
          scored: true,
          status: 'Succeeded',
          predictionRuns: [expect.stringMatching(new RegExp(`/by-file/${m.jobId}\\.csv/00000\\.csv$`))],
        },
      ]);
  });

  test('not closed yet (no record: the head) and its orchestration gone: closed, recorded, ended; members told', async () => {
    const { batchId, members } = await batchOf('open/a.csv', 'open/b.csv');
    expect(await d.jobs.get(batchId)).toBeUndefined();
    setOrch(batchId, 'Terminated');
    const report = await reconcile(d, orch, minutes(10));
    expect(report).toMatchObject({
      failed: [],
      ended: [{ jobId: batchId, status: 'Failed', runtimeStatus: 'Terminated' }],
    });
    expect((await new BatchHeads(d.jobs.client).find(batchId))?.state).toBe('closed');
    const batch = await d.jobs.get(batchId);
    expect(batch).toMatchObject({ status: 'Failed', error: { code: 'BatchLost', retryable: true } });
    expect(batch?.files?.map((f) => f.jobId).sort()).toEqual(members.map((m) => m.jobId).sort());
    expect(report.told.sort()).toEqual(members.map((m) => m.jobId).sort());
    // The next file does not join the dead batch: it opens the next one.
    const next = await batchOf('open/c.csv');
    expect(next.batchId).not.toBe(batchId);
  });

  test('not closed yet and its orchestration waiting for the window: left alone', async () => {
    const { batchId } = await batchOf('filling/a.csv');
    setOrch(batchId, 'Running');
    const report = await reconcile(d, orch, minutes(10));
    expect(report).toMatchObject({ ended: [], told: [], failed: [] });
    expect((await new BatchHeads(d.jobs.client).find(batchId))?.state).toBe('open');
    expect(await d.jobs.get(batchId)).toBeUndefined();
  });

  test('a batch whose orchestration runs, and one younger than the grace period, are left alone', async () => {
    const { batchId, members } = await batchOf('alive/a.csv');
    await submitted(batchId);
    setOrch(batchId, 'Running');
    const report = await reconcile(d, orch, minutes(10));
    expect(report).toMatchObject({ ended: [], told: [], failed: [] });
    expect((await d.jobs.get(batchId))?.status).toBe('Submitted');

    setOrch(batchId, 'Failed');
    const young = await reconcile(d, orch, new Date());
    expect(young).toMatchObject({ ended: [], told: [] });
    expect((await d.jobs.get(batchId))?.status).toBe('Submitted');
    expect(tellsTo(members[0]!.jobId)).toEqual([]);
  });

  test('two overlapping runs end the batch once; members may be told twice, and take the first', async () => {
    const { batchId, members } = await batchOf('overlap/a.csv', 'overlap/b.csv');
    await submitted(batchId);
    setOrch(batchId, 'Failed');
    const [r1, r2] = await Promise.all([reconcile(d, orch, minutes(10)), reconcile(d, orch, minutes(10))]);
    expect([...r1.ended, ...r2.ended]).toEqual([
      { jobId: batchId, status: 'Failed', runtimeStatus: 'Failed' },
    ]);
    const batch = await d.jobs.get(batchId);
    for (const m of members) {
      const tells = tellsTo(m.jobId);
      expect(tells.length).toBeGreaterThanOrEqual(1);
      for (const t of tells)
        expect(t.error).toEqual({ code: 'BatchLost', message: batch!.error!.message, retryable: true });
    }
  });

  test('bounded: a run ends at most RECONCILE_MAX_ITEMS batches and members; later runs finish the rest', async () => {
    d = await testDeps({
      BATCH_WINDOW_SECONDS: String(LIMITS.windowSeconds),
      RECONCILE_GRACE_SECONDS: '300',
      RECONCILE_MAX_ITEMS: '2',
    });
    const a = await batchOf('bound/a1.csv');
    await submitted(a.batchId);
    // A second batch of the same deployment: the first one's head is closed, so the next file opens it.
    const b = await batchOf('bound/b1.csv');
    expect(b.batchId).not.toBe(a.batchId);
    await submitted(b.batchId);
    setOrch(a.batchId, 'Failed');
    setOrch(b.batchId, 'Failed');
    const runs = [];
    for (let i = 0; i < 2; i++) runs.push(await reconcile(d, orch, minutes(10)));
    expect(runs.map((r) => [r.ended.length, r.told.length, r.exhausted])).toEqual([
      [2, 0, true], // both batches ended; the members wait for the next run
      [0, 2, true], // every member told (the inbox's blobs wait for the next run)
    ]);
    for (const m of [...a.members, ...b.members]) expect(tellsTo(m.jobId)).toHaveLength(1);
    // A member that has not ended yet (nobody ran its orchestration here) is told again: harmless.
    const third = await reconcile(d, orch, minutes(10));
    expect([third.ended.length, third.told.length]).toEqual([0, 2]);
  });
});

describe('a member still waiting on a batch that has ended', () => {
  test('restarted after its batch notified: told the batch’s end from the batch record, and ends with it', async () => {
    const { batchId, members } = await batchOf('restart/a.csv', 'restart/b.csv');
    await submitted(batchId);
    const error = {
      code: 'AmlJobFailed' as const,
      message: 'AML job failed: out of memory.',
      retryable: false,
    };
    await recordOutcome({ jobId: batchId, status: 'Failed', error, amlStatus: 'Failed' }, d);
    setOrch(batchId, 'Completed', { jobId: batchId, status: 'Failed', error });
    // The batch told its members; then one member's orchestration was purged, and the reconciler started
    // it again: the new execution waits for a BatchDone that went to the old one.
    const [restarted, other] = members as [Member, Member];
    setOrch(other.jobId, 'Completed');
    await recordOutcome({ jobId: other.jobId, status: 'Failed', error }, d);
    setOrch(restarted.jobId, 'Running');

    const report = await reconcile(d, orch, minutes(10));
    expect(report).toMatchObject({ ended: [], resumed: [], told: [restarted.jobId], failed: [] });
    const [done] = tellsTo(restarted.jobId);
    expect(done).toEqual({
      batchId,
      amlJobName: `aml-${batchId}`,
      scored: false,
      status: 'Failed',
      error,
      predictionRuns: [],
    });
    expect(await memberEnds(restarted, done!)).toEqual({
      jobId: restarted.jobId,
      status: 'Failed',
      error: { ...error, message: `Batch ${batchId}: ${error.message}` },
    });
    expect((await reconcile(d, orch, minutes(10))).told).toEqual([]);
  });

  test('not told: a job that named the batch but is not in its member list, one publishing, one in a running batch', async () => {
    const { batchId, members } = await batchOf('not/a.csv');
    await submitted(batchId);
    await recordOutcome(
      {
        jobId: batchId,
        status: 'Canceled',
        error: { code: 'AmlJobCanceled', message: 'Canceled in AML.', retryable: true },
      },
      d,
    );
    setOrch(batchId, 'Completed');
    // A file that meant to join this batch, lost the race and joined another (still running).
    const other = await batchOf('not/b.csv');
    expect(other.batchId).not.toBe(batchId);
    await submitted(other.batchId);
    const stray = other.members[0]!;
    await d.jobs.transition(stray.jobId, 'Submitted', { batchId }, new Date());
    // The batch's own member has had its BatchDone and is publishing.
    await d.jobs.transition(members[0]!.jobId, 'Publishing', {}, new Date());
    setOrch(members[0]!.jobId, 'Running');
    setOrch(stray.jobId, 'Running');

    const report = await reconcile(d, orch, minutes(10));
    expect(report).toMatchObject({ told: [], ended: [], failed: [] });
    expect(told).toEqual([]);
  });
});
