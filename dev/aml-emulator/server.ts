import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BlobServiceClient } from '@azure/storage-blob';
import type { ModelParams } from '../model/types';
import { checkAuth, type AuthSettings } from './auth';
import { HttpError, errorBody, validationError } from './errors';
import { checkEventGrid, type EventGridPublisher } from './eventGrid';
import { checkFaults, type Faults } from './faults';
import { checkTimings, type EmulatorTimings, type JobRunner } from './jobs';
import { parseJobRequest, type RequestContext } from './request';
import { jobResource, jobResourceId, type Workspace } from './resource';

export interface ServerContext {
  runner: JobRunner;
  faults: Faults;
  eventGrid: EventGridPublisher;
  timings: { get(): EmulatorTimings; set(t: Partial<EmulatorTimings>): EmulatorTimings };
  auth: AuthSettings;
  deployments: Readonly<Record<string, ModelParams>>;
  defaultDeployment: string | undefined;
  workspace: Workspace;
  request: RequestContext;
  blobs: BlobServiceClient;
  log: (line: string) => void;
}

const MAX_BODY = 1024 * 1024;
const ACTION_WRITE = 'Microsoft.MachineLearningServices/workspaces/batchEndpoints/jobs/write';
const ACTION_READ = 'Microsoft.MachineLearningServices/workspaces/batchEndpoints/jobs/read';
const ACTION_CANCEL = 'Microsoft.MachineLearningServices/workspaces/jobs/cancel/action';
const MGMT_JOB =
  /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.machinelearningservices\/workspaces\/[^/]+\/jobs\/([^/]+)$/i;
const CANCEL = /\/jobs\/([^/]+)\/cancel$/i;
const DATA_JOB = /^\/jobs\/([^/]+)$/;

