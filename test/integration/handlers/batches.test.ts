/**
 * GET /api/batches/{id} (handlers/api.ts getBatch) against Azurite, with batches made by the real
 * activities (joinBatch, closeBatch, recordOutcome): an open batch is read from its head, a closed one
 * from its record, and each member's own status comes from its job record.
 */
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { Readable } from 'node:stream';
import type { Deps } from '../../../src/app/deps';
import { closeBatch } from '../../../src/activities/closeBatch';
import { joinBatch } from '../../../src/activities/joinBatch';
import { recordOutcome } from '../../../src/activities/recordOutcome';
import { validateAndStage } from '../../../src/activities/validateAndStage';
import type { Orchestrations } from '../../../src/adapters/orchestrations';
import { getBatch, getJob, listJobs } from '../../../src/handlers/api';
import { scoreJobInput, startJob } from '../../../src/handlers/startJob';
import type { BatchLimitsInput, StagedFile } from '../../../src/orchestration/contracts';
import { testDeps } from '../../support/deps';

jest.setTimeout(60_000);

/** The orchestration edge, which cannot run here without a host: starts and raises are recorded. */
let instances: Set<string>;
const orch: Orchestrations = {
  state: async (id) => (instances.has(id) ? 'active' : 'none'),
  start: async (id) => void instances.add(id),
  startBatch: async (id) => void instances.add(id),
  requestCancel: async () => undefined,
  raise: async () => undefined,
};

let d: Deps;
beforeEach(async () => {
  instances = new Set();
  d = await testDeps({ BATCH_WINDOW_SECONDS: '60' });
});

const LIMITS: BatchLimitsInput = { windowSeconds: 60, maxFiles: 3, maxBytes: 1e6 };
const base = 'http://localhost:7071/api';

interface Member {
  jobId: string;
  name: string;
  staged: StagedFile;
}

async function member(name: string): Promise<Member> {
  const body = `carat,cut,color,clarity\n0.${name.length},Ideal,E,SI1\n0.5,Good,F,VS2\n`;
  await d.data.upload(d.settings.inboxContainer, name, Readable.from([Buffer.from(body)]));
  const job = await startJob(d, orch, { container: d.settings.inboxContainer, name });
  const v = await validateAndStage({ jobId: job.jobId, source: scoreJobInput(d, job.record).source }, d);
  if (!v.ok) throw new Error(JSON.stringify(v.error));
  return { jobId: job.jobId, name, staged: v.staged };
}

async function joined(m: Member): Promise<string> {
  const r = await joinBatch({ jobId: m.jobId, staged: m.staged, limits: LIMITS }, d, orch);
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.batchId;
}

interface BatchView {
  batchId: string;
  status: string;
  openedAt: string;
  closesAt: string;
  closedAt?: string;
  files: Record<string, unknown>[];
  [k: string]: unknown;
}

async function view(id: string): Promise<{ status?: number; body: BatchView }> {
  const res: HttpResponseInit = await getBatch(id, d);
  return { status: res.status, body: res.jsonBody as BatchView };
}

const memberView = (m: Member, status: string) => ({
  jobId: m.jobId,
  rows: 2,
  bytes: m.staged.bytes,
  status,
  sourceBlob: `${d.settings.inboxContainer}/${m.name}`,
});

test('an open batch is read from its head, with its members and their statuses', async () => {
  const a = await member('a.csv');
  const b = await member('in/b.csv');
  const batchId = await joined(a);
  expect(await joined(b)).toBe(batchId);
  const { status, body } = await view(batchId);
  expect(status).toBe(200);
  expect(body).toEqual({
    batchId,
    status: 'Open',
    openedAt: expect.any(String),
    closesAt: expect.any(String),
    files: [memberView(a, 'Validating'), memberView(b, 'Validating')],
  });
  expect(Date.parse(body.closesAt) - Date.parse(body.openedAt)).toBe(60_000);
});

test('a batch closed early (full) and not yet staged reads as Closed, before and after its record exists', async () => {
  const ms = await Promise.all(['f1.csv', 'f2.csv', 'f3.csv', 'f4.csv'].map(member));
  const batchId = await joined(ms[0]!);
  for (const m of ms.slice(1, 3)) expect(await joined(m)).toBe(batchId);
  // Full at 3 files: closed on its head, no record yet.
  const fromHead = await view(batchId);
  expect(fromHead.body).toMatchObject({ batchId, status: 'Closed', closedAt: expect.any(String) });
  expect(fromHead.body.files.map((f) => f.jobId)).toEqual(ms.slice(0, 3).map((m) => m.jobId));

  // The next file replaces the head; the batch is then read from its record, unchanged.
  const next = await joined(ms[3]!);
  expect(next).not.toBe(batchId);
  const fromRecord = await view(batchId);
  expect(fromRecord.body).toMatchObject({
    batchId,
    status: 'Closed',
    openedAt: fromHead.body.openedAt,
    closesAt: fromHead.body.closesAt,
    closedAt: fromHead.body.closedAt,
    rowCount: 6,
  });
  expect(fromRecord.body.files).toEqual(fromHead.body.files);
  // Neither the record's source fields nor anything not about the batch leaks.
  expect(fromRecord.body).not.toHaveProperty('jobId');
  expect(fromRecord.body).not.toHaveProperty('sourceBlob');
  expect((await view(next)).body).toMatchObject({ status: 'Open', files: [{ jobId: ms[3]!.jobId }] });
});

