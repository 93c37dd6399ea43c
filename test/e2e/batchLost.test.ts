import { BlobServiceClient } from '@azure/storage-blob';
import { testConnectionString } from '../support/storage';
import { eventually } from '../support/eventually';
import {
  E2E_RUNTIME,
  jobForBlob,
  runFunctionNow,
  startStack,
  waitJob,
  type JobView,
  type Stack,
} from './stack';

/**
 * A batch whose orchestration is gone while its members wait (purged, terminated, lost with its task hub) is
 * put right by the reconciler in one run: the batch is closed, recorded and ended `Failed` (`BatchLost`), and
 * each member ends at once with that retryable error instead of on its lost-batch timer (window + deadline +
 * 1 h). Through the whole stack: app, runtime, timer trigger run through the admin API, durable client.
 */
let stack: Stack;
const csv = (n: number): string => `carat,cut,color,clarity\n0.${n},Ideal,E,SI1\n`;
type Member = JobView & { batchId?: string };

beforeAll(async () => {
  // A window far longer than the test: the batch stays open, its members wait for it.
  stack = await startStack({
    BATCH_WINDOW_SECONDS: '3600',
    RECONCILE_SCHEDULE: '0 0 0 1 1 *',
    RECONCILE_GRACE_SECONDS: '0',
  });
}, 90_000);
afterAll(async () => stack?.stop());

/** Removes the batch's orchestration: on the real host, terminated through the extension's HTTP API; the
 * local runtime answers terminate 501, so the app is killed and the instance deleted from its task hub (what a
 * purge leaves), then started again. */
async function loseOrchestration(batchId: string): Promise<void> {
  const base = stack.api.replace(/\/api$/, '');
  if (E2E_RUNTIME === 'func') {
    const r = await fetch(`${base}/runtime/webhooks/durabletask/instances/${batchId}/terminate?reason=test`, {
      method: 'POST',
    });
    expect(r.status).toBe(202);
    return;
  }
  const instances = BlobServiceClient.fromConnectionString(testConnectionString()).getContainerClient(
    `${stack.env.DURABLE_TASK_HUB!.toLowerCase()}-instances`,
  );
  const blob = instances.getBlobClient(`${encodeURIComponent(batchId)}.json`);
  await eventually(async () => ((await blob.exists()) ? true : undefined), {
    timeoutMs: 30_000,
    what: `the batch orchestration ${batchId} to be persisted`,
  });
  await stack.kill();
  await blob.delete();
  await stack.restart();
}

test('a batch whose orchestration is gone: the reconciler ends it, its members fail at once, retryable', async () => {
  const names = ['lost/a.csv', 'lost/b.csv'];
  await Promise.all(
    names.map((n, i) => stack.inbox.getBlockBlobClient(n).upload(csv(i + 3), csv(i + 3).length)),
  );
  // Both validated and joined to one open batch.
  const members = await eventually(
    async () => {
      const jobs = await Promise.all(
        names.map((n) => jobForBlob(stack, n, 30_000, ['Validating', 'Validated'])),
      );
      const recs = await Promise.all(
        jobs.map(async (j) => (await (await fetch(`${stack.api}/jobs/${j.jobId}`)).json()) as Member),
      );
      return recs.every((r) => r.batchId && r.batchId === recs[0]!.batchId) ? recs : undefined;
    },
    { timeoutMs: 30_000, what: 'both files to join one batch' },
  );
  const batchId = members[0]!.batchId!;
  const open = (await (await fetch(`${stack.api}/batches/${batchId}`)).json()) as { status: string };
  expect(open.status).toBe('Open');

  await loseOrchestration(batchId);
  expect(await runFunctionNow(stack, 'reconcile')).toBe(202);

  for (const m of members) {
    const done = await waitJob(stack, m.jobId, undefined, 30_000);
    expect(done.status).toBe('Failed');
    expect(done.error).toMatchObject({ code: 'BatchLost', retryable: true });
    expect(done.error!.message).toContain(batchId);
  }
  const batch = (await (await fetch(`${stack.api}/batches/${batchId}`)).json()) as {
    status: string;
    error?: { code: string };
  };
  expect(batch).toMatchObject({ status: 'Failed', error: { code: 'BatchLost' } });
  // The window never passed: nothing was sent to AML.
  expect(stack.emulator.jobs().filter((j) => j.inputUri.includes(batchId))).toHaveLength(0);
}, 120_000);
