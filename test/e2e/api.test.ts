import { openApiDocument } from '../../src/domain/openapi';
import { eventually } from '../support/eventually';
import { responseValidator } from '../support/openapi';
import { jobForBlob, startStack, waitJob, type Stack } from './stack';

/** The HTTP API over the wire: retry after an AML failure, large-file uploads, 405s and 400s, the OpenAPI document. */
let stack: Stack;
const csv = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n1.1,Premium,G,VS2\n';
const check = responseValidator(openApiDocument as unknown as Parameters<typeof responseValidator>[0]);

beforeAll(async () => {
  stack = await startStack();
}, 90_000);
afterAll(async () => stack?.stop());
afterEach(() => stack.emulator.setFaults({ failJobs: false }));

async function call(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.api}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  return { res, status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

test('retry after an AML failure succeeds, and a duplicated retry request starts one job', async () => {
  stack.emulator.setFaults({ failJobs: 'Node lost (simulated)' });
  await stack.inbox.getBlockBlobClient('retry-me.csv').upload(csv, csv.length);
  const failed = await jobForBlob(stack, 'retry-me.csv');
  expect(failed).toMatchObject({ status: 'Failed', error: { code: 'AmlJobFailed' } });
  stack.emulator.setFaults({ failJobs: false });

  // The same request delivered twice (a client retrying on a lost answer), at once.
  const [a, b] = await Promise.all([
    call('POST', `/jobs/${failed.jobId}/retry`),
    call('POST', `/jobs/${failed.jobId}/retry`),
  ]);
  for (const r of [a, b]) {
    expect(r.status).toBe(202);
    check('/jobs/{id}/retry', 'POST', 202, r.body);
  }
  const retryId = a.body!.jobId as string;
  expect(b.body!.jobId).toBe(retryId);
  expect(retryId).not.toBe(failed.jobId);
  expect(a.res.headers.get('location')).toBe(`${stack.api}/jobs/${retryId}`);
  expect([a.body!.started, b.body!.started].filter(Boolean)).toHaveLength(1);

  const done = await waitJob(stack, retryId);
  expect(done).toMatchObject({ status: 'Succeeded', sourceBlob: 'retry-me.csv' });
  const rec = (await call('GET', `/jobs/${retryId}`)).body!;
  check('/jobs/{id}', 'GET', 200, rec);
  expect(rec).toMatchObject({ attempt: 1, retryOf: failed.jobId });
  expect((await call('GET', `/jobs/${failed.jobId}`)).body).toMatchObject({
    status: 'Failed',
    retriedBy: retryId,
  });
  // One AML job for the retry, whatever the duplicates.
  expect(stack.emulator.jobs().filter((j) => j.inputUri.includes(retryId))).toHaveLength(1);

  // A Succeeded job cannot be retried; an unknown one is 404.
  const again = await call('POST', `/jobs/${retryId}/retry`);
  expect(again.status).toBe(409);
  check('/jobs/{id}/retry', 'POST', 409, again.body);
  expect((await call('POST', '/jobs/j0000000000000-00000000000000000000/retry')).status).toBe(404);
}, 120_000);

test('a file through POST /api/uploads: PUT to the URL, the blob trigger takes over', async () => {
  const up = await call('POST', '/uploads?name=via-upload.csv');
  expect(up.status).toBe(201);
  check('/uploads', 'POST', 201, up.body);
  const put = await fetch(up.body!.uploadUrl as string, {
    method: 'PUT',
    headers: { 'x-ms-blob-type': 'BlockBlob', 'content-type': 'text/csv' },
    body: csv,
  });
  expect(put.status).toBe(201);
  const job = await jobForBlob(stack, up.body!.blob as string);
  expect(job.status).toBe('Succeeded');
}, 60_000);

test('GET /api/openapi.json serves the document', async () => {
  const r = await call('GET', '/openapi.json');
  expect(r.status).toBe(200);
  expect(r.body).toEqual(JSON.parse(JSON.stringify(openApiDocument)));
}, 30_000);

test('unknown methods on known routes → 405 with Allow; unknown routes → 404', async () => {
  for (const [method, path, allow] of [
    ['DELETE', '/jobs', 'POST, GET'],
    ['PUT', '/jobs/j0000000000000-00000000000000000000', 'GET'],
    ['GET', '/jobs/j0000000000000-00000000000000000000/retry', 'POST'],
    ['GET', '/uploads', 'POST'],
    ['POST', '/openapi.json', 'GET'],
  ] as const) {
    const r = await call(method, path);
    expect({ method, path, status: r.status, allow: r.res.headers.get('allow') }).toEqual({
      method,
      path,
      status: 405,
      allow,
    });
    expect(r.body).toMatchObject({ error: { code: 'MethodNotAllowed' } });
  }
  expect((await call('GET', '/nothing-here')).status).toBe(404);
}, 30_000);

test('bad requests are 4xx with a message, and validate against the document', async () => {
  const cases: [string, string, string | undefined, Record<string, string>, number, string, string][] = [
    ['POST', '/jobs', '{"blob":"../x.csv"}', { 'content-type': 'application/json' }, 400, '/jobs', 'POST'],
    ['GET', '/jobs?continuationToken=garbage', undefined, {}, 400, '/jobs', 'GET'],
    ['GET', '/jobs?status=nope', undefined, {}, 400, '/jobs', 'GET'],
    ['GET', '/jobs/not-a-job', undefined, {}, 404, '/jobs/{id}', 'GET'],
  ];
  for (const [method, path, body, headers, status, docPath, docMethod] of cases) {
    const r = await call(method, path, body, headers);
    expect({ path, status: r.status }).toEqual({ path, status });
    check(docPath, docMethod, status, r.body);
  }
  const list = await eventually(async () => {
    const r = await call('GET', '/jobs?status=SUCCEEDED&top=2');
    expect(r.status).toBe(200);
    return r;
  });
  check('/jobs', 'GET', 200, list.body);
}, 30_000);
