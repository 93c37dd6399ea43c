import { jobForBlob, startStack, type Stack } from './stack';

/** A job that AML never starts: at the deadline it is cancelled in AML and ends TimedOut. */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ JOB_DEADLINE_SECONDS: '4' });
}, 90_000);
afterAll(async () => stack?.stop());

test('a job hung in Queued → TimedOut and cancelled', async () => {
  stack.emulator.setFaults({ hangInQueued: true });
  const csv = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n';
  await stack.inbox.getBlockBlobClient('stuck.csv').upload(csv, csv.length);
  const job = await jobForBlob(stack, 'stuck.csv', 60_000);
  expect(job).toMatchObject({ status: 'TimedOut', error: { code: 'TimedOut' }, amlStatus: 'Queued' });
  const deadline = Date.now() + 10_000;
  let aml = stack.emulator.jobs().find((j) => j.name === job.amlJobName);
  while (aml?.status !== 'Canceled' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    aml = stack.emulator.jobs().find((j) => j.name === job.amlJobName);
  }
  expect(aml?.status).toBe('Canceled');
}, 70_000);
