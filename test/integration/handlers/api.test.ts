import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import type { Deps } from '../../../src/app/deps';
import type { Orchestrations } from '../../../src/adapters/orchestrations';
import {
  cancelJob,
  getJob,
  getPredictions,
  listJobs,
  safeUploadName,
  submitJob,
} from '../../../src/handlers/api';
import type { ScoreJobInput } from '../../../src/orchestration/contracts';
import { testDeps } from '../../support/deps';

let d: Deps;
let started: ScoreJobInput[];
let cancels: string[];
const orch: Orchestrations = {
  state: async (id) => (started.some((s) => s.jobId === id) ? 'active' : 'none'),
  start: async (_id, input) => void started.push(input),
  requestCancel: async (id) => void cancels.push(id),
};

const base = 'http://localhost:7071/api/jobs';
function req(
  method: string,
  url: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): HttpRequest {
  return new HttpRequest({
    method,
    url,
    headers,
    ...(body !== undefined
      ? {
          body: (typeof body === 'string' ? { string: body } : { bytes: body }) as never,
        }
      : {}),
  });
}
async function bodyOf(res: HttpResponseInit): Promise<unknown> {
  return res.jsonBody;
}

beforeEach(async () => {
  d = await testDeps();
  started = [];
  cancels = [];
});

const csv = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n';

test('POST text/csv stores the file in the inbox and starts its job: 202 + Location', async () => {
  const res = await submitJob(
    req('POST', `${base}?name=team/a b.csv`, csv, { 'content-type': 'text/csv' }),
    d,
    orch,
  );
  expect(res.status).toBe(202);
  const body = (await bodyOf(res)) as { jobId: string; blob: string; statusUrl: string };
  expect(res.headers).toMatchObject({ Location: `${base}/${body.jobId}` });
  expect(body.blob).toMatch(/^uploads\/\d{4}-\d\d-\d\d\/[0-9a-f]{12}\/team\/a b\.csv$/);
  expect(await d.data.exists(d.settings.inboxContainer, body.blob)).toBe(true);
  expect(started.map((s) => s.jobId)).toEqual([body.jobId]);
  expect(await d.jobs.get(body.jobId)).toMatchObject({ status: 'Received', sourceBlob: body.blob });
});

test('POST {"blob"} starts a job for a file already in the inbox, once', async () => {
  await d.data.putText(d.settings.inboxContainer, 'x.csv', csv, 'text/csv');
  const r1 = await submitJob(
    req('POST', base, JSON.stringify({ blob: 'x.csv' }), { 'content-type': 'application/json' }),
    d,
    orch,
  );
  const r2 = await submitJob(
    req('POST', base, JSON.stringify({ blob: 'x.csv' }), { 'content-type': 'application/json' }),
    d,
    orch,
  );
  expect(r1.status).toBe(202);
  expect((await bodyOf(r2)) as { jobId: string; started: boolean }).toMatchObject({
    jobId: ((await bodyOf(r1)) as { jobId: string }).jobId,
    started: false,
  });
  expect(started).toHaveLength(1);
});

test.each([
  ['bad JSON', req('POST', base, '{nope', { 'content-type': 'application/json' }), 400, /not valid JSON/],
  [
    'JSON without blob',
    req('POST', base, '{"file":"x"}', { 'content-type': 'application/json' }),
    400,
    /needs a "blob" string/,
  ],
  [
    'unknown blob',
    req('POST', base, '{"blob":"missing.csv"}', { 'content-type': 'application/json' }),
    404,
    /No blob "missing.csv"/,
  ],
  [
    'wrong media type',
    req('POST', base, '<x/>', { 'content-type': 'application/xml' }),
    415,
    /not supported/,
  ],
  ['no body', req('POST', base, undefined, { 'content-type': 'text/csv' }), 400, /no body|empty/],
  [
    'empty body',
    req('POST', base, '', { 'content-type': 'text/csv', 'content-length': '0' }),
    400,
    /no body|empty/,
  ],
  [
    'traversal in name',
    req('POST', `${base}?name=../etc/passwd`, csv, { 'content-type': 'text/csv' }),
    400,
    /Invalid \?name=/,
  ],
])('%s → clear 4xx', async (_what, r, status, message) => {
  const res = await submitJob(r, d, orch);
  expect(res.status).toBe(status);
  expect(((await bodyOf(res)) as { error: { message: string } }).error.message).toMatch(message);
  expect(started).toHaveLength(0);
});

