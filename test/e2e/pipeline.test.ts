import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { eventually } from '../support/eventually';
import { download, E2E_RUNTIME, jobForBlob, listJobs, startStack, waitJob, type Stack } from './stack';

/** The mission, end to end: files in, predictions and records out, through the local stack. */
let stack: Stack;
const sample = readFileSync(join(__dirname, '..', '..', 'samples', 'diamonds-sample.csv'));

beforeAll(async () => {
  stack = await startStack();
}, 90_000);
afterAll(async () => stack?.stop());

test('a real diamonds CSV dropped in the inbox ends in the outbox, same rows in order, every column plus a numeric prediction', async () => {
  await stack.inbox.getBlockBlobClient('diamonds/real.csv').uploadData(sample);
  const job = await jobForBlob(stack, 'diamonds/real.csv');
  expect(job).toMatchObject({
    status: 'Succeeded',
    rowCount: 200,
    outputBlob: `${stack.env.OUTBOX_CONTAINER}/diamonds/real_predictions.csv`,
  });

  const input = parse(sample, { columns: true }) as Record<string, string>[];
  const out = parse(await download(stack.outbox, 'diamonds/real_predictions.csv'), {
    columns: true,
  }) as Record<string, string>[];
  expect(out).toHaveLength(input.length);
  out.forEach((row, i) => {
    const { prediction, ...rest } = row;
    expect(rest).toEqual(input[i]);
    expect(Number.isFinite(Number(prediction))).toBe(true);
    expect(Number(prediction)).toBeGreaterThan(0);
  });
  // An honest model: predictions track the real prices.
  const errs = out.map(
    (r, i) => Math.abs(Number(r.prediction) - Number(input[i]!.price)) / Number(input[i]!.price),
  );
  expect(errs.reduce((a, b) => a + b, 0) / errs.length).toBeLessThan(0.2);

  // What `npm start` printed for a person to follow (it reads the records once a second).
  const printed = (): string => stack.output.filter((l) => l.includes('diamonds/real.csv')).join('\n');
  if (E2E_RUNTIME === 'local') {
    await eventually(() => (/Succeeded/.test(printed()) ? true : undefined), {
      timeoutMs: 5000,
      what: 'progress',
    });
    expect(printed()).toMatch(/received/);
    expect(printed()).toMatch(/Succeeded → .*diamonds\/real_predictions\.csv/);
  }
}, 90_000);

test('POST /api/jobs → 202 → GET until Succeeded → GET predictions returns the CSV', async () => {
  const res = await fetch(`${stack.api}/jobs?name=api/upload.csv`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/csv' },
    body: sample,
  });
  expect(res.status).toBe(202);
  const body = (await res.json()) as { jobId: string; statusUrl: string };
  expect(res.headers.get('location')).toBe(body.statusUrl);
  const job = await waitJob(stack, body.jobId);
  expect(job.status).toBe('Succeeded');
  const pred = await fetch(`${stack.api}/jobs/${body.jobId}/predictions`);
  expect(pred.status).toBe(200);
  expect(pred.headers.get('content-type')).toMatch(/text\/csv/);
  const rows = parse(await pred.text(), { columns: true }) as Record<string, string>[];
  expect(rows).toHaveLength(200);
  expect(Object.keys(rows[0]!)).toEqual([
    'carat',
    'cut',
    'color',
    'clarity',
    'depth',
    'table',
    'price',
    'x',
    'y',
    'z',
    'prediction',
  ]);
  // The blob trigger saw the uploaded file too, and found its job already there (the app logs it): still one job.
  await eventually(
    () => (stack.output.some((l) => l.includes(body.jobId) && /already exists/.test(l)) ? true : undefined),
    { timeoutMs: 30_000, what: `the blob trigger's delivery of api/upload.csv (job ${body.jobId})` },
  );
  expect((await listJobs(stack)).filter((j) => j.jobId === body.jobId)).toHaveLength(1);
}, 90_000);

