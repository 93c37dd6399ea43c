import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Deps } from '../app/deps';
import type { Orchestrations } from '../adapters/orchestrations';
import { PipelineError } from '../domain/errors';
import { isJobId } from '../domain/jobId';
import { isJobState, isTerminal, type JobRecord } from '../domain/jobRecord';
import { startJob } from './startJob';

/** The HTTP API's logic, free of the Functions host: requests in, responses out. */

const json = (status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit => ({
  status,
  jsonBody: body,
  headers: { 'Content-Type': 'application/json', ...headers },
});
const problem = (status: number, code: string, message: string): HttpResponseInit =>
  json(status, { error: { code, message } });

function jobUrl(req: HttpRequest, jobId: string): string {
  const u = new URL(req.url);
  return `${u.origin}/api/jobs/${jobId}`;
}

/** Upload names: folders allowed, no traversal, no control characters; always ends in .csv. */
export function safeUploadName(raw: string | null): string | { error: string } {
  const name = (raw ?? 'upload.csv').trim();
  if (!name) return { error: 'name must not be empty' };
  if (name.length > 200) return { error: 'name must be at most 200 characters' };
  if (/[\u0000-\u001f\u007f\\]/.test(name))
    return { error: 'name must not contain control characters or backslashes' };
  const parts = name.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..'))
    return { error: 'name must be a relative path without empty, "." or ".." segments' };
  return /\.csv$/i.test(name) ? name : `${name}.csv`;
}

export async function submitJob(req: HttpRequest, d: Deps, orch: Orchestrations): Promise<HttpResponseInit> {
  const type = (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const inbox = d.settings.inboxContainer;

  if (type === 'application/json') {
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      return problem(
        400,
        'BadRequest',
        'The body is not valid JSON. Send {"blob": "<name in the inbox container>"} or a text/csv body.',
      );
    }
    const blob = (body as { blob?: unknown } | null)?.blob;
    if (typeof blob !== 'string' || !blob.trim()) {
      return problem(
        400,
        'BadRequest',
        'The JSON body needs a "blob" string: the name of a file in the inbox container.',
      );
    }
    if (!(await d.data.exists(inbox, blob)))
      return problem(404, 'BlobNotFound', `No blob "${blob}" in container "${inbox}".`);
    const started = await startJob(d, orch, { container: inbox, name: blob });
    return accepted(req, started.jobId, started.record, started.started);
  }

  if (type !== 'text/csv' && type !== 'application/octet-stream' && type !== 'text/plain') {
    return problem(
      415,
      'UnsupportedMediaType',
      `Content-Type "${type || '(none)'}" is not supported: send text/csv (the file) or application/json ({"blob": ...}).`,
    );
  }
  const name = safeUploadName(req.query.get('name'));
  if (typeof name !== 'string') return problem(400, 'BadRequest', `Invalid ?name=: ${name.error}.`);
  if (!req.body) return problem(400, 'EmptyBody', 'The request has no body: send the CSV file as the body.');
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (declared === 0)
    return problem(400, 'EmptyBody', 'The request body is empty: send the CSV file as the body.');
  if (Number.isFinite(declared) && declared > d.settings.maxInputBytes) {
    return problem(
      413,
      'InputTooLarge',
      `The body is ${declared} bytes, over the limit of ${d.settings.maxInputBytes} bytes.`,
    );
  }
  const day = d.now().toISOString().slice(0, 10);
  const blobName = `uploads/${day}/${randomBytes(6).toString('hex')}/${name}`;
  const stream = Readable.fromWeb(req.body as unknown as WebReadableStream<Uint8Array>);
  const up = await d.data.upload(inbox, blobName, stream, { contentType: 'text/csv' });
  const started = await startJob(d, orch, {
    container: inbox,
    name: blobName,
    etag: up.etag,
    lastModified: up.lastModified,
  });
  return accepted(req, started.jobId, started.record, true, blobName);
}

function accepted(
  req: HttpRequest,
  jobId: string,
  record: JobRecord,
  started: boolean,
  blob?: string,
): HttpResponseInit {
  const url = jobUrl(req, jobId);
  return json(
    202,
    {
      jobId,
      status: record.status,
      started,
      blob: blob ?? record.sourceBlob,
      statusUrl: url,
      predictionsUrl: `${url}/predictions`,
    },
    { Location: url, 'Retry-After': '5' },
  );
}

export async function getJob(id: string, d: Deps): Promise<HttpResponseInit> {
  if (!isJobId(id))
    return problem(
      404,
      'JobNotFound',
      `No job "${id}" (job ids look like j1234567890123-0123456789abcdef0123).`,
    );
  const rec = await d.jobs.get(id);
  return rec ? json(200, rec) : problem(404, 'JobNotFound', `No job "${id}".`);
}

export async function listJobs(req: HttpRequest, d: Deps): Promise<HttpResponseInit> {
  const status = req.query.get('status') ?? undefined;
  if (status !== undefined && !isJobState(status)) {
    return problem(
      400,
      'BadRequest',
      `Unknown status "${status}"; use one of Received, Validating, Submitted, Running, Publishing, Succeeded, Rejected, Failed, TimedOut, Canceled.`,
    );
  }
  const topRaw = req.query.get('top');
  const top = topRaw === null ? 50 : Number(topRaw);
  if (!Number.isInteger(top) || top < 1 || top > 1000)
    return problem(400, 'BadRequest', '"top" must be an integer from 1 to 1000.');
  const token = req.query.get('continuationToken') ?? undefined;
  const page = await d.jobs.list({
    top,
    ...(status ? { status } : {}),
    ...(token ? { continuationToken: token } : {}),
  });
  const next = page.continuationToken
    ? (() => {
        const u = new URL(req.url);
        u.searchParams.set('continuationToken', page.continuationToken);
        return u.toString();
      })()
    : undefined;
  return json(200, { jobs: page.jobs, ...(next ? { nextLink: next } : {}) });
}

export async function cancelJob(id: string, d: Deps, orch: Orchestrations): Promise<HttpResponseInit> {
  const rec = isJobId(id) ? await d.jobs.get(id) : undefined;
  if (!rec) return problem(404, 'JobNotFound', `No job "${id}".`);
  if (isTerminal(rec.status)) return problem(409, 'JobEnded', `Job ${id} has already ended (${rec.status}).`);
  await d.jobs.mark(id, { cancelRequested: true }, d.now());
  // The event wakes a waiting orchestration now; the mark covers one that is busy or between executions.
  await orch.requestCancel(id).catch(() => undefined);
  return json(202, { jobId: id, status: rec.status, cancelRequested: true });
}

export async function getPredictions(id: string, d: Deps): Promise<HttpResponseInit> {
  const rec = isJobId(id) ? await d.jobs.get(id) : undefined;
  if (!rec) return problem(404, 'JobNotFound', `No job "${id}".`);
  if (rec.status !== 'Succeeded' || !rec.outputBlob) {
    return problem(
      409,
      'NotReady',
      `Job ${id} is ${rec.status}; predictions exist only once it has Succeeded.`,
    );
  }
  const [container, ...rest] = rec.outputBlob.split('/');
  try {
    const body = await d.data.openRead(container!, rest.join('/'));
    return {
      status: 200,
      body: Readable.toWeb(body) as unknown as ReadableStream,
      headers: {
        'Content-Type': 'text/csv; charset=utf-8',
        'Content-Disposition': `attachment; filename="${rest.pop()}"`,
      },
    };
  } catch (err) {
    if (err instanceof PipelineError && err.code === 'InputNotFound') {
      return problem(410, 'PredictionsGone', `The predictions file ${rec.outputBlob} no longer exists.`);
    }
    throw err;
  }
}
