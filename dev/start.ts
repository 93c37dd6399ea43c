import { join, resolve } from 'node:path';
import { BlobStore } from '../src/adapters/blobStore';
import { JobTable } from '../src/adapters/jobTable';
import { loadSettings } from '../src/config/settings';
import { DEFAULT_WORKSPACE, emulatorOptionsFromEnv, startAmlEmulator } from './aml-emulator';
import { devConnectionString, isListening, startAzurite } from './azurite';
import { localAppSettings, localPorts } from './localSettings';
import { watchJobs } from './progress';
import { startLocalRuntime } from './runtime';
import { whenLauncherGone } from './launcher';

/**
 * `npm start`: the whole pipeline on one machine. Azurite (blob, queue, table) with data kept in
 * `.azurite/`, the AML batch endpoint emulator (its jobs kept in that Azurite too), and the app under the
 * local Functions runtime. Every port can be moved with an environment variable, so the end-to-end tests
 * run this same script.
 *
 * Stopping: SIGINT and SIGTERM stop every part, newest first, and the process exits only when all are
 * gone. A signal during start-up waits for the part being started, then stops it too. `npm start` runs
 * this file with `node --import tsx`, not the tsx CLI: the CLI's signal relay gives a busy child 60 ms to
 * acknowledge, then SIGKILLs it (tsx cli.mjs, relaySignals), which would leave nothing cleanly stopped.
 */
const root = resolve(__dirname, '..');

function log(line: string): void {
  console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
}

const running: { name: string; stop: () => Promise<void> }[] = [];
let starting: Promise<unknown> = Promise.resolve();
let stopping: Promise<void> | undefined;

/** Starts one part; it is stopped on the way out, even when the signal came while it was starting. */
function step<T>(name: string, p: Promise<T>, stopPart: (t: T) => Promise<void>): Promise<T> {
  const started = p.then((t) => {
    running.push({ name, stop: () => stopPart(t) });
    return t;
  });
  starting = started.catch(() => undefined);
  return started;
}

function stop(reason: string, code = 0): Promise<void> {
  stopping ??= (async () => {
    log(`${reason}: stopping`);
    await starting;
    for (const part of running.reverse()) {
      await part.stop().catch((e: unknown) => log(`${part.name} stop: ${(e as Error).message}`));
    }
    log('stopped');
    process.exit(code);
  })();
  return stopping;
}

