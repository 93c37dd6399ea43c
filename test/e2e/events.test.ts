import { AmlJobIndex } from '../../src/adapters/amlJobIndex';
import { testConnectionString } from '../support/storage';
import { FAST_TIMINGS, jobForBlob, startStack, waitJob, type Stack } from './stack';

/**
 * AML run events through the whole local stack: the emulator posts them as Event Grid does (handshake, then
 * notifications) to the Functions host's Event Grid webhook, amlEventsTrigger raises them on the waiting
 * orchestration, which checks AML at once. Polling is set to an hour here, so a job that ends within seconds
 * can only have been seen through its event.
 */
let stack: Stack;
const csv = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n1.1,Premium,G,VS2\n';

beforeAll(async () => {
  stack = await startStack(
    {
      AML_EVENTS_ENABLED: 'true',
      POLL_LEARNED_TIMING: 'false',
      POLL_FIRST_DELAY_SECONDS: '3600',
      POLL_MAX_DELAY_SECONDS: '3600',
      JOB_DEADLINE_SECONDS: '7200',
    },
    {
      // Running for 3 s: time for the test to see the AML job's name before it ends.
      emulatorTimings: { ...FAST_TIMINGS, runningMs: 3000 },
    },
  );
  stack.emulator.eventGrid.set({
    url: `${stack.api.replace(/\/api$/, '')}/runtime/webhooks/eventgrid?functionName=amlEventsTrigger`,
    retryScale: 0.001,
  });
}, 90_000);
afterAll(async () => stack?.stop());
afterEach(() => stack.emulator.setFaults({ failJobs: false }));

/**
 * The AML job → instance index entry the submit activity writes (src/activities/submitAmlJob.ts); written here
 * too, the same value (an upsert), so the test does not depend on when that line lands.
 */
async function index(blob: string): Promise<string> {
  const job = await jobForBlob(stack, blob, 30_000, ['Submitted', 'Running']);
  await AmlJobIndex.fromConnection(
    { kind: 'connectionString', connectionString: testConnectionString() },
    stack.env.JOBS_TABLE!,
  ).put(job.amlJobName!, job.jobId);
  return job.jobId;
}

test('a completed AML job is seen through its event, in seconds, not at the hourly check', async () => {
  const started = Date.now();
  await stack.inbox.getBlockBlobClient('evt/ok.csv').upload(csv, csv.length);
  const jobId = await index('evt/ok.csv');
  const job = await waitJob(stack, jobId, ['Succeeded', 'Failed', 'TimedOut', 'Canceled'], 60_000);
  expect(job).toMatchObject({ status: 'Succeeded', amlStatus: 'Completed' });
  expect(Date.now() - started).toBeLessThan(60_000); // the first scheduled check is an hour away
  const record = (await (await fetch(`${stack.api}/jobs/${jobId}`)).json()) as { amlPolls?: number };
  expect(record.amlPolls).toBe(1); // one check: the one the event asked for
  expect(stack.emulator.eventGrid.get().validated).toBe(true); // the webhook answered the handshake
  expect(stack.output.join('\n')).toMatch(new RegExp(`AML event .*Completed -> ${jobId} \\(raised\\)`));
}, 90_000);

test('a failed AML job is seen through its RunStatusChanged event too', async () => {
  stack.emulator.setFaults({ failJobs: 'Out of memory on compute node (simulated)' });
  await stack.inbox.getBlockBlobClient('evt/fail.csv').upload(csv, csv.length);
  const jobId = await index('evt/fail.csv');
  const job = await waitJob(stack, jobId, ['Succeeded', 'Failed', 'TimedOut', 'Canceled'], 60_000);
  expect(job).toMatchObject({ status: 'Failed', error: { code: 'AmlJobFailed' } });
  expect(job.error!.message).toContain('Out of memory');
}, 90_000);
