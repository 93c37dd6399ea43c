import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { join, resolve } from 'node:path';
import { emulatorOptionsFromEnv, startAmlEmulator, type AmlEmulator } from './aml-emulator';
import { devConnectionString, isListening, startAzurite, type AzuriteInstance } from './azurite';
import { localAppSettings } from './localSettings';
import { watchJobs } from './progress';
import { startLocalRuntime } from './runtime';

/**
 * `npm start`: the whole pipeline on one machine. Azurite (blob, queue, table) with data kept in
 * `.azurite/`, the AML batch endpoint emulator, and the app under the local Functions runtime. Every
 * port can be moved with an environment variable, so the end-to-end tests run this same script.
 */
const root = resolve(__dirname, '..');
const num = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const ports = {
  blob: num('AZURITE_BLOB_PORT', 10000),
  queue: num('AZURITE_QUEUE_PORT', 10001),
  table: num('AZURITE_TABLE_PORT', 10002),
  aml: num('AML_EMULATOR_PORT', 7072),
  http: num('FUNCTIONS_HTTP_PORT', 7071),
};

function log(line: string): void {
  console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
}

async function main(): Promise<void> {
  let azurite: AzuriteInstance | undefined;
  let connectionString: string;
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
    azurite = await startAzurite({
      blobPort: ports.blob,
      queuePort: ports.queue,
      tablePort: ports.table,
      location: process.env.AZURITE_LOCATION ?? join(root, '.azurite'),
    });
    connectionString = azurite.connectionString;
  }

  // AML_SCORING_URI in the environment points the app at another endpoint (a real one, or an emulator
  // the tests run); otherwise the embedded emulator serves it.
  const embeddedAml = !process.env.AML_SCORING_URI;
  const scoringUrl = `http://127.0.0.1:${ports.aml}`;
  const settings = localAppSettings(root, {
    DataStorage: connectionString,
    AmlDatastoreStorage: connectionString,
    AzureWebJobsStorage: connectionString,
    ...(embeddedAml ? { AML_SCORING_URI: `${scoringUrl}/jobs`, AML_MANAGEMENT_URI: scoringUrl } : {}),
  });
  // The sample's UseDevelopmentStorage=true means the standard ports; ours may differ.
  for (const k of ['DataStorage', 'AmlDatastoreStorage', 'AzureWebJobsStorage']) {
    if (settings[k] === 'UseDevelopmentStorage=true') settings[k] = connectionString;
  }

  const blobs = BlobServiceClient.fromConnectionString(settings.DataStorage!);
  for (const c of [
    settings.INBOX_CONTAINER || 'inbox',
    settings.OUTBOX_CONTAINER || 'outbox',
    settings.QUARANTINE_CONTAINER || 'quarantine',
  ]) {
    await blobs.getContainerClient(c).createIfNotExists();
  }
  const table = settings.JOBS_TABLE || 'jobs';
  await TableClient.fromConnectionString(settings.DataStorage!, table, { allowInsecureConnection: true })
    .createTable()
    .catch(() => undefined);

  let emulator: AmlEmulator | undefined;
  if (embeddedAml) {
    emulator = await startAmlEmulator({
      // AML_EMULATOR_* settings (timings, faults, tokens) apply; the pipeline's own settings decide the rest.
      ...emulatorOptionsFromEnv(process.env),
      port: ports.aml,
      storageConnectionString: settings.AmlDatastoreStorage!,
      datastores: {
        [settings.AML_DATASTORE_NAME || 'workspaceblobstore']:
          settings.AML_DATASTORE_CONTAINER || 'azureml-blobstore-local',
      },
      log: (l) => log(`[aml] ${l}`),
    });
  }

  const runtime = await startLocalRuntime({
    entry: join(root, 'src', 'index.ts'),
    env: settings,
    httpPort: ports.http,
    storageConnectionString: settings.AzureWebJobsStorage!,
    taskHub: settings.DURABLE_TASK_HUB || 'amlbatchlocal',
    // Durable time (timers, retry delays) runs this many times faster: long fault scenarios in seconds.
    ...(Number(process.env.LOCAL_RUNTIME_TIME_SCALE) > 0
      ? { clock: { timeScale: Number(process.env.LOCAL_RUNTIME_TIME_SCALE) } }
      : {}),
    log: (l) => log(`[func] ${l}`),
  });
  // LOCAL_PROGRESS=off silences the progress lines (benchmarks count storage requests without them).
  const stopWatching =
    process.env.LOCAL_PROGRESS === 'off' ? () => undefined : watchJobs(settings.DataStorage!, table, log);

  console.log(`
  AML batch-scoring pipeline, running locally
    API            ${runtime.url}/api/jobs
    Dashboard      ${runtime.url}/api/ui
    AML endpoint   ${settings.AML_SCORING_URI}${embeddedAml ? '   (the emulator: deployments diamond-v2 [default], diamond-v1)' : ''}
    Azurite        blob ${ports.blob}, queue ${ports.queue}, table ${ports.table}${azurite ? '   (data in .azurite/)' : ''}

  Drop a file:   npm run drop -- samples/diamonds-sample.csv
  or:            curl -X POST -H 'Content-Type: text/csv' --data-binary @samples/diamonds-sample.csv '${runtime.url}/api/jobs?name=diamonds.csv'
  Watch jobs:    curl ${runtime.url}/api/jobs
  Predictions:   container '${settings.OUTBOX_CONTAINER || 'outbox'}' (Storage Explorer → Local emulator), or GET /api/jobs/<id>/predictions
  Ctrl-C stops everything.
`);

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    stopWatching();
    await runtime.stop().catch((e: unknown) => log(`runtime stop: ${(e as Error).message}`));
    await emulator?.close().catch(() => undefined);
    await azurite?.stop().catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`npm start failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
