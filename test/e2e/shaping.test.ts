import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { loadModel, predict } from '../../dev/model/predict';
import { eventually } from '../support/eventually';
import { download, jobForBlob, listJobs, startStack, type JobView, type Stack } from './stack';

const TERMINAL = ['Succeeded', 'Rejected', 'Failed', 'TimedOut', 'Canceled'];

/**
 * Input shaping through the whole local stack (app, local runtime, AML emulator with folder inputs):
 * thirty small files dropped at once come back as thirty correct outbox files from a handful of AML
 * jobs, and a large file split into parts comes back as one file in input order.
 */
let stack: Stack;
const sample = readFileSync(join(__dirname, '..', '..', 'samples', 'diamonds-sample.csv'), 'utf8');
const [header, ...lines] = sample.trimEnd().split(/\r?\n/);
const rowsOf = (from: number, n: number): string[] =>
  Array.from({ length: n }, (_, i) => lines[(from + i) % lines.length]!);
const model = loadModel('diamond-v2');

interface Rec extends JobView {
  batchId?: string;
  amlJobName?: string;
  rowsScored?: number;
  rowsFailed?: number;
  parts?: number;
  outputBlob?: string;
}
const record = async (jobId: string): Promise<Rec> =>
  (await (await fetch(`${stack.api}/jobs/${jobId}`)).json()) as Rec;

/** The outbox file must be the input plus the model's prediction, row for row, in input order. */
async function expectScored(name: string, rows: string[]): Promise<void> {
  const out = parse(await download(stack.outbox, name.replace(/\.csv$/, '_predictions.csv')), {
    columns: true,
  }) as Record<string, string>[];
  const input = parse(`${header}\n${rows.join('\n')}\n`, { columns: true }) as Record<string, string>[];
  expect(out.map(({ prediction: _p, ...rest }) => rest)).toEqual(input);
  expect(out.map((r) => r.prediction)).toEqual(input.map((r) => predict(model, r).toFixed(2)));
}

beforeAll(async () => {
  stack = await startStack(
    { BATCH_WINDOW_SECONDS: '15', BATCH_MAX_FILES: '12', SPLIT_ROWS: '40' },
    // Two files per mini-batch on three instances: the output comes back out of input order.
    { emulatorDeployments: { 'diamond-v2': { model: 'diamond-v2', miniBatchSize: 2, instanceCount: 3 } } },
  );
}, 90_000);
afterAll(async () => stack?.stop());

test('30 small files dropped at once: 30 correct outbox files from a few AML jobs', async () => {
  const before = stack.emulator.jobs().length;
  // Two files called data.csv in different folders must not collide in a batch's folder.
  const files = Array.from({ length: 30 }, (_, i) => ({
    name: i < 2 ? `shape/f${i}/data.csv` : `shape/small-${i}.csv`,
    rows: rowsOf(i * 7, 3 + (i % 9)),
  }));
  await Promise.all(
    files.map(async (f) => {
      const body = `${header}\n${f.rows.join('\n')}\n`;
      await stack.inbox.getBlockBlobClient(f.name).upload(body, Buffer.byteLength(body));
    }),
  );
  // One listing per round for all thirty (thirty pollers at once would measure the runtime, not the app).
  const jobs = await eventually(
    async () => {
      const all = await listJobs(stack);
      const mine = files.map((f) => all.find((j) => j.sourceBlob === f.name));
      return mine.every((j) => j && TERMINAL.includes(j.status)) ? (mine as JobView[]) : undefined;
    },
    { timeoutMs: 150_000, everyMs: 500, what: 'all 30 jobs to end' },
  );
  expect(jobs.map((j) => j.status)).toEqual(files.map(() => 'Succeeded'));
  for (const f of files) await expectScored(f.name, f.rows);

  const recs = await Promise.all(jobs.map((j) => record(j.jobId)));
  const batches = new Set(recs.map((r) => r.batchId));
  expect(batches.has(undefined)).toBe(false);
  // 30 files, at most 12 a batch: at least 3 batches; more only if validating them outlasted a window.
  expect(batches.size).toBeGreaterThanOrEqual(3);
  expect(batches.size).toBeLessThanOrEqual(5);
  const amlJobs = stack.emulator.jobs().slice(before);
  expect(amlJobs).toHaveLength(batches.size);
  expect(recs.every((r, i) => r.rowsScored === files[i]!.rows.length && r.rowsFailed === 0)).toBe(true);

  // Each batch: its AML job, and every member accounted for with its own status.
  for (const id of batches) {
    const res = await fetch(`${stack.api}/batches/${id}`);
    expect(res.status).toBe(200);
    const b = (await res.json()) as {
      status: string;
      amlJobName: string;
      files: { jobId: string; status: string }[];
    };
    expect(b.status).toBe('Succeeded');
    expect(b.files.length).toBeLessThanOrEqual(12);
    expect(b.files.every((m) => m.status === 'Succeeded')).toBe(true);
    expect(recs.filter((r) => r.batchId === id).every((r) => r.amlJobName === b.amlJobName)).toBe(true);
  }
  const members = (
    await Promise.all(
      [...batches].map(
        async (id) =>
          ((await (await fetch(`${stack.api}/batches/${id}`)).json()) as { files: { jobId: string }[] })
            .files,
      ),
    )
  ).flat();
  // No file lost, none in two batches.
  expect(members.map((m) => m.jobId).sort()).toEqual(jobs.map((j) => j.jobId).sort());
}, 180_000);

test('a file of 185 rows with SPLIT_ROWS=40: five parts, one AML job, one outbox file in input order', async () => {
  const before = stack.emulator.jobs().length;
  const rows = rowsOf(3, 185);
  const body = `${header}\r\n${rows.join('\r\n')}\r\n`;
  await stack.inbox.getBlockBlobClient('shape/large.csv').upload(body, Buffer.byteLength(body));
  const job = await jobForBlob(stack, 'shape/large.csv', 120_000);
  const rec = await record(job.jobId);
  expect(rec).toMatchObject({ status: 'Succeeded', parts: 5, rowsScored: 185, rowsFailed: 0 });
  expect(rec.batchId).toBeUndefined();
  const aml = stack.emulator.jobs().slice(before);
  expect(aml).toHaveLength(1);
  expect(aml[0]!.inputUri).toMatch(/\/input\/$/);
  await expectScored('shape/large.csv', rows);
}, 180_000);