/** A job name from the path; a malformed escape cannot name a job, so it is simply not found. */
function jobName(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY)
      throw new HttpError(413, 'RequestTooLarge', `The request body exceeds ${MAX_BODY} bytes.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
    ...headers,
  });
  res.end(text);
}

/** The single header value, or undefined (repeated headers keep their first value). */
function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'InvalidRequestBody', 'The body must be JSON.');
  }
}

/** Picks the deployment from `azureml-model-deployment`, else the default; answers like Azure ML when it cannot. */
function deploymentFor(ctx: ServerContext, req: IncomingMessage): string {
  const asked = header(req, 'azureml-model-deployment')?.trim();
  const where = `endpoint '${ctx.workspace.endpointName}', workspace '${ctx.workspace.workspaceName}'`;
  const known = `Deployments: ${Object.keys(ctx.deployments).join(', ')}.`;
  if (asked) {
    if (ctx.deployments[asked]) return asked;
    throw new HttpError(
      404,
      'UserError',
      `No valid deployments to route to: deployment '${asked}' not found in ${where}. ${known}`,
    );
  }
  if (ctx.defaultDeployment) return ctx.defaultDeployment;
  throw new HttpError(
    404,
    'UserError',
    `No valid deployments to route to: ${where} has no default deployment; use the azureml-model-deployment header. ${known}`,
  );
}

async function submitJob(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  base: string,
): Promise<void> {
  checkAuth(header(req, 'authorization'), ctx.auth, ACTION_WRITE, jobResourceId(ctx.workspace, '*'));
  const deployment = deploymentFor(ctx, req);
  const name = `batchjob-${randomUUID()}`;
  const spec = parseJobRequest(await readBody(req), name, ctx.request);
  // Azure ML refuses or fails on an existing output path; the emulator refuses at submit time, which a
  // client must handle either way. A path another live job will write counts as taken too.
  const out = spec.output.location;
  const taken =
    ctx.runner.outputReserved(out.container, out.path) ||
    (await ctx.blobs.getContainerClient(out.container).getBlobClient(out.path).exists());
  if (taken) {
    const [outName] = Object.keys(spec.outputData);
    throw validationError([
      {
        PropertyName: `OutputData.${outName}.Uri`,
        ErrorMessage: `The output path already exists: ${spec.output.uri}. Every job needs a new output path.`,
        ErrorCode: 'PathAlreadyExists',
      },
    ]);
  }
  const job = await ctx.runner.submit(
    name,
    deployment,
    spec,
    header(req, 'repeatability_request-id') ?? null,
  );
  send(res, 201, jobResource(ctx.workspace, job, spec), { Location: `${base}/jobs/${name}` });
}

function getJob(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, name: string): void {
  checkAuth(header(req, 'authorization'), ctx.auth, ACTION_READ, jobResourceId(ctx.workspace, name));
  const found = ctx.runner.get(name);
  if (!found)
    throw new HttpError(
      404,
      'UserError',
      `Job '${name}' was not found in workspace '${ctx.workspace.workspaceName}'.`,
    );
  send(res, 200, jobResource(ctx.workspace, found.job, found.spec));
}

function cancelJob(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  name: string,
  path: string,
): void {
  checkAuth(header(req, 'authorization'), ctx.auth, ACTION_CANCEL, jobResourceId(ctx.workspace, name));
  if (ctx.faults.get().refuseCancel || !ctx.runner.cancel(name)) {
    throw new HttpError(
      404,
      'UserError',
      `Job '${name}' was not found in workspace '${ctx.workspace.workspaceName}'.`,
    );
  }
  // A long-running operation in ARM terms: 202, no body, Location to poll (here simply the job).
  send(res, 202, undefined, { Location: path.replace(/\/cancel$/i, ''), 'Retry-After': '1' });
}

/** Dev-only routes: no auth, no injected faults, so tests can always reach them. */
async function admin(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<boolean> {
  const route = `${req.method} ${path}`;
  try {
    switch (route) {
      case 'GET /_emulator/health':
        send(res, 200, { status: 'ok' });
        return true;
      case 'GET /_emulator/jobs':
        send(res, 200, { jobs: ctx.runner.list() });
        return true;
      case 'GET /_emulator/faults':
        send(res, 200, ctx.faults.get());
        return true;
      case 'PUT /_emulator/faults':
        send(res, 200, ctx.faults.set(checkFaults(parseJson(await readBody(req)))));
        return true;
      case 'GET /_emulator/timings':
        send(res, 200, ctx.timings.get());
        return true;
      case 'PUT /_emulator/timings':
        send(res, 200, ctx.timings.set(checkTimings(parseJson(await readBody(req)))));
        return true;
      case 'GET /_emulator/eventgrid':
        send(res, 200, ctx.eventGrid.get());
        return true;
      case 'PUT /_emulator/eventgrid':
        send(res, 200, ctx.eventGrid.set(checkEventGrid(parseJson(await readBody(req)))));
        return true;
      case 'GET /_emulator/eventgrid/validate': {
        // The validationUrl of the handshake (manual validation).
        const code = new URL(req.url ?? '/', 'http://x').searchParams.get('code') ?? '';
        if (!ctx.eventGrid.validate(code))
          throw new HttpError(404, 'NotFound', 'No subscription awaits validation with this code.');
        send(res, 200, { validated: true });
        return true;
      }
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, 'InvalidRequestBody', (err as Error).message);
  }
  if (path.startsWith('/_emulator/')) throw new HttpError(404, 'NotFound', `No admin route ${route}.`);
  return false;
}

async function route(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  base: string,
): Promise<void> {
  const path = new URL(req.url ?? '/', base).pathname.replace(/\/+$/, '') || '/';
  if (await admin(ctx, req, res, path)) return;

  const fault = ctx.faults.draw();
  if (fault === 'unreachable') return void req.socket.destroy();
  if (fault === 'unavailable')
    throw new HttpError(
      503,
      'ServiceUnavailable',
      'The service is temporarily unavailable (injected fault).',
    );
  if (fault === 'throttle') {
    throw new HttpError(429, 'TooManyRequests', 'Too many requests (injected fault); retry after 1 second.', {
      'Retry-After': '1',
    });
  }

  let m: RegExpExecArray | null;
  if (path === '/jobs') {
    if (req.method !== 'POST')
      throw new HttpError(405, 'MethodNotAllowed', `${req.method} is not supported on /jobs.`);
    return submitJob(ctx, req, res, base);
  }
  if ((m = CANCEL.exec(path))) {
    if (req.method !== 'POST') throw new HttpError(405, 'MethodNotAllowed', 'Cancel takes POST.');
    return cancelJob(ctx, req, res, jobName(m[1]!), path);
  }
  if ((m = DATA_JOB.exec(path) ?? MGMT_JOB.exec(path))) {
    if (req.method !== 'GET')
      throw new HttpError(405, 'MethodNotAllowed', `${req.method} is not supported on a job.`);
    return getJob(ctx, req, res, jobName(m[1]!));
  }
  throw new HttpError(404, 'NotFound', `No route for ${req.method} ${path}.`);
}

export function createHandler(
  ctx: ServerContext,
  baseUrl: () => string,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const base = baseUrl();
    route(ctx, req, res, base)
      .catch((err: unknown) => {
        const e =
          err instanceof HttpError
            ? err
            : new HttpError(500, 'InternalError', `Emulator error: ${(err as Error).message}`);
        const { contentType, body } = errorBody(e, ctx.faults.get().plainTextErrors);
        if (!res.headersSent) res.writeHead(e.status, { 'Content-Type': contentType, ...e.headers });
        res.end(body);
      })
      .finally(() => {
        ctx.log(`${req.method} ${req.url} → ${res.statusCode}`);
        // Drain what a refused request did not read, so the connection can be reused.
        req.resume();
      });
  };
}
