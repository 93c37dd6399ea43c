import { Readable } from 'node:stream';
import type { Deps } from '../../../src/app/deps';
import { publishPredictions } from '../../../src/activities/publishPredictions';
import { recordOutcome } from '../../../src/activities/recordOutcome';
import { validateAndStage } from '../../../src/activities/validateAndStage';
import type { Orchestrations } from '../../../src/adapters/orchestrations';
import { startJob } from '../../../src/handlers/startJob';
import type { ScoreJobInput } from '../../../src/orchestration/contracts';
import { testDeps } from '../../support/deps';

let d: Deps;
const started: ScoreJobInput[] = [];
/** The orchestration edge, which cannot run here without a host: a record of what was started. */
const orch: Orchestrations = {
  state: async (id) => (started.some((s) => s.jobId === id) ? 'active' : 'none'),
  start: async (_id, input) => {
    started.push(input);
  },
  requestCancel: async () => undefined,
  startBatch: async () => undefined,
  raise: async () => undefined,
};

async function drop(name: string, body: string | Buffer) {
  await d.data.upload(d.settings.inboxContainer, name, Readable.from([Buffer.from(body)]));
  return startJob(d, orch, { container: d.settings.inboxContainer, name });
}

async function readBytes(container: string, name: string, store = d.data): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.openRead(container, name)) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}
const read = async (container: string, name: string, store = d.data): Promise<string> =>
  (await readBytes(container, name, store)).toString('utf8');

beforeEach(async () => {
  d = await testDeps();
  started.length = 0;
});

test('a blob delivered twice is one job; a new upload of the same name is a new job', async () => {
  const a = await drop('same.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n');
  const again = await startJob(d, orch, { container: d.settings.inboxContainer, name: 'same.csv' });
  expect(again).toMatchObject({ jobId: a.jobId, started: false });
  const b = await drop('same.csv', 'carat,cut,color,clarity\n0.4,Ideal,E,SI1\n');
  expect(b.jobId).not.toBe(a.jobId);
  expect(started.map((s) => s.jobId)).toEqual([a.jobId, b.jobId]);
});

test('a finished job is never started again, even when Durable has forgotten the instance', async () => {
  const a = await drop('done.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n');
  await d.jobs.transition(a.jobId, 'Succeeded', {}, new Date());
  started.length = 0; // as if the instance history were purged
  expect(await startJob(d, orch, { container: d.settings.inboxContainer, name: 'done.csv' })).toMatchObject({
    started: false,
  });
  expect(started).toHaveLength(0);
});

test('valid file: validated, counted and staged into the datastore at a per-job path', async () => {
  const csv =
    '\uFEFFcarat,cut,color,clarity,price\r\n0.3,Ideal,E,SI1,500\r\n"1.01","Very Good",G,VS2,"5,000"\r\n';
  const job = await drop('deep/folder/My File #1.csv', csv);
  const source = started[0]!.source;
  const r = await validateAndStage({ jobId: job.jobId, source }, d);
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  expect(r.staged).toMatchObject({ rows: 2, bytes: Buffer.byteLength(csv) });
  // SPLIT_ROWS (default 50,000) stages the file as it is read: one part, byte for byte.
  expect(r.staged.inputPath).toBe(`batch-scoring/${job.jobId}/input/part-00000.csv`);
  expect(r.staged.inputUri).toBe(
    `azureml://datastores/workspaceblobstore/paths/batch-scoring/${job.jobId}/input/part-00000.csv`,
  );
  expect(await read(d.settings.aml.datastoreContainer, r.staged.inputPath, d.datastore)).toBe(csv);
  expect(await d.jobs.get(job.jobId)).toMatchObject({
    status: 'Validating',
    rowCount: 2,
    stagedBy: 'streamed',
  });
  // Repeating the activity (a retry) lands the same state.
  expect(await validateAndStage({ jobId: job.jobId, source }, d)).toEqual(r);
});

