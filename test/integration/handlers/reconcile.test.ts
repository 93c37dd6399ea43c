/**
 * The reconciler against Azurite (records and inbox blobs) and the real durable-functions DurableClient
 * talking to a fake of the Durable extension's client API (test/support/durableApiFake.ts), so getStatus
 * results are what the real client returns. Each case the reconciler handles, with the record and the
 * orchestration in every combination that can occur.
 */
import type { DurableClient } from 'durable-functions';
import type { Deps } from '../../../src/app/deps';
import { durableOrchestrations, type InspectableOrchestrations } from '../../../src/adapters/orchestrations';
import { deriveJobId } from '../../../src/domain/jobId';
import { JOB_STATES, isTerminal, type JobState } from '../../../src/domain/jobRecord';
import { reconcile } from '../../../src/handlers/reconcile';
import { testDeps } from '../../support/deps';
import { startDurableApiFake, type DurableApiFake, type RuntimeStatus } from '../../support/durableApiFake';
import { invoke } from '../../support/programmingModel';

jest.mock('@azure/functions-core', () => jest.requireActual('../../support/programmingModel').core, {
  virtual: true,
});

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DurableClient: Client } = require('durable-functions/lib/src/durableClient/DurableClient') as {
  DurableClient: new (data: unknown) => DurableClient;
};

let durable: DurableApiFake;
let orch: InspectableOrchestrations;
beforeAll(async () => {
  durable = await startDurableApiFake();
  orch = durableOrchestrations(new Client(durable.clientData));
});
afterAll(async () => durable?.close());

const minutes = (n: number) => new Date(Date.now() + n * 60_000);
const OPEN = JOB_STATES.filter((s) => !isTerminal(s));

async function drop(d: Deps, name: string) {
  const text = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n';
  const c = d.data.container(d.settings.inboxContainer).getBlockBlobClient(name);
  await c.upload(text, text.length);
  const p = await c.getProperties();
  return { etag: p.etag!, lastModified: p.lastModified! };
}

