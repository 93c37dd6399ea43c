import { appendFileSync } from 'node:fs';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startAmlEmulator, type AmlEmulator } from '../../dev/aml-emulator';
import { TableClient } from '@azure/data-tables';
import { freePort } from '../support/azurite';
import { eventually } from '../support/eventually';
import { testConnectionString, uniqueName } from '../support/storage';

/**
 * The whole local stack as a user runs it: `dev/start.ts` (what `npm start` runs) in a child
 * process, talking to the test Azurite and to an AML emulator in this process — external to the app,
 * like the real service, so it outlives a crash of the app and the tests can inject faults into it.
 * Tests talk to the stack only through public clients: the storage SDK and HTTP.
 *
 * E2E_RUNTIME picks the Functions host: `local` (default, dev/runtime through `npm start`) or `func` (Azure
 * Functions Core Tools' `func start` on the built app in dist/, as .github/workflows/real-host.yml runs it).
 */
export const E2E_RUNTIME = (process.env.E2E_RUNTIME ?? 'local').toLowerCase();
if (E2E_RUNTIME !== 'local' && E2E_RUNTIME !== 'func') throw new Error(`E2E_RUNTIME must be local or func`);
/** Containers, table and task hub of the app's own, so stacks sharing one Azurite never see each other's jobs. */
export function isolatedNames(): Record<string, string> {
  return {
    INBOX_CONTAINER: uniqueName('inbox'),
    OUTBOX_CONTAINER: uniqueName('outbox'),
    QUARANTINE_CONTAINER: uniqueName('quar'),
    JOBS_TABLE: uniqueName('jobs'),
    DURABLE_TASK_HUB: uniqueName('hub'),
  };
}

