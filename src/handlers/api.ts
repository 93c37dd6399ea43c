import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { randomBytes } from 'node:crypto';
import { pipeline, Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Deps } from '../app/deps';
import type { Orchestrations } from '../adapters/orchestrations';
import { PipelineError } from '../domain/errors';
import { DEPLOYMENT_METADATA, deploymentNameProblem } from '../domain/deployment';
import { isJobId, normalizeEtag } from '../domain/jobId';
import { JOB_STATES, isTerminal, RETRYABLE_STATES, type JobRecord } from '../domain/jobRecord';
import { startJob } from './startJob';
import { BatchHeads } from '../adapters/batchHeads';
import { isBatchId, type BatchMember } from '../domain/batch';

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

/** Blob paths we accept from callers: folders allowed, no traversal, no control characters or backslashes. */
export function checkBlobPath(name: string, max: number): string | undefined {
  if (!name) return 'must not be empty';
  if (name.length > max) return `must be at most ${max} characters`;
  if (/[\u0000-\u001f\u007f\\]/.test(name)) return 'must not contain control characters or backslashes';
  if (name.split('/').some((p) => p === '' || p === '.' || p === '..'))
    return 'must be a relative path without empty, "." or ".." segments';
  return undefined;
}

/** Upload names: a checked blob path of at most 200 characters; always ends in .csv. */
export function safeUploadName(raw: string | null): string | { error: string } {
  const name = (raw ?? 'upload.csv').trim();
  const problem = checkBlobPath(name, 200);
  if (problem) return { error: `name ${problem}` };
  return /\.csv$/i.test(name) ? name : `${name}.csv`;
}

/** Where API uploads land in the inbox: a fresh folder per upload, so names never collide. */
function uploadBlobName(d: Deps, name: string): string {
  return `uploads/${d.now().toISOString().slice(0, 10)}/${randomBytes(6).toString('hex')}/${name}`;
}

const uploadsHint =
  'For large files, POST /api/uploads?name=<file.csv> for an upload URL, PUT the file to it with the header ' +
  '"x-ms-blob-type: BlockBlob" (or in blocks with Put Block and Put Block List), and its job starts by itself.';

function tooLarge(bytes: number | undefined, limit: number, d: Deps): HttpResponseInit {
  const size = bytes === undefined ? 'The body is' : `The body is ${bytes} bytes,`;
  const whose = limit === d.settings.api.requestBodyLimitBytes ? "the Functions host's limit" : 'the limit';
  return problem(
    413,
    'RequestTooLarge',
    `${size} over ${whose} of ${limit} bytes for a request. ${uploadsHint}`,
  );
}

class TooLarge extends Error {}

/** Passes bytes through, failing once more than `limit` have passed (bodies sent without Content-Length). */
function capped(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      done(seen > limit ? new TooLarge() : null, chunk);
    },
  });
}

/** `?deployment=`: absent, or a valid AML deployment name; anything else is the caller's error. */
function deploymentParam(
  req: HttpRequest,
): { deployment?: string; refused?: undefined } | { refused: HttpResponseInit } {
  const raw = req.query.get('deployment');
  if (raw === null || raw.trim() === '') return {};
  const name = raw.trim();
  const bad = deploymentNameProblem(name);
  return bad
    ? { refused: problem(400, 'DeploymentInvalid', `Invalid ?deployment=: ${bad}`) }
    : { deployment: name };
}

