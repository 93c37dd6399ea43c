import { jobForBlob, startStack, waitJob, type Stack } from './stack';

/** The pipeline's resilience against what Azure ML does wrong, injected through the emulator. */
let stack: Stack;
const csv = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n1.1,Premium,G,VS2\n';

beforeAll(async () => {
  stack = await startStack();
}, 90_000);
afterAll(async () => stack?.stop());
afterEach(() =>
  stack.emulator.setFaults({ failJobs: false, throttleRate: 0, unavailableRate: 0, hangInQueued: false }),
);

test('the emulator failing a job → Failed with its reason', async () => {
  stack.emulator.setFaults({ failJobs: 'Out of memory on compute node (simulated)' });
  await stack.inbox.getBlockBlobClient('fail.csv').upload(csv, csv.length);
  const job = await jobForBlob(stack, 'fail.csv');
  expect(job).toMatchObject({ status: 'Failed', error: { code: 'AmlJobFailed' } });
  expect(job.error!.message).toMatch(/Out of memory on compute node/);
}, 60_000);

test('429 and 503 bursts → still Succeeded, with exactly one AML job', async () => {
  stack.emulator.setFaults({ throttleRate: 0.4, unavailableRate: 0.2 });
  await stack.inbox.getBlockBlobClient('bursty.csv').upload(csv, csv.length);
  const job = await jobForBlob(stack, 'bursty.csv', 120_000);
  expect(job.status).toBe('Succeeded');
  expect(stack.emulator.jobs().filter((j) => j.inputUri.includes(job.jobId))).toHaveLength(1);
}, 130_000);

test('POST /api/jobs/{id}/cancel → the AML job is cancelled and the job ends Canceled', async () => {
  stack.emulator.setFaults({ hangInQueued: true });
  await stack.inbox.getBlockBlobClient('cancel-me.csv').upload(csv, csv.length);
  const running = await jobForBlob(stack, 'cancel-me.csv', 60_000, ['Submitted', 'Running']);
  const res = await fetch(`${stack.api}/jobs/${running.jobId}/cancel`, { method: 'POST' });
  expect(res.status).toBe(202);
  const job = await waitJob(stack, running.jobId);
  expect(job).toMatchObject({ status: 'Canceled' });
  const aml = stack.emulator.jobs().find((j) => j.name === job.amlJobName);
  expect(['CancelRequested', 'Canceled']).toContain(aml?.status);
  expect((await fetch(`${stack.api}/jobs/${running.jobId}/cancel`, { method: 'POST' })).status).toBe(409);
}, 60_000);
