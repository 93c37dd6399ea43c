import { DEFAULT_FAULTS, type EmulatorFaults, type EmulatorJob } from '../../../dev/aml-emulator';
import { SAMPLE_CSV, SHORT, TOKEN, startHarness, submitOk, type Harness, type JobResource } from './harness';

// Generous bounds, not timings: scoring 200k rows takes seconds of CPU, more on a busy machine.
jest.setTimeout(120_000);

let h: Harness;
let input: string;
beforeAll(async () => {
  h = await startHarness();
  input = h.path('in.csv');
  await h.upload(input, SAMPLE_CSV);
});
afterEach(async () => {
  await h.admin('faults', 'PUT', DEFAULT_FAULTS);
  await h.admin('timings', 'PUT', SHORT);
});
afterAll(() => h.close());

const cancelUrl = (name: string): string =>
  `${h.emu.url}/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local-rg/providers/Microsoft.MachineLearningServices/workspaces/local-ws/jobs/${name}/cancel?api-version=2024-04-01`;

async function history(name: string): Promise<string[]> {
  const { jobs } = (await h.admin('jobs')) as { jobs: EmulatorJob[] };
  return jobs.find((j) => j.name === name)!.history.map((s) => s.status);
}

describe('admin routes', () => {
  test('GET/PUT /_emulator/faults and /_emulator/timings', async () => {
    expect(await h.admin('faults')).toEqual(DEFAULT_FAULTS);
    const set = (await h.admin('faults', 'PUT', { failJobs: true, throttleRate: 0 })) as EmulatorFaults;
    expect(set.failJobs).toEqual(expect.stringContaining('Injected failure'));
    expect(await h.admin('timings', 'PUT', { preset: 'instant', cancelMs: 5 })).toEqual({
      notStartedMs: 0,
      queuedMs: 0,
      preparingMs: 0,
      runningMs: 0,
      finalizingMs: 0,
      cancelMs: 5,
    });
    for (const [route, bad] of [
      ['faults', { throttleRate: 2 }],
      ['faults', { nope: true }],
      ['timings', { queuedMs: -1 }],
    ] as const) {
      const res = await fetch(`${h.emu.url}/_emulator/${route}`, {
        method: 'PUT',
        body: JSON.stringify(bad),
      });
      expect(res.status).toBe(400);
    }
  });

  test('admin routes need no token and are never throttled', async () => {
    await h.admin('faults', 'PUT', { throttleRate: 1 });
    expect((await fetch(`${h.emu.url}/_emulator/jobs`)).status).toBe(200);
    expect((await fetch(`${h.emu.url}/_emulator/health`)).status).toBe(200);
  });
});

