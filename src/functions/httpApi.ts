import {
  app,
  type HttpMethod,
  type HttpRequest,
  type HttpResponseInit,
  type InvocationContext,
} from '@azure/functions';
import * as df from 'durable-functions';
import { deps } from '../app/deps';
import { durableOrchestrations } from '../adapters/orchestrations';
import { PipelineError } from '../domain/errors';
import { openApiDocument } from '../domain/openapi';
import {
  cancelJob,
  createUpload,
  getJob,
  getPredictions,
  getBatch,
  getErrors,
  listJobs,
  methodNotAllowed,
  retryJob,
  submitJob,
} from '../handlers/api';

/** Function-level keys in Azure; the local runtime and func start serve them anonymously. */
const authLevel = 'function' as const;

type Handler = (req: HttpRequest, ctx: InvocationContext) => Promise<HttpResponseInit>;

function guarded(fn: Handler): Handler {
  return async (req, ctx) => {
    try {
      return await fn(req, ctx);
    } catch (err) {
      const e = err instanceof PipelineError ? err : undefined;
      ctx.error(`${req.method} ${new URL(req.url).pathname} failed: ${(err as Error).message}`);
      return {
        status: e?.retryable ? 503 : 500,
        jsonBody: {
          error: {
            code: e?.code ?? 'Internal',
            message: e?.message ?? 'Internal error; see the function logs.',
          },
        },
        ...(e?.retryable ? { headers: { 'Retry-After': '10' } } : {}),
      };
    }
  };
}

const client = df.input.durableClient();
const orchestrations = (ctx: InvocationContext) => durableOrchestrations(df.getClient(ctx));

/**
 * Every route, its methods and their functions. The host routes by template and method and answers
 * 404 itself for a method no function registered, so each route also gets a function for the other
 * common methods that answers 405 with `Allow` (named `<route>-405`; the OpenAPI document leaves
 * these out, as they are not operations).
 */
const routes: {
  route: string;
  ops: { name: string; method: HttpMethod; durable?: boolean; handler: Handler }[];
}[] = [
  {
    route: 'jobs',
    ops: [
      {
        name: 'submitJob',
        method: 'POST',
        durable: true,
        handler: (r, c) => submitJob(r, deps(), orchestrations(c)),
      },
      { name: 'listJobs', method: 'GET', handler: (r) => listJobs(r, deps()) },
    ],
  },
  {
    route: 'jobs/{id}',
    ops: [{ name: 'getJob', method: 'GET', handler: (r) => getJob(r.params.id ?? '', deps()) }],
  },
  {
    route: 'jobs/{id}/cancel',
    ops: [
      {
        name: 'cancelJob',
        method: 'POST',
        durable: true,
        handler: (r, c) => cancelJob(r.params.id ?? '', deps(), orchestrations(c)),
      },
    ],
  },
  {
    route: 'jobs/{id}/retry',
    ops: [
      {
        name: 'retryJob',
        method: 'POST',
        durable: true,
        handler: (r, c) => retryJob(r, r.params.id ?? '', deps(), orchestrations(c)),
      },
    ],
  },
  {
    route: 'jobs/{id}/predictions',
    ops: [
      { name: 'getPredictions', method: 'GET', handler: (r) => getPredictions(r.params.id ?? '', deps()) },
    ],
  },
  {
    route: 'jobs/{id}/errors',
    ops: [{ name: 'getErrors', method: 'GET', handler: (r) => getErrors(r.params.id ?? '', deps()) }],
  },
  {
    route: 'batches/{id}',
    ops: [{ name: 'getBatch', method: 'GET', handler: (r) => getBatch(r.params.id ?? '', deps()) }],
  },
  {
    route: 'uploads',
    ops: [{ name: 'createUpload', method: 'POST', handler: (r) => createUpload(r, deps()) }],
  },
  {
    route: 'openapi.json',
    ops: [
      {
        name: 'getOpenApi',
        method: 'GET',
        handler: async () => ({
          status: 200,
          jsonBody: openApiDocument,
          headers: { 'Content-Type': 'application/json' },
        }),
      },
    ],
  },
];

/** The methods a 405 function takes: the common ones a route does not serve. */
const OTHER_METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Registers the 405 function of a route: the other common methods, answered with `Allow`. Every
 * route registers one (the OpenAPI test checks it), including routes registered in other files.
 */
export function registerOtherMethods(route: string, allow: readonly HttpMethod[]): void {
  app.http(`${route.replace(/[{}*]/g, '').replace(/[^A-Za-z0-9]+/g, '-')}-405`, {
    route,
    methods: OTHER_METHODS.filter((m) => !allow.includes(m)),
    authLevel,
    handler: async (req) => methodNotAllowed(req.method, allow),
  });
}

for (const { route, ops } of routes) {
  for (const op of ops) {
    app.http(op.name, {
      route,
      methods: [op.method],
      authLevel,
      ...(op.durable ? { extraInputs: [client] } : {}),
      handler: guarded(op.handler),
    });
  }
  registerOtherMethods(
    route,
    ops.map((o) => o.method),
  );
}
