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
  readHostJson,
  resolveAppSettings,
  resolveConnection,
  storageConnection,
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
  /** Default: host.json durableTask.hubName, else env DURABLE_TASK_HUB, else "localhub". */
  taskHub?: string;
  /** One line per significant runtime event, and the app's context.log lines. Default: console.log. */
  log?: (line: string) => void;
}

/** A numeric setting; anything but a number fails start-up. */
export function numberSetting(name: string, value = process.env[name]): number | undefined {
  if (value && !Number.isFinite(Number(value))) throw new Error(`${name} must be a number (got "${value}")`);
  return value ? Number(value) : undefined;
}

/** Starts the app under the runtime, in this process (which must not be jest's: see main.ts). */
export async function startLocalRuntime(opts: LocalRuntimeOptions) {
  const log = opts.log ?? ((line: string) => console.log(line));
  Object.assign(process.env, opts.env);
  const env = process.env;
  // The runtime's own state: durable task hub, blob receipts, timer status.
  if (!env.AzureWebJobsStorage)
    throw new Error('AzureWebJobsStorage is not set (the runtime keeps its state there)');
  const storage = storageConnection(env.AzureWebJobsStorage);
  const host = readHostJson(join(process.cwd(), 'host.json'));
  // A %SETTING% in host.json's hubName that is not set counts as no hubName.
  const hostHub = resolveAppSettings(host.durableTask?.hubName ?? '', env);
  const taskHub = opts.taskHub ?? (hostHub || env.DURABLE_TASK_HUB || 'localhub');
  // The Durable extension's rule for the Azure Storage provider.
  if (!/^[A-Za-z][A-Za-z0-9]{2,44}$/.test(taskHub))
    throw new Error(`Task hub name "${taskHub}" is invalid: use 3-45 letters and digits, a letter first`);
  const clock = scaledClock(numberSetting('LOCAL_RUNTIME_TIME_SCALE') ?? 1);

  const app = await WorkerApp.load(opts.entry, log);
  const functions = buildRegistry(app, env, log);
  const byKind = (k: RegisteredFunction['kind']) => functions.filter((f) => f.kind === k);

  let baseUrl = '';
  const invoke: Invoke = (fn, data, triggerMetadata, invocationId) => {
    const client = { string: JSON.stringify(clientBindingData(baseUrl, taskHub)) };
    // the registry lets durable clients through as the only extra inputs
    const clients = fn.extraInputs.map((b) => ({ name: b.name, data: client }));
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
      numberSetting('LOCAL_RUNTIME_MAX_ACTIVITIES') ?? host.durableTask?.maxConcurrentActivityFunctions ?? 8,
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
        concurrency: host.blobs?.maxDegreeOfParallelism ?? 4,
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
    routePrefix: host.http?.routePrefix ?? 'api',
    functions: byKind('http'),
    httpStreamUri: app.httpStreamUri,
    invoke,
    log,
    handlers: [durableApi.handle.bind(durableApi), eventGrid.handle.bind(eventGrid)],
    // Admin "run a non-HTTP function now" (FunctionsController.Invoke): timers only here.
    runNow: (name: string) => {
      const timer = timers.find((t) => t.fn.name.toLowerCase() === name.toLowerCase());
      timer?.invokeNow();
      return timer ? 202 : functions.some((f) => f.name.toLowerCase() === name.toLowerCase()) ? 501 : 404;
    },
    bodyLimit: numberSetting('FUNCTIONS_REQUEST_BODY_SIZE_LIMIT') ?? 104_857_600,
    responseLimitMs: numberSetting('LOCAL_RUNTIME_HTTP_RESPONSE_LIMIT_MS') ?? 230_000,
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
