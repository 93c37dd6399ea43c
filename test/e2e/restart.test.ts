import { BlobServiceClient } from '@azure/storage-blob';
import { freePort } from '../support/azurite';
import { eventually } from '../support/eventually';
import { testConnectionString, uniqueName } from '../support/storage';
import { isolatedNames, jobForBlob, listJobs, startStack, type JobView, type Stack } from './stack';
import { launch, ready, type Launched } from './startScript';

/** The app killed mid-job (SIGKILL, no clean-up) and started again: the job completes, once. */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 90_000);
afterAll(async () => stack?.stop());

test('killed while waiting on AML, restarted: completes with exactly one AML job, nothing lost', async () => {
  stack.emulator.setTimings({ queuedMs: 4000 });
  const csv = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n0.8,Good,J,SI2\n';
  await stack.inbox.getBlockBlobClient('crash.csv').upload(csv, csv.length);
  const before = await jobForBlob(stack, 'crash.csv', 60_000, ['Submitted', 'Running']);
  await stack.kill();
  // A file that arrives while the app is down is picked up after the restart.
  await stack.inbox.getBlockBlobClient('while-down.csv').upload(csv, csv.length);
  stack.emulator.setTimings({ queuedMs: 200 });
  await stack.restart();

  const after = await jobForBlob(stack, 'crash.csv', 60_000);
  expect(after).toMatchObject({ jobId: before.jobId, status: 'Succeeded', amlJobName: before.amlJobName });
  expect(stack.emulator.jobs().filter((j) => j.inputUri.includes(before.jobId))).toHaveLength(1);
  expect((await jobForBlob(stack, 'while-down.csv', 60_000)).status).toBe('Succeeded');
  expect((await listJobs(stack)).filter((j) => j.sourceBlob === 'crash.csv')).toHaveLength(1);
}, 150_000);

describe('with the embedded emulator (npm start without AML_SCORING_URI)', () => {
  /** dev/start.ts as a user runs it, its emulator inside; only storage is the test run's Azurite. */
  let env: Record<string, string | undefined>;
  let http: number;
  let running: Launched | undefined;
  const blobs = () => BlobServiceClient.fromConnectionString(testConnectionString());

  beforeAll(async () => {
    http = await freePort();
    env = {
      STORAGE_CONNECTION_STRING: testConnectionString(),
      AML_SCORING_URI: undefined,
      AML_MANAGEMENT_URI: undefined,
      FUNCTIONS_HTTP_PORT: String(http),
      AML_EMULATOR_PORT: String(await freePort()),
      AML_EMULATOR_STATE_CONTAINER: uniqueName('emujobs'),
      AML_DATASTORE_CONTAINER: uniqueName('ds'),
      ...isolatedNames(),
      POLL_FIRST_DELAY_SECONDS: '0.3',
      POLL_BACKOFF_FACTOR: '1.5',
      POLL_MAX_DELAY_SECONDS: '1',
      JOB_DEADLINE_SECONDS: '600',
      LOCAL_PROGRESS: 'off',
      AML_EMULATOR_TIMINGS: 'instant',
      // The job's own AML status is what this test waits on: one AML job per file (shaping.test.ts
      // covers batches).
      BATCH_WINDOW_SECONDS: '0',
    };
  });
  afterAll(async () => {
    if (running && running.child.exitCode === null) {
      running.child.kill('SIGTERM');
      await running.exited;
    }
  });

  const start = async (extra: Record<string, string>): Promise<void> => {
    // `node --import tsx`: no tsx CLI parent, so SIGKILL reaches the process that holds everything.
    running = launch('node', { ...env, ...extra });
    await ready(running, http);
  };
  const job = async (until: (j: JobView) => boolean): Promise<JobView> =>
    eventually(
      async () => {
        const r = await fetch(`http://127.0.0.1:${http}/api/jobs?top=10`);
        const j = ((await r.json()) as { jobs: JobView[] }).jobs.find((x) => x.sourceBlob === 'held.csv');
        return j && until(j) ? j : undefined;
      },
      { timeoutMs: 60_000, what: 'the job of held.csv' },
    );

  test('kill and restart with the embedded emulator completes the job', async () => {
    // Held in Queued at the emulator until the restart lets it go.
    await start({ AML_EMULATOR_QUEUED_MS: '600000' });
    const csv = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n0.8,Good,J,SI2\n';
    await blobs()
      .getContainerClient(env.INBOX_CONTAINER!)
      .getBlockBlobClient('held.csv')
      .upload(csv, csv.length);
    const before = await job((j) => j.amlStatus === 'Queued');

    running!.child.kill('SIGKILL');
    await running!.exited;
    await start({ AML_EMULATOR_QUEUED_MS: '0' });

    const after = await job((j) =>
      ['Succeeded', 'Rejected', 'Failed', 'TimedOut', 'Canceled'].includes(j.status),
    );
    expect(after).toMatchObject({ jobId: before.jobId, status: 'Succeeded', amlJobName: before.amlJobName });
    const out = await blobs()
      .getContainerClient(env.OUTBOX_CONTAINER!)
      .getBlobClient(after.outputBlob!.replace(/^[^/]+\//, ''))
      .downloadToBuffer();
    expect(out.toString('utf8').trim().split('\n')).toHaveLength(3);
    // One AML job, kept by the emulator across the restart, that went through every status once.
    const saved: string[] = [];
    for await (const b of blobs().getContainerClient(env.AML_EMULATOR_STATE_CONTAINER!).listBlobsFlat())
      saved.push(b.name);
    expect(saved).toEqual([`${before.amlJobName}.json`]);
    const state = JSON.parse(
      (
        await blobs()
          .getContainerClient(env.AML_EMULATOR_STATE_CONTAINER!)
          .getBlobClient(saved[0]!)
          .downloadToBuffer()
      ).toString('utf8'),
    ) as { job: { history: { status: string }[] } };
    expect(state.job.history.map((h) => h.status)).toEqual([
      'NotStarted',
      'Queued',
      'Preparing',
      'Running',
      'Finalizing',
      'Completed',
    ]);
  }, 180_000);
});