async function main(): Promise<void> {
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // `npm start` runs `sh -c "node --import tsx dev/start.ts"`; a SIGTERM to npm reaches only that shell, which dies
  // without passing it on. Stop as if signalled when the npm process is gone.
  whenLauncherGone(() => void stop('npm exited'));

  const ports = localPorts();
  let connectionString: string;
  let azuriteData: string | undefined;
  if (process.env.STORAGE_CONNECTION_STRING) {
    connectionString = process.env.STORAGE_CONNECTION_STRING;
  } else if (await isListening(ports.blob)) {
    log(`Azurite already listening on ${ports.blob}: using it`);
    connectionString = devConnectionString({
      blobPort: ports.blob,
      queuePort: ports.queue,
      tablePort: ports.table,
    });
  } else {
    azuriteData = process.env.AZURITE_LOCATION ?? join(root, '.azurite');
    const azurite = await step(
      'Azurite',
      startAzurite({
        blobPort: ports.blob,
        queuePort: ports.queue,
        tablePort: ports.table,
        location: azuriteData,
      }),
      (a) => a.stop(),
    );
    connectionString = azurite.connectionString;
  }
  if (stopping) return;

  // AML_SCORING_URI in the environment points the app at another endpoint (a real one, or an emulator
  // the tests run); otherwise the embedded emulator serves it, data and management plane alike.
  const embeddedAml = !process.env.AML_SCORING_URI;
  const emulatorUrl = `http://127.0.0.1:${ports.aml}`;
  const env = localAppSettings(root, {
    DataStorage: connectionString,
    AmlDatastoreStorage: connectionString,
    AzureWebJobsStorage: connectionString,
    ...(embeddedAml ? { AML_SCORING_URI: `${emulatorUrl}/jobs`, AML_MANAGEMENT_URI: emulatorUrl } : {}),
  });
  // The sample's UseDevelopmentStorage=true means the standard ports; ours may differ.
  for (const k of ['DataStorage', 'AmlDatastoreStorage', 'AzureWebJobsStorage']) {
    if (env[k] === 'UseDevelopmentStorage=true') env[k] = connectionString;
  }
  // The app's own reading of its settings: a bad one stops here with the app's message.
  const app = loadSettings(env);

  // Everything the app expects to exist, the datastore container included whichever AML endpoint it is:
  // a real workspace has its container already, an external emulator on a fresh Azurite does not.
  const data = BlobStore.fromConnection(app.dataStorage);
  for (const c of [app.inboxContainer, app.outboxContainer, app.quarantineContainer]) {
    await data.ensureContainer(c);
  }
  await JobTable.fromConnection(app.dataStorage, app.jobsTable).ensureTable();
  await BlobStore.fromConnection(app.aml.datastoreStorage)
    .ensureContainer(app.aml.datastoreContainer)
    .catch((e: unknown) =>
      log(
        `could not create the datastore container ${app.aml.datastoreContainer} (AML_DATASTORE_CONTAINER): ${(e as Error).message}`,
      ),
    );

  if (embeddedAml) {
    await step(
      'AML emulator',
      startAmlEmulator({
        // AML_EMULATOR_* settings (timings, faults, tokens) apply; the pipeline's own settings decide the rest.
        ...emulatorOptionsFromEnv(process.env),
        // AML_EVENTS_ENABLED: run events go to the runtime's Event Grid webhook, as the infra subscription sends them.
        ...(app.poll.events && !process.env.AML_EMULATOR_EVENT_GRID_URL
          ? {
              eventGrid: {
                ...emulatorOptionsFromEnv(process.env).eventGrid,
                url: `http://127.0.0.1:${ports.http}/runtime/webhooks/eventgrid?functionName=amlEventsTrigger`,
              },
            }
          : {}),
        port: ports.aml,
        storageConnectionString: env.AmlDatastoreStorage!,
        datastores: { [app.aml.datastoreName]: app.aml.datastoreContainer },
        // The app's coordinates, so the resource ids the emulator answers name the workspace the app cancels in.
        ...(app.aml.workspace ? { workspace: app.aml.workspace } : {}),
        // Jobs kept beside the datastore, so a second `npm start` continues them.
        stateContainer: process.env.AML_EMULATOR_STATE_CONTAINER || 'aml-emulator-jobs',
        log: (l) => log(`[aml] ${l}`),
      }),
      (e) => e.close(),
    );
  }
  if (stopping) return;

  const runtime = await step(
    'runtime',
    startLocalRuntime({
      entry: join(root, 'src', 'index.ts'),
      env,
      httpPort: ports.http,
      taskHub: env.DURABLE_TASK_HUB || 'amlbatchlocal',
      log: (l) => log(`[func] ${l}`),
    }),
    (r) => r.stop(),
  );
  if (stopping) return;
  // LOCAL_PROGRESS=off silences the progress lines (benchmarks count storage requests without them).
  if (process.env.LOCAL_PROGRESS !== 'off') {
    const stopWatching = watchJobs(env.DataStorage!, app.jobsTable, log);
    running.push({ name: 'progress', stop: async () => stopWatching() });
  }

  const ws = app.aml.workspace ?? (embeddedAml ? DEFAULT_WORKSPACE : undefined);
  console.log(`
  AML batch-scoring pipeline, running locally
    API            ${runtime.url}/api/jobs
    Dashboard      ${runtime.url}/api/ui
    AML endpoint   ${app.aml.scoringUri}${embeddedAml ? '   (the emulator: deployments diamond-v2 [default], diamond-v1)' : ''}
    AML cancels    ${ws ? `${app.aml.managementUri}, workspace ${ws.workspaceName}` : 'off: set AML_SUBSCRIPTION_ID, AML_RESOURCE_GROUP and AML_WORKSPACE_NAME'}
    Azurite        blob ${ports.blob}, queue ${ports.queue}, table ${ports.table}${azuriteData ? `   (data in ${azuriteData})` : ''}

  Drop a file:   npm run drop -- samples/diamonds-sample.csv
  or:            curl -X POST -H 'Content-Type: text/csv' --data-binary @samples/diamonds-sample.csv '${runtime.url}/api/jobs?name=diamonds.csv'
  Watch jobs:    curl ${runtime.url}/api/jobs
  Predictions:   container '${app.outboxContainer}' (Storage Explorer → Local emulator), or GET /api/jobs/<id>/predictions
  Ctrl-C stops everything.
`);
}

main().catch((err: unknown) => {
  console.error(`npm start failed: ${(err as Error).stack ?? String(err)}`);
  void stop('start-up failed', 1);
});
