import { join } from 'node:path';
import { BlobWatcher } from './blobWatcher';
import { scaledClock, type Clock } from './clock';
import { clientBindingData, DurableHttpApi } from './durable/clientRoutes';
import { DurableEngine } from './durable/engine';
import { replaySchema, type ReplaySchema } from './durable/replay';
import { DurableStore } from './durable/store';
import type { RpcParameterBinding } from './functionsCore';
import { HttpHost } from './httpServer';
import { Invoker } from './invoke';
import { loadApp, runAppTerminateHooks } from './loader';
import { TimerTrigger } from './timer';
import { buildRegistry, type RegisteredFunction } from './registry';
import { normalizeConnectionString, readHostJson, resolveConnection, validateTaskHub } from './settings';

export { MiniQueueClient } from './queue';
export { POISON_QUEUE } from './blobWatcher';

export interface LocalRuntimeOptions {
  /** The app entry file (e.g. `src/index.ts`, loaded through tsx, or a built `.js`). */
  entry: string;
  /** Applied to process.env before the app is loaded. */
  env?: Record<string, string>;
  /** Default 7071; 0 picks a free port. */
  httpPort?: number;
  /** Interface to listen on (default 127.0.0.1). */
  httpHost?: string;
  /** The runtime's own state (AzureWebJobsStorage): durable task hub, blob receipts. */
  storageConnectionString: string;
  /** Default: host.json durableTask.hubName, else env DURABLE_TASK_HUB, else "localhub". */
  taskHub?: string;
  /** Blob trigger container scan interval (default 1000 ms). */
  blobPollIntervalMs?: number;
  /** Default: host.json maxConcurrentActivityFunctions, else 8. */
  maxConcurrentActivities?: number;
  /** Default: host.json maxConcurrentOrchestratorFunctions, else 20. */
  maxConcurrentOrchestrations?: number;
  /** Parallel blob trigger invocations per function (default: host.json blobs.maxDegreeOfParallelism, else 4). */
  blobConcurrency?: number;
  /** One line per significant runtime event, and the app's context.log lines. Default: console.log. */
  log?: (line: string) => void;
  /** Durable time runs this many times faster than real time (default 1). */
  timeScale?: number;
  /** Replay schema the Durable host advertises (default env LOCAL_RUNTIME_REPLAY_SCHEMA, else V3). */
  replaySchema?: ReplaySchema;
  /** host.json to read (routePrefix, hub name, concurrency); default `<cwd>/host.json`; false = none. */
  hostJson?: string | false;
}

export interface LocalRuntime {
  /** http://127.0.0.1:<port> */
  url: string;
  taskHub: string;
  clock: Clock;
  /** Graceful: stops triggers, lets running invocations finish and record their results. */
  stop(): Promise<void>;
}

function isDurableClient(type: string): boolean {
  const t = type.toLowerCase();
  return t === 'durableclient' || t === 'orchestrationclient';
}

