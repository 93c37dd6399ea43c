import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import type { Deps } from '../../../src/app/deps';
import type { Orchestrations } from '../../../src/adapters/orchestrations';
import { BlockBlobClient } from '@azure/storage-blob';
import { Readable } from 'node:stream';
import {
  cancelJob,
  createUpload,
  getErrors,
  getJob,
  getPredictions,
  listJobs,
  methodNotAllowed,
  retryJob,
  safeUploadName,
  submitJob,
} from '../../../src/handlers/api';
import type { ScoreJobInput } from '../../../src/orchestration/contracts';
import { validateAndStage } from '../../../src/activities/validateAndStage';
import { testDeps } from '../../support/deps';

let d: Deps;
let started: ScoreJobInput[];
let cancels: string[];
const orch: Orchestrations = {
  state: async (id) => (started.some((s) => s.jobId === id) ? 'active' : 'none'),
  start: async (_id, input) => void started.push(input),
  requestCancel: async (id) => void cancels.push(id),
  startBatch: async () => undefined,
  raise: async () => undefined,
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
    'traversal in blob',
    req('POST', base, '{"blob":"../x.csv"}', { 'content-type': 'application/json' }),
    400,
    /Invalid "blob"/,
  ],
  [
    'control character in blob',
    req('POST', base, '{"blob":"a\\u0000.csv"}', { 'content-type': 'application/json' }),
    400,
    /Invalid "blob"/,
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
  // Status filters are case-insensitive.
  const received = (await bodyOf(await listJobs(req('GET', `${base}?status=rECEIVED&top=10`), d))) as {
    jobs: unknown[];
  };
  expect(received.jobs).toHaveLength(3);
  // A malformed continuation token is the caller's mistake: 400, not a storage fault.
  for (const bad of [
    'nope',
    Buffer.from('{"x":1}').toString('base64'),
    Buffer.from('[]').toString('base64'),
  ]) {
    const res = await listJobs(req('GET', `${base}?continuationToken=${encodeURIComponent(bad)}`), d);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.jsonBody)).toMatch(/continuationToken/);
  }
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

describe('request body cap (the host refuses bodies over FUNCTIONS_REQUEST_BODY_SIZE_LIMIT, default 100 MB)', () => {
  const MB = 1024 * 1024;
  test('a declared 101 MB body → 413 pointing to /api/uploads, before anything is read or stored', async () => {
    const res = await submitJob(
      req('POST', `${base}?name=big.csv`, Buffer.alloc(101 * MB, 0x31), {
        'content-type': 'text/csv',
        'content-length': String(101 * MB),
      }),
      d,
      orch,
    );
    expect(res.status).toBe(413);
    expect(res.jsonBody).toMatchObject({ error: { code: 'RequestTooLarge' } });
    expect(JSON.stringify(res.jsonBody)).toMatch(/104857600 bytes.*POST \/api\/uploads\?name=/);
    expect(started).toHaveLength(0);
  }, 60_000);

  test('a 101 MB body without Content-Length → 413 once the cap is passed, and no blob is left behind', async () => {
    const res = await submitJob(
      req('POST', `${base}?name=chunked.csv`, Buffer.alloc(101 * MB, 0x31), { 'content-type': 'text/csv' }),
      d,
      orch,
    );
    expect(res.status).toBe(413);
    expect(JSON.stringify(res.jsonBody)).toMatch(/\/api\/uploads/);
    const left = [];
    for await (const b of d.data.container(d.settings.inboxContainer).listBlobsFlat()) left.push(b.name);
    expect(left).toEqual([]);
    expect(started).toHaveLength(0);
  }, 60_000);

  test('the cap follows FUNCTIONS_REQUEST_BODY_SIZE_LIMIT', async () => {
    const small = await testDeps({ FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: '10' });
    const res = await submitJob(req('POST', base, csv, { 'content-type': 'text/csv' }), small, orch);
    expect(res.status).toBe(413);
  });
});

