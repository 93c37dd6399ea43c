import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { loadModel, predict } from '../../dev/model/predict';
import { download, jobForBlob, startStack, waitJob, type Stack } from './stack';

/**
 * Every row accounted for, and a file's own deployment, through the whole local stack: the app, the
 * local Functions runtime and the AML emulator with deployments that fail a share of mini-batches.
 */
let stack: Stack;
const sample = readFileSync(join(__dirname, '..', '..', 'samples', 'diamonds-sample.csv'), 'utf8');
const [header, ...lines] = sample.trimEnd().split(/\r?\n/);
const tenRows = `${header}\n${lines.slice(0, 10).join('\n')}\n`;

interface JobRec {
  jobId: string;
  status: string;
  rowCount?: number;
  rowsScored?: number;
  rowsFailed?: number;
  outputBlob?: string;
  errorsBlob?: string;
  deployment?: string;
  amlJobName?: string;
  warnings?: string[];
  error?: { code: string; message: string; retryable: boolean };
}
const record = async (jobId: string): Promise<JobRec> =>
  (await (await fetch(`${stack.api}/jobs/${jobId}`)).json()) as JobRec;

beforeAll(async () => {
  stack = await startStack(
    {},
    {
      emulatorDeployments: {
        // Mini-batches of 3 rows, every second one fails: of 10 rows, 3-5 and 9 get no prediction.
        flaky: { model: 'diamond-v2', rowsPerMiniBatch: 3, failMiniBatchRate: 0.5 },
        broken: { model: 'diamond-v2', failMiniBatchRate: 1 },
      },
    },
  );
}, 90_000);
afterAll(async () => stack?.stop());

test('a deployment that fails a share of mini-batches: Succeeded with a warning, an errors file with the right lines, correct counts', async () => {
  // The deployment is named in the blob's metadata, as Storage Explorer would set it.
  await stack.inbox
    .getBlockBlobClient('rows/flaky.csv')
    .upload(tenRows, Buffer.byteLength(tenRows), { metadata: { deployment: 'flaky' } });
  const job = await jobForBlob(stack, 'rows/flaky.csv');
  const rec = await record(job.jobId);
  expect(rec).toMatchObject({
    status: 'Succeeded',
    deployment: 'flaky',
    rowCount: 10,
    rowsScored: 6,
    rowsFailed: 4,
    outputBlob: `${stack.env.OUTBOX_CONTAINER}/rows/flaky_predictions.csv`,
    errorsBlob: `${stack.env.OUTBOX_CONTAINER}/rows/flaky_errors.csv`,
  });
  expect(rec.warnings).toEqual([expect.stringMatching(/^4 of 10 rows got no prediction/)]);
  expect(stack.emulator.jobs().find((j) => j.name === rec.amlJobName)?.deployment).toBe('flaky');

  const input = parse(tenRows, { columns: true }) as Record<string, string>[];
  const scored = parse(await download(stack.outbox, 'rows/flaky_predictions.csv'), {
    columns: true,
  }) as Record<string, string>[];
  expect(scored.map(({ prediction: _p, ...rest }) => rest)).toEqual([0, 1, 2, 6, 7, 8].map((i) => input[i]));
  // Rows 3-5 and 9 are input lines 5-7 and 11 (the header is line 1).
  const errorsCsv = await download(stack.outbox, 'rows/flaky_errors.csv');
  const failed = parse(errorsCsv, { columns: true }) as Record<string, string>[];
  expect(failed.map((r) => Number(r.input_line))).toEqual([5, 6, 7, 11]);
  expect(failed.map(({ input_line: _l, reason: _r, ...rest }) => rest)).toEqual(
    [3, 4, 5, 9].map((i) => input[i]),
  );
  expect(failed.every((r) => /No prediction/.test(r.reason!))).toBe(true);
  // The same file through the API.
  const res = await fetch(`${stack.api}/jobs/${job.jobId}/errors`);
  expect(res.status).toBe(200);
  expect(await res.text()).toBe(errorsCsv);
}, 90_000);

test('?deployment= on POST /api/jobs: the file is scored by that deployment', async () => {
  const res = await fetch(`${stack.api}/jobs?name=rows/v1.csv&deployment=diamond-v1`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/csv' },
    body: tenRows,
  });
  expect(res.status).toBe(202);
  const { jobId } = (await res.json()) as { jobId: string };
  await waitJob(stack, jobId);
  const rec = await record(jobId);
  expect(rec).toMatchObject({ status: 'Succeeded', deployment: 'diamond-v1', rowsScored: 10, rowsFailed: 0 });
  expect(rec.errorsBlob).toBeUndefined();
  expect(stack.emulator.jobs().find((j) => j.name === rec.amlJobName)?.deployment).toBe('diamond-v1');
  const out = parse(await (await fetch(`${stack.api}/jobs/${jobId}/predictions`)).text(), {
    columns: true,
  }) as Record<string, string>[];
  const v1 = loadModel('diamond-v1');
  const v2 = loadModel('diamond-v2');
  expect(out.map((r) => r.prediction)).toEqual(out.map((r) => predict(v1, r).toFixed(2)));
  expect(out.map((r) => r.prediction)).not.toEqual(out.map((r) => predict(v2, r).toFixed(2)));
  expect((await fetch(`${stack.api}/jobs/${jobId}/errors`)).status).toBe(404);
}, 90_000);

test('every row failing: Failed (AllRowsFailed, not retryable), every row in the errors file', async () => {
  const res = await fetch(`${stack.api}/jobs?name=rows/broken.csv&deployment=broken`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/csv' },
    body: tenRows,
  });
  const { jobId } = (await res.json()) as { jobId: string };
  await waitJob(stack, jobId);
  const rec = await record(jobId);
  expect(rec).toMatchObject({
    status: 'Failed',
    deployment: 'broken',
    rowsScored: 0,
    rowsFailed: 10,
    error: { code: 'AllRowsFailed', retryable: false },
  });
  expect(rec.outputBlob).toBeUndefined();
  const failed = parse(await download(stack.outbox, rec.errorsBlob!.replace(/^[^/]+\//, '')), {
    columns: true,
  }) as Record<string, string>[];
  expect(failed.map((r) => Number(r.input_line))).toEqual(Array.from({ length: 10 }, (_, i) => i + 2));
  expect((await fetch(`${stack.api}/jobs/${jobId}/predictions`)).status).toBe(409);
}, 90_000);

test('an invalid deployment in the blob metadata: Rejected with DeploymentInvalid; nothing sent to AML', async () => {
  const before = stack.emulator.jobs().length;
  await stack.inbox
    .getBlockBlobClient('rows/bad-dep.csv')
    .upload(tenRows, Buffer.byteLength(tenRows), { metadata: { deployment: 'no_such' } });
  const job = await jobForBlob(stack, 'rows/bad-dep.csv');
  expect(job).toMatchObject({ status: 'Rejected', error: { code: 'DeploymentInvalid' } });
  expect(stack.emulator.jobs()).toHaveLength(before);
}, 90_000);