export interface Stack {
  api: string;
  emulator: AmlEmulator;
  inbox: ContainerClient;
  outbox: ContainerClient;
  quarantine: ContainerClient;
  output: string[];
  env: Record<string, string>;
  restart(): Promise<void>;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

const root = join(__dirname, '..', '..');

export interface StackOptions {
  /** Storage for everything; default the test run's Azurite. */
  connectionString?: string;
  /** What the app's data connections use, e.g. a counting proxy in front of the same Azurite. */
  appDataConnectionString?: string;
  emulatorTimings?: Parameters<typeof startAmlEmulator>[0]['timings'];
  /** Extra or changed emulator deployments (failing mini-batches, error_threshold). */
  emulatorDeployments?: Parameters<typeof startAmlEmulator>[0]['deployments'];
}

/** A quick AML job (about a second from submit to Completed), so the pipeline, not the emulator, sets the pace. */
export const FAST_TIMINGS = {
  notStartedMs: 100,
  queuedMs: 200,
  preparingMs: 200,
  runningMs: 200,
  finalizingMs: 100,
  cancelMs: 100,
};

export async function startStack(env: Record<string, string> = {}, o: StackOptions = {}): Promise<Stack> {
  const cs = o.connectionString ?? testConnectionString();
  const datastore = uniqueName('ds');
  const emulator = await startAmlEmulator({
    port: 0,
    storageConnectionString: cs,
    datastores: { workspaceblobstore: datastore },
    ...(o.emulatorDeployments ? { deployments: o.emulatorDeployments } : {}),
    timings: o.emulatorTimings ?? FAST_TIMINGS,
  });
  const httpPort = await freePort();
  const fullEnv: Record<string, string> = {
    STORAGE_CONNECTION_STRING: cs,
    ...(o.appDataConnectionString
      ? { DataStorage: o.appDataConnectionString, AmlDatastoreStorage: o.appDataConnectionString }
      : {}),
    FUNCTIONS_HTTP_PORT: String(httpPort),
    AML_SCORING_URI: `${emulator.url}/jobs`,
    AML_MANAGEMENT_URI: emulator.url,
    AML_AUTH: 'emulator',
    AML_DATASTORE_CONTAINER: datastore,
    ...isolatedNames(),
    POLL_FIRST_DELAY_SECONDS: '0.3',
    POLL_BACKOFF_FACTOR: '1.5',
    POLL_MAX_DELAY_SECONDS: '1',
    JOB_DEADLINE_SECONDS: '600',
    // One AML job per file, as the suites written before shaping expect; shaping.test.ts turns both on.
    BATCH_WINDOW_SECONDS: '0',
    SPLIT_ROWS: '0',
    ...env,
  };
  const blobs = BlobServiceClient.fromConnectionString(cs);
  if (E2E_RUNTIME === 'func') {
    // what dev/start.ts does before it starts the local runtime
    for (const c of [fullEnv.INBOX_CONTAINER!, fullEnv.OUTBOX_CONTAINER!, fullEnv.QUARANTINE_CONTAINER!])
      await blobs.getContainerClient(c).createIfNotExists();
    await TableClient.fromConnectionString(cs, fullEnv.JOBS_TABLE!, { allowInsecureConnection: true })
      .createTable()
      .catch(() => undefined);
  }
  const output: string[] = [];
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    // A user's shell, not a jest worker's: the child must not think it runs inside jest.
    const { JEST_WORKER_ID: _w, ...parentEnv } = process.env;
    const c =
      E2E_RUNTIME === 'func'
        ? // The real host on the built app; Core Tools keeps variables already set over local.settings.json.
          spawn('func', ['start', '--port', String(httpPort)], {
            cwd: root,
            env: {
              ...parentEnv,
              ...fullEnv,
              FUNCTIONS_WORKER_RUNTIME: 'node',
              AzureWebJobsStorage: cs,
              DataStorage: o.appDataConnectionString ?? cs,
              AmlDatastoreStorage: o.appDataConnectionString ?? cs,
              INBOX_TRIGGER_SOURCE: 'LogsAndContainerScan', // no Event Grid next to Azurite
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          })
        : // `node --import tsx`, not the tsx CLI: the CLI's extra parent process would outlive a SIGKILL.
          spawn(process.execPath, ['--import', 'tsx', join(root, 'dev', 'start.ts')], {
            cwd: root,
            env: { ...parentEnv, ...fullEnv },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
    child = c;
    const collect = (b: Buffer): void => {
      const lines = b.toString('utf8').split('\n').filter(Boolean);
      output.push(...lines);
      // E2E_LOG=<file>: the stack's whole output, for a failure the last 40 lines do not explain.
      if (process.env.E2E_LOG) appendFileSync(process.env.E2E_LOG, lines.map((l) => `${l}\n`).join(''));
    };
    c.stdout!.on('data', collect);
    c.stderr!.on('data', collect);
    await eventually(
      async () => {
        if (c.exitCode !== null) throw new Error(`the app exited ${c.exitCode}:\n${output.join('\n')}`);
        const r = await fetch(`http://127.0.0.1:${httpPort}/api/jobs?top=1`);
        if (!r.ok) throw new Error(`GET /api/jobs answered ${r.status}`);
        return true;
      },
      { timeoutMs: 60_000, everyMs: 200, what: `the API to answer:\n${output.join('\n')}` },
    );
  };
  const exit = (signal: NodeJS.Signals): Promise<void> =>
    new Promise((resolve) => {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill(signal);
    });

  await launch();
  return {
    api: `http://127.0.0.1:${httpPort}/api`,
    emulator,
    inbox: blobs.getContainerClient(fullEnv.INBOX_CONTAINER!),
    outbox: blobs.getContainerClient(fullEnv.OUTBOX_CONTAINER!),
    quarantine: blobs.getContainerClient(fullEnv.QUARANTINE_CONTAINER!),
    output,
    env: fullEnv,
    restart: launch,
    async kill() {
      await exit('SIGKILL');
      // Make sure the app really is gone, so a restart cannot be mistaken for the old process.
      const alive = await fetch(`http://127.0.0.1:${httpPort}/api/jobs?top=1`).then(
        () => true,
        () => false,
      );
      if (alive) throw new Error('the killed app still answers');
    },
    async stop() {
      await exit('SIGTERM');
      await emulator.close();
    },
  };
}

export interface JobView {
  jobId: string;
  status: string;
  rowCount?: number;
  amlJobName?: string;
  amlStatus?: string;
  outputBlob?: string;
  quarantineBlob?: string;
  sourceBlob: string;
  error?: {
    code: string;
    message: string;
    problems?: { line: number; column?: string }[];
    problemCount?: number;
  };
}

const TERMINAL = ['Succeeded', 'Rejected', 'Failed', 'TimedOut', 'Canceled'];

export async function listJobs(stack: Stack): Promise<JobView[]> {
  const r = await fetch(`${stack.api}/jobs?top=1000`);
  return ((await r.json()) as { jobs: JobView[] }).jobs;
}

/** Waits (bounded) until the blob's job exists and has ended; returns it. */
export async function jobForBlob(
  stack: Stack,
  blob: string,
  timeoutMs = 60_000,
  until = TERMINAL,
): Promise<JobView> {
  let last: JobView | undefined;
  return eventually(
    async () => {
      last = (await listJobs(stack)).find((j) => j.sourceBlob === blob);
      return last && until.includes(last.status) ? last : undefined;
    },
    {
      timeoutMs,
      everyMs: 200,
      what: `job for ${blob} to reach ${until.join('/')} (last: ${JSON.stringify(last)})\n${stack.output.slice(-40).join('\n')}`,
    },
  );
}

export async function waitJob(
  stack: Stack,
  jobId: string,
  until = TERMINAL,
  timeoutMs = 60_000,
): Promise<JobView> {
  return eventually(
    async () => {
      const r = await fetch(`${stack.api}/jobs/${jobId}`);
      const j = r.ok ? ((await r.json()) as JobView) : undefined;
      return j && until.includes(j.status) ? j : undefined;
    },
    {
      timeoutMs,
      everyMs: 200,
      what: `job ${jobId} to reach ${until.join('/')}\n${stack.output.slice(-40).join('\n')}`,
    },
  );
}

/** Runs a timer function now through the host's admin API (Learn: "Manually run a non HTTP-triggered
 * function"); the host answers 202 and runs it in the background. */
export async function runFunctionNow(stack: Stack, name: string): Promise<number> {
  const base = stack.api.replace(/\/api$/, '');
  const r = await fetch(`${base}/admin/functions/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: '' }),
  });
  return r.status;
}

export async function download(c: ContainerClient, name: string): Promise<string> {
  return (await c.getBlobClient(name).downloadToBuffer()).toString('utf8');
}