describe('POST /api/uploads', () => {
  const uploadsBase = 'http://localhost:7071/api/uploads';
  async function upload(name: string) {
    const res = await createUpload(req('POST', `${uploadsBase}?name=${encodeURIComponent(name)}`), d);
    expect(res.status).toBe(201);
    return res.jsonBody as { uploadUrl: string; blob: string; expiresAt: string };
  }

  test('201 with a short-lived create/write-only URL: PUT works, read, list and delete do not', async () => {
    const before = Date.now();
    const up = await upload('team/small');
    expect(up.blob).toMatch(/^uploads\/\d{4}-\d\d-\d\d\/[0-9a-f]{12}\/team\/small\.csv$/);
    const sas = new URL(up.uploadUrl).searchParams;
    expect(sas.get('sp')).toBe('cw');
    const expires = new Date(up.expiresAt).getTime();
    expect(expires).toBeGreaterThan(before + 59 * 60_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 60 * 60_000);

    const put = await fetch(up.uploadUrl, {
      method: 'PUT',
      headers: { 'x-ms-blob-type': 'BlockBlob', 'content-type': 'text/csv' },
      body: csv,
    });
    expect(put.status).toBe(201);
    expect(await d.data.exists(d.settings.inboxContainer, up.blob)).toBe(true);
    expect((await fetch(up.uploadUrl)).status).toBe(403);
    expect((await fetch(up.uploadUrl, { method: 'DELETE' })).status).toBe(403);
    const container = up.uploadUrl.replace(/\/uploads\/.*\?/, '?restype=container&comp=list&');
    expect((await fetch(container)).status).toBe(403);
  });

  test('bad names → 400', async () => {
    const res = await createUpload(req('POST', `${uploadsBase}?name=../x.csv`), d);
    expect(res.status).toBe(400);
    expect(res.jsonBody).toMatchObject({ error: { code: 'BadRequest' } });
  });

  test('a 300 MB file in blocks through the URL, then its job starts for exactly that blob', async () => {
    const up = await upload('big.csv');
    const row = Buffer.from('0.31,Ideal,E,SI1\n');
    const rows = Math.ceil((300 * 1024 * 1024) / row.length);
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent === 0) this.push('carat,cut,color,clarity\n');
        const n = Math.min(65_536, rows - sent);
        if (n <= 0) return void this.push(null);
        this.push(Buffer.concat(Array.from({ length: n }, () => row)));
        sent += n;
      },
    });
    // Put Block + Put Block List, as Storage Explorer, azcopy and the SDKs do for big files.
    await new BlockBlobClient(up.uploadUrl).uploadStream(body, 8 * 1024 * 1024, 4);
    const info = await d.data.info(d.settings.inboxContainer, up.blob);
    expect(info.size).toBe('carat,cut,color,clarity\n'.length + rows * row.length);
    expect(info.size).toBeGreaterThan(300 * 1024 * 1024);

    const res = await submitJob(
      req('POST', base, JSON.stringify({ blob: up.blob }), { 'content-type': 'application/json' }),
      d,
      orch,
    );
    expect(res.status).toBe(202);
    const { jobId } = res.jsonBody as { jobId: string };
    expect(await d.jobs.get(jobId)).toMatchObject({
      sourceBlob: up.blob,
      status: 'Received',
    });
    expect(started.map((s) => s.source.name)).toEqual([up.blob]);
  }, 180_000);
});

