import { ACTIVITY, CANCEL_EVENT } from '../../../src/orchestration/names';
import { POLLS_PER_EXECUTION, scoreJobOrchestrator } from '../../../src/orchestration/scoreJob';
import type { ScoreJobInput, StagedFile } from '../../../src/orchestration/contracts';
import {
  runEpisode,
  simulate,
  type ActivityFn,
  type HistoryEvent,
} from '../../../dev/runtime/durable/memoryHost';

const start = new Date('2026-01-01T00:00:00Z');
const staged: StagedFile = {
  rows: 3,
  bytes: 100,
  inputPath: 'p/j/input/a.csv',
  outputPath: 'p/j/output/predictions.csv',
  inputUri: 'azureml://datastores/ws/paths/p/j/input/a.csv',
  outputUri: 'azureml://datastores/ws/paths/p/j/output/predictions.csv',
};
const input: ScoreJobInput = {
  jobId: 'j1',
  source: { container: 'inbox', name: 'a.csv', etag: '"e1"' },
  schedule: { firstDelaySeconds: 30, factor: 1.5, maxDelaySeconds: 300 },
  deadlineSeconds: 24 * 3600,
};

/** Activities by name; `statuses` is what AML reports at each successive check. */
function world(statuses: string[], overrides: Partial<Record<string, ActivityFn>> = {}): ActivityFn {
  let checks = 0;
  return (name, inp, call, at) => {
    const o = overrides[name];
    if (o) return o(name, inp, call, at);
    switch (name) {
      case ACTIVITY.validateAndStage:
        return { result: { ok: true, staged } };
      case ACTIVITY.submitAmlJob:
        return { result: { ok: true, amlJobName: 'aml-1', amlStatus: 'NotStarted' } };
      case ACTIVITY.checkAmlJob: {
        const s = statuses[Math.min(checks++, statuses.length - 1)]!;
        return { result: { ok: true, amlStatus: s, cancelRequested: false } };
      }
      case ACTIVITY.publishPredictions:
        return { result: { ok: true, outputBlob: 'outbox/a_predictions.csv', rows: 3 } };
      case ACTIVITY.cancelAmlJob:
        return { result: { ok: true, requested: true } };
      case ACTIVITY.recordOutcome:
        return { result: null };
      default:
        throw new Error(`unexpected activity ${name}`);
    }
  };
}

const names = (calls: { name: string }[]) => calls.map((c) => c.name);

