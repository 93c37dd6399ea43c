import { estimateDuration } from '../../../src/activities/estimateDuration';
import type { Deps } from '../../../src/app/deps';
import { deriveJobId } from '../../../src/domain/jobId';
import type { JobRecord, JobState } from '../../../src/domain/jobRecord';
import { PipelineError } from '../../../src/domain/errors';
import { testDeps } from '../../support/deps';
import { uniqueName } from '../../support/storage';

/** The activity on real job records in Azurite: what it learns from, and what it leaves out. */
const now = new Date('2026-03-01T12:00:00Z');
let n = 0;

/** A job that arrived `ago` seconds before `now` and whose AML job took `seconds` from submit to Completed. */
async function job(
  d: Deps,
  o: { ago: number; seconds: number; rows: number; deployment?: string; status?: JobState },
): Promise<string> {
  const arrived = new Date(now.getTime() - o.ago * 1000);
  const jobId = deriveJobId({ container: 'inbox', name: `f${n++}.csv`, etag: 'e', lastModified: arrived });
  const submitted = new Date(arrived.getTime() + 5_000);
  const done = new Date(submitted.getTime() + o.seconds * 1000);
  const record: JobRecord = {
    jobId,
    status: o.status ?? 'Succeeded',
    sourceContainer: 'inbox',
    sourceBlob: `f${n}.csv`,
    sourceEtag: 'e',
    receivedAt: arrived.toISOString(),
    createdAt: arrived.toISOString(),
    updatedAt: done.toISOString(),
    phases: { Received: arrived.toISOString(), Submitted: submitted.toISOString() },
    rowCount: o.rows,
    ...(o.deployment ? { deployment: o.deployment } : {}),
    amlStatusHistory: [
      { status: 'NotStarted', since: submitted.toISOString() },
      { status: 'Running', since: new Date(submitted.getTime() + 1000).toISOString() },
      { status: 'Completed', since: done.toISOString() },
    ],
  };
  await d.jobs.create(record);
  return jobId;
}

async function deps(): Promise<Deps> {
  const d = await testDeps();
  return { ...d, now: () => now };
}

test('learns from the deployment’s recent successful jobs of similar size, and from nothing else', async () => {
  const d = await deps();
  for (const [i, s] of [600, 620, 640, 660].entries())
    await job(d, { ago: 3600 * (i + 1), seconds: s, rows: 1000, deployment: 'blue' });
  await job(d, { ago: 600, seconds: 60, rows: 1000, deployment: 'green' }); // another deployment
  await job(d, { ago: 600, seconds: 30, rows: 1000, deployment: 'blue', status: 'Failed' }); // not a success
  await job(d, { ago: 600, seconds: 5000, rows: 50_000, deployment: 'blue' }); // far larger
  await job(d, { ago: 8 * 86400, seconds: 9000, rows: 1000, deployment: 'blue' }); // older than a week
  const r = await estimateDuration({ jobId: 'jx', rows: 1200, deployment: 'blue' }, d);
  expect(r).toEqual({
    ok: true,
    // MAD 20 s → 29.7 s, under the floor of 5% of the median.
    estimate: { seconds: 630, spreadSeconds: 31.5, samples: 4 },
  });
});

test('the deployment comes from the job’s own record when the orchestration does not know it; absent = the endpoint default', async () => {
  const d = await deps();
  for (const s of [100, 110, 120]) await job(d, { ago: 60, seconds: s, rows: 10 }); // endpoint default
  for (const s of [900, 910, 920]) await job(d, { ago: 60, seconds: s, rows: 10, deployment: 'blue' });
  const own = await job(d, { ago: 1, seconds: 1, rows: 10, deployment: 'blue', status: 'Submitted' });
  const plain = await job(d, { ago: 1, seconds: 1, rows: 10, status: 'Submitted' });
  expect(await estimateDuration({ jobId: own, rows: 10 }, d)).toMatchObject({ estimate: { seconds: 910 } });
  expect(await estimateDuration({ jobId: plain, rows: 10 }, d)).toMatchObject({ estimate: { seconds: 110 } });
});

test('too little history: no estimate (the plain schedule)', async () => {
  const d = await deps();
  await job(d, { ago: 60, seconds: 100, rows: 10 });
  expect(await estimateDuration({ jobId: 'jx', rows: 10 }, d)).toEqual({ ok: true });
});

test('one read serves a burst: the history is reused for a minute', async () => {
  const d = await deps();
  for (const s of [100, 100, 100]) await job(d, { ago: 60, seconds: s, rows: 10 });
  expect(await estimateDuration({ jobId: 'jx', rows: 10 }, d)).toMatchObject({ estimate: { seconds: 100 } });
  for (const s of [500, 500, 500, 500]) await job(d, { ago: 30, seconds: s, rows: 10 });
  expect(await estimateDuration({ jobId: 'jx', rows: 10 }, d)).toMatchObject({ estimate: { seconds: 100 } });
  d.now = () => new Date(now.getTime() + 61_000); // the same Deps (the same cache), a minute later

  expect(await estimateDuration({ jobId: 'jx', rows: 10 }, d)).toMatchObject({ estimate: { seconds: 500 } });
});

test('a storage failure is answered as permanent: the orchestrator goes on without an estimate, no retries', async () => {
  const d = await testDeps({ JOBS_TABLE: uniqueName('missing') });
  await d.jobs.client.deleteTable();
  const err = (await estimateDuration({ jobId: 'jx', rows: 10, deployment: 'blue' }, d).catch(
    (e: unknown) => e,
  )) as PipelineError;
  expect(err).toBeInstanceOf(PipelineError);
  expect(err.retryable).toBe(false);
  expect(err.message).toMatch(/^No duration estimate: /);
});