describe('POST /api/jobs/{id}/retry', () => {
  async function endedJob(status: 'Failed' | 'TimedOut' | 'Canceled' | 'Succeeded' | 'Rejected' | 'Running') {
    const { jobId } = (
      await submitJob(req('POST', `${base}?name=r.csv`, csv, { 'content-type': 'text/csv' }), d, orch)
    ).jsonBody as { jobId: string };
    await d.jobs.transition(jobId, status, {}, new Date());
    return jobId;
  }
  const retry = (id: string) => retryJob(req('POST', `${base}/${id}/retry`), id, d, orch);

  test.each(['Failed', 'TimedOut', 'Canceled'] as const)(
    'from %s: 202, a new linked job for the same blob version; a repeated request starts nothing more',
    async (status) => {
      const id = await endedJob(status);
      const res = await retry(id);
      expect(res.status).toBe(202);
      const body = res.jsonBody as { jobId: string; retryOf: string; started: boolean; statusUrl: string };
      expect(body).toMatchObject({ retryOf: id, started: true, status: 'Received' });
      expect(body.jobId).not.toBe(id);
      expect(res.headers).toMatchObject({ Location: `${base}/${body.jobId}` });
      const [orig, next] = [await d.jobs.get(id), await d.jobs.get(body.jobId)];
      expect(orig).toMatchObject({ status, retriedBy: body.jobId });
      expect(next).toMatchObject({
        attempt: 1,
        retryOf: id,
        sourceBlob: orig!.sourceBlob,
        sourceEtag: orig!.sourceEtag,
      });

      const again = await retry(id);
      expect(again.status).toBe(202);
      expect(again.jsonBody).toMatchObject({ jobId: body.jobId, started: false, retryOf: id });
      expect(started.filter((s) => s.jobId === body.jobId)).toHaveLength(1);
    },
  );

  test('concurrent duplicate requests start one job', async () => {
    const id = await endedJob('Failed');
    const [a, b] = await Promise.all([retry(id), retry(id)]);
    const ids = [a, b].map((r) => (r.jsonBody as { jobId: string }).jobId);
    expect(ids[0]).toBe(ids[1]);
    expect(started.filter((s) => s.jobId === ids[0])).toHaveLength(1);
  });

  test('a retry of a retry is attempt 2, linked to its predecessor', async () => {
    const id = await endedJob('Failed');
    const first = (await retry(id)).jsonBody as { jobId: string };
    await d.jobs.transition(first.jobId, 'Failed', {}, new Date());
    const second = (await retry(first.jobId)).jsonBody as { jobId: string; retryOf: string };
    expect(second.retryOf).toBe(first.jobId);
    expect(await d.jobs.get(second.jobId)).toMatchObject({ attempt: 2, retryOf: first.jobId });
    expect(new Set([id, first.jobId, second.jobId]).size).toBe(3);
  });

  test.each(['Running', 'Succeeded', 'Rejected'] as const)('from %s: 409', async (status) => {
    const id = await endedJob(status);
    const res = await retry(id);
    expect(res.status).toBe(409);
    expect(res.jsonBody).toMatchObject({ error: { code: 'NotRetryable' } });
  });

  test('404 for unknown ids; 409 when the file is gone or replaced', async () => {
    expect((await retry('j0000000000000-00000000000000000000')).status).toBe(404);
    expect((await retry('nonsense')).status).toBe(404);
    const id = await endedJob('Failed');
    const rec = (await d.jobs.get(id))!;
    await d.data.putText(d.settings.inboxContainer, rec.sourceBlob, 'carat\n2\n', 'text/csv');
    expect((await retry(id)).jsonBody).toMatchObject({ error: { code: 'SourceChanged' } });
    await d.data.delete(d.settings.inboxContainer, rec.sourceBlob);
    expect((await retry(id)).jsonBody).toMatchObject({ error: { code: 'SourceGone' } });
  });
});

test('405 names the allowed methods in Allow', () => {
  const res = methodNotAllowed('DELETE', ['POST', 'GET']);
  expect(res.status).toBe(405);
  expect(res.headers).toMatchObject({ Allow: 'POST, GET' });
  expect(res.jsonBody).toMatchObject({ error: { code: 'MethodNotAllowed' } });
});