/** A blob in the inbox and its job's record in `status` (as the pipeline would have left it). */
async function job(d: Deps, name: string, status: JobState): Promise<string> {
  const v = await drop(d, name);
  const inbox = d.settings.inboxContainer;
  const jobId = deriveJobId({ container: inbox, name, ...v });
  const now = new Date().toISOString();
  await d.jobs.create({
    jobId,
    status: 'Received',
    sourceContainer: inbox,
    sourceBlob: name,
    sourceEtag: v.etag.replace(/"/g, ''),
    receivedAt: v.lastModified.toISOString(),
    createdAt: now,
    updatedAt: now,
    phases: { Received: now },
    attempt: 0,
  });
  if (status !== 'Received') await d.jobs.transition(jobId, status, {}, new Date());
  return jobId;
}

function instance(id: string, runtimeStatus: RuntimeStatus, output?: unknown): void {
  const t = new Date().toISOString();
  durable.instances.set(id, {
    name: 'scoreJobOrchestrator',
    input: {},
    runtimeStatus,
    output,
    createdTime: t,
    lastUpdatedTime: t,
  });
}
const startsOf = (id: string) => durable.starts.filter((s) => s.instanceId === id && !s.refused);

type Orch =
  | Exclude<RuntimeStatus, 'Completed'>
  | 'missing'
  | 'Completed:Succeeded'
  | 'Completed:Failed'
  | 'Completed:none';
const ORCH_STATES: Orch[] = [
  'missing',
  'Pending',
  'Running',
  'ContinuedAsNew',
  'Suspended',
  'Completed:Succeeded',
  'Completed:Failed',
  'Completed:none',
  'Failed',
  'Terminated',
  'Canceled',
];

function setOrch(id: string, o: Orch): void {
  if (o === 'missing') return;
  if (o === 'Completed:Succeeded')
    return instance(id, 'Completed', {
      jobId: id,
      status: 'Succeeded',
      outputBlob: 'outbox/x_predictions.csv',
    });
  if (o === 'Completed:Failed')
    return instance(id, 'Completed', {
      jobId: id,
      status: 'Failed',
      error: { code: 'AmlJobFailed', message: 'AML says: out of memory.', retryable: false },
    });
  if (o === 'Completed:none') return instance(id, 'Completed');
  instance(id, o);
}

/** What the reconciler must make of a record that has not ended, by orchestration state. */
const EXPECTED: Record<Orch, { action: 'resume' | 'none' | 'end'; status?: JobState; code?: string }> = {
  missing: { action: 'resume' },
  Pending: { action: 'none' },
  Running: { action: 'none' },
  ContinuedAsNew: { action: 'none' },
  Suspended: { action: 'none' },
  'Completed:Succeeded': { action: 'end', status: 'Succeeded' },
  'Completed:Failed': { action: 'end', status: 'Failed', code: 'AmlJobFailed' },
  'Completed:none': { action: 'end', status: 'Failed', code: 'Internal' },
  Failed: { action: 'end', status: 'Failed', code: 'Internal' },
  Terminated: { action: 'end', status: 'Canceled', code: 'Canceled' },
  Canceled: { action: 'end', status: 'Canceled', code: 'Canceled' },
};

describe('records × orchestrations, every combination', () => {
  let d: Deps;
  const cases: { record: JobState; orch: Orch; jobId: string }[] = [];
  beforeAll(async () => {
    d = await testDeps({ RECONCILE_GRACE_SECONDS: '300' });
    for (const record of JOB_STATES)
      for (const o of ORCH_STATES) {
        const jobId = await job(d, `${record}/${o}.csv`, record);
        setOrch(jobId, o);
        cases.push({ record, orch: o, jobId });
      }
  }, 60_000);

  test('one run: resumes, ends or leaves each job as its orchestration says; ended records are never touched', async () => {
    const before = new Map(
      await Promise.all(cases.map(async (c) => [c.jobId, await d.jobs.get(c.jobId)] as const)),
    );
    const report = await reconcile(d, orch, minutes(10));
    expect(report.exhausted).toBe(false);
    expect(report.started).toEqual([]); // every blob has its record
    for (const c of cases) {
      const rec = await d.jobs.get(c.jobId);
      const what = `${c.record} × ${c.orch}`;
      if (isTerminal(c.record)) {
        expect({ what, rec }).toEqual({ what, rec: before.get(c.jobId) });
        expect({ what, starts: startsOf(c.jobId).length }).toEqual({ what, starts: 0 });
        continue;
      }
      const e = EXPECTED[c.orch];
      if (e.action === 'resume') {
        expect({ what, starts: startsOf(c.jobId) }).toMatchObject({
          what,
          starts: [
            {
              name: 'scoreJobOrchestrator',
              input: { jobId: c.jobId, source: { name: `${c.record}/${c.orch}.csv` } },
            },
          ],
        });
        expect(report.resumed).toContain(c.jobId);
        expect(rec?.status).toBe(c.record);
      } else if (e.action === 'none') {
        expect({ what, status: rec?.status, starts: startsOf(c.jobId).length }).toEqual({
          what,
          status: c.record,
          starts: 0,
        });
      } else {
        expect({ what, status: rec?.status }).toEqual({ what, status: e.status });
        if (e.code)
          expect({ what, code: rec?.error?.code, retryable: rec?.error?.retryable }).toMatchObject({
            what,
            code: e.code,
          });
        if (e.status === 'Succeeded') expect(rec?.outputBlob).toBe('outbox/x_predictions.csv');
        expect(report.ended).toContainEqual(expect.objectContaining({ jobId: c.jobId, status: e.status }));
        expect(startsOf(c.jobId)).toHaveLength(0);
      }
    }
    expect(report.resumed).toHaveLength(OPEN.length);
    expect(report.ended).toHaveLength(OPEN.length * 6);
  }, 60_000);

  test('a second run changes nothing (idempotent)', async () => {
    const startsBefore = durable.starts.length;
    const recs = await Promise.all(cases.map((c) => d.jobs.get(c.jobId)));
    const report = await reconcile(d, orch, minutes(10));
    expect({ resumed: report.resumed, ended: report.ended, started: report.started }).toEqual({
      resumed: [],
      ended: [],
      started: [],
    });
    expect(durable.starts.length).toBe(startsBefore);
    expect(await Promise.all(cases.map((c) => d.jobs.get(c.jobId)))).toEqual(recs);
  }, 60_000);
});

test('records and blobs younger than the grace period are left alone (their start or event may be in flight)', async () => {
  const d = await testDeps({ RECONCILE_GRACE_SECONDS: '300' });
  const stuck = await job(d, 'young-record.csv', 'Received');
  await drop(d, 'young-blob.csv');
  const report = await reconcile(d, orch, new Date());
  expect(report).toMatchObject({ resumed: [], ended: [], started: [] });
  expect(startsOf(stuck)).toHaveLength(0);
});

describe('inbox blobs without a job', () => {
  test('get one job each within the look-back; older blobs and blobs with a job are left alone', async () => {
    const d = await testDeps({ RECONCILE_GRACE_SECONDS: '60', RECONCILE_LOOKBACK_HOURS: '1' });
    const v = await drop(d, 'lost event/ä.csv');
    const withJob = await job(d, 'has-job.csv', 'Succeeded');
    const id = deriveJobId({ container: d.settings.inboxContainer, name: 'lost event/ä.csv', ...v });

    // Two hours on, the blob is beyond a 1-hour look-back.
    expect((await reconcile(d, orch, minutes(120))).started).toEqual([]);

    const report = await reconcile(d, orch, minutes(5));
    expect(report.started).toEqual([id]);
    expect(startsOf(id)).toHaveLength(1);
    expect(await d.jobs.get(id)).toMatchObject({
      status: 'Received',
      sourceBlob: 'lost event/ä.csv',
      attempt: 0,
    });
    expect(startsOf(withJob)).toHaveLength(0);

    expect((await reconcile(d, orch, minutes(5))).started).toEqual([]);
    expect(startsOf(id)).toHaveLength(1);
  });

  test('a blob whose record was lost but whose orchestration runs gets its record back and no second start', async () => {
    const d = await testDeps({ RECONCILE_GRACE_SECONDS: '60' });
    const v = await drop(d, 'record-lost.csv');
    const id = deriveJobId({ container: d.settings.inboxContainer, name: 'record-lost.csv', ...v });
    instance(id, 'Running');
    const report = await reconcile(d, orch, minutes(5));
    expect(report.started).toEqual([]);
    expect(await d.jobs.get(id)).toMatchObject({ status: 'Received' });
    expect(startsOf(id)).toHaveLength(0);
  });
});

test('bounded: each run changes at most RECONCILE_MAX_ITEMS jobs; later runs finish the rest', async () => {
  const d = await testDeps({ RECONCILE_GRACE_SECONDS: '60', RECONCILE_MAX_ITEMS: '2' });
  const stuck = [await job(d, 's1.csv', 'Received'), await job(d, 's2.csv', 'Running')];
  for (const n of ['o1.csv', 'o2.csv', 'o3.csv']) await drop(d, n);
  const runs = [];
  for (let i = 0; i < 4; i++) runs.push(await reconcile(d, orch, minutes(5)));
  expect(runs.map((r) => r.resumed.length + r.started.length)).toEqual([2, 2, 1, 0]);
  expect(runs.map((r) => r.exhausted)).toEqual([true, true, false, false]);
  expect(runs[0]!.resumed.sort()).toEqual([...stuck].sort());
  const all = (await d.jobs.list({ top: 100 })).jobs;
  expect(all).toHaveLength(5);
  for (const j of all) expect(startsOf(j.jobId)).toHaveLength(1);
});

test('one failing item does not stop the run; the next run tries it again', async () => {
  const d = await testDeps({ RECONCILE_GRACE_SECONDS: '60' });
  const [bad, good] = [await job(d, 'flaky.csv', 'Received'), await job(d, 'fine.csv', 'Received')];
  durable.failingStatus.add(bad);
  const first = await reconcile(d, orch, minutes(5));
  expect(first.failed).toEqual([{ item: `job ${bad}`, message: expect.stringMatching(/500/) }]);
  expect(first.resumed).toEqual([good]);
  durable.failingStatus.delete(bad);
  const second = await reconcile(d, orch, minutes(5));
  expect(second).toMatchObject({ resumed: [bad], failed: [] });
});

test('two overlapping runs start each job exactly once', async () => {
  const d = await testDeps({ RECONCILE_GRACE_SECONDS: '60' });
  const stuck = [await job(d, 'a.csv', 'Received'), await job(d, 'b.csv', 'Validating')];
  for (const n of ['c.csv', 'd.csv', 'e.csv']) await drop(d, n);
  const [r1, r2] = await Promise.all([reconcile(d, orch, minutes(5)), reconcile(d, orch, minutes(5))]);
  const all = (await d.jobs.list({ top: 100 })).jobs;
  expect(all).toHaveLength(5);
  for (const j of all) expect(startsOf(j.jobId)).toHaveLength(1);
  expect(new Set([...r1.resumed, ...r2.resumed])).toEqual(new Set(stuck));
});

test('the registered timer function runs it, with the timer and durable client the host passes', async () => {
  const d = await testDeps({ RECONCILE_GRACE_SECONDS: '0' });
  Object.assign(process.env, {
    DataStorage: process.env.TEST_STORAGE_CONNECTION,
    AmlDatastoreStorage: process.env.TEST_STORAGE_CONNECTION,
    AML_SCORING_URI: 'http://127.0.0.1:9/jobs',
    AML_AUTH: 'emulator',
    INBOX_CONTAINER: d.settings.inboxContainer,
    JOBS_TABLE: d.settings.jobsTable,
    RECONCILE_GRACE_SECONDS: '0',
  });
  jest.requireActual('../../../src/index');
  const { registered } = jest.requireActual(
    '../../support/programmingModel',
  ) as typeof import('../../support/programmingModel');
  const timer = Object.values(registered.get('reconcile')!.bindings).find((b) => b.type === 'timerTrigger');
  expect(timer).toMatchObject({ schedule: '%RECONCILE_SCHEDULE%', direction: 'in' });

  const v = await drop(d, 'before-subscription.csv');
  // TimerInfo as the host serialises it (Newtonsoft, PascalCase).
  const timerInfo = {
    Schedule: { AdjustForDST: true },
    ScheduleStatus: {
      Last: '0001-01-01T00:00:00',
      Next: new Date().toISOString(),
      LastUpdated: '0001-01-01T00:00:00',
    },
    IsPastDue: false,
  };
  await invoke('reconcile', {
    trigger: { json: JSON.stringify(timerInfo) },
    inputs: { durableClient: { string: JSON.stringify(durable.clientData) } },
  });
  const id = deriveJobId({ container: d.settings.inboxContainer, name: 'before-subscription.csv', ...v });
  expect(startsOf(id)).toHaveLength(1);
});