test.each([
  ['empty.csv', '', 'InputEmpty'],
  ['header-only.csv', 'carat,cut,color,clarity\n', 'InputHeaderOnly'],
  ['no-carat.csv', 'cut,color,clarity\nIdeal,E,SI1\n', 'InputMissingColumns'],
  ['bad-values.csv', 'carat,cut,color,clarity\nabc,Ideal,E,SI1\n0.5,Perfect,E,SI1\n', 'InputInvalidValues'],
  ['junk.csv', Buffer.from([0x00, 0xff, 0xfe, 0x10, 0x00, 0x9c, 0x00, 0x00, 0x01]), 'InputNotText'],
])('%s is rejected, quarantined with a report, and kept in the inbox', async (name, body, code) => {
  const job = await drop(name, body);
  const r = await validateAndStage({ jobId: job.jobId, source: started[0]!.source }, d);
  expect(r).toMatchObject({
    ok: false,
    error: { code, retryable: false },
    rejected: { quarantineBlob: `${d.settings.quarantineContainer}/${name}` },
  });
  // The orchestrator records the outcome from the answer; the activity ends nothing itself (and a
  // small file's record is written once, at the end of validation: a rejected one is still Received).
  expect(await d.jobs.get(job.jobId)).toMatchObject({ status: 'Received' });
  const report = JSON.parse(await read(d.settings.quarantineContainer, `${name}.error.json`));
  expect(report).toMatchObject({ jobId: job.jobId, error: { code } });
  expect(await readBytes(d.settings.quarantineContainer, name)).toEqual(Buffer.from(body));
  expect(await d.data.exists(d.settings.inboxContainer, name)).toBe(true);
});

test('wrong values are reported with line numbers, the first N and a count', async () => {
  const rows = Array.from({ length: 50 }, (_, i) => `${i % 2 ? 'x' : '0.5'},Ideal,E,SI1`).join('\n');
  const d2 = await testDeps({ MAX_REPORTED_PROBLEMS: '5' });
  d = d2;
  const job = await drop('many.csv', `carat,cut,color,clarity\n${rows}\n`);
  const r = await validateAndStage({ jobId: job.jobId, source: started[0]!.source }, d);
  if (r.ok || !r.rejected) throw new Error('expected a rejection');
  await recordOutcome({ jobId: job.jobId, status: 'Rejected', error: r.error, ...r.rejected }, d);
  const rec = await d.jobs.get(job.jobId);
  expect(rec).toMatchObject({
    status: 'Rejected',
    quarantineBlob: `${d.settings.quarantineContainer}/many.csv`,
  });
  expect(rec?.error?.problemCount).toBe(25);
  expect(rec?.error?.problems).toHaveLength(5);
  expect(rec?.error?.problems?.[0]).toMatchObject({ line: 3, column: 'carat' });
});

test('over the size limit is rejected without reading the file', async () => {
  d = await testDeps({ MAX_INPUT_BYTES: '10' });
  const job = await drop('big.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n');
  const r = await validateAndStage({ jobId: job.jobId, source: started[0]!.source }, d);
  expect(r).toMatchObject({
    ok: false,
    error: { code: 'InputTooLarge', message: expect.stringContaining('MAX_INPUT_BYTES') },
  });
});

test('a blob overwritten after it arrived: this version is rejected as changed, nothing is lost', async () => {
  const job = await drop('moving.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n');
  await d.data.upload(
    d.settings.inboxContainer,
    'moving.csv',
    Readable.from([Buffer.from('carat,cut,color,clarity\n0.9,Ideal,E,SI1\n')]),
  );
  const r = await validateAndStage({ jobId: job.jobId, source: started[0]!.source }, d);
  expect(r).toEqual({ ok: false, error: expect.objectContaining({ code: 'InputChanged' }), rejected: {} });
});

