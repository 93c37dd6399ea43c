import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { deps } from '../app/deps';
import { durableOrchestrations } from '../adapters/orchestrations';
import { PipelineError } from '../domain/errors';
import { cancelJob, getJob, getPredictions, listJobs, submitJob } from '../handlers/api';

/** Function-level keys in Azure; the local runtime and func start serve them anonymously. */
const authLevel = 'function' as const;

function guarded(fn: (req: HttpRequest, ctx: InvocationContext) => Promise<HttpResponseInit>) {
  return async (req: HttpRequest, ctx: InvocationContext): Promise<HttpResponseInit> => {
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

app.http('submitJob', {
  route: 'jobs',
  methods: ['POST'],
  authLevel,
  extraInputs: [client],
  handler: guarded((req, ctx) => submitJob(req, deps(), durableOrchestrations(df.getClient(ctx)))),
});

app.http('listJobs', {
  route: 'jobs',
  methods: ['GET'],
  authLevel,
  handler: guarded((req) => listJobs(req, deps())),
});

app.http('getJob', {
  route: 'jobs/{id}',
  methods: ['GET'],
  authLevel,
  handler: guarded((req) => getJob(req.params.id ?? '', deps())),
});

app.http('cancelJob', {
  route: 'jobs/{id}/cancel',
  methods: ['POST'],
  authLevel,
  extraInputs: [client],
  handler: guarded((req, ctx) =>
    cancelJob(req.params.id ?? '', deps(), durableOrchestrations(df.getClient(ctx))),
  ),
});

app.http('getPredictions', {
  route: 'jobs/{id}/predictions',
  methods: ['GET'],
  authLevel,
  handler: guarded((req) => getPredictions(req.params.id ?? '', deps())),
});
