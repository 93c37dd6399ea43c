import { Readable } from 'node:stream';
import { startAmlEmulator, type AmlEmulator } from '../../../dev/aml-emulator';
import { cancelAmlJob } from '../../../src/activities/cancelAmlJob';
import { checkAmlJob } from '../../../src/activities/checkAmlJob';
import type { Deps } from '../../../src/app/deps';
import { submitAmlJob } from '../../../src/activities/submitAmlJob';
import { validateAndStage } from '../../../src/activities/validateAndStage';
import type { Orchestrations } from '../../../src/adapters/orchestrations';
import { startJob } from '../../../src/handlers/startJob';
import type { StagedFile } from '../../../src/orchestration/contracts';
import { testDeps } from '../../support/deps';
import { testConnectionString, uniqueName } from '../../support/storage';

let emu: AmlEmulator;
let datastore: string;
const orch: Orchestrations = {
  state: async () => 'none',
  start: async () => undefined,
  requestCancel: async () => undefined,
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

test('checks record AML status changes; cancel reaches the management plane', async () => {
  const d = await deps();
  const { jobId, staged } = await stagedJob(d, 'watch.csv');
  const sub = await submitAmlJob({ jobId, staged }, d);
  if (!sub.ok) throw new Error('submit failed');
  let status = '';
  for (let i = 0; i < 100 && status !== 'Completed'; i++) {
    const c = await checkAmlJob({ jobId, amlJobName: sub.amlJobName, polls: i + 1 }, d);
    if (!c.ok) throw new Error(JSON.stringify(c.error));
    status = c.amlStatus;
    await new Promise((r) => setTimeout(r, 30));
  }
  expect(await d.jobs.get(jobId)).toMatchObject({ status: 'Running', amlStatus: 'Completed' });

  const other = await stagedJob(d, 'cancel.csv');
  emu.setFaults({ hangInQueued: true });
  try {
    const s2 = await submitAmlJob(other, d);
    if (!s2.ok) throw new Error('submit failed');
    expect(await cancelAmlJob({ jobId: other.jobId, amlJobName: s2.amlJobName }, d)).toEqual({
      ok: true,
      requested: true,
    });
    expect(
      emu
        .jobs()
        .find((j) => j.name === s2.amlJobName)
        ?.history.map((h) => h.status),
    ).toContain('CancelRequested');
  } finally {
    emu.setFaults({ hangInQueued: false });
  }
});

test('a missing role fails the job at once with a message naming the role', async () => {
  const d = await deps({ AML_EMULATOR_TOKEN: 'no-role' });
  const { jobId, staged } = await stagedJob(d, 'denied.csv');
  const r = await submitAmlJob({ jobId, staged }, d);
  expect(r).toMatchObject({ ok: false, error: { code: 'AmlAuth' } });
  expect(await d.jobs.get(jobId)).toMatchObject({
    status: 'Failed',
    error: { code: 'AmlAuth', message: expect.stringContaining('AzureML Data Scientist') },
  });
});
