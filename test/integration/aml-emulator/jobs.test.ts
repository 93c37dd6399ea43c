import { loadModel, predict } from '../../../dev/model/predict';
import { INSTANT_TIMINGS, type EmulatorJob } from '../../../dev/aml-emulator';
import {
  SAMPLE_CSV,
  SHORT,
  TOKEN,
  jobBody,
  parseOutput,
  startHarness,
  submitOk,
  type Harness,
  type JobResource,
} from './harness';

jest.setTimeout(30_000);

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const sampleRows = (): Record<string, string>[] => {
  const [header, ...lines] = SAMPLE_CSV.trim().split('\n');
  const cols = header!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i]!, v])));
};

describe('POST /jobs and GET /jobs/{name}', () => {
  test('a job is created NotStarted, progresses through every phase and writes MLflow-style output', async () => {
    const input = h.path('diamonds.csv');
    const output = h.path('predictions.csv');
    await h.upload(input, SAMPLE_CSV);

    const res = await h.submit(h.short(input), h.short(output));
    expect(res.status).toBe(201);
    const job = (await res.json()) as JobResource;
    expect(job.name).toMatch(/^batchjob-[0-9a-f-]{36}$/);
    expect(job.id).toBe(
      `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local-rg/providers/Microsoft.MachineLearningServices/workspaces/local-ws/jobs/${job.name}`,
    );
    expect(job.properties.status).toBe('NotStarted');

    const done = await h.waitFor(job.name, ['Completed', 'Failed', 'Canceled']);
    expect(done.properties.status).toBe('Completed');
    const listed = ((await h.admin('jobs')) as { jobs: EmulatorJob[] }).jobs.find(
      (j) => j.name === job.name,
    )!;
    expect(listed.history.map((s) => s.status)).toEqual([
      'NotStarted',
      'Queued',
      'Preparing',
      'Running',
      'Finalizing',
      'Completed',
    ]);
    expect(listed.rowsScored).toBe(200);

    const text = await h.readOutput(output);
    expect(text.startsWith('row,')).toBe(false);
    const lines = parseOutput(text);
    const rows = sampleRows();
    expect(lines).toHaveLength(rows.length);
    const v2 = loadModel('diamond-v2');
    lines.forEach((l, i) => {
      expect(l.row).toBe(i);
      expect(l.fileName).toBe('diamonds.csv');
      expect(l.prediction).toBeCloseTo(predict(v2, rows[i]!), 2);
    });
  });

  test('the output file is complete by the time the job is Completed, with a UTF-8 BOM, CRLF and quoted fields', async () => {
    const rows = sampleRows();
    const n = 12_000; // enough output for several upload chunks
    const lines = ['\uFEFF"carat","cut","color","clarity","note"'];
    for (let i = 0; i < n; i++) {
      const r = rows[i % rows.length]!;
      lines.push(`${r.carat},"${r.cut}",${r.color},${r.clarity},"row ${i}, ""quoted"""`);
    }
    const input = h.path('big input.csv');
    const output = h.path('out.csv');
    await h.upload(input, lines.join('\r\n') + '\r\n');
    const job = await submitOk(h, h.long(input), h.long(output));
    expect((await h.waitFor(job.name, ['Completed', 'Failed'])).properties.status).toBe('Completed');

    const out = parseOutput(await h.readOutput(output));
    expect(out).toHaveLength(n);
    expect(out.map((l) => l.row)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(
      out.every((l) => l.fileName === 'big input.csv' && Number.isFinite(l.prediction) && l.prediction > 0),
    ).toBe(true);
    const v2 = loadModel('diamond-v2');
    expect(out[rows.length + 3]!.prediction).toBeCloseTo(predict(v2, rows[3]!), 2);
  });

  test('long and short azureml:// forms and a blob URL in the account resolve to the same input', async () => {
    const input = h.path('same.csv');
    await h.upload(input, SAMPLE_CSV);
    const blobUrl = h.container.getBlobClient(input).url;
    const outputs: string[] = [];
    for (const uri of [h.short(input), h.long(input), blobUrl]) {
      const output = h.path('p.csv');
      outputs.push(output);
      const job = await submitOk(h, uri, h.short(output));
      expect((await h.waitFor(job.name, ['Completed', 'Failed'])).properties.status).toBe('Completed');
    }
    const texts = await Promise.all(outputs.map((o) => h.readOutput(o)));
    expect(texts[1]).toBe(texts[0]);
    expect(texts[2]).toBe(texts[0]);
  });

  test('the azureml-model-deployment header switches the model; v1 and v2 predict differently', async () => {
    const input = h.path('d.csv');
    await h.upload(input, SAMPLE_CSV);
    const results: Record<string, number[]> = {};
    for (const deployment of ['diamond-v1', 'diamond-v2']) {
      const output = h.path(`${deployment}.csv`);
      const job = await submitOk(h, h.short(input), h.short(output), {
        'azureml-model-deployment': deployment,
      });
      await h.waitFor(job.name, ['Completed']);
      results[deployment] = parseOutput(await h.readOutput(output)).map((l) => l.prediction);
    }
    const v1 = loadModel('diamond-v1');
    expect(results['diamond-v1']![0]).toBeCloseTo(predict(v1, sampleRows()[0]!), 2);
    const differing = results['diamond-v1']!.filter(
      (p, i) => Math.abs(p - results['diamond-v2']![i]!) > 1,
    ).length;
    expect(differing).toBeGreaterThan(150);
  });

  test('a UriFolder output gets predictions.csv; without OutputData the default datastore layout is used', async () => {
    const input = h.path('in.csv');
    await h.upload(input, 'carat,cut,color,clarity\n0.5,Ideal,E,VS1\n');
    const folder = h.path('outdir');
    const res = await h.post({
      properties: {
        InputData: { x: { JobInputType: 'UriFile', Uri: h.short(input) } },
        OutputData: { y: { JobOutputType: 'UriFolder', Uri: h.short(folder) } },
      },
    });
    const job = (await res.json()) as JobResource;
    await h.waitFor(job.name, ['Completed']);
    expect(parseOutput(await h.readOutput(`${folder}/predictions.csv`))).toHaveLength(1);

    const res2 = await h.post({
      properties: { InputData: { x: { JobInputType: 'UriFile', Uri: h.short(input) } } },
    });
    expect(res2.status).toBe(201);
    const job2 = (await res2.json()) as JobResource;
    await h.waitFor(job2.name, ['Completed']);
    expect(await h.readOutput(`azureml/${job2.name}/score/predictions.csv`)).toMatch(
      /^0,\d+\.\d\d,in\.csv\n$/,
    );
  });

  test('a UriFolder input scores each file directly inside it, numbering rows per file', async () => {
    const folder = h.path('folder');
    await h.upload(`${folder}/a.csv`, 'carat,cut,color,clarity\n0.5,Ideal,E,VS1\n0.7,Good,G,SI1\n');
    await h.upload(`${folder}/b.csv`, 'carat,cut,color,clarity\n1.1,Premium,D,IF\n');
    await h.upload(`${folder}/nested/c.txt`, 'ignored: nested folders are not scanned');
    const output = h.path('folder-out.csv');
    const res = await h.post({
      properties: {
        InputData: { x: { JobInputType: 'UriFolder', Uri: h.short(folder) } },
        OutputData: { y: { JobOutputType: 'UriFile', Uri: h.short(output) } },
      },
    });
    const job = (await res.json()) as JobResource;
    expect((await h.waitFor(job.name, ['Completed', 'Failed'])).properties.status).toBe('Completed');
    const out = parseOutput(await h.readOutput(output));
    expect(out.map((l) => `${l.row}:${l.fileName}`)).toEqual(['0:a.csv', '1:a.csv', '0:b.csv']);
  });

  test('a header-only file completes with an empty output', async () => {
    const input = h.path('empty.csv');
    const output = h.path('empty-out.csv');
    await h.upload(input, 'carat,cut,color,clarity\r\n');
    const job = await submitOk(h, h.short(input), h.short(output));
    expect((await h.waitFor(job.name, ['Completed', 'Failed'])).properties.status).toBe('Completed');
    expect(await h.readOutput(output)).toBe('');
  });

  test('in instant mode a job still passes every phase and completes once scored', async () => {
    h.emu.setTimings(INSTANT_TIMINGS);
    try {
      const input = h.path('instant.csv');
      const output = h.path('instant-out.csv');
      await h.upload(input, SAMPLE_CSV);
      const job = await submitOk(h, h.short(input), h.short(output));
      expect(job.properties.status).toBe('NotStarted');
      expect((await h.waitFor(job.name, ['Completed', 'Failed'])).properties.status).toBe('Completed');
      expect(
        h.emu
          .jobs()
          .find((j) => j.name === job.name)!
          .history.map((s) => s.status),
      ).toEqual(['NotStarted', 'Queued', 'Preparing', 'Running', 'Finalizing', 'Completed']);
      expect(parseOutput(await h.readOutput(output))).toHaveLength(200);
    } finally {
      h.emu.setTimings(SHORT);
    }
  });

  test('GET of an unknown job is 404', async () => {
    const res = await h.get('batchjob-nope');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
      "Job 'batchjob-nope' was not found",
    );
  });

  test('the management-plane GET returns the same resource', async () => {
    const input = h.path('m.csv');
    await h.upload(input, SAMPLE_CSV);
    const job = await submitOk(h, h.short(input), h.short(h.path('m-out.csv')));
    await h.waitFor(job.name, ['Completed']);
    const res = await fetch(`${h.emu.url}${job.id}?api-version=2024-04-01`, {
      headers: { Authorization: TOKEN },
    });
    expect(res.status).toBe(200);
    const mgmt = (await res.json()) as JobResource;
    expect(mgmt.name).toBe(job.name);
    expect(mgmt.properties.status).toBe('Completed');
  });

  test('repeatability_request-id is recorded but does not deduplicate', async () => {
    const input = h.path('r.csv');
    await h.upload(input, SAMPLE_CSV);
    const id = 'a6f2c1d2-0000-4000-8000-000000000001';
    const a = await submitOk(h, h.short(input), h.short(h.path('r1.csv')), {
      'repeatability_request-id': id,
    });
    const b = await submitOk(h, h.short(input), h.short(h.path('r2.csv')), {
      'repeatability_request-id': id,
    });
    expect(a.name).not.toBe(b.name);
    const jobs = ((await h.admin('jobs')) as { jobs: EmulatorJob[] }).jobs.filter(
      (j) => j.repeatabilityRequestId === id,
    );
    expect(jobs.map((j) => j.name).sort()).toEqual([a.name, b.name].sort());
    expect(h.emu.jobs().filter((j) => j.repeatabilityRequestId === id)).toHaveLength(2);
    const listed = jobs.find((j) => j.name === a.name)!;
    expect(listed).toMatchObject({
      deployment: 'diamond-v2',
      inputUri: h.short(input),
      submittedAt: expect.any(String),
    });
  });

  test('the job resource echoes the request', async () => {
    const input = h.path('e.csv');
    await h.upload(input, SAMPLE_CSV);
    const body = jobBody(h.short(input), h.short(h.path('e-out.csv'))) as {
      properties: Record<string, unknown>;
    };
    const res = await h.post(body, { 'azureml-model-deployment': 'diamond-v1' });
    const job = (await res.json()) as JobResource;
    expect(res.headers.get('location')).toBe(`${h.emu.url}/jobs/${job.name}`);
    expect(job.properties.inputData).toEqual(body.properties.InputData);
    expect(job.properties.outputData).toEqual(body.properties.OutputData);
    expect(job.properties.properties).toMatchObject({ 'azureml.deploymentname': 'diamond-v1' });
  });
});