test('upload names: folders kept, .csv added, traversal and control characters refused', () => {
  expect(safeUploadName('a/b/c.csv')).toBe('a/b/c.csv');
  expect(safeUploadName('report')).toBe('report.csv');
  expect(safeUploadName(null)).toBe('upload.csv');
  expect(safeUploadName('a//b.csv')).toHaveProperty('error');
  expect(safeUploadName('a\u0001.csv')).toHaveProperty('error');
  expect(safeUploadName('x'.repeat(300))).toHaveProperty('error');
});

test('GET one job, 404 for unknown or malformed ids', async () => {
  const res = await submitJob(req('POST', base, csv, { 'content-type': 'text/csv' }), d, orch);
  const { jobId } = (await bodyOf(res)) as { jobId: string };
  expect((await getJob(jobId, d)).status).toBe(200);
  expect(await bodyOf(await getJob(jobId, d))).toMatchObject({ jobId, status: 'Received' });
  expect((await getJob('j0000000000000-00000000000000000000', d)).status).toBe(404);
  expect((await getJob('../../etc', d)).status).toBe(404);
});

test('GET list: newest first, status filter, paging, bad parameters', async () => {
  for (let i = 0; i < 3; i++) {
    await submitJob(req('POST', `${base}?name=f${i}.csv`, csv, { 'content-type': 'text/csv' }), d, orch);
    // Blob times (and so job ids) have one-second resolution: newest-first holds across seconds.
    await new Promise((r) => setTimeout(r, 1100));
  }
  const all = (await bodyOf(await listJobs(req('GET', `${base}?top=10`), d))) as {
    jobs: { sourceBlob: string }[];
  };
  expect(all.jobs.map((j) => j.sourceBlob.split('/').pop())).toEqual(['f2.csv', 'f1.csv', 'f0.csv']);
  const page = (await bodyOf(await listJobs(req('GET', `${base}?top=2`), d))) as {
    jobs: unknown[];
    nextLink?: string;
  };
  expect(page.jobs).toHaveLength(2);
  expect(page.nextLink).toMatch(/continuationToken=/);
  const next = (await bodyOf(await listJobs(req('GET', page.nextLink!), d))) as {
    jobs: unknown[];
    nextLink?: string;
  };
  expect(next.jobs).toHaveLength(1);
  expect(
    ((await bodyOf(await listJobs(req('GET', `${base}?status=Failed`), d))) as { jobs: unknown[] }).jobs,
  ).toEqual([]);
  expect((await listJobs(req('GET', `${base}?status=Done`), d)).status).toBe(400);
  expect((await listJobs(req('GET', `${base}?top=0`), d)).status).toBe(400);
});

test('cancel: 202 and flag + event while running, 409 once ended, 404 unknown', async () => {
  const { jobId } = (await bodyOf(
    await submitJob(req('POST', base, csv, { 'content-type': 'text/csv' }), d, orch),
  )) as { jobId: string };
  const res = await cancelJob(jobId, d, orch);
  expect(res.status).toBe(202);
  expect(cancels).toEqual([jobId]);
  expect(await d.jobs.get(jobId)).toMatchObject({ cancelRequested: true, status: 'Received' });
  await d.jobs.transition(jobId, 'Canceled', {}, new Date());
  expect((await cancelJob(jobId, d, orch)).status).toBe(409);
  expect((await cancelJob('j0000000000000-00000000000000000000', d, orch)).status).toBe(404);
});

test('predictions: 409 until Succeeded, then the CSV streams', async () => {
  const { jobId } = (await bodyOf(
    await submitJob(req('POST', base, csv, { 'content-type': 'text/csv' }), d, orch),
  )) as { jobId: string };
  const early = await getPredictions(jobId, d);
  expect(early.status).toBe(409);
  expect(JSON.stringify(early.jsonBody)).toMatch(/is Received/);
  await d.data.putText(
    d.settings.outboxContainer,
    'p_predictions.csv',
    'carat,prediction\n0.3,500\n',
    'text/csv',
  );
  await d.jobs.transition(
    jobId,
    'Succeeded',
    { outputBlob: `${d.settings.outboxContainer}/p_predictions.csv` },
    new Date(),
  );
  const res = await getPredictions(jobId, d);
  expect(res.status).toBe(200);
  expect(res.headers).toMatchObject({ 'Content-Type': 'text/csv; charset=utf-8' });
  expect(await new Response(res.body as ReadableStream).text()).toBe('carat,prediction\n0.3,500\n');
});
