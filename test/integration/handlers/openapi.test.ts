/**
 * The OpenAPI document is kept honest: it is valid OpenAPI 3.1, it lists exactly the registered HTTP
 * functions' routes and methods, and real responses of the handlers validate against its schemas
 * (the e2e suite checks responses over HTTP as well).
 */
import { HttpRequest } from '@azure/functions';
import type { Deps } from '../../../src/app/deps';
import type { Orchestrations } from '../../../src/adapters/orchestrations';
import { openApiDocument } from '../../../src/domain/openapi';
import {
  cancelJob,
  createUpload,
  getJob,
  listJobs,
  methodNotAllowed,
  retryJob,
  submitJob,
} from '../../../src/handlers/api';
import { testDeps } from '../../support/deps';
import { responseValidator, validateOpenApi } from '../../support/openapi';
import { httpFunctions } from '../../support/programmingModel';

jest.mock('@azure/functions-core', () => jest.requireActual('../../support/programmingModel').core, {
  virtual: true,
});

const doc = openApiDocument as unknown as Parameters<typeof responseValidator>[0];
const check = responseValidator(doc);

test('the document is valid OpenAPI 3.1', () => {
  const r = validateOpenApi(openApiDocument);
  expect(r).toEqual({ valid: true, version: '3.1' });
}, 30_000);

test('the validator does reject a broken document (the check can fail)', () => {
  const broken = { ...openApiDocument, paths: { '/x': { get: { responses: { '200': {} } } } } };
  expect(validateOpenApi(broken).valid).toBe(false);
}, 30_000);

describe('registered HTTP functions ↔ document', () => {
  beforeAll(() => {
    Object.assign(process.env, {
      DataStorage: 'UseDevelopmentStorage=true',
      AmlDatastoreStorage: 'UseDevelopmentStorage=true',
      AML_SCORING_URI: 'http://127.0.0.1:9/jobs',
      AML_AUTH: 'emulator',
    });
    jest.requireActual('../../../src/index');
  });
  // A catch-all route parameter `{*rest}` is the path template `{rest}` in OpenAPI.
  const toPath = (route: string) => `/${route.replace(/\{\*+/g, '{')}`;
  const ops = (): { path: string; method: string }[] =>
    Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((m) => ({ path, method: m.toUpperCase() })),
    );

  test('every operation is a registered function and every registered operation is documented, nothing else', () => {
    const fns = httpFunctions();
    expect(fns.length).toBeGreaterThan(8);
    const operations = fns.filter((f) => !f.name.endsWith('-405'));
    const registered = operations.flatMap((f) =>
      f.methods.map((m) => ({ path: toPath(f.route), method: m })),
    );
    const key = (o: { path: string; method: string }) => `${o.method} ${o.path}`;
    expect(registered.map(key).sort()).toEqual(ops().map(key).sort());
    // operationId is the function's name, so generated clients and logs use the same words.
    for (const f of operations) {
      const op = (doc.paths[toPath(f.route)] as Record<string, { operationId?: string }>)[
        f.methods[0]!.toLowerCase()
      ];
      expect(op?.operationId).toBe(f.name);
    }
  });

  test('each documented route has one 405 function for the other methods, and no 405 function is elsewhere', () => {
    const fns = httpFunctions();
    const others = fns.filter((f) => f.name.endsWith('-405'));
    expect(others.map((f) => toPath(f.route)).sort()).toEqual(Object.keys(doc.paths).sort());
    for (const f of others) {
      const documented = Object.keys(doc.paths[toPath(f.route)]!).map((m) => m.toUpperCase());
      expect(f.methods.filter((m) => documented.includes(m))).toEqual([]);
      expect(new Set([...f.methods, ...documented])).toEqual(
        new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
      );
    }
  });
});

