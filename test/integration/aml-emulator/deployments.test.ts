import { emulatorOptionsFromEnv, startAmlEmulator } from '../../../dev/aml-emulator';
import { testConnectionString } from '../../support/storage';
import { parseOutput, startHarness, submitOk, type Harness, type JobResource } from './harness';

jest.setTimeout(30_000);

/** Per-deployment error_threshold and failing mini-batches: the rows of a failed mini-batch are missing. */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    deployments: {
      flaky: { model: 'diamond-v2', rowsPerMiniBatch: 3, failMiniBatchRate: 0.5 },
      strict: { model: 'diamond-v2', rowsPerMiniBatch: 3, failMiniBatchRate: 0.5, errorThreshold: 1 },
      tolerant: { model: 'diamond-v2', rowsPerMiniBatch: 3, failMiniBatchRate: 0.5, errorThreshold: 2 },
      broken: { model: 'diamond-v1', failMiniBatchRate: 1 },
      halfFiles: { model: 'diamond-v1', failMiniBatchRate: 0.5, miniBatchSize: 1 },
    },
  });
});
afterAll(() => h.close());

const rows = (n: number): string =>
  `carat,cut,color,clarity\n${Array.from({ length: n }, (_, i) => `${(0.3 + i / 10).toFixed(1)},Ideal,E,SI1`).join('\n')}\n`;

async function run(deployment: string, n = 10): Promise<{ job: JobResource; output: string }> {
  const input = h.path(`${deployment}.csv`);
  const output = h.path(`${deployment}-out.csv`);
  await h.upload(input, rows(n));
  const job = await submitOk(h, h.short(input), h.short(output), { 'azureml-model-deployment': deployment });
  const done = await h.waitFor(job.name, ['Completed', 'Failed']);
  return { job: done, output };
}

test('a failed mini-batch’s rows are missing; with error_threshold -1 the job still Completes', async () => {
  // Mini-batches of 3 rows: [0-2] [3-5] [6-8] [9]; rate 0.5 fails every second one.
  const { job, output } = await run('flaky');
  expect(job.properties.status).toBe('Completed');
  const out = parseOutput(await h.readOutput(output));
  expect(out.map((l) => l.row)).toEqual([0, 1, 2, 6, 7, 8]);
  expect(out.every((l) => l.fileName === 'flaky.csv' && l.prediction > 0)).toBe(true);
  expect(h.emu.jobs().find((j) => j.name === job.name)).toMatchObject({ deployment: 'flaky', rowsScored: 6 });
});

test('failures over error_threshold fail the job, with no output', async () => {
  const { job, output } = await run('strict');
  expect(job.properties.status).toBe('Failed');
  expect(job.properties.error?.message).toMatch(/2 mini-batches failed, over error_threshold 1/);
  await expect(h.readOutput(output)).rejects.toBeDefined();
});

test('failures up to error_threshold are tolerated', async () => {
  const { job, output } = await run('tolerant');
  expect(job.properties.status).toBe('Completed');
  expect(parseOutput(await h.readOutput(output))).toHaveLength(6);
});

test('every mini-batch failing under error_threshold -1: Completed with an empty output', async () => {
  const { job, output } = await run('broken', 4);
  expect(job.properties.status).toBe('Completed');
  expect(await h.readOutput(output)).toBe('');
});

test('with miniBatchSize 1 each file is one mini-batch: a folder loses whole files', async () => {
  const folder = h.path('folder');
  for (const f of ['a', 'b', 'c', 'd']) await h.upload(`${folder}/${f}.csv`, rows(2));
  const output = h.path('folder-out.csv');
  const res = await h.post(
    {
      properties: {
        InputData: { x: { JobInputType: 'UriFolder', Uri: h.short(folder) } },
        OutputData: { y: { JobOutputType: 'UriFile', Uri: h.short(output) } },
      },
    },
    { 'azureml-model-deployment': 'halfFiles' },
  );
  const job = (await res.json()) as JobResource;
  expect((await h.waitFor(job.name, ['Completed', 'Failed'])).properties.status).toBe('Completed');
  const out = parseOutput(await h.readOutput(output));
  expect(out.map((l) => `${l.row}:${l.fileName}`)).toEqual(['0:a.csv', '1:a.csv', '0:c.csv', '1:c.csv']);
});

test('the built-in deployments are unchanged: every row scored', async () => {
  const { job, output } = await run('diamond-v2', 5);
  expect(job.properties.status).toBe('Completed');
  expect(parseOutput(await h.readOutput(output)).map((l) => l.row)).toEqual([0, 1, 2, 3, 4]);
});

test('bad deployment settings stop start-up, naming the deployment and the field', async () => {
  const base = { port: 0, storageConnectionString: testConnectionString() };
  await expect(startAmlEmulator({ ...base, deployments: { x: { failMiniBatchRate: 0.5 } } })).rejects.toThrow(
    'deployment x: model must be one of diamond-v1, diamond-v2',
  );
  await expect(
    startAmlEmulator({ ...base, deployments: { y: { model: 'diamond-v1', failMiniBatchRate: 2 } } }),
  ).rejects.toThrow('deployment y: failMiniBatchRate must be a number from 0 to 1');
  await expect(
    startAmlEmulator({ ...base, deployments: { 'diamond-v1': { errorThreshold: -2 } } }),
  ).rejects.toThrow('errorThreshold must be an integer ≥ -1');
  await expect(
    startAmlEmulator({ ...base, deployments: { z: { model: 'diamond-v1', nope: 1 } as never } }),
  ).rejects.toThrow('deployment z: unknown setting "nope"');
});

test('AML_EMULATOR_DEPLOYMENTS is read as JSON', () => {
  const env = { AML_EMULATOR_DEPLOYMENTS: '{"flaky": {"model": "diamond-v2", "failMiniBatchRate": 0.25}}' };
  expect(emulatorOptionsFromEnv(env).deployments).toEqual({
    flaky: { model: 'diamond-v2', failMiniBatchRate: 0.25 },
  });
  expect(() => emulatorOptionsFromEnv({ AML_EMULATOR_DEPLOYMENTS: '[1]' })).toThrow(
    /AML_EMULATOR_DEPLOYMENTS/,
  );
});
