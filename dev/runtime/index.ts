import { join } from 'node:path';
import { BlobWatcher } from './blobWatcher';
import { scaledClock } from './clock';
import { clientBindingData, DurableHttpApi } from './durable/clientRoutes';
import { DurableEngine } from './durable/engine';
import { replaySchema } from './durable/replay';
import { EventGridWebhook } from './eventGrid';
import { startHttpHost } from './httpServer';
import {
  buildRegistry,
  isDurableClient,
  readHostJson,
  resolveConnection,
  storageConnection,
  validateTaskHub,
  type Invoke,
  type RegisteredFunction,
} from './registry';
import { TimerTrigger } from './timer';
import { WorkerApp } from './worker';

export interface LocalRuntimeOptions {
  /** The app entry file (e.g. `src/index.ts`, loaded through tsx, or a built `.js`). */
  entry: string;
  /** Applied to process.env before the app is loaded. */
  env?: Record<string, string>;
  /** Default 7071; 0 picks a free port. */
  httpPort?: number;
  /** The runtime's own state (AzureWebJobsStorage): durable task hub, blob receipts, timer status. */
  storageConnectionString: string;
  /** Default: host.json durableTask.hubName, else env DURABLE_TASK_HUB, else "localhub". */
  taskHub?: string;
  /** One line per significant runtime event, and the app's context.log lines. Default: console.log. */
  log?: (line: string) => void;
  /** Durable time runs this many times faster than real time (default: env LOCAL_RUNTIME_TIME_SCALE, else 1). */
  timeScale?: number | undefined;
}

/** A numeric setting; anything but a number fails start-up. */
export function numberSetting(name: string, value = process.env[name]): number | undefined {
  if (value !== undefined && value !== '' && !Number.isFinite(Number(value)))
    throw new Error(`${name} must be a number (got "${value}")`);
  return value ? Number(value) : undefined;
}

/** Starts the app under the runtime, in this process (which must not be jest's: see main.ts). */
export async function startLocalRuntime(opts: LocalRuntimeOptions) {
  const log = opts.log ?? ((line: string) => console.log(line));
  Object.assign(process.env, opts.env);
  const storage = storageConnection(opts.storageConnectionString);
  process.env.AzureWebJobsStorage ??= opts.storageConnectionString;
  process.env.FUNCTIONS_WORKER_RUNTIME ??= 'node';
  const env = process.env;
  const hostJson = readHostJson(join(process.cwd(), 'host.json'), env);
  const taskHub = validateTaskHub(opts.taskHub ?? hostJson.hubName ?? env.DURABLE_TASK_HUB ?? 'localhub');
  const clock = scaledClock(opts.timeScale ?? numberSetting('LOCAL_RUNTIME_TIME_SCALE') ?? 1);
  const limit = (name: string, fallback: number): number =>
    Number(env[name]) > 0 ? Number(env[name]) : fallback;

  const app = await WorkerApp.load(opts.entry, log);
  const functions = buildRegistry(app, env, log);
  const byKind = (k: RegisteredFunction['kind']) => functions.filter((f) => f.kind === k);

  let baseUrl = '';
  const invoke: Invoke = (fn, data, triggerMetadata, invocationId) => {
    const client = { string: JSON.stringify(clientBindingData(baseUrl, taskHub)) };
    const clients = fn.extraInputs
      .filter((b) => isDurableClient(b.type))
      .map((b) => ({ name: b.name, data: client }));
    return app.invoke(fn, [{ name: fn.trigger.name, data }, ...clients], triggerMetadata, invocationId);
  };
  const engine = new DurableEngine({
    storage,
    hub: taskHub,
    clock,
    log,
    functions,
    invoke,
    maxConcurrentActivities:
      numberSetting('LOCAL_RUNTIME_MAX_ACTIVITIES') ?? hostJson.maxConcurrentActivities ?? 8,
    schema: replaySchema(env.LOCAL_RUNTIME_REPLAY_SCHEMA),
  });
  // Connections resolved now: a missing setting fails start-up, not the first scan.
  const watchers = byKind('blob').map(
    (fn) =>
      new BlobWatcher(fn, {
        connectionString: resolveConnection(fn.blob!.connection, env, `function "${fn.name}"`),
        storage,
        receiptsTable: `${taskHub}BlobReceipts`,
        intervalMs: numberSetting('LOCAL_RUNTIME_BLOB_POLL_MS') ?? 1000,
        concurrency: hostJson.blobParallelism ?? 4,
        invoke,
        log,
      }),
  );
  const timers = byKind('timer').map(
    (fn) => new TimerTrigger(fn, storage, taskHub.toLowerCase(), invoke, log),
  );

  await engine.start();
  const eventGrid = new EventGridWebhook(byKind('eventgrid'), invoke, log);
  const durableApi = new DurableHttpApi(engine, taskHub, () => baseUrl);
  const http = await startHttpHost({
    port: opts.httpPort ?? 7071,
    routePrefix: hostJson.routePrefix ?? 'api',
    functions: byKind('http'),
    httpStreamUri: app.httpStreamUri,
    invoke,
    log,
    durable: (req, res, url) => durableApi.handle(req, res, url),
    webhooks: (req, res, url) => eventGrid.handle(req, res, url),
    // Admin "run a non-HTTP function now" (FunctionsController.Invoke): timers only here.
    runNow: (name: string) => {
      const timer = timers.find((t) => t.fn.name.toLowerCase() === name.toLowerCase());
      timer?.invokeNow();
      return timer ? 202 : functions.some((f) => f.name.toLowerCase() === name.toLowerCase()) ? 501 : 404;
    },
    bodyLimit: limit('FUNCTIONS_REQUEST_BODY_SIZE_LIMIT', 104_857_600),
    responseLimitMs: limit('LOCAL_RUNTIME_HTTP_RESPONSE_LIMIT_MS', 230_000),
  });
  baseUrl = http.url;
  // What the host sets; durable-functions' getClient rewrites client URLs to localhost:7071 when it is missing.
  process.env.WEBSITE_HOSTNAME ??= baseUrl.slice('http://'.length);
  for (const trigger of [...watchers, ...timers]) await trigger.start();

  const listed = functions.map((f) => `${f.name} [${f.trigger.type}]`).join(', ');
  log(
    `local runtime listening on ${baseUrl} (task hub ${taskHub}, ${functions.length} functions${app.httpStreamUri ? ', HTTP streaming' : ''}): ${listed}`,
  );
  let stopping: Promise<void> | undefined;
  return {
    url: baseUrl,
    taskHub,
    /** Graceful: stops triggers, lets running invocations finish and record their results. */
    stop: () =>
      (stopping ??= (async () => {
        await Promise.all([...watchers, ...timers].map((t) => t.stop()));
        await http.stop();
        await engine.stop();
        log('local runtime stopped');
      })()),
  };
}