test('one blob version is one job, however often it is delivered; new content is a new job', async () => {
  const csv = 'carat,cut,color,clarity\n0.5,Ideal,F,VS1\n';
  await stack.inbox.getBlockBlobClient('dup.csv').upload(csv, csv.length);
  const first = await jobForBlob(stack, 'dup.csv');
  // A second delivery of the same version, through the API this time.
  const again = await fetch(`${stack.api}/jobs`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ blob: 'dup.csv' }),
  });
  expect(again.status).toBe(202);
  expect(await again.json()).toMatchObject({ jobId: first.jobId, started: false, status: 'Succeeded' });
  expect((await listJobs(stack)).filter((j) => j.sourceBlob === 'dup.csv')).toHaveLength(1);
  expect(stack.emulator.jobs().filter((j) => j.inputUri.includes(first.jobId))).toHaveLength(1);

  const csv2 = 'carat,cut,color,clarity\n0.9,Good,H,SI2\n';
  await stack.inbox.getBlockBlobClient('dup.csv').upload(csv2, csv2.length);
  const jobs = await eventually(
    async () => {
      const js = (await listJobs(stack)).filter((j) => j.sourceBlob === 'dup.csv');
      return js.length >= 2 && js.every((j) => j.status === 'Succeeded') ? js : undefined;
    },
    { timeoutMs: 60_000, everyMs: 300, what: 'a second job for the new content of dup.csv' },
  );
  expect(jobs.map((j) => j.status)).toEqual(['Succeeded', 'Succeeded']);
  expect(await download(stack.outbox, 'dup_predictions.csv')).toMatch(
    /^carat,cut,color,clarity,prediction\n0\.9,Good,H,SI2,[\d.]+\n$/,
  );
}, 90_000);

describe('malformed inputs are Rejected with specific errors and a quarantine copy; odd-but-valid ones succeed', () => {
  const cases: [string, string | Buffer, string, RegExp | null][] = [
    ['no-header.csv', '0.3,Ideal,E,SI1\n0.4,Good,F,VS2\n', 'InputMissingColumns', /carat/],
    ['no-carat.csv', 'cut,color,clarity\nIdeal,E,SI1\n', 'InputMissingColumns', /carat/],
    [
      'bad-values.csv',
      'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n-1,Ideal,E,SI1\n0.3,Superb,E,SI1\n',
      'InputInvalidValues',
      /line 3/,
    ],
    ['empty.csv', '', 'InputEmpty', null],
    [
      'junk.bin.csv',
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0xff, 0xfe]),
      'InputNotText',
      null,
    ],
    ['header-only.csv', 'carat,cut,color,clarity\r\n', 'InputHeaderOnly', null],
  ];
  test.each(cases)(
    '%s is Rejected',
    async (name, body, code, message) => {
      await stack.inbox.getBlockBlobClient(`bad/${name}`).uploadData(Buffer.from(body));
      const job = await jobForBlob(stack, `bad/${name}`);
      expect(job).toMatchObject({ status: 'Rejected', error: { code } });
      if (message) expect(job.error!.message).toMatch(message);
      expect(job.quarantineBlob).toBe(`${stack.env.QUARANTINE_CONTAINER}/bad/${name}`);
      const report = JSON.parse(await download(stack.quarantine, `bad/${name}.error.json`)) as {
        error: { code: string };
      };
      expect(report.error.code).toBe(code);
      expect(await stack.inbox.getBlobClient(`bad/${name}`).exists()).toBe(true); // never deleted
    },
    60_000,
  );

  test('quoted fields with commas and newlines, CRLF and a BOM are valid', async () => {
    const csv =
      '\uFEFFcarat,cut,color,clarity,note\r\n0.3,Ideal,E,SI1,"first, with comma"\r\n"0.41",Very Good,G,VS2,"two\r\nlines"\r\n';
    await stack.inbox.getBlockBlobClient('odd/quoted.csv').uploadData(Buffer.from(csv));
    const job = await jobForBlob(stack, 'odd/quoted.csv');
    expect(job).toMatchObject({ status: 'Succeeded', rowCount: 2 });
    const out = parse(await download(stack.outbox, 'odd/quoted_predictions.csv'), {
      columns: true,
      bom: true,
    }) as Record<string, string>[];
    expect(out.map((r) => r.note)).toEqual(['first, with comma', 'two\r\nlines']);
    expect(out.every((r) => Number(r.prediction) > 0)).toBe(true);
  }, 60_000);
});
