import { eventually } from '../support/eventually';
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
  expect(job).toMatchObject({
    status: 'TimedOut',
    error: { code: 'TimedOut', message: expect.stringContaining('last status Queued') },
    cancel: { confirmed: true },
  });
  expect(['CancelRequested', 'Canceled']).toContain(job.amlStatus); // what AML said right after the cancel
  await eventually(
    () => stack.emulator.jobs().find((j) => j.name === job.amlJobName && j.status === 'Canceled'),
    {
      timeoutMs: 10_000,
      what: 'AML to finish cancelling',
    },
  );
}, 70_000);
