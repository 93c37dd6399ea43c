import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { testConnectionString, uniqueName } from '../../support/storage';
import { post, spawnRuntime, stateDir, waitFor, waitForStatus, type RuntimeProcess } from './support';

jest.setTimeout(40_000);

let rt: RuntimeProcess | undefined;
let dir: string | undefined;

afterAll(async () => {
  await rt?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function stepLog(dir: string, run: string): string[] {
  const file = join(dir, `steps-${run}.log`);
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

it('resumes orchestrations after SIGKILL: finished activities are not run again, timers still fire', async () => {
  const state = stateDir();
  dir = state;
  const env = {
    AzureWebJobsStorage: testConnectionString(),
    FixtureStorage: testConnectionString(),
    FIXTURE_BLOB_CONTAINER: uniqueName('unused'),
    FIXTURE_STATE_DIR: state,
    DURABLE_TASK_HUB: uniqueName('rs'),
  };
  rt = await spawnRuntime(env);
  const api = `${rt.url}/api`;

  const run = uniqueName('run');
  const stepsId = uniqueName('steps');
  await post(`${api}/orchestrators/steps/${stepsId}`, { run, count: 6, ms: 250 });
  // a durable timer that is due while the runtime is down
  const timerId = uniqueName('timer');
  await post(`${api}/orchestrators/approval/${timerId}`, 1500);
  await waitForStatus(rt.url, timerId, ['Running']);

  // kill while the third step runs
  await waitFor(async () => (stepLog(state, run).includes('start 2') ? true : undefined), 'step 2 to start');
  await rt.kill();
  const before = stepLog(state, run);
  const doneBefore = before.filter((l) => l.startsWith('done ')).map((l) => Number(l.slice(5)));
  expect(doneBefore).toEqual(expect.arrayContaining([0, 1]));

  rt = await spawnRuntime(env);
  const steps = await waitForStatus(rt.url, stepsId, ['Completed', 'Failed']);
  expect(steps.output).toEqual([0, 10, 20, 30, 40, 50]);
  const timer = await waitForStatus(rt.url, timerId, ['Completed', 'Failed']);
  expect(timer.output).toEqual({ approved: false, timedOut: true });

  const starts = (i: number): number => stepLog(state, run).filter((l) => l === `start ${i}`).length;
  // Every step that finished before the kill, except possibly the last one (its result may not have been
  // recorded yet), ran exactly once; at most one step (the one in flight) ran twice.
  const lastDone = Math.max(...doneBefore);
  for (let i = 0; i < lastDone; i++) expect(starts(i)).toBe(1);
  const counts = [0, 1, 2, 3, 4, 5].map(starts);
  expect(counts.every((c) => c === 1 || c === 2)).toBe(true);
  expect(counts.filter((c) => c === 2).length).toBeLessThanOrEqual(1);
  expect(rt.lines.some((l) => /resumed \d+ unfinished orchestration/.test(l))).toBe(true);
});
