import { jobForBlob, startStack, waitJob, type JobView, type Stack } from './stack';

/** The pipeline's resilience against what Azure ML does wrong, injected through the emulator. */
let stack: Stack;
const csv = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n1.1,Premium,G,VS2\n';

beforeAll(async () => {
  stack = await startStack();
}, 90_000);
afterAll(async () => stack?.stop());
afterEach(() =>
  stack.emulator.setFaults({
    failJobs: false,
    throttleRate: 0,
    unavailableRate: 0,
    hangInQueued: false,
    refuseCancel: false,
  }),
);

type Record = JobView & {
  cancel?: { requestedAt: string; confirmed: boolean; amlAnswer?: string };
  warnings?: string[];
  error?: JobView['error'] & { retryable?: boolean; at?: string };
};

test('the emulator failing a job → Failed with its reason', async () => {
  stack.emulator.setFaults({ failJobs: 'Out of memory on compute node (simulated)' });
  await stack.inbox.getBlockBlobClient('fail.csv').upload(csv, csv.length);
  const job = await jobForBlob(stack, 'fail.csv');
  expect(job).toMatchObject({ status: 'Failed', error: { code: 'AmlJobFailed', retryable: false } });
  expect(job.error!.message).toMatch(/Out of memory on compute node/);
  expect(job.error!.message).not.toMatch(/\n|at .*\.ts:\d+/); // no stack on the record
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
  const job = (await waitJob(stack, running.jobId)) as Record;
  expect(job).toMatchObject({ status: 'Canceled', cancel: { confirmed: true } });
  expect(job).not.toHaveProperty('warnings');
  const aml = stack.emulator.jobs().find((j) => j.name === job.amlJobName);
  expect(['CancelRequested', 'Canceled']).toContain(aml?.status);
  expect(['CancelRequested', 'Canceled']).toContain(job.amlStatus); // the record saw the cancel land
  expect((await fetch(`${stack.api}/jobs/${running.jobId}/cancel`, { method: 'POST' })).status).toBe(409);
}, 60_000);

test('an AML-refused cancel is recorded as refused: Canceled here, with AML’s answer and a warning', async () => {
  stack.emulator.setFaults({ hangInQueued: true, refuseCancel: true });
  await stack.inbox.getBlockBlobClient('refused.csv').upload(csv, csv.length);
  const running = await jobForBlob(stack, 'refused.csv', 60_000, ['Submitted', 'Running']);
  expect((await fetch(`${stack.api}/jobs/${running.jobId}/cancel`, { method: 'POST' })).status).toBe(202);
  const job = (await waitJob(stack, running.jobId)) as Record;
  expect(job).toMatchObject({
    status: 'Canceled',
    error: { code: 'Canceled', retryable: true },
    cancel: { confirmed: false, amlAnswer: expect.stringMatching(/404 to cancel job .*not found/) },
  });
  expect(job.warnings).toEqual([expect.stringMatching(/may still be running/)]);
  // And it is true: AML never cancelled it.
  expect(stack.emulator.jobs().find((j) => j.name === job.amlJobName)?.status).toBe('Queued');
}, 60_000);