describe('injected faults', () => {
  test('throttleRate answers 429 with Retry-After: 1, unavailableRate 503', async () => {
    await h.admin('faults', 'PUT', { throttleRate: 1 });
    const throttled = await h.get('batchjob-x');
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('1');
    const before = h.emu.jobs().length;
    expect((await h.submit(h.short(input), h.short(h.path('o.csv')))).status).toBe(429);
    expect(h.emu.jobs()).toHaveLength(before);

    await h.admin('faults', 'PUT', { throttleRate: 0, unavailableRate: 1 });
    const unavailable = await h.get('batchjob-x');
    expect(unavailable.status).toBe(503);
    expect(((await unavailable.json()) as { error: { code: string } }).error.code).toBe('ServiceUnavailable');
  });

  test('partial rates follow the seed: the same seed gives the same answers', async () => {
    const run = async (): Promise<number[]> => {
      await h.admin('faults', 'PUT', { throttleRate: 0.3, unavailableRate: 0.2, seed: 1234 });
      const codes: number[] = [];
      for (let i = 0; i < 40; i++) codes.push((await h.get('batchjob-x')).status);
      return codes;
    };
    const first = await run();
    expect(await run()).toEqual(first);
    expect(new Set(first)).toEqual(new Set([404, 429, 503]));
  });

  test('plainTextErrors sends error bodies that are not JSON', async () => {
    await h.admin('faults', 'PUT', { plainTextErrors: true });
    const res = await h.post('not json');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toMatch(/^The Job request provided has the following validation errors: \[/);
  });

  test('failJobs fails every job with the given message and writes nothing', async () => {
    await h.admin('faults', 'PUT', { failJobs: 'compute node lost' });
    const output = h.path('failed.csv');
    const job = await submitOk(h, h.short(input), h.short(output));
    const done = await h.waitFor(job.name, ['Completed', 'Failed']);
    expect(done.properties.status).toBe('Failed');
    expect(done.properties.error).toEqual({ code: 'SystemError', message: 'compute node lost' });
    expect(await history(job.name)).toEqual(['NotStarted', 'Queued', 'Preparing', 'Running', 'Failed']);
    expect(await h.container.getBlobClient(output).exists()).toBe(false);
  });

  test('hangInQueued keeps jobs Queued until cleared', async () => {
    await h.admin('faults', 'PUT', { hangInQueued: true });
    const job = await submitOk(h, h.short(input), h.short(h.path('hang.csv')));
    await h.waitFor(job.name, ['Queued']);
    // Several whole phase lengths later it is still there.
    await new Promise((r) => setTimeout(r, 200));
    expect((await h.waitFor(job.name, ['Queued', 'Preparing'])).properties.status).toBe('Queued');
    h.emu.setFaults({ hangInQueued: false });
    expect((await h.waitFor(job.name, ['Completed', 'Failed'])).properties.status).toBe('Completed');
  });
});

describe('cancel', () => {
  test('a Queued job moves through CancelRequested to Canceled', async () => {
    await h.admin('faults', 'PUT', { hangInQueued: true });
    // A long cancel phase holds the job in CancelRequested until the test shortens it.
    await h.admin('timings', 'PUT', { cancelMs: 3_600_000 });
    const job = await submitOk(h, h.short(input), h.short(h.path('c.csv')));
    await h.waitFor(job.name, ['Queued']);
    const res = await fetch(cancelUrl(job.name), { method: 'POST', headers: { Authorization: TOKEN } });
    expect(res.status).toBe(202);
    expect(((await (await h.get(job.name)).json()) as JobResource).properties.status).toBe('CancelRequested');
    await h.admin('timings', 'PUT', { cancelMs: 0 });
    expect((await h.waitFor(job.name, ['Canceled'])).properties.status).toBe('Canceled');
    expect(await history(job.name)).toEqual(['NotStarted', 'Queued', 'CancelRequested', 'Canceled']);
  });

  test('canceling while Running stops scoring and leaves no output file', async () => {
    // Slow enough that the job is surely still Running when the cancel arrives.
    await h.admin('faults', 'PUT', { scoringDelayMsPerRow: 1000 });
    const output = h.path('running.csv');
    const job = await submitOk(h, h.short(input), h.short(output));
    await h.waitFor(job.name, ['Running']);
    const res = await fetch(`${h.emu.url}/jobs/${job.name}/cancel`, {
      method: 'POST',
      headers: { Authorization: TOKEN },
    });
    expect(res.status).toBe(202);
    expect((await h.waitFor(job.name, ['Canceled', 'Completed', 'Failed'])).properties.status).toBe(
      'Canceled',
    );
    expect(h.emu.jobs().find((j) => j.name === job.name)!.rowsScored).toBeLessThan(200);
    expect(await h.container.getBlobClient(output).exists()).toBe(false);
  });

  test('canceling a finished job changes nothing; an unknown job is 404; cancel needs a token', async () => {
    const job = await submitOk(h, h.short(input), h.short(h.path('done.csv')));
    await h.waitFor(job.name, ['Completed']);
    expect(
      (await fetch(cancelUrl(job.name), { method: 'POST', headers: { Authorization: TOKEN } })).status,
    ).toBe(202);
    expect((await h.waitFor(job.name, ['Completed', 'Canceled'])).properties.status).toBe('Completed');
    expect(
      (await fetch(cancelUrl('batchjob-none'), { method: 'POST', headers: { Authorization: TOKEN } })).status,
    ).toBe(404);
    expect((await fetch(cancelUrl(job.name), { method: 'POST' })).status).toBe(401);
  });
});

describe('run-time failures', () => {
  async function failWith(
    csv: string,
    headers?: Record<string, string>,
  ): Promise<{ code: string; message: string }> {
    const p = h.path('bad.csv');
    const output = h.path('bad-out.csv');
    await h.upload(p, csv);
    const job = await submitOk(h, h.short(p), h.short(output), headers);
    const done = await h.waitFor(job.name, ['Completed', 'Failed']);
    expect(done.properties.status).toBe('Failed');
    expect(await h.container.getBlobClient(output).exists()).toBe(false);
    return done.properties.error!;
  }

  test('an unknown category fails the job naming the row and column', async () => {
    const error = await failWith('carat,cut,color,clarity\n0.5,Ideal,E,VS1\n0.6,Excellent,E,VS1\n');
    expect(error.code).toBe('UserError');
    expect(error.message).toBe(
      'Row 1 of bad.csv: column "cut": unknown category "Excellent" (expected one of Fair, Good, Very Good, Premium, Ideal)',
    );
  });

  test('an unparseable or missing value fails the job', async () => {
    expect((await failWith('carat,cut,color,clarity\nabc,Ideal,E,VS1\n')).message).toContain(
      'Row 0 of bad.csv: column "carat"',
    );
    expect((await failWith('carat,cut,color\n0.5,Ideal,E\n')).message).toContain(
      'column "clarity" is missing',
    );
    expect((await failWith('carat,cut,color,clarity\n0.5,Ideal,,VS1\n')).message).toContain(
      'column "color" is missing',
    );
  });

  test('a failure after more than one upload block of output leaves no partial output', async () => {
    // 200k rows make ~4.6 MB of output: at least one 4 MiB block is staged before the bad row is reached.
    const good = '0.5,Ideal,E,VS1\n'.repeat(200_000);
    // v1 (linear) scores faster than the tree ensemble; the model does not matter here.
    const error = await failWith(`carat,cut,color,clarity\n${good}0.5,Ideal,Z,VS1\n`, {
      'azureml-model-deployment': 'diamond-v1',
    });
    expect(error.message).toContain('Row 200000 of bad.csv: column "color"');
  });

  test('malformed CSV and a missing input file fail the job', async () => {
    expect((await failWith('carat,cut,color,clarity\n0.5,"Ideal,E,VS1\n')).message).toContain(
      'bad.csv: cannot read the input',
    );
    const job = await submitOk(h, h.short(h.path('missing.csv')), h.short(h.path('x.csv')));
    const done = await h.waitFor(job.name, ['Completed', 'Failed']);
    expect(done.properties.error?.message).toContain('Input file not found');
  });
});