test('blob metadata `deployment` picks the deployment; an invalid one is Rejected (DeploymentInvalid)', async () => {
  const body = Readable.from([Buffer.from('carat,cut,color,clarity\n0.3,Ideal,E,SI1\n')]);
  await d.data.upload(d.settings.inboxContainer, 'meta.csv', body, {
    metadata: { deployment: 'diamond-v1' },
  });
  const good = await startJob(d, orch, { container: d.settings.inboxContainer, name: 'meta.csv' });
  expect(await validateAndStage({ jobId: good.jobId, source: started[0]!.source }, d)).toMatchObject({
    ok: true,
    deployment: 'diamond-v1',
  });
  expect(await d.jobs.get(good.jobId)).toMatchObject({ deployment: 'diamond-v1' });
  // The API's choice wins over the metadata.
  expect(
    await validateAndStage({ jobId: good.jobId, source: started[0]!.source, deployment: 'other-dep' }, d),
  ).toMatchObject({ ok: true, deployment: 'other-dep' });

  const bad = Readable.from([Buffer.from('carat,cut,color,clarity\n0.3,Ideal,E,SI1\n')]);
  await d.data.upload(d.settings.inboxContainer, 'badmeta.csv', bad, {
    metadata: { deployment: 'no_such!' },
  });
  const job = await startJob(d, orch, { container: d.settings.inboxContainer, name: 'badmeta.csv' });
  const v = await validateAndStage({ jobId: job.jobId, source: started[1]!.source }, d);
  expect(v).toMatchObject({
    ok: false,
    error: { code: 'DeploymentInvalid', retryable: false },
    rejected: { quarantineBlob: expect.any(String) },
  });
  expect(!v.ok && v.error.message).toMatch(
    /metadata `deployment` "no_such!" is not a valid Azure ML deployment name/,
  );
});

test('a datastore container that does not exist is our configuration: thrown, named, never quarantined', async () => {
  d = await testDeps();
  d = {
    ...d,
    settings: { ...d.settings, aml: { ...d.settings.aml, datastoreContainer: 'no-such-datastore' } },
  };
  const job = await drop('good.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n');
  await expect(validateAndStage({ jobId: job.jobId, source: started[0]!.source }, d)).rejects.toMatchObject({
    code: 'StorageContainerMissing',
    retryable: false,
    message: expect.stringContaining('AML_DATASTORE_CONTAINER'),
  });
  expect(await d.data.exists(d.settings.quarantineContainer, 'good.csv')).toBe(false);
  expect(await d.jobs.get(job.jobId)).toMatchObject({ status: 'Received' });
});

test('publish joins predictions row by row into outbox/<name>_predictions.csv, repeatably', async () => {
  const csv = 'carat,cut,color,clarity,note\n0.3,Ideal,E,SI1,"multi\nline"\n1.2,Good,J,I1,plain\n';
  const job = await drop('in/sales.csv', csv);
  const v = await validateAndStage({ jobId: job.jobId, source: started[0]!.source }, d);
  if (!v.ok) throw new Error('validation failed');
  await d.datastore.putText(
    d.settings.aml.datastoreContainer,
    v.staged.outputPath,
    '0,612.5,sales.csv\n1,3333.25,sales.csv\n',
    'text/csv',
  );
  const input = { jobId: job.jobId, source: started[0]!.source, staged: v.staged };
  const p = await publishPredictions(input, d);
  expect(p).toEqual({
    ok: true,
    outputBlob: `${d.settings.outboxContainer}/in/sales_predictions.csv`,
    rows: 2,
    rowsFailed: 0,
  });
  expect(await d.jobs.get(job.jobId)).toMatchObject({ status: 'Publishing' });
  if (p.ok) await recordOutcome({ jobId: job.jobId, status: 'Succeeded', outputBlob: p.outputBlob }, d);
  const out = await read(d.settings.outboxContainer, 'in/sales_predictions.csv');
  expect(out).toBe(
    'carat,cut,color,clarity,note,prediction\n0.3,Ideal,E,SI1,"multi\nline",612.5\n1.2,Good,J,I1,plain,3333.25\n',
  );
  expect(await d.jobs.get(job.jobId)).toMatchObject({
    status: 'Succeeded',
    outputBlob: p.ok ? p.outputBlob : '',
  });
  expect(await publishPredictions(input, d)).toEqual(p);
});