describe('per-file deployment (?deployment=)', () => {
  test('POST text/csv: the deployment goes on the blob metadata, the job input and the record', async () => {
    const res = await submitJob(
      req('POST', `${base}?name=d.csv&deployment=diamond-v1`, csv, { 'content-type': 'text/csv' }),
      d,
      orch,
    );
    expect(res.status).toBe(202);
    const { jobId, blob } = res.jsonBody as { jobId: string; blob: string };
    expect((await d.data.info(d.settings.inboxContainer, blob)).metadata).toEqual({
      deployment: 'diamond-v1',
    });
    expect(started).toEqual([expect.objectContaining({ jobId, deployment: 'diamond-v1' })]);
    expect(await d.jobs.get(jobId)).toMatchObject({ deployment: 'diamond-v1' });
    const v = await validateAndStage({ jobId, source: started[0]!.source, deployment: 'diamond-v1' }, d);
    expect(v).toMatchObject({ ok: true, deployment: 'diamond-v1' });
  });

  test('POST {"blob"}: the deployment goes on the job input and the record (the blob is not touched)', async () => {
    await d.data.putText(d.settings.inboxContainer, 'y.csv', csv, 'text/csv');
    const res = await submitJob(
      req('POST', `${base}?deployment=diamond-v1`, JSON.stringify({ blob: 'y.csv' }), {
        'content-type': 'application/json',
      }),
      d,
      orch,
    );
    expect(res.status).toBe(202);
    expect(started).toEqual([expect.objectContaining({ deployment: 'diamond-v1' })]);
    expect((await d.data.info(d.settings.inboxContainer, 'y.csv')).metadata).toBeUndefined();
  });

  test.each(['ab', '1abc', 'has_underscore', 'a'.repeat(33), 'spa ce'])(
    'an invalid name %j → 400 DeploymentInvalid; nothing stored or started',
    async (name) => {
      const q = `deployment=${encodeURIComponent(name)}`;
      for (const res of [
        await submitJob(req('POST', `${base}?name=z.csv&${q}`, csv, { 'content-type': 'text/csv' }), d, orch),
        await submitJob(
          req('POST', `${base}?${q}`, JSON.stringify({ blob: 'x.csv' }), {
            'content-type': 'application/json',
          }),
          d,
          orch,
        ),
        await createUpload(req('POST', `http://localhost:7071/api/uploads?name=z.csv&${q}`), d),
      ]) {
        expect(res.status).toBe(400);
        expect(res.jsonBody).toMatchObject({
          error: {
            code: 'DeploymentInvalid',
            message: expect.stringContaining('not a valid Azure ML deployment name'),
          },
        });
      }
      expect(started).toEqual([]);
    },
  );

  test('POST /api/uploads: uploadHeaders carry x-ms-meta-deployment; a PUT with them labels the blob', async () => {
    const res = await createUpload(
      req('POST', 'http://localhost:7071/api/uploads?name=u.csv&deployment=diamond-v1'),
      d,
    );
    expect(res.status).toBe(201);
    const up = res.jsonBody as { uploadUrl: string; blob: string; uploadHeaders: Record<string, string> };
    expect(up.uploadHeaders).toEqual({ 'x-ms-blob-type': 'BlockBlob', 'x-ms-meta-deployment': 'diamond-v1' });
    const put = await fetch(up.uploadUrl, { method: 'PUT', headers: up.uploadHeaders, body: csv });
    expect(put.status).toBe(201);
    expect((await d.data.info(d.settings.inboxContainer, up.blob)).metadata).toEqual({
      deployment: 'diamond-v1',
    });
    // The job starts from the blob (as the trigger does), without an API override: the metadata decides.
    const { startJob } = await import('../../../src/handlers/startJob');
    const job = await startJob(d, orch, { container: d.settings.inboxContainer, name: up.blob });
    const v = await validateAndStage({ jobId: job.jobId, source: started[0]!.source }, d);
    expect(v).toMatchObject({ ok: true, deployment: 'diamond-v1' });
    expect(await d.jobs.get(job.jobId)).toMatchObject({ deployment: 'diamond-v1' });
    const plain = await createUpload(req('POST', 'http://localhost:7071/api/uploads?name=p.csv'), d);
    expect((plain.jsonBody as { uploadHeaders: object }).uploadHeaders).toEqual({
      'x-ms-blob-type': 'BlockBlob',
    });
  });
});

test('errors: 404 without an errors file, then the CSV streams', async () => {
  const { jobId } = (await bodyOf(
    await submitJob(req('POST', base, csv, { 'content-type': 'text/csv' }), d, orch),
  )) as { jobId: string };
  const none = await getErrors(jobId, d);
  expect(none.status).toBe(404);
  expect(none.jsonBody).toMatchObject({ error: { code: 'NoErrorsFile' } });
  expect((await getErrors('nope', d)).jsonBody).toMatchObject({ error: { code: 'JobNotFound' } });
  await d.data.putText(
    d.settings.outboxContainer,
    'e_errors.csv',
    'input_line,reason,carat\n2,skipped,0.3\n',
    'text/csv',
  );
  await d.jobs.transition(
    jobId,
    'Succeeded',
    { errorsBlob: `${d.settings.outboxContainer}/e_errors.csv`, rowsScored: 0, rowsFailed: 1 },
    new Date(),
  );
  const res = await getErrors(jobId, d);
  expect(res.status).toBe(200);
  expect(res.headers).toMatchObject({ 'Content-Disposition': 'attachment; filename="e_errors.csv"' });
  expect(await new Response(res.body as ReadableStream).text()).toBe(
    'input_line,reason,carat\n2,skipped,0.3\n',
  );
  await d.data.delete(d.settings.outboxContainer, 'e_errors.csv');
  expect((await getErrors(jobId, d)).status).toBe(410);
});