export async function startLocalRuntime(opts: LocalRuntimeOptions): Promise<LocalRuntime> {
  const log = opts.log ?? ((line: string) => console.log(line));
  for (const [k, v] of Object.entries(opts.env ?? {})) process.env[k] = v;
  const storage = normalizeConnectionString(opts.storageConnectionString);
  process.env.AzureWebJobsStorage ??= opts.storageConnectionString;
  process.env.FUNCTIONS_WORKER_RUNTIME ??= 'node';
  const env = process.env;
  const hostJson =
    opts.hostJson === false ? {} : readHostJson(opts.hostJson ?? join(process.cwd(), 'host.json'), env);
  const taskHub = validateTaskHub(opts.taskHub ?? hostJson.hubName ?? env.DURABLE_TASK_HUB ?? 'localhub');
  const clock = scaledClock(opts.timeScale ?? 1);

  const app = await loadApp(opts.entry, (level, message) => {
    if (level === 'warning' || level === 'error' || level === 'critical') log(`worker ${level}: ${message}`);
  });
  if (app.core.getHooks('log').length > 0)
    throw new Error('The local runtime cannot host this app: log hooks are not supported');
  const functions = buildRegistry(app.core, env, log, app.httpStreamUri !== undefined);
  const byKind = (k: RegisteredFunction['kind']): RegisteredFunction[] =>
    functions.filter((f) => f.kind === k);
  const invoker = new Invoker(app.core, log);

  const store = new DurableStore(storage, taskHub);
  const engine = new DurableEngine({
    store,
    invoker,
    clock,
    log,
    orchestrations: byKind('orchestration'),
    activities: byKind('activity'),
    maxConcurrentActivities: opts.maxConcurrentActivities ?? hostJson.maxConcurrentActivityFunctions ?? 8,
    maxConcurrentOrchestrations:
      opts.maxConcurrentOrchestrations ?? hostJson.maxConcurrentOrchestratorFunctions ?? 20,
    schema: opts.replaySchema ?? replaySchema(env.LOCAL_RUNTIME_REPLAY_SCHEMA),
  });

  let baseUrl = '';
  const clientData = (): string => JSON.stringify(clientBindingData(baseUrl, taskHub));
  const extraInputs = (fn: RegisteredFunction): RpcParameterBinding[] =>
    fn.extraInputs
      .filter((b) => isDurableClient(b.type))
      .map((b) => ({ name: b.name, data: { string: clientData() } }));

  // Resolve blob trigger connections now: a missing setting fails start-up, not the first scan.
  const watchers = byKind('blob').map(
    (fn) =>
      new BlobWatcher({
        fn,
        connectionString: resolveConnection(fn.blob!.connection, env, `function "${fn.name}"`),
        runtimeConnectionString: storage,
        receiptsTable: `${taskHub}BlobReceipts`,
        intervalMs: opts.blobPollIntervalMs ?? 1000,
        concurrency: opts.blobConcurrency ?? hostJson.blobMaxDegreeOfParallelism ?? 4,
        invoker,
        log,
        extraInputs,
      }),
  );

  const timers = new Map(
    byKind('timer').map((fn) => [
      fn.name.toLowerCase(),
      new TimerTrigger(fn, storage, taskHub.toLowerCase(), invoker, log, extraInputs),
    ]),
  );
  const blobByName = new Map(watchers.map((w) => [w.name.toLowerCase(), w]));
  /** Admin API "run a non-HTTP function now" (functions-manually-run-non-http; FunctionsController.Invoke). */
  const runNow = (name: string, input: string): boolean => {
    const timer = timers.get(name.toLowerCase());
    const blob = blobByName.get(name.toLowerCase());
    if (timer) timer.invokeNow();
    else if (blob)
      blob
        .invokeNow(input)
        .catch((err: Error) => log(`[${name}] ERROR admin invocation failed: ${err.message}`));
    else return false;
    return true;
  };

  const durableApi = new DurableHttpApi(engine, taskHub, () => baseUrl);
  const http = new HttpHost({
    port: opts.httpPort ?? 7071,
    host: opts.httpHost ?? '127.0.0.1',
    routePrefix: hostJson.routePrefix ?? 'api',
    functions: byKind('http'),
    invoker,
    log,
    names: functions.map((f) => f.name),
    durable: durableApi,
    extraInputs,
    streamUri: app.httpStreamUri ?? '',
    runNow,
    bodyLimit:
      Number(env.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT) > 0
        ? Number(env.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT)
        : 104_857_600,
    responseLimitMs:
      Number(env.LOCAL_RUNTIME_HTTP_RESPONSE_LIMIT_MS) > 0
        ? Number(env.LOCAL_RUNTIME_HTTP_RESPONSE_LIMIT_MS)
        : 230_000,
  });

  await engine.start();
  const port = await http.start();
  baseUrl = http.url;
  // What the host sets; durable-functions' getClient rewrites client URLs to localhost:7071 when it is missing.
  process.env.WEBSITE_HOSTNAME ??= `127.0.0.1:${port}`;
  for (const w of watchers) await w.start();
  for (const t of timers.values()) await t.start();

  log(
    `local runtime listening on ${baseUrl} (task hub ${taskHub}, ${functions.length} functions` +
      `${app.httpStreamUri ? ', HTTP streaming' : ''}): ${functions.map((f) => `${f.name} [${f.trigger.type}]`).join(', ')}`,
  );

  let stopping: Promise<void> | undefined;
  return {
    url: baseUrl,
    taskHub,
    clock,
    stop: () =>
      (stopping ??= (async () => {
        await Promise.all([...watchers.map((w) => w.stop()), ...[...timers.values()].map((t) => t.stop())]);
        await http.stop();
        await engine.stop();
        await runAppTerminateHooks(app.core);
        log('local runtime stopped');
      })()),
  };
}