describe('real handler responses validate against the document', () => {
  let d: Deps;
  const orch: Orchestrations = {
    state: async () => 'none',
    start: async () => undefined,
    requestCancel: async () => undefined,
    startBatch: async () => undefined,
    raise: async () => undefined,
  };
  const base = 'http://localhost:7071/api';
  const req = (method: string, url: string, body?: string, headers: Record<string, string> = {}) =>
    new HttpRequest({ method, url, headers, ...(body !== undefined ? { body: { string: body } } : {}) });
  const csv = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n';
  beforeAll(async () => {
    d = await testDeps();
  });

  test('jobs: submit, list, get, cancel, retry, and their errors', async () => {
    const sub = await submitJob(
      req('POST', `${base}/jobs?name=a.csv`, csv, { 'content-type': 'text/csv' }),
      d,
      orch,
    );
    check('/jobs', 'POST', sub.status!, sub.jsonBody);
    const { jobId } = sub.jsonBody as { jobId: string };
    for (const [r, status] of [
      [req('POST', `${base}/jobs`, '{', { 'content-type': 'application/json' }), 400],
      [req('POST', `${base}/jobs`, '{"blob":"none.csv"}', { 'content-type': 'application/json' }), 404],
      [req('POST', `${base}/jobs`, '<x/>', { 'content-type': 'application/xml' }), 415],
      [req('POST', `${base}/jobs`, csv, { 'content-type': 'text/csv', 'content-length': '200000000' }), 413],
    ] as const) {
      const res = await submitJob(r, d, orch);
      expect(res.status).toBe(status);
      check('/jobs', 'POST', res.status!, res.jsonBody);
    }
    const list = await listJobs(req('GET', `${base}/jobs?top=5`), d);
    check('/jobs', 'GET', 200, list.jsonBody);
    expect((list.jsonBody as { jobs: unknown[] }).jobs).toHaveLength(1);
    const bad = await listJobs(req('GET', `${base}/jobs?status=nope`), d);
    check('/jobs', 'GET', bad.status!, bad.jsonBody);
    check('/jobs/{id}', 'GET', 200, (await getJob(jobId, d)).jsonBody);
    check('/jobs/{id}', 'GET', 404, (await getJob('j0000000000000-00000000000000000000', d)).jsonBody);
    const retry409 = await retryJob(req('POST', `${base}/jobs/${jobId}/retry`), jobId, d, orch);
    check('/jobs/{id}/retry', 'POST', retry409.status!, retry409.jsonBody);
    const cancel = await cancelJob(jobId, d, orch);
    check('/jobs/{id}/cancel', 'POST', cancel.status!, cancel.jsonBody);
    await d.jobs.transition(
      jobId,
      'Failed',
      { error: { code: 'AmlJobFailed', message: 'x', retryable: false, at: new Date().toISOString() } },
      new Date(),
    );
    const retry = await retryJob(req('POST', `${base}/jobs/${jobId}/retry`), jobId, d, orch);
    expect(retry.status).toBe(202);
    check('/jobs/{id}/retry', 'POST', 202, retry.jsonBody);
    check('/jobs/{id}', 'GET', 200, (await getJob(jobId, d)).jsonBody);
    const cancel409 = await cancelJob(jobId, d, orch);
    check('/jobs/{id}/cancel', 'POST', cancel409.status!, cancel409.jsonBody);
  });

  test('uploads and 405', async () => {
    const up = await createUpload(req('POST', `${base}/uploads?name=big.csv`), d);
    check('/uploads', 'POST', 201, up.jsonBody);
    const bad = await createUpload(req('POST', `${base}/uploads?name=..`), d);
    check('/uploads', 'POST', bad.status!, bad.jsonBody);
    // 405 bodies are the common error shape.
    check('/uploads', 'POST', 400, methodNotAllowed('PUT', ['POST']).jsonBody);
  });

  test('a body that breaks the schema is caught (the check can fail)', () => {
    expect(() => check('/jobs/{id}', 'GET', 200, { jobId: 'x', status: 'Nope' })).toThrow(/must/);
    expect(() =>
      check('/uploads', 'POST', 201, { uploadUrl: 'not a url', blob: 'b', expiresAt: 'soon' }),
    ).toThrow();
  });
});
