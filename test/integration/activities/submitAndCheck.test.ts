import { Readable } from 'node:stream';
import { startAmlEmulator, type AmlEmulator } from '../../../dev/aml-emulator';
import { cancelAmlJob } from '../../../src/activities/cancelAmlJob';
import { checkAmlJob } from '../../../src/activities/checkAmlJob';
import { recordOutage } from '../../../src/activities/recordOutage';
import { recordOutcome } from '../../../src/activities/recordOutcome';
import type { Deps } from '../../../src/app/deps';
import { submitAmlJob } from '../../../src/activities/submitAmlJob';
import { validateAndStage } from '../../../src/activities/validateAndStage';
import type { Orchestrations } from '../../../src/adapters/orchestrations';
import { startJob } from '../../../src/handlers/startJob';
import type { StagedFile } from '../../../src/orchestration/contracts';
import { testDeps } from '../../support/deps';
import { eventually } from '../../support/eventually';
import { testConnectionString, uniqueName } from '../../support/storage';

let emu: AmlEmulator;
let datastore: string;
const orch: Orchestrations = {
  state: async () => 'none',
  start: async () => undefined,
  requestCancel: async () => undefined,
  startBatch: async () => undefined,
  raise: async () => undefined,
};

beforeAll(async () => {
  datastore = uniqueName('ds');
  emu = await startAmlEmulator({
    port: 0,
    storageConnectionString: testConnectionString(),
    datastores: { workspaceblobstore: datastore },
    timings: {
      notStartedMs: 50,
      queuedMs: 50,
      preparingMs: 50,
      runningMs: 50,
      finalizingMs: 50,
      cancelMs: 50,
    },
    forbiddenToken: 'no-role',
  });
});
afterAll(async () => emu.close());

async function stagedJob(d: Deps, name: string): Promise<{ jobId: string; staged: StagedFile }> {
  const csv = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n';
  await d.data.upload(d.settings.inboxContainer, name, Readable.from([Buffer.from(csv)]));
  const { jobId, record } = await startJob(d, orch, { container: d.settings.inboxContainer, name });
  const v = await validateAndStage(
    { jobId, source: { container: record.sourceContainer, name, etag: `"${record.sourceEtag}"` } },
    d,
  );
  if (!v.ok) throw new Error(JSON.stringify(v.error));
  return { jobId, staged: v.staged };
}

function deps(extra: Record<string, string> = {}): Promise<Deps> {
  return testDeps({
    AML_SCORING_URI: `${emu.url}/jobs`,
    AML_MANAGEMENT_URI: emu.url,
    AML_SUBSCRIPTION_ID: 'sub',
    AML_RESOURCE_GROUP: 'rg',
    AML_WORKSPACE_NAME: 'ws',
    AML_DATASTORE_CONTAINER: datastore,
    ...extra,
  });
}

test('a retried submit finds the saved AML job name and starts no second AML job', async () => {
  const d = await deps();
  const { jobId, staged } = await stagedJob(d, 'once.csv');
  const first = await submitAmlJob({ jobId, staged }, d);
  const again = await submitAmlJob({ jobId, staged }, d);
  expect(first).toMatchObject({ ok: true });
  expect(again).toEqual({ ...first, amlStatus: 'NotStarted' });
  expect(emu.jobs().filter((j) => j.inputUri.includes(jobId))).toHaveLength(1);
  expect(await d.jobs.get(jobId)).toMatchObject({
    status: 'Submitted',
    amlJobName: first.ok ? first.amlJobName : '',
  });
});

