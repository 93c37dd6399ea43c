import type { EmulatorJob } from '../../../dev/aml-emulator';
import { modelJob } from '../../../dev/aml-emulator/costModel';
import { DEFAULT_COST } from '../../../dev/aml-emulator/deployments';
import { parseOutput, startHarness, type Harness, type JobResource } from './harness';

jest.setTimeout(30_000);

/**
 * UriFolder inputs (round 3 "AML wire"): every .csv directly in the folder, mini-batches of files on the
 * instances of the cost model, output in mini-batch completion order, error_threshold counting files.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    deployments: {
      // 2 instances, 1 file per mini-batch: a long first file finishes after the short ones.
      wide: { model: 'diamond-v2', instanceCount: 2, miniBatchSize: 1, perMiniBatchSeconds: 0 },
      pairs: { model: 'diamond-v2', miniBatchSize: 2, failMiniBatchRate: 0.5 },
      pairsStrict: { model: 'diamond-v2', miniBatchSize: 2, failMiniBatchRate: 0.5, errorThreshold: 1 },
      pairsTolerant: { model: 'diamond-v2', miniBatchSize: 2, failMiniBatchRate: 0.5, errorThreshold: 2 },
    },
  });
});
afterAll(() => h.close());

const rows = (n: number): string =>
  `carat,cut,color,clarity\n${Array.from({ length: n }, (_, i) => `${(0.3 + i / 100).toFixed(2)},Ideal,E,SI1`).join('\n')}\n`;

async function folderJob(
  files: Record<string, string>,
  deployment?: string,
  trailingSlash = true,
): Promise<{ job: JobResource; output: string; listed: EmulatorJob }> {
  const folder = h.path('in');
  for (const [name, text] of Object.entries(files)) await h.upload(`${folder}/${name}`, text);
  const output = h.path('out.csv');
  const res = await h.post(
    {
      properties: {
        InputData: { x: { JobInputType: 'UriFolder', Uri: h.short(trailingSlash ? `${folder}/` : folder) } },
        OutputData: { y: { JobOutputType: 'UriFile', Uri: h.short(output) } },
      },
    },
    deployment ? { 'azureml-model-deployment': deployment } : {},
  );
  expect(res.status).toBe(201);
  const { name } = (await res.json()) as JobResource;
  const job = await h.waitFor(name, ['Completed', 'Failed', 'Canceled']);
  return { job, output, listed: h.emu.jobs().find((j) => j.name === name)! };
}

test('scores every .csv directly in the folder (not nested), rows numbered per file, base names', async () => {
  const { job, output } = await folderJob({
    'b.csv': rows(2),
    'a.csv': rows(3),
    'nested/c.csv': rows(4),
  });
  expect(job.properties.status).toBe('Completed');
  const out = parseOutput(await h.readOutput(output));
  // One instance: mini-batches complete in input (name) order.
  expect(out.map((l) => `${l.fileName}:${l.row}`)).toEqual([
    'a.csv:0',
    'a.csv:1',
    'a.csv:2',
    'b.csv:0',
    'b.csv:1',
  ]);
});

test('the job reports the cost model’s figures in properties.properties, as strings', async () => {
  const { job, listed } = await folderJob({ 'a.csv': rows(30), 'b.csv': rows(20) }, undefined, false);
  const expected = modelJob([{ rows: 30 }, { rows: 20 }], DEFAULT_COST);
  const props = job.properties.properties as Record<string, string>;
  expect(props['emulator.modelledWallSeconds']).toBe(String(expected.wallSeconds));
  expect(props['emulator.modelledNodeSeconds']).toBe(String(expected.nodeSeconds));
  expect(props['emulator.miniBatches']).toBe('1');
  expect(listed.modelled).toMatchObject({ wallSeconds: expected.wallSeconds, miniBatches: 1 });
});

test('on 2 instances the output follows mini-batch completion, not input order; each file contiguous', async () => {
  // a: 2,000 rows on instance 0; b, c, d: 10 rows each, one after another on instance 1.
  const { job, output } = await folderJob(
    { 'a.csv': rows(2000), 'b.csv': rows(10), 'c.csv': rows(10), 'd.csv': rows(10) },
    'wide',
  );
  expect(job.properties.status).toBe('Completed');
  const out = parseOutput(await h.readOutput(output));
  const runs: string[] = [];
  for (const l of out) if (runs[runs.length - 1] !== l.fileName) runs.push(l.fileName);
  expect(runs).toEqual(['b.csv', 'c.csv', 'd.csv', 'a.csv']);
  for (const f of ['a.csv', 'b.csv']) {
    const rowsOf = out.filter((l) => l.fileName === f).map((l) => l.row);
    expect(rowsOf).toEqual(rowsOf.map((_, i) => i));
  }
  expect((job.properties.properties as Record<string, string>)['emulator.miniBatches']).toBe('4');
});

test('a file of another type fails the job with AML’s message; an empty folder fails', async () => {
  const other = await folderJob({ 'a.csv': rows(2), 'notes.txt': 'hello' });
  expect(other.job.properties.status).toBe('Failed');
  expect(other.job.properties.error?.message).toBe(
    "Error processing input file: 'notes.txt'. File type 'txt' is not supported.",
  );
  const empty = await folderJob({ 'nested/only.csv': rows(2) });
  expect(empty.job.properties.status).toBe('Failed');
  expect(empty.job.properties.error?.message).toMatch(/Input folder is empty or missing/);
});

describe('failing mini-batches of files and error_threshold (counts files)', () => {
  const four = { 'a.csv': rows(2), 'b.csv': rows(2), 'c.csv': rows(2), 'd.csv': rows(2) };

  test('rate 0.5 on mini-batches of 2 files: the second pair is missing, the job Completes', async () => {
    const { job, output, listed } = await folderJob(four, 'pairs');
    expect(job.properties.status).toBe('Completed');
    const out = parseOutput(await h.readOutput(output));
    expect([...new Set(out.map((l) => l.fileName))]).toEqual(['a.csv', 'b.csv']);
    expect(listed.rowsScored).toBe(4);
  });

  test('2 failed files are over error_threshold 1: Failed, no output', async () => {
    const { job, output } = await folderJob(four, 'pairsStrict');
    expect(job.properties.status).toBe('Failed');
    expect(job.properties.error?.message).toMatch(/^2 files failed, over error_threshold 1 .*c\.csv, d\.csv/);
    await expect(h.readOutput(output)).rejects.toBeDefined();
  });

  test('2 failed files are within error_threshold 2: Completed', async () => {
    const { job } = await folderJob(four, 'pairsTolerant');
    expect(job.properties.status).toBe('Completed');
  });
});

test('with a model time scale, the statuses follow the cost model’s timeline', async () => {
  // 1 ms per modelled second: start-up 300 s (60 s of it Queued) → 300 ms; finalizing 30 s → 30 ms.
  const scaled = await startHarness({ modelTimeScale: 0.001 });
  try {
    const input = scaled.path('in.csv');
    await scaled.upload(input, rows(100));
    const res = await scaled.submit(scaled.short(input), scaled.short(scaled.path('out.csv')));
    const { name } = (await res.json()) as JobResource;
    expect((await scaled.waitFor(name, ['Completed', 'Failed'])).properties.status).toBe('Completed');
    const history = scaled.emu.jobs().find((j) => j.name === name)!.history;
    const at = (s: string): number => Date.parse(history.find((x) => x.status === s)!.at);
    expect(history.map((x) => x.status)).toEqual([
      'NotStarted',
      'Queued',
      'Preparing',
      'Running',
      'Finalizing',
      'Completed',
    ]);
    expect(at('Preparing') - at('Queued')).toBe(DEFAULT_COST.queuedSeconds);
    expect(at('Running') - at('Preparing')).toBe(DEFAULT_COST.startupSeconds - DEFAULT_COST.queuedSeconds);
    // Running lasts at least the modelled 5 s + 100 rows / 5,000 rows/s (scoring may take longer).
    expect(at('Finalizing') - at('Running')).toBeGreaterThanOrEqual(5);
    expect(at('Completed') - at('Finalizing')).toBe(DEFAULT_COST.finalizingSeconds);
  } finally {
    await scaled.close();
  }
});