export async function submitJob(req: HttpRequest, d: Deps, orch: Orchestrations): Promise<HttpResponseInit> {
  const type = (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const inbox = d.settings.inboxContainer;
  const asked = deploymentParam(req);
  if (asked.refused) return asked.refused;
  const dep = asked.deployment ? { deployment: asked.deployment } : {};

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
    const bad = checkBlobPath(blob, 1024);
    if (bad) return problem(400, 'BadRequest', `Invalid "blob": the name ${bad}.`);
    if (!(await d.data.exists(inbox, blob)))
      return problem(404, 'BlobNotFound', `No blob "${blob}" in container "${inbox}".`);
    const started = await startJob(d, orch, { container: inbox, name: blob, ...dep });
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
  const limit = Math.min(d.settings.api.requestBodyLimitBytes, d.settings.maxInputBytes);
  if (Number.isFinite(declared) && declared > limit) return tooLarge(declared, limit, d);
  const blobName = uploadBlobName(d, name);
  // pipeline, not pipe: a failing request body must fail the upload too, not leave it waiting.
  const body = pipeline(
    Readable.fromWeb(req.body as unknown as WebReadableStream<Uint8Array>),
    capped(limit),
    () => undefined,
  );
  let up: { etag: string; lastModified: Date };
  try {
    up = await d.data.upload(inbox, blobName, body, {
      contentType: 'text/csv',
      // On the blob too, so the file says how it was scored wherever it is looked at.
      ...(asked.deployment ? { metadata: { [DEPLOYMENT_METADATA]: asked.deployment } } : {}),
    });
  } catch (err) {
    if (!(err instanceof TooLarge || (err as Error)?.cause instanceof TooLarge)) throw err;
    await d.data.delete(inbox, blobName);
    return tooLarge(undefined, limit, d);
  }
  const started = await startJob(d, orch, {
    container: inbox,
    name: blobName,
    etag: up.etag,
    lastModified: up.lastModified,
    ...dep,
  });
  return accepted(req, started.jobId, started.record, true, blobName);
}

/**
 * `POST /api/uploads?name=[&deployment=]`: an upload URL for one new inbox blob, for files over the
 * request body cap. The job starts from the blob's own event, so a deployment must travel on the blob:
 * the answer's `uploadHeaders` (`x-ms-meta-deployment`) are for the client to send with its PUT.
 */
export async function createUpload(req: HttpRequest, d: Deps): Promise<HttpResponseInit> {
  const name = safeUploadName(req.query.get('name'));
  if (typeof name !== 'string') return problem(400, 'BadRequest', `Invalid ?name=: ${name.error}.`);
  const asked = deploymentParam(req);
  if (asked.refused) return asked.refused;
  const blob = uploadBlobName(d, name);
  const { url, expiresOn } = await d.data.uploadUrl(
    d.settings.inboxContainer,
    blob,
    d.settings.api.uploadUrlMinutes,
  );
  const uploadHeaders: Record<string, string> = { 'x-ms-blob-type': 'BlockBlob' };
  if (asked.deployment) uploadHeaders[`x-ms-meta-${DEPLOYMENT_METADATA}`] = asked.deployment;
  return json(201, { uploadUrl: url, blob, expiresAt: expiresOn.toISOString(), uploadHeaders });
}

/**
 * `POST /api/jobs/{id}/retry`: a new job for the same blob version. Its id derives from the next
 * attempt number, so a request delivered twice finds the job the first one started.
 */
export async function retryJob(
  req: HttpRequest,
  id: string,
  d: Deps,
  orch: Orchestrations,
): Promise<HttpResponseInit> {
  const rec = isJobId(id) ? await d.jobs.get(id) : undefined;
  if (!rec) return problem(404, 'JobNotFound', `No job "${id}".`);
  if (!RETRYABLE_STATES.has(rec.status)) {
    return problem(
      409,
      'NotRetryable',
      `Job ${id} is ${rec.status}; only Failed, TimedOut or Canceled jobs can be retried.`,
    );
  }
  let info;
  try {
    info = await d.data.info(rec.sourceContainer, rec.sourceBlob);
  } catch (err) {
    if (err instanceof PipelineError && err.code === 'InputNotFound')
      return problem(409, 'SourceGone', `The file ${rec.sourceBlob} no longer exists; upload it again.`);
    throw err;
  }
  if (normalizeEtag(info.etag) !== rec.sourceEtag) {
    return problem(
      409,
      'SourceChanged',
      `The file ${rec.sourceBlob} has been replaced since job ${id}; the new version is a job of its own.`,
    );
  }
  const started = await startJob(d, orch, {
    container: rec.sourceContainer,
    name: rec.sourceBlob,
    etag: info.etag,
    lastModified: info.lastModified,
    attempt: (rec.attempt ?? 0) + 1,
    retryOf: rec.jobId,
    ...(rec.deployment ? { deployment: rec.deployment } : {}),
  });
  await d.jobs.linkRetry(rec.jobId, started.jobId, d.now());
  const res = accepted(req, started.jobId, started.record, started.started);
  return { ...res, jsonBody: { ...(res.jsonBody as object), retryOf: rec.jobId } };
}

/** Answer for a method a known route does not serve (RFC 9110 §15.5.6: 405 with Allow). */
export function methodNotAllowed(method: string, allow: readonly string[]): HttpResponseInit {
  return {
    ...problem(405, 'MethodNotAllowed', `${method} is not supported here; use ${allow.join(' or ')}.`),
    headers: { 'Content-Type': 'application/json', Allow: allow.join(', ') },
  };
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

/**
 * A batch of coalesced files: its AML job and each member's own status. An open batch has no record
 * yet; it is read from its deployment's head and shown as `Open` until it closes.
 */
export async function getBatch(id: string, d: Deps): Promise<HttpResponseInit> {
  if (!isBatchId(id))
    return problem(
      404,
      'BatchNotFound',
      `No batch "${id}" (batch ids look like b1234567890123-0123456789abcdef0123).`,
    );
  const rec = await d.jobs.get(id);
  if (!rec?.files) {
    const head = await new BatchHeads(d.jobs.client).find(id);
    if (!head) return problem(404, 'BatchNotFound', `No batch "${id}".`);
    return json(200, {
      batchId: id,
      status: head.state === 'open' ? 'Open' : 'Closed',
      ...(head.deployment ? { deployment: head.deployment } : {}),
      openedAt: head.openedAt,
      closesAt: head.closesAt,
      ...(head.closedAt ? { closedAt: head.closedAt } : {}),
      files: await memberViews(d, head.files),
    });
  }
  const {
    jobId,
    files,
    sourceContainer: _c,
    sourceBlob: _b,
    sourceEtag: _e,
    receivedAt,
    stagedBy: _s,
    ...rest
  } = rec;
  return json(200, {
    batchId: jobId,
    ...rest,
    // Before staging the record says Received: the batch has closed and is about to be staged.
    status: rec.status === 'Received' ? 'Closed' : rec.status === 'Validating' ? 'Staging' : rec.status,
    openedAt: receivedAt,
    files: await memberViews(d, files),
  });
}

async function memberViews(d: Deps, files: BatchMember[]): Promise<unknown[]> {
  return Promise.all(
    files.map(async (f) => {
      const m = await d.jobs.get(f.jobId);
      return {
        jobId: f.jobId,
        rows: f.rows,
        bytes: f.bytes,
        ...(m
          ? {
              status: m.status,
              sourceBlob: `${m.sourceContainer}/${m.sourceBlob}`,
              ...(m.outputBlob ? { outputBlob: m.outputBlob } : {}),
              ...(m.rowsScored !== undefined ? { rowsScored: m.rowsScored } : {}),
              ...(m.rowsFailed !== undefined ? { rowsFailed: m.rowsFailed } : {}),
            }
          : {}),
      };
    }),
  );
}

export async function listJobs(req: HttpRequest, d: Deps): Promise<HttpResponseInit> {
  const statusRaw = req.query.get('status') ?? undefined;
  const status = statusRaw && JOB_STATES.find((s) => s.toLowerCase() === statusRaw.trim().toLowerCase());
  if (statusRaw !== undefined && !status) {
    return problem(400, 'BadRequest', `Unknown status "${statusRaw}"; use one of ${JOB_STATES.join(', ')}.`);
  }
  const topRaw = req.query.get('top');
  const top = topRaw === null ? 50 : Number(topRaw);
  if (!Number.isInteger(top) || top < 1 || top > 1000)
    return problem(400, 'BadRequest', '"top" must be an integer from 1 to 1000.');
  const token = req.query.get('continuationToken') ?? undefined;
  if (token !== undefined && !isListToken(token))
    return problem(
      400,
      'BadRequest',
      'Invalid "continuationToken": pass on the nextLink of the previous page as it is.',
    );
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

/**
 * The job table's page tokens as @azure/data-tables makes them (utils/continuationToken.ts): base64 of
 * `{"nextPartitionKey", "nextRowKey"?}`. Anything else is the caller's mistake, not a storage fault.
 */
function isListToken(token: string): boolean {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as Record<string, unknown> | null;
    return (
      typeof t?.nextPartitionKey === 'string' &&
      t.nextPartitionKey !== '' &&
      (t.nextRowKey === undefined || typeof t.nextRowKey === 'string')
    );
  } catch {
    return false;
  }
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
  return download(rec.outputBlob, d, 'PredictionsGone', 'predictions');
}

/** `GET /api/jobs/{id}/errors`: the rows AML gave no prediction for (a job that ended with some). */
export async function getErrors(id: string, d: Deps): Promise<HttpResponseInit> {
  const rec = isJobId(id) ? await d.jobs.get(id) : undefined;
  if (!rec) return problem(404, 'JobNotFound', `No job "${id}".`);
  if (!rec.errorsBlob) {
    const why = isTerminal(rec.status) ? 'every row got a prediction' : 'it has not been published yet';
    return problem(404, 'NoErrorsFile', `Job ${id} (${rec.status}) has no errors file: ${why}.`);
  }
  return download(rec.errorsBlob, d, 'ErrorsGone', 'errors');
}

async function download(blob: string, d: Deps, goneCode: string, what: string): Promise<HttpResponseInit> {
  const [container, ...rest] = blob.split('/');
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
      return problem(410, goneCode, `The ${what} file ${blob} no longer exists.`);
    }
    throw err;
  }
}
