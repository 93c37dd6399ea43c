import { eventually } from '../support/eventually';
import { jobForBlob, startStack, waitJob, type JobView, type Stack } from './stack';

/**
 * AML unreachable for longer than the activity retries. Durable time runs 100× faster (the local
 * runtime's scaled clock: timers and retry delays), so each check's retries (about 4.5 minutes of
 * durable time) take seconds. Nothing here waits on a duration: the test waits until the record shows
 * that checks ran out of retries, then lets AML answer again.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    LOCAL_RUNTIME_TIME_SCALE: '100',
    POLL_FIRST_DELAY_SECONDS: '30',
    POLL_BACKOFF_FACTOR: '1.5',
    POLL_MAX_DELAY_SECONDS: '60',
    JOB_DEADLINE_SECONDS: '86400',
  });
}, 90_000);
afterAll(async () => stack?.stop());

type Record = JobView & {
  outage?: {
    since: string;
    missedChecks: number;
    lastError: { code: string; message: string; retryable: boolean };
  };
  amlStatusHistory?: { status: string; since: string }[];
};

test('an AML outage longer than the activity retries is recorded, outlived, and the job ends Succeeded', async () => {
  stack.emulator.setFaults({ hangInQueued: true });
  const csv = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n1.1,Premium,G,VS2\n';
  await stack.inbox.getBlockBlobClient('outage.csv').upload(csv, csv.length);
  const queued = await jobForBlob(stack, 'outage.csv', 60_000, ['Submitted', 'Running']);
  await eventually(
    async () => {
      const r = (await (await fetch(`${stack.api}/jobs/${queued.jobId}`)).json()) as Record;
      return r.amlStatus === 'Queued' ? r : undefined;
    },
    { what: 'a check to see the AML job queued' },
  );

  stack.emulator.setFaults({ unreachable: true });
  const during = await eventually(
    async () => {
      const r = (await (await fetch(`${stack.api}/jobs/${queued.jobId}`)).json()) as Record;
      return (r.outage?.missedChecks ?? 0) >= 2 ? r : undefined;
    },
    { timeoutMs: 60_000, what: 'two checks to run out of retries' },
  );
  expect(during.status).toBe('Submitted');
  expect(during.outage!.lastError).toMatchObject({ code: 'AmlUnavailable', retryable: true });
  expect(during.outage!.lastError.message).toMatch(/^Could not reach AML/);
  expect(during.outage!.lastError.message.length).toBeLessThan(300);

  stack.emulator.setFaults({ unreachable: false, hangInQueued: false });
  const done = (await waitJob(stack, queued.jobId)) as Record;
  expect(done).toMatchObject({ status: 'Succeeded', amlStatus: 'Completed' });
  expect(done).not.toHaveProperty('outage');
  const seen = done.amlStatusHistory!.map((h) => h.status);
  expect(seen[0]).toBe('NotStarted');
  expect(seen).toContain('Queued');
  expect(seen.at(-1)).toBe('Completed');
  expect(stack.emulator.jobs().filter((j) => j.inputUri.includes(queued.jobId))).toHaveLength(1);
}, 120_000);
