import { ACTIVITY, AML_STATUS_EVENT, CANCEL_EVENT } from '../../../src/orchestration/names';
import { scoreJobOrchestrator } from '../../../src/orchestration/scoreJob';
import { MAX_EVENT_CHECKS, POLLS_PER_EXECUTION } from '../../../src/orchestration/waiting';
import type { AmlStatusEvent, EstimateInput, ScoreJobInput } from '../../../src/orchestration/contracts';
import type { DurationEstimate } from '../../../src/domain/pollSchedule';
import {
  simulate,
  type ActivityFn,
  type SimOptions,
  type SimResult,
} from '../../../dev/runtime/durable/memoryHost';
import { expectDeterministic, scoreJobInput, stagedFile } from '../../support/replay';

/**
 * Learned timing and AML status events in the waiting loop, through the real durable-functions replay
 * engine (memoryHost). Every run is replayed again from every prefix of every history and must ask for
 * the same actions.
 */
const start = new Date('2026-01-01T00:00:00Z');
const staged = stagedFile('j', 1000);
const base = scoreJobInput('j1');
const learned: ScoreJobInput = { ...base, schedule: { ...base.schedule, learned: true } };
const withEvents: ScoreJobInput = { ...base, schedule: { ...base.schedule, events: true } };
const ESTIMATE: DurationEstimate = { seconds: 900, spreadSeconds: 100, samples: 12 };

/** An AML job that completes `completesAfter` seconds after submit; the estimate activity answers `estimate`. */
function world(
  completesAfter: number,
  estimate: { result: unknown } | { error: string } = { result: { ok: true, estimate: ESTIMATE } },
): ActivityFn {
  return (name, input, _call, at) => {
    const inp = input as { deployment?: string } | undefined;
    switch (name) {
      case ACTIVITY.validateAndStage:
        // Like the activity: the deployment the file asked for (the API's wins), else none (endpoint default).
        return { result: { ok: true, staged, ...(inp?.deployment ? { deployment: inp.deployment } : {}) } };
      case ACTIVITY.submitAmlJob:
        return { result: { ok: true, amlJobName: 'aml-1', amlStatus: 'NotStarted' } };
      case ACTIVITY.estimateDuration:
        return estimate;
      case ACTIVITY.checkAmlJob: {
        const done = at.getTime() - start.getTime() >= completesAfter * 1000;
        return { result: { ok: true, amlStatus: done ? 'Completed' : 'Running', cancelRequested: false } };
      }
      case ACTIVITY.publishPredictions:
        return { result: { ok: true, outputBlob: 'outbox/a_predictions.csv', rows: 3, rowsFailed: 0 } };
      case ACTIVITY.cancelAmlJob:
        return { result: { ok: true, confirmed: true, amlAnswer: 'AML accepted the cancel (202).' } };
      case ACTIVITY.recordOutcome:
      case ACTIVITY.recordOutage:
        return { result: { ok: true } };
      default:
        throw new Error(`unexpected activity ${name}`);
    }
  };
}

async function play(o: Partial<SimOptions> & { activities: ActivityFn }): Promise<SimResult> {
  const r = await simulate(scoreJobOrchestrator, { instanceId: 'j1', input: base, start, ...o });
  await expectDeterministic(scoreJobOrchestrator, 'j1', r);
  return r;
}

const at = (seconds: number) => new Date(start.getTime() + seconds * 1000);
const event = (seconds: number, data: Partial<AmlStatusEvent> = {}) => ({
  at: at(seconds),
  name: AML_STATUS_EVENT,
  data: { amlJobName: 'aml-1', amlStatus: 'Completed', ...data } satisfies AmlStatusEvent,
});
const calls = (r: SimResult, name: string) => r.activityCalls.filter((c) => c.name === name);
const checkTimes = (r: SimResult) =>
  calls(r, ACTIVITY.checkAmlJob).map((c) => (Date.parse(c.at) - start.getTime()) / 1000);