test('a staged batch reads as Staging, then as its record goes, with each member its own status', async () => {
  const a = await member('s1.csv');
  const b = await member('s2.csv');
  const batchId = await joined(a);
  await joined(b);
  const closed = await closeBatch({ batchId }, d);
  if (!closed.ok) throw new Error('close failed');
  expect((await view(batchId)).body).toMatchObject({
    batchId,
    status: 'Staging',
    stagedInputUri: closed.staged.inputUri,
    files: [memberView(a, 'Validating'), memberView(b, 'Validating')],
  });

  // AML scored it; one member published, the other failed on its own.
  await d.jobs.transition(batchId, 'Submitted', { amlJobName: 'aml-job-1' }, new Date());
  await recordOutcome(
    {
      jobId: a.jobId,
      status: 'Succeeded',
      outputBlob: `${d.settings.outboxContainer}/s1_predictions.csv`,
      rowsScored: 2,
      rowsFailed: 0,
    },
    d,
  );
  await recordOutcome(
    {
      jobId: b.jobId,
      status: 'Failed',
      error: { code: 'AllRowsFailed', message: 'No row got a prediction.', retryable: false },
      rowsScored: 0,
      rowsFailed: 2,
    },
    d,
  );
  const { body } = await view(batchId);
  expect(body).toMatchObject({ status: 'Submitted', amlJobName: 'aml-job-1' });
  expect(body.files).toEqual([
    {
      ...memberView(a, 'Succeeded'),
      outputBlob: `${d.settings.outboxContainer}/s1_predictions.csv`,
      rowsScored: 2,
      rowsFailed: 0,
    },
    { ...memberView(b, 'Failed'), rowsScored: 0, rowsFailed: 2 },
  ]);
  // Each member's own record names its batch.
  const job = (await getJob(a.jobId, d)).jsonBody as { batchId?: string };
  expect(job.batchId).toBe(batchId);
});

test.each([
  ['an unknown batch', 'b8204371201999-0123456789abcdef0123'],
  ['a job id', 'j8204371201999-0123456789abcdef0123'],
  ['a malformed id', 'b123'],
  ['a path-like id', '..%2Fheads'],
  ['an empty id', ''],
])('%s is 404 BatchNotFound', async (_what, id) => {
  const res = await getBatch(id, d);
  expect(res.status).toBe(404);
  expect(res.jsonBody).toMatchObject({ error: { code: 'BatchNotFound' } });
});

test('a job id is not a batch, and a batch id is not a job', async () => {
  const a = await member('x.csv');
  const batchId = await joined(a);
  expect((await getBatch(a.jobId, d)).status).toBe(404);
  expect((await getJob(batchId, d)).status).toBe(404);
});

test('GET /api/jobs lists the members only: never a batch record or a head', async () => {
  const ms = await Promise.all(['l1.csv', 'l2.csv', 'l3.csv', 'l4.csv'].map(member));
  const ids = new Set<string>();
  for (const m of ms) ids.add(await joined(m)); // 3 fill the first batch, the 4th opens a second
  expect(ids.size).toBe(2);
  const first = [...ids][0]!;
  await closeBatch({ batchId: first }, d);
  expect(await d.jobs.get(first)).toBeDefined(); // the batch record exists in the same table

  const list = async (query: string) =>
    (
      (await listJobs(new HttpRequest({ method: 'GET', url: `${base}/jobs${query}` }), d)).jsonBody as {
        jobs: { jobId: string }[];
      }
    ).jobs.map((j) => j.jobId);
  const members = ms.map((m) => m.jobId).sort();
  expect((await list('?top=100')).sort()).toEqual(members);
  // The batch record is Validating (staged); its members are too: the filter still finds members only.
  expect((await list('?status=Validating&top=100')).sort()).toEqual(members);
  // Page by page, one at a time, nothing else turns up.
  const paged: string[] = [];
  let url: string | undefined = `${base}/jobs?top=1`;
  while (url) {
    const res = (await listJobs(new HttpRequest({ method: 'GET', url }), d)).jsonBody as {
      jobs: { jobId: string }[];
      nextLink?: string;
    };
    paged.push(...res.jobs.map((j) => j.jobId));
    url = res.nextLink;
  }
  expect(paged.sort()).toEqual(members);
});
