import { jobForBlob, listJobs, startStack, type Stack } from './stack';

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
