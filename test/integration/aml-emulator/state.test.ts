import type { EmulatorJob } from '../../../dev/aml-emulator';
import { uniqueName } from '../../support/storage';
import { SAMPLE_CSV, SHORT, parseOutput, startHarness, submitOk, type Harness } from './harness';

/**
 * With `stateContainer` the emulator keeps its jobs in Azurite: a new emulator on the same storage
 * takes over, so a job submitted before a restart is still there and goes on from where it was.
 */
jest.setTimeout(30_000);

const HOUR = 3_600_000;
const open: Harness[] = [];
afterAll(async () => {
  for (const h of open) await h.close();
});

async function emulator(
  stateContainer: string,
  datastore: Harness | undefined,
  timings = {},
): Promise<Harness> {
  const h = await startHarness({
    stateContainer,
    timings: { ...SHORT, ...timings },
    ...(datastore ? { datastores: { workspaceblobstore: datastore.container.containerName } } : {}),
  });
  open.push(h);
  return h;
}

async function listed(h: Harness, name: string): Promise<EmulatorJob | undefined> {
  return ((await h.admin('jobs')) as { jobs: EmulatorJob[] }).jobs.find((j) => j.name === name);
}

test('a job held in Queued when the emulator stops completes under the next one, scored once', async () => {
  const state = uniqueName('emustate');
  const first = await emulator(state, undefined, { queuedMs: HOUR });
  const input = first.path('in.csv');
  const output = first.path('out.csv');
  await first.upload(input, SAMPLE_CSV);
  const job = await submitOk(first, first.short(input), first.short(output));
  await first.waitFor(job.name, ['Queued']);
  await first.close();

  const second = await emulator(state, first, { queuedMs: 0 });
  const done = await second.waitFor(job.name, ['Completed', 'Failed', 'Canceled']);
  expect(done.properties.status).toBe('Completed');
  expect(parseOutput(await first.readOutput(output))).toHaveLength(200);

  const j = (await listed(second, job.name))!;
  expect(j.history.map((s) => s.status)).toEqual([
    'NotStarted',
    'Queued',
    'Preparing',
    'Running',
    'Finalizing',
    'Completed',
  ]);
  expect(j.rowsScored).toBe(200);
  // The phase ran out while no emulator ran: it ends at its modelled time (Queued + 0 ms), not at the restart.
  expect(j.history[2]!.at).toBe(j.history[1]!.at);
  expect((await second.admin('jobs')) as { jobs: EmulatorJob[] }).toMatchObject({
    jobs: [expect.objectContaining({ name: job.name })],
  });
});

test('a finished job stays as it was; a requested cancel ends Canceled under the next emulator', async () => {
  const state = uniqueName('emustate');
  const first = await emulator(state, undefined, { cancelMs: HOUR });
  const input = first.path('in.csv');
  await first.upload(input, SAMPLE_CSV);
  const finished = await submitOk(first, first.short(input), first.short(first.path('a.csv')));
  await first.waitFor(finished.name, ['Completed']);
  const before = (await listed(first, finished.name))!;

  first.emu.setTimings({ queuedMs: HOUR });
  const canceled = await submitOk(first, first.short(input), first.short(first.path('b.csv')));
  await first.waitFor(canceled.name, ['Queued']);
  const res = await fetch(`${first.emu.url}/jobs/${canceled.name}/cancel`, {
    method: 'POST',
    headers: { Authorization: 'Bearer t' },
  });
  expect(res.status).toBe(202);
  await first.waitFor(canceled.name, ['CancelRequested']);
  await first.close();

  const second = await emulator(state, first);
  expect((await second.waitFor(canceled.name, ['Canceled', 'Completed', 'Failed'])).properties.status).toBe(
    'Canceled',
  );
  expect(await listed(second, finished.name)).toEqual(before);
});

test('without a state container a new emulator does not know the old jobs', async () => {
  const first = await startHarness();
  open.push(first);
  const input = first.path('in.csv');
  await first.upload(input, SAMPLE_CSV);
  const job = await submitOk(first, first.short(input), first.short(first.path('o.csv')));
  await first.close();
  const second = await startHarness();
  open.push(second);
  expect((await second.get(job.name)).status).toBe(404);
});