describe('scoreJob orchestration (real durable-functions replay engine)', () => {
  test('succeeds after several polls, on the backoff schedule', async () => {
    const r = await simulate(scoreJobOrchestrator, {
      instanceId: 'j1',
      input,
      start,
      activities: world(['Queued', 'Preparing', 'Running', 'Completed']),
    });
    expect(r.status).toBe('Completed');
    expect(r.output).toMatchObject({
      status: 'Succeeded',
      outputBlob: 'outbox/a_predictions.csv',
      amlJobName: 'aml-1',
      polls: 4,
    });
    expect(names(r.activityCalls)).toEqual([
      ACTIVITY.validateAndStage,
      ACTIVITY.submitAmlJob,
      ACTIVITY.checkAmlJob,
      ACTIVITY.checkAmlJob,
      ACTIVITY.checkAmlJob,
      ACTIVITY.checkAmlJob,
      ACTIVITY.publishPredictions,
    ]);
    // Checks at +30 s, +45 s, +67.5 s, +101.25 s after submit: each delay 1.5× the last.
    const checkTimes = r.activityCalls
      .filter((c) => c.name === ACTIVITY.checkAmlJob)
      .map((c) => (Date.parse(c.at) - start.getTime()) / 1000);
    expect(checkTimes).toEqual([30, 75, 142.5, 243.75]);
    expect(r.customStatuses).toContainEqual(
      expect.objectContaining({ phase: 'Waiting', amlJobName: 'aml-1', polls: 2, amlStatus: 'Preparing' }),
    );
    expect(r.customStatuses.at(-1)).toEqual({ phase: 'Done' });
  });

  test('rejected input ends the job without submitting anything', async () => {
    const r = await simulate(scoreJobOrchestrator, {
      instanceId: 'j1',
      input,
      start,
      activities: world([], {
        [ACTIVITY.validateAndStage]: () => ({
          result: {
            ok: false,
            error: { code: 'InputMissingColumns', message: 'Missing required columns: carat' },
          },
        }),
      }),
    });
    expect(r.output).toMatchObject({ status: 'Rejected', error: { code: 'InputMissingColumns' } });
    expect(names(r.activityCalls)).toEqual([ACTIVITY.validateAndStage]);
  });

  test('AML submit refusing the request fails the job (recorded by the activity)', async () => {
    const r = await simulate(scoreJobOrchestrator, {
      instanceId: 'j1',
      input,
      start,
      activities: world([], {
        [ACTIVITY.submitAmlJob]: () => ({
          result: { ok: false, error: { code: 'AmlAuth', message: 'needs AzureML Data Scientist' } },
        }),
      }),
    });
    expect(r.output).toMatchObject({ status: 'Failed', error: { code: 'AmlAuth' } });
    expect(names(r.activityCalls)).toEqual([ACTIVITY.validateAndStage, ACTIVITY.submitAmlJob]);
  });

  test('AML job failing ends Failed with its reason recorded', async () => {
    const recorded: unknown[] = [];
    const base = world(['Running', 'Failed']);
    const r = await simulate(scoreJobOrchestrator, {
      instanceId: 'j1',
      input,
      start,
      activities: (name, inp, call, at) => {
        if (name === ACTIVITY.recordOutcome) recorded.push(inp);
        if (name === ACTIVITY.checkAmlJob && call > 3)
          return {
            result: {
              ok: true,
              amlStatus: 'Failed',
              amlError: 'row 7: carat missing',
              cancelRequested: false,
            },
          };
        return base(name, inp, call, at);
      },
    });
    expect(r.output).toMatchObject({ status: 'Failed', error: { code: 'AmlJobFailed' } });
    expect(recorded).toEqual([
      {
        jobId: 'j1',
        status: 'Failed',
        error: expect.objectContaining({
          code: 'AmlJobFailed',
          message: expect.stringContaining('row 7: carat missing'),
        }),
      },
    ]);
    expect(names(r.activityCalls)).not.toContain(ACTIVITY.publishPredictions);
  });

  test('AML job canceled in Azure ML ends Canceled', async () => {
    const r = await simulate(scoreJobOrchestrator, {
      instanceId: 'j1',
      input,
      start,
      activities: world(['Queued', 'Canceled']),
    });
    expect(r.output).toMatchObject({ status: 'Canceled', error: { code: 'AmlJobCanceled' } });
  });

  test('an unknown AML status is an error, not endless waiting', async () => {
    const r = await simulate(scoreJobOrchestrator, {
      instanceId: 'j1',
      input,
      start,
      activities: world([], {
        [ACTIVITY.checkAmlJob]: () => ({
          result: {
            ok: false,
            error: { code: 'AmlUnknownStatus', message: 'AML job aml-1 has an unknown status "Weird"' },
          },
        }),
      }),
    });
    expect(r.output).toMatchObject({ status: 'Failed', error: { code: 'AmlUnknownStatus' } });
  });

  test('transient activity failures are retried with backoff, then the job succeeds', async () => {
    let validateCalls = 0;
    let checkFailures = 0;
    const base = world(['Completed']);
    const r = await simulate(scoreJobOrchestrator, {
      instanceId: 'j1',
      input,
      start,
      activities: (name, inp, call, at) => {
        if (name === ACTIVITY.validateAndStage && ++validateCalls <= 2)
          return { error: 'StorageUnavailable: Azurite hiccup' };
        if (name === ACTIVITY.checkAmlJob && checkFailures++ < 1)
          return { error: 'AmlThrottled: AML throttled (429)' };
        return base(name, inp, call, at);
      },
    });
    expect(r.output).toMatchObject({ status: 'Succeeded' });
    expect(validateCalls).toBe(3);
    const v = r.activityCalls
      .filter((c) => c.name === ACTIVITY.validateAndStage)
      .map((c) => Date.parse(c.at) - start.getTime());
    expect(v).toEqual([0, 5_000, 15_000]); // 5 s, then 10 s: the retry policy's backoff
  });

  test('an activity out of retries fails the job and records the error code', async () => {
    const recorded: unknown[] = [];
    const base = world([]);
    const r = await simulate(scoreJobOrchestrator, {
      instanceId: 'j1',
      input,
      start,
      activities: (name, inp, call, at) => {
        if (name === ACTIVITY.submitAmlJob) return { error: 'AmlUnavailable: AML answered 503' };
        if (name === ACTIVITY.recordOutcome) recorded.push(inp);
        return base(name, inp, call, at);
      },
    });
    expect(r.output).toMatchObject({ status: 'Failed', error: { code: 'AmlUnavailable' } });
    expect(r.activityCalls.filter((c) => c.name === ACTIVITY.submitAmlJob)).toHaveLength(6);
    expect(recorded).toEqual([
      expect.objectContaining({
        status: 'Failed',
        error: expect.objectContaining({ code: 'AmlUnavailable' }),
      }),
    ]);
  });

  test('deadline: a job stuck in Queued is cancelled in AML and ends TimedOut, with a bounded history', async () => {
    const recorded: { status: string }[] = [];
    const base = world(['Queued']);
    const r = await simulate(scoreJobOrchestrator, {
      instanceId: 'j1',
      input,
      start,
      activities: (name, inp, call, at) => {
        if (name === ACTIVITY.recordOutcome) recorded.push(inp as { status: string });
        return base(name, inp, call, at);
      },
    });
    expect(r.output).toMatchObject({ status: 'TimedOut', error: { code: 'TimedOut' } });
    expect(recorded.map((x) => x.status)).toEqual(['TimedOut']);
    const names_ = names(r.activityCalls);
    expect(names_.filter((n) => n === ACTIVITY.cancelAmlJob)).toHaveLength(1);
    expect(names_.indexOf(ACTIVITY.cancelAmlJob)).toBeGreaterThan(names_.lastIndexOf(ACTIVITY.checkAmlJob));
    // 24 h ends exactly at the deadline: the last timer is capped to it.
    expect(r.finishedAt.getTime() - start.getTime()).toBe(24 * 3600 * 1000);
    const checks = names_.filter((n) => n === ACTIVITY.checkAmlJob).length;
    expect(checks).toBeGreaterThan(POLLS_PER_EXECUTION);
    expect(r.executions).toBe(
      Math.ceil(checks / POLLS_PER_EXECUTION) + (checks % POLLS_PER_EXECUTION === 0 ? 1 : 0),
    );
    expect(r.maxHistoryLength).toBeLessThan(8 * POLLS_PER_EXECUTION + 20);
  });

  test('a cancel request (external event) cancels the AML job and ends Canceled', async () => {
    const r = await simulate(scoreJobOrchestrator, {
      instanceId: 'j1',
      input,
      start,
      activities: world(['Queued']),
      events: [{ at: new Date(start.getTime() + 100_000), name: CANCEL_EVENT, data: { at: 'api' } }],
    });
    expect(r.output).toMatchObject({ status: 'Canceled', error: { code: 'Canceled' } });
    const n = names(r.activityCalls);
    expect(n.slice(-2)).toEqual([ACTIVITY.cancelAmlJob, ACTIVITY.recordOutcome]);
    // The event woke the orchestration at once; it did not wait for the next poll.
    expect(r.finishedAt.getTime() - start.getTime()).toBe(100_000);
  });

  test('a cancel flag seen on the record (event missed) also cancels', async () => {
    const base = world(['Queued']);
    const r = await simulate(scoreJobOrchestrator, {
      instanceId: 'j1',
      input,
      start,
      activities: (name, inp, call, at) =>
        name === ACTIVITY.checkAmlJob
          ? { result: { ok: true, amlStatus: 'Queued', cancelRequested: true } }
          : base(name, inp, call, at),
    });
    expect(r.output).toMatchObject({ status: 'Canceled' });
    expect(names(r.activityCalls)).toContain(ACTIVITY.cancelAmlJob);
  });

  test('replay is deterministic: every prefix of every history yields the same actions again', async () => {
    const r = await simulate(scoreJobOrchestrator, {
      instanceId: 'j1',
      input: { ...input, deadlineSeconds: 3000 },
      start,
      activities: world(['Queued', 'Queued', 'Running', 'Running', 'Completed']),
      events: [],
    });
    let compared = 0;
    for (const [x, history] of r.histories.entries()) {
      const starts = history.map((e, i) => (e.EventType === 12 ? i : -1)).filter((i) => i >= 0);
      const execInput = JSON.parse(String(history[1]!.Input));
      for (let k = 0; k < starts.length; k++) {
        const end = k + 1 < starts.length ? starts[k + 1]! : history.length;
        const prefix: HistoryEvent[] = history.slice(0, end).filter((e) => e.EventType !== 13);
        const again = await runEpisode(
          scoreJobOrchestrator,
          JSON.parse(JSON.stringify(prefix)),
          execInput,
          'j1',
        );
        expect(JSON.parse(JSON.stringify(again.actions))).toEqual(
          JSON.parse(JSON.stringify(r.episodeActions[x]![k])),
        );
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(5);
  });
});