test('publish with rows AML skipped: scored rows to the predictions, the rest to <name>_errors.csv', async () => {
  const csv = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n0.4,Ideal,E,SI1\n\n0.5,Good,F,VS2\n0.6,Fair,G,VS1\n';
  const job = await drop('in/part.csv', csv);
  const v = await validateAndStage({ jobId: job.jobId, source: started[0]!.source }, d);
  if (!v.ok) throw new Error('validation failed');
  // Rows 1 and 2 (input lines 3 and 5; line 4 is blank) came back without a prediction.
  await d.datastore.putText(
    d.settings.aml.datastoreContainer,
    v.staged.outputPath,
    '0,1.5,part.csv\n3,2.5,part.csv\n',
    'text/csv',
  );
  // A stale errors file from an earlier version must not survive a clean publish (checked below).
  const input = { jobId: job.jobId, source: started[0]!.source, staged: v.staged };
  const p = await publishPredictions(input, d);
  expect(p).toEqual({
    ok: true,
    outputBlob: `${d.settings.outboxContainer}/in/part_predictions.csv`,
    errorsBlob: `${d.settings.outboxContainer}/in/part_errors.csv`,
    rows: 2,
    rowsFailed: 2,
  });
  expect(await read(d.settings.outboxContainer, 'in/part_predictions.csv')).toBe(
    'carat,cut,color,clarity,prediction\n0.3,Ideal,E,SI1,1.5\n0.6,Fair,G,VS1,2.5\n',
  );
  const errors = await read(d.settings.outboxContainer, 'in/part_errors.csv');
  const lines = errors.trimEnd().split('\n');
  expect(lines[0]).toBe('input_line,reason,carat,cut,color,clarity');
  expect(lines.slice(1).map((l) => l.replace(/,"?No prediction.*?logs\."?,/, ',<reason>,'))).toEqual([
    '3,<reason>,0.4,Ideal,E,SI1',
    '5,<reason>,0.5,Good,F,VS2',
  ]);
  expect(await publishPredictions(input, d)).toEqual(p);

  // The same name again, every row scored: the old errors file goes.
  const next = await drop('in/part.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n');
  const v2 = await validateAndStage({ jobId: next.jobId, source: started[1]!.source }, d);
  if (!v2.ok) throw new Error('validation failed');
  await d.datastore.putText(
    d.settings.aml.datastoreContainer,
    v2.staged.outputPath,
    '0,9,part.csv\n',
    'text/csv',
  );
  expect(
    await publishPredictions({ jobId: next.jobId, source: started[1]!.source, staged: v2.staged }, d),
  ).toMatchObject({ rows: 1, rowsFailed: 0 });
  expect(await d.data.exists(d.settings.outboxContainer, 'in/part_errors.csv')).toBe(false);
});

test('publish with no row scored leaves only the errors file', async () => {
  const job = await drop('allfail.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n0.4,Ideal,E,SI1\n');
  const v = await validateAndStage({ jobId: job.jobId, source: started[0]!.source }, d);
  if (!v.ok) throw new Error('validation failed');
  await d.datastore.putText(d.settings.aml.datastoreContainer, v.staged.outputPath, '', 'text/csv');
  const p = await publishPredictions({ jobId: job.jobId, source: started[0]!.source, staged: v.staged }, d);
  expect(p).toEqual({
    ok: true,
    errorsBlob: `${d.settings.outboxContainer}/allfail_errors.csv`,
    rows: 0,
    rowsFailed: 2,
  });
  expect(await d.data.exists(d.settings.outboxContainer, 'allfail_predictions.csv')).toBe(false);
  expect((await read(d.settings.outboxContainer, 'allfail_errors.csv')).split('\n')).toHaveLength(4);
});

test('publish with predictions for rows the input does not have fails the job clearly', async () => {
  const job = await drop('short.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n');
  const v = await validateAndStage({ jobId: job.jobId, source: started[0]!.source }, d);
  if (!v.ok) throw new Error('validation failed');
  await d.datastore.putText(
    d.settings.aml.datastoreContainer,
    v.staged.outputPath,
    '0,1.5,short.csv\n1,1.5,short.csv\n',
    'text/csv',
  );
  await expect(
    publishPredictions({ jobId: job.jobId, source: started[0]!.source, staged: v.staged }, d),
  ).rejects.toMatchObject({ code: 'PredictionsInvalid', retryable: false });
});

test('AML completing without a predictions file fails the job as PredictionsInvalid, not as an input problem', async () => {
  const job = await drop('none.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n');
  const v = await validateAndStage({ jobId: job.jobId, source: started[0]!.source }, d);
  if (!v.ok) throw new Error('validation failed');
  await expect(
    publishPredictions({ jobId: job.jobId, source: started[0]!.source, staged: v.staged }, d),
  ).rejects.toMatchObject({
    code: 'PredictionsInvalid',
    retryable: false,
    message: expect.stringContaining('wrote no predictions'),
  });
});
