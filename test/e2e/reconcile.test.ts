import { JobTable } from '../../src/adapters/jobTable';
import { readStorageConnection } from '../../src/config/settings';
import { deriveJobId, normalizeEtag } from '../../src/domain/jobId';
import { jobForBlob, runFunctionNow, startStack, waitJob, type Stack } from './stack';

/**
 * The reconciler under the local runtime, run on demand through the host's admin API
 * (`POST /admin/functions/<name>`, Learn: "Manually run a non HTTP-triggered function"). Needs the
 * runtime's timer-trigger support.
 */
let stack: Stack;
const csv = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n';

beforeAll(async () => {
  // A schedule that never fires during the test: the test runs it when it wants.
  stack = await startStack({ RECONCILE_SCHEDULE: '0 0 0 1 1 *', RECONCILE_GRACE_SECONDS: '0' });
}, 90_000);
afterAll(async () => stack?.stop());

test('a job whose record exists but whose orchestration never started is resumed and completes', async () => {
  await stack.inbox.getBlockBlobClient('resume.csv').upload(csv, csv.length);
  const first = await jobForBlob(stack, 'resume.csv');
  expect(first.status).toBe('Succeeded');

  // A retry whose request died between writing the record and starting the orchestration.
  const p = await stack.inbox.getBlobClient('resume.csv').getProperties();
  const v = {
    container: stack.env.INBOX_CONTAINER!,
    name: 'resume.csv',
    etag: p.etag!,
    lastModified: p.lastModified!,
  };
  const jobId = deriveJobId({ ...v, attempt: 1 });
  const table = JobTable.fromConnection(
    readStorageConnection({ DataStorage: stack.env.STORAGE_CONNECTION_STRING }, 'DataStorage'),
    stack.env.JOBS_TABLE!,
  );
  const t = new Date(Date.now() - 60_000).toISOString();
  await table.create({
    jobId,
    status: 'Received',
    sourceContainer: v.container,
    sourceBlob: v.name,
    sourceEtag: normalizeEtag(v.etag),
    receivedAt: v.lastModified.toISOString(),
    createdAt: t,
    updatedAt: t,
    phases: { Received: t },
    attempt: 1,
    retryOf: first.jobId,
  });

  expect(await runFunctionNow(stack, 'reconcile')).toBe(202);
  const job = await waitJob(stack, jobId);
  expect(job.status).toBe('Succeeded');
  expect(stack.emulator.jobs().filter((j) => j.inputUri.includes(jobId))).toHaveLength(1);
}, 90_000);