test('checks record each AML status once, in order, and end an outage; cancel reaches the management plane', async () => {
  const d = await deps();
  const { jobId, staged } = await stagedJob(d, 'watch.csv');
  const sub = await submitAmlJob({ jobId, staged }, d);
  if (!sub.ok) throw new Error('submit failed');
  const outage = {
    since: new Date().toISOString(),
    lastError: { code: 'AmlUnavailable' as const, message: 'Could not reach AML', retryable: true },
    missedChecks: 1,
  };
  await recordOutage({ jobId, outage }, d);
  expect(await d.jobs.get(jobId)).toMatchObject({ outage });
  let polls = 0;
  await eventually(
    async () => {
      const c = await checkAmlJob({ jobId, amlJobName: sub.amlJobName, polls: ++polls }, d);
      if (!c.ok) throw new Error(JSON.stringify(c.error));
      return c.amlStatus === 'Completed' ? c : undefined;
    },
    { everyMs: 30, what: 'the AML job to complete' },
  );
  const rec = await d.jobs.get(jobId);
  expect(rec).toMatchObject({ status: 'Running', amlStatus: 'Completed' });
  expect(rec).not.toHaveProperty('outage');
  const seen = rec!.amlStatusHistory!.map((h) => h.status);
  expect(seen[0]).toBe('NotStarted');
  expect(seen.at(-1)).toBe('Completed');
  expect(new Set(seen).size).toBe(seen.length); // each status once, however many checks saw it
  const emulated = emu
    .jobs()
    .find((j) => j.name === sub.amlJobName)!
    .history.map((h) => h.status);
  expect(emulated).toEqual(expect.arrayContaining(seen));

  const other = await stagedJob(d, 'cancel.csv');
  emu.setFaults({ hangInQueued: true });
  try {
    const s2 = await submitAmlJob(other, d);
    if (!s2.ok) throw new Error('submit failed');
    expect(await cancelAmlJob({ jobId: other.jobId, amlJobName: s2.amlJobName }, d)).toEqual({
      ok: true,
      confirmed: true,
      amlAnswer: 'AML accepted the cancel (202).',
      // What AML says right after: it passes through CancelRequested to Canceled at its own pace.
      amlStatus: expect.stringMatching(/^(CancelRequested|Canceled)$/),
    });
  } finally {
    emu.setFaults({ hangInQueued: false });
  }
});

test('a cancel without workspace coordinates is not confirmed, and says why', async () => {
  const d = await deps({ AML_SUBSCRIPTION_ID: '', AML_RESOURCE_GROUP: '', AML_WORKSPACE_NAME: '' });
  const { jobId, staged } = await stagedJob(d, 'nocoords.csv');
  const sub = await submitAmlJob({ jobId, staged }, d);
  if (!sub.ok) throw new Error('submit failed');
  expect(await cancelAmlJob({ jobId, amlJobName: sub.amlJobName }, d)).toMatchObject({
    ok: true,
    confirmed: false,
    amlAnswer: expect.stringContaining('AML_WORKSPACE_NAME'),
  });
});

test('a missing role is a permanent error naming the role; the activity writes no outcome', async () => {
  const d = await deps({ AML_EMULATOR_TOKEN: 'no-role' });
  const { jobId, staged } = await stagedJob(d, 'denied.csv');
  await expect(submitAmlJob({ jobId, staged }, d)).rejects.toMatchObject({
    code: 'AmlAuth',
    retryable: false,
    message: expect.stringContaining('AzureML Data Scientist'),
  });
  expect(await d.jobs.get(jobId)).toMatchObject({ status: 'Validating' });
});

test('the outcome the orchestrator decides is written once, with AML status history and the cancel answer', async () => {
  const d = await deps();
  const { jobId, staged } = await stagedJob(d, 'outcome.csv');
  const sub = await submitAmlJob({ jobId, staged }, d);
  if (!sub.ok) throw new Error('submit failed');
  const outcome = {
    jobId,
    status: 'Canceled' as const,
    error: { code: 'Canceled' as const, message: 'Canceled on request.', retryable: true },
    amlStatus: 'Queued' as const,
    cancel: { requestedAt: new Date().toISOString(), confirmed: false, amlAnswer: 'AML answered 404' },
    warnings: ['may still be running'],
  };
  await recordOutcome(outcome, d);
  await recordOutcome(outcome, d); // a retried activity: the same record
  const rec = await d.jobs.get(jobId);
  expect(rec).toMatchObject({
    status: 'Canceled',
    amlStatus: 'Queued',
    error: { ...outcome.error, at: expect.any(String) },
    cancel: outcome.cancel,
    warnings: outcome.warnings,
  });
  expect(rec!.amlStatusHistory!.map((h) => h.status)).toEqual(['NotStarted', 'Queued']);
});