describe('learned timing (real durable-functions replay engine)', () => {
  test('asks for the estimate once, then checks sparsely early and densely around the expected end', async () => {
    const r = await play({ input: learned, activities: world(880) });
    expect(r.output).toMatchObject({ status: 'Succeeded' });
    expect(calls(r, ACTIVITY.estimateDuration).map((c) => c.input)).toEqual([
      // '' = the endpoint's default deployment, known without reading the record.
      { jobId: 'j1', rows: 1000, deployment: '' } satisfies EstimateInput,
    ]);
    // 30 s, halfway to the window (750 s), then every 50 s: completion at 880 s is seen at 900 s.
    expect(checkTimes(r)).toEqual([30, 375, 750, 800, 850, 900]);
  });

  test('the deployment asked for is passed to the estimate', async () => {
    const r = await play({ input: { ...learned, deployment: 'blue' }, activities: world(30) });
    expect(calls(r, ACTIVITY.estimateDuration)[0]!.input).toEqual({
      jobId: 'j1',
      rows: 1000,
      deployment: 'blue',
    });
  });

  test('the estimate survives continueAsNew: a job far slower than expected is not estimated again', async () => {
    const r = await play({ input: learned, activities: world(4 * 3600) });
    expect(r.output).toMatchObject({ status: 'Succeeded' });
    expect(r.executions).toBeGreaterThan(1);
    expect(calls(r, ACTIVITY.estimateDuration)).toHaveLength(1);
    expect(checkTimes(r).length).toBeGreaterThan(POLLS_PER_EXECUTION);
    // Past the window the gaps back off to the cap, as the plain schedule does.
    const t = checkTimes(r);
    expect(t.at(-1)! - t.at(-2)!).toBe(300);
  });

  test('no estimate to be had, or the activity failing, leaves the plain backoff schedule', async () => {
    for (const estimate of [
      { result: { ok: true } },
      { result: { ok: false, error: { code: 'X', message: 'x', retryable: false } } },
    ]) {
      const r = await play({ input: learned, activities: world(200, estimate) });
      expect(r.output).toMatchObject({ status: 'Succeeded' });
      expect(checkTimes(r)).toEqual([30, 75, 142.5, 243.75]);
    }
  });

  test('a job started before the setting existed (no flag in its schedule) never asks', async () => {
    const r = await play({ input: base, activities: world(200) });
    expect(calls(r, ACTIVITY.estimateDuration)).toHaveLength(0);
  });
});

describe('AML status events (real durable-functions replay engine)', () => {
  test('a Completed event cuts the sleep short: checked and published at once', async () => {
    const r = await play({ input: withEvents, activities: world(390), events: [event(395)] });
    expect(r.output).toMatchObject({ status: 'Succeeded' });
    expect(checkTimes(r)).toEqual([30, 75, 142.5, 243.75, 395]); // the timer was due at 395.625 s
    expect(calls(r, ACTIVITY.publishPredictions)[0]!.at).toBe(at(395).toISOString());
  });

  test('a lost event costs nothing but time: polling finds the end', async () => {
    const r = await play({ input: withEvents, activities: world(390) });
    expect(checkTimes(r)).toEqual([30, 75, 142.5, 243.75, 395.625]);
    expect(r.output).toMatchObject({ status: 'Succeeded' });
  });

  test('events for another AML job or a status that is not an end wake the orchestration but add no check', async () => {
    const r = await play({
      input: withEvents,
      activities: world(390),
      events: [
        event(50, { amlJobName: 'aml-other' }),
        event(100, { amlStatus: 'Running' }),
        event(101, { amlStatus: 'Bogus' }),
      ],
    });
    expect(checkTimes(r)).toEqual([30, 75, 142.5, 243.75, 395.625]);
  });

  test('duplicated or early events are bounded: at most MAX_EVENT_CHECKS extra checks, then the schedule alone', async () => {
    // AML says Running while ten "Completed" events arrive (duplicates of one that was early, say).
    const r = await play({
      input: withEvents,
      activities: world(2000),
      events: Array.from({ length: 10 }, (_, i) => event(40 + i * 3)),
    });
    expect(r.output).toMatchObject({ status: 'Succeeded' });
    const t = checkTimes(r);
    expect(t.slice(0, 1 + MAX_EVENT_CHECKS)).toEqual([30, 40, 43, 46]);
    // Then the schedule goes on from where it was (poll number 4: 30 × 1.5^4 later).
    expect(t[1 + MAX_EVENT_CHECKS]).toBeCloseTo(46 + 30 * 1.5 ** 4);
  });

  test('an event that arrives while a check is under way is kept and acted on right after it', async () => {
    let checks = 0;
    const r = await play({
      input: withEvents,
      activities: (name, inp, call, when) =>
        // The first check attempt fails; its retry runs 5 s later. The event lands in between.
        name === ACTIVITY.checkAmlJob && ++checks === 1
          ? { error: 'AML busy' }
          : world(36)(name, inp, call, when),
      events: [event(32)],
    });
    expect(r.output).toMatchObject({ status: 'Succeeded' });
    // 30 s (failed), its retry at 35 s (Running), at once again for the kept event, then the schedule.
    expect(checkTimes(r)).toEqual([30, 35, 35, 35 + 30 * 1.5 ** 2]);
  });

  test('a cancel request that arrives while a check is under way is acted on right after it', async () => {
    let checks = 0;
    const r = await play({
      input: base,
      activities: (name, inp, call, when) =>
        name === ACTIVITY.checkAmlJob && ++checks === 1
          ? { error: 'AML busy' }
          : world(3600)(name, inp, call, when),
      events: [{ at: at(32), name: CANCEL_EVENT }],
    });
    expect(r.output).toMatchObject({ status: 'Canceled' });
    expect(calls(r, ACTIVITY.cancelAmlJob).map((c) => c.at)).toEqual([at(35).toISOString()]);
  });

  test('with learned timing and events together, the polls are the sparse safety net', async () => {
    const r = await play({
      input: { ...base, schedule: { ...base.schedule, learned: true, events: true } },
      activities: world(880),
      events: [event(884)],
    });
    expect(checkTimes(r)).toEqual([30, 750, 870, 884]);
  });
});
