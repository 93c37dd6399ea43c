import * as df from 'durable-functions';
import { errorProperties, PipelineError } from '../../../src/domain/errors';
import { ACTIVITY, CANCEL_EVENT } from '../../../src/orchestration/names';
import { scoreJobOrchestrator } from '../../../src/orchestration/scoreJob';
import { POLLS_PER_EXECUTION } from '../../../src/orchestration/waiting';
import type { OutcomeInput } from '../../../src/orchestration/contracts';
import {
  replayActions,
  simulate,
  type ActivityFn,
  type SimOptions,
  type SimResult,
} from '../../../dev/runtime/durable/memoryHost';
import { expectDeterministic, hostReason, scoreJobInput, stagedFile } from '../../support/replay';

/**
 * The orchestrator driven through the real durable-functions replay engine, path by path. Every run is
 * then replayed from every prefix of every history and must ask for the same actions again.
 */
const start = new Date('2026-01-01T00:00:00Z');
const staged = stagedFile('j', 3);
const input = scoreJobInput('j1');

/**
 * A thrown transient error as the orchestrator receives it from the host: durable-functions' own
 * activity wrapper (with the app's exception properties provider) turns the PipelineError into the
 * worker's message, and the extension's TaskActivityShim reports `Activity function '<name>' failed:
 * <message>` as the TaskFailed Reason.
 */
const hostReasons = new Map<string, string>();
// Fresh errors per use: the library's wrapper rewrites the thrown error's message in place.
const UNREACHABLE = { message: 'Could not reach AML to read job aml-1 (ECONNREFUSED).' };
const unreachable = () => new PipelineError('AmlUnavailable', UNREACHABLE.message, { retryable: true });
const storageDown = () =>
  new PipelineError('StorageUnavailable', 'write outbox/a_predictions.csv: 503 Server Busy', {
    retryable: true,
  });
beforeAll(async () => {
  df.app.setExceptionPropertiesProvider({ getExceptionProperties: errorProperties });
  hostReasons.set('check', await hostReason(ACTIVITY.checkAmlJob, unreachable()));
  hostReasons.set('submit', await hostReason(ACTIVITY.submitAmlJob, unreachable()));
  hostReasons.set('cancel', await hostReason(ACTIVITY.cancelAmlJob, unreachable()));
  hostReasons.set('publish', await hostReason(ACTIVITY.publishPredictions, storageDown()));
});
const thrown = (which: string) => ({ error: hostReasons.get(which)! });

/** Activities by name; `statuses` is what AML reports at each answered check. */
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
        return { result: { ok: true, outputBlob: 'outbox/a_predictions.csv', rows: 3, rowsFailed: 0 } };
      case ACTIVITY.cancelAmlJob:
        return {
          result: {
            ok: true,
            confirmed: true,
            amlAnswer: 'AML accepted the cancel (202).',
            amlStatus: 'CancelRequested',
          },
        };
      case ACTIVITY.recordOutcome:
      case ACTIVITY.recordOutage:
        return { result: { ok: true } };
      default:
        throw new Error(`unexpected activity ${name}`);
    }
  };
}

/** Simulates, then checks determinism: every prefix of every history replays to the same actions. */
async function play(o: Partial<SimOptions> & { activities: ActivityFn }): Promise<SimResult> {
  const r = await simulate(scoreJobOrchestrator, { instanceId: 'j1', input, start, ...o });
  await expectDeterministic(scoreJobOrchestrator, 'j1', r);
  return r;
}

const names = (r: SimResult) => r.activityCalls.map((c) => c.name);
const inputsOf = <T>(r: SimResult, name: string) =>
  r.activityCalls.filter((c) => c.name === name).map((c) => c.input as T);
const outcome = (r: SimResult) => {
  const o = inputsOf<OutcomeInput>(r, ACTIVITY.recordOutcome);
  expect(o).toHaveLength(1); // exactly one terminal write, by the orchestrator
  return o[0]!;
};
const secondsAfterStart = (at: string) => (Date.parse(at) - start.getTime()) / 1000;

describe('scoreJob orchestration (real durable-functions replay engine)', () => {
  test('succeeds after several polls on the backoff schedule, and records Succeeded itself', async () => {
    const r = await play({ activities: world(['Queued', 'Preparing', 'Running', 'Completed']) });
    expect(r.output).toMatchObject({ status: 'Succeeded', outputBlob: 'outbox/a_predictions.csv', polls: 4 });
    expect(names(r)).toEqual([
      ACTIVITY.validateAndStage,
      ACTIVITY.submitAmlJob,
      ...Array(4).fill(ACTIVITY.checkAmlJob),
      ACTIVITY.publishPredictions,
      ACTIVITY.recordOutcome,
    ]);
    // Checks at +30 s, +45 s, +67.5 s, +101.25 s after submit: each delay 1.5× the last.
    const checkTimes = r.activityCalls
      .filter((c) => c.name === ACTIVITY.checkAmlJob)
      .map((c) => secondsAfterStart(c.at));
    expect(checkTimes).toEqual([30, 75, 142.5, 243.75]);
    expect(outcome(r)).toEqual({
      jobId: 'j1',
      status: 'Succeeded',
      outputBlob: 'outbox/a_predictions.csv',
      rowsScored: 3,
      rowsFailed: 0,
      amlStatus: 'Completed',
    });
    expect(r.customStatuses).toContainEqual(
      expect.objectContaining({ phase: 'Waiting', amlJobName: 'aml-1', polls: 2, amlStatus: 'Preparing' }),
    );
    expect(r.customStatuses.at(-1)).toEqual({ phase: 'Done' });
  });

  test('a rejected file ends Rejected with the activity’s findings; nothing is submitted', async () => {
    const r = await play({
      activities: world([], {
        [ACTIVITY.validateAndStage]: () => ({
          result: {
            ok: false,
            error: {
              code: 'InputMissingColumns',
              message: 'Missing required columns: carat',
              retryable: false,
            },
            rejected: { quarantineBlob: 'quarantine/a.csv', problems: [], problemCount: 0 },
          },
        }),
      }),
    });
    expect(r.output).toMatchObject({ status: 'Rejected', error: { code: 'InputMissingColumns' } });
    expect(names(r)).toEqual([ACTIVITY.validateAndStage, ACTIVITY.recordOutcome]);
    expect(outcome(r)).toMatchObject({
      status: 'Rejected',
      quarantineBlob: 'quarantine/a.csv',
      problemCount: 0,
    });
  });

  test('a fault of ours while validating (no datastore container) fails the job: never Rejected', async () => {
    const r = await play({
      activities: world([], {
        [ACTIVITY.validateAndStage]: () => ({
          result: {
            ok: false,
            error: {
              code: 'StorageContainerMissing',
              message: 'Check AML_DATASTORE_CONTAINER.',
              retryable: false,
            },
          },
        }),
      }),
    });
    expect(outcome(r)).toEqual({
      jobId: 'j1',
      status: 'Failed',
      error: { code: 'StorageContainerMissing', message: 'Check AML_DATASTORE_CONTAINER.', retryable: false },
    });
  });

  test('AML refusing the submit fails the job, recorded by the orchestrator', async () => {
    const r = await play({
      activities: world([], {
        [ACTIVITY.submitAmlJob]: () => ({
          result: {
            ok: false,
            error: { code: 'AmlAuth', message: 'needs AzureML Data Scientist', retryable: false },
          },
        }),
      }),
    });
    expect(names(r)).toEqual([ACTIVITY.validateAndStage, ACTIVITY.submitAmlJob, ACTIVITY.recordOutcome]);
    expect(outcome(r)).toMatchObject({ status: 'Failed', error: { code: 'AmlAuth' } });
  });

  test('a submit out of retries records a short structured error: no stack, no RPC text', async () => {
    const r = await play({ activities: world([], { [ACTIVITY.submitAmlJob]: () => thrown('submit') }) });
    expect(inputsOf(r, ACTIVITY.submitAmlJob)).toHaveLength(6);
    const o = outcome(r);
    expect(o.error).toEqual({ code: 'AmlUnavailable', message: UNREACHABLE.message, retryable: true });
    expect(hostReasons.get('submit')).toMatch(/stackTrace/); // what the host carried, and the record did not
  });

  test('transient failures are retried by the policy with backoff, then the job succeeds', async () => {
    let validateCalls = 0;
    let checkFailures = 0;
    const r = await play({
      activities: world(['Completed'], {
        [ACTIVITY.validateAndStage]: () =>
          ++validateCalls <= 2 ? thrown('publish') : { result: { ok: true, staged } },
        [ACTIVITY.checkAmlJob]: () =>
          checkFailures++ < 1
            ? thrown('check')
            : { result: { ok: true, amlStatus: 'Completed', cancelRequested: false } },
      }),
    });
    expect(r.output).toMatchObject({ status: 'Succeeded' });
    const v = r.activityCalls
      .filter((c) => c.name === ACTIVITY.validateAndStage)
      .map((c) => secondsAfterStart(c.at));
    expect(v).toEqual([0, 5, 15]); // 5 s, then 10 s: the retry policy's backoff
    expect(names(r)).not.toContain(ACTIVITY.recordOutage);
  });

  test('an AML outage longer than the activity retries is recorded and outlived: the job Succeeds', async () => {
    let checks = 0;
    const r = await play({
      activities: world([], {
        // The first 13 check attempts (two full checks of 6 attempts, and one more) cannot reach AML.
        [ACTIVITY.checkAmlJob]: () =>
          ++checks <= 13
            ? thrown('check')
            : {
                result: {
                  ok: true,
                  amlStatus: checks === 14 ? 'Running' : 'Completed',
                  cancelRequested: false,
                },
              },
      }),
    });
    expect(r.output).toMatchObject({ status: 'Succeeded' });
    const outages = inputsOf<{ outage: { since: string; missedChecks: number; lastError: unknown } }>(
      r,
      ACTIVITY.recordOutage,
    );
    expect(outages.map((o) => o.outage.missedChecks)).toEqual([1, 2]);
    // Since the first check that could not get through began (+30 s), not when its retries ran out.
    expect(outages.map((o) => o.outage.since)).toEqual(Array(2).fill('2026-01-01T00:00:30.000Z'));
    expect(outages[1]!.outage.lastError).toEqual({
      code: 'AmlUnavailable',
      message: UNREACHABLE.message,
      retryable: true,
    });
    expect(r.customStatuses).toContainEqual(
      expect.objectContaining({ phase: 'Waiting', outage: expect.objectContaining({ missedChecks: 2 }) }),
    );
    expect(names(r)).not.toContain(ACTIVITY.cancelAmlJob);
    expect(outcome(r)).toMatchObject({ status: 'Succeeded', amlStatus: 'Completed' });
  });

  test('an outage until the deadline: TimedOut, the cancel is attempted and recorded as not confirmed', async () => {
    const r = await play({
      input: { ...input, deadlineSeconds: 3 * 3600 },
      activities: world([], {
        [ACTIVITY.checkAmlJob]: () => thrown('check'),
        [ACTIVITY.cancelAmlJob]: () => thrown('cancel'),
      }),
    });
    const o = outcome(r);
    expect(o).toMatchObject({
      status: 'TimedOut',
      error: { code: 'TimedOut', retryable: true },
      cancel: { confirmed: false, amlAnswer: UNREACHABLE.message },
      warnings: [expect.stringContaining('may still be running')],
    });
    expect(r.executions).toBeGreaterThan(1); // the outage outlived continueAsNew
    const outages = inputsOf<{ outage: { since: string; missedChecks: number } }>(r, ACTIVITY.recordOutage);
    expect(outages.at(-1)!.outage.missedChecks).toBe(outages.length);
    expect(new Set(outages.map((x) => x.outage.since)).size).toBe(1);
  });

  test('AML job failing ends Failed with its reason; nothing to cancel', async () => {
    const r = await play({
      activities: world([], {
        [ACTIVITY.checkAmlJob]: (_n, _i, call) => ({
          result:
            call < 4
              ? { ok: true, amlStatus: 'Running', cancelRequested: false }
              : { ok: true, amlStatus: 'Failed', amlError: 'row 7: carat missing', cancelRequested: false },
        }),
      }),
    });
    expect(outcome(r)).toMatchObject({
      status: 'Failed',
      amlStatus: 'Failed',
      error: {
        code: 'AmlJobFailed',
        message: expect.stringContaining('row 7: carat missing'),
        retryable: false,
      },
    });
    expect(names(r)).not.toContain(ACTIVITY.publishPredictions);
    expect(names(r)).not.toContain(ACTIVITY.cancelAmlJob);
  });

  test('AML job canceled in Azure ML ends Canceled', async () => {
    const r = await play({ activities: world(['Queued', 'Canceled']) });
    expect(outcome(r)).toMatchObject({
      status: 'Canceled',
      amlStatus: 'Canceled',
      error: { code: 'AmlJobCanceled' },
    });
  });

  test('a permanent check error (unknown status) gives up: the AML job is cancelled first', async () => {
    const r = await play({
      activities: world([], {
        [ACTIVITY.checkAmlJob]: () => ({
          result: {
            ok: false,
            error: {
              code: 'AmlUnknownStatus',
              message: 'AML job aml-1 has an unknown status "Weird"',
              retryable: false,
            },
          },
        }),
      }),
    });
    expect(names(r).slice(-2)).toEqual([ACTIVITY.cancelAmlJob, ACTIVITY.recordOutcome]);
    expect(outcome(r)).toMatchObject({
      status: 'Failed',
      error: { code: 'AmlUnknownStatus' },
      cancel: { confirmed: true },
      amlStatus: 'CancelRequested',
    });
  });

  test('AML not knowing the job (404 on check) fails it without a cancel', async () => {
    const r = await play({
      activities: world([], {
        [ACTIVITY.checkAmlJob]: () => ({
          result: {
            ok: false,
            error: { code: 'AmlNotFound', message: 'AML answered 404', retryable: false },
          },
        }),
      }),
    });
    expect(names(r)).not.toContain(ACTIVITY.cancelAmlJob);
    expect(outcome(r)).toMatchObject({ status: 'Failed', error: { code: 'AmlNotFound' } });
  });

  test('deadline: a job stuck in Queued is cancelled in AML and ends TimedOut, with a bounded history', async () => {
    const r = await play({ input: { ...input, deadlineSeconds: 6 * 3600 }, activities: world(['Queued']) });
    const o = outcome(r);
    expect(o).toMatchObject({
      status: 'TimedOut',
      error: { code: 'TimedOut', message: expect.stringContaining('last status Queued') },
      cancel: {
        confirmed: true,
        amlAnswer: 'AML accepted the cancel (202).',
        requestedAt: '2026-01-01T06:00:00.000Z',
      },
      amlStatus: 'CancelRequested',
    });
    expect(o).not.toHaveProperty('warnings');
    const n = names(r);
    expect(n.filter((x) => x === ACTIVITY.cancelAmlJob)).toHaveLength(1);
    expect(n.indexOf(ACTIVITY.cancelAmlJob)).toBeGreaterThan(n.lastIndexOf(ACTIVITY.checkAmlJob));
    expect(r.finishedAt.getTime() - start.getTime()).toBe(6 * 3600 * 1000); // the last timer is capped to it
    const checks = n.filter((x) => x === ACTIVITY.checkAmlJob).length;
    expect(checks).toBeGreaterThan(POLLS_PER_EXECUTION);
    expect(r.executions).toBe(
      Math.ceil(checks / POLLS_PER_EXECUTION) + (checks % POLLS_PER_EXECUTION === 0 ? 1 : 0),
    );
    expect(r.maxHistoryLength).toBeLessThan(8 * POLLS_PER_EXECUTION + 20);
  });

  test('a cancel request (external event) cancels the AML job at once and ends Canceled', async () => {
    const r = await play({
      activities: world(['Queued']),
      events: [{ at: new Date(start.getTime() + 100_000), name: CANCEL_EVENT, data: { at: 'api' } }],
    });
    expect(names(r).slice(-2)).toEqual([ACTIVITY.cancelAmlJob, ACTIVITY.recordOutcome]);
    expect(outcome(r)).toMatchObject({
      status: 'Canceled',
      error: { code: 'Canceled', message: 'Canceled on request.' },
      cancel: { confirmed: true },
      amlStatus: 'CancelRequested',
    });
    expect(r.finishedAt.getTime() - start.getTime()).toBe(100_000); // it did not wait for the next poll
  });

  test('a cancel AML refuses is recorded with AML’s answer; the job still ends Canceled, with a warning', async () => {
    const refusal =
      "AML answered 404 to cancel job aml-1: UserError: Job 'aml-1' was not found in workspace 'ws'.";
    const r = await play({
      activities: world(['Queued'], {
        [ACTIVITY.cancelAmlJob]: () => ({
          result: { ok: false, error: { code: 'AmlNotFound', message: refusal, retryable: false } },
        }),
      }),
      events: [{ at: new Date(start.getTime() + 100_000), name: CANCEL_EVENT }],
    });
    const o = outcome(r);
    expect(o).toMatchObject({
      status: 'Canceled',
      amlStatus: 'Queued',
      cancel: { confirmed: false, amlAnswer: refusal },
      warnings: [expect.stringMatching(/aml-1.*may still be running/)],
    });
  });

  test('a cancel flag seen on the record (event missed) also cancels', async () => {
    const r = await play({
      activities: world([], {
        [ACTIVITY.checkAmlJob]: () => ({ result: { ok: true, amlStatus: 'Queued', cancelRequested: true } }),
      }),
    });
    expect(outcome(r)).toMatchObject({ status: 'Canceled' });
    expect(names(r)).toContain(ACTIVITY.cancelAmlJob);
  });

  test('a storage outage while publishing is recorded and outlived, on the schedule; AML is not cancelled', async () => {
    let attempts = 0;
    const r = await play({
      activities: world(['Completed'], {
        [ACTIVITY.publishPredictions]: () =>
          ++attempts <= 7
            ? thrown('publish')
            : { result: { ok: true, outputBlob: 'outbox/a_predictions.csv', rows: 3, rowsFailed: 0 } },
      }),
    });
    expect(outcome(r)).toMatchObject({ status: 'Succeeded', outputBlob: 'outbox/a_predictions.csv' });
    const outages = inputsOf<{ outage: { missedChecks: number; lastError: { code: string } } }>(
      r,
      ACTIVITY.recordOutage,
    );
    expect(outages.map((o) => [o.outage.missedChecks, o.outage.lastError.code])).toEqual([
      [1, 'StorageUnavailable'],
    ]);
    expect(names(r)).not.toContain(ACTIVITY.cancelAmlJob);
    expect(r.customStatuses).toContainEqual(
      expect.objectContaining({ phase: 'Publishing', outage: expect.anything() }),
    );
  });

  test('predictions that do not fit the input fail the job (permanent): no retries, no outage', async () => {
    const r = await play({
      activities: world(['Completed'], {
        [ACTIVITY.publishPredictions]: () => ({
          result: {
            ok: false,
            error: { code: 'PredictionsInvalid', message: '1 prediction for 2 rows', retryable: false },
          },
        }),
      }),
    });
    expect(inputsOf(r, ACTIVITY.publishPredictions)).toHaveLength(1);
    expect(outcome(r)).toMatchObject({ status: 'Failed', error: { code: 'PredictionsInvalid' } });
  });

  test('some rows without a prediction: Succeeded with the counts, the errors file and a warning', async () => {
    const r = await play({
      activities: world(['Completed'], {
        [ACTIVITY.publishPredictions]: () => ({
          result: {
            ok: true,
            outputBlob: 'outbox/a_predictions.csv',
            errorsBlob: 'outbox/a_errors.csv',
            rows: 7,
            rowsFailed: 3,
          },
        }),
      }),
    });
    const o = outcome(r);
    expect(o).toMatchObject({
      status: 'Succeeded',
      outputBlob: 'outbox/a_predictions.csv',
      errorsBlob: 'outbox/a_errors.csv',
      rowsScored: 7,
      rowsFailed: 3,
    });
    expect(o.error).toBeUndefined();
    expect(o.warnings).toEqual([
      expect.stringMatching(/^3 of 10 rows got no prediction\..*outbox\/a_errors\.csv.*aml-1/),
    ]);
    expect(r.output).toMatchObject({ status: 'Succeeded', outputBlob: 'outbox/a_predictions.csv' });
  });

  test('no row scored: Failed (AllRowsFailed, not retryable), with the counts and the errors file', async () => {
    const r = await play({
      activities: world(['Running', 'Completed'], {
        [ACTIVITY.publishPredictions]: () => ({
          result: { ok: true, errorsBlob: 'outbox/a_errors.csv', rows: 0, rowsFailed: 4 },
        }),
      }),
    });
    const o = outcome(r);
    expect(o).toMatchObject({
      status: 'Failed',
      errorsBlob: 'outbox/a_errors.csv',
      rowsScored: 0,
      rowsFailed: 4,
      error: { code: 'AllRowsFailed', retryable: false },
    });
    expect(o.error!.message).toContain('any of the 4 rows');
    expect(o.outputBlob).toBeUndefined();
    expect(inputsOf(r, ACTIVITY.publishPredictions)).toHaveLength(1);
    expect(names(r)).not.toContain(ACTIVITY.cancelAmlJob);
    expect(r.output).toMatchObject({ status: 'Failed', error: { code: 'AllRowsFailed' } });
  });

  test('a deployment asked for travels from the input through validation to the submit', async () => {
    const r = await play({
      input: { ...input, deployment: 'diamond-v1' },
      activities: world(['Completed'], {
        [ACTIVITY.validateAndStage]: (_n, inp) => ({
          result: { ok: true, staged, deployment: (inp as { deployment?: string }).deployment },
        }),
      }),
    });
    expect(inputsOf(r, ACTIVITY.validateAndStage)).toEqual([
      expect.objectContaining({ deployment: 'diamond-v1' }),
    ]);
    expect(inputsOf(r, ACTIVITY.submitAmlJob)).toEqual([
      expect.objectContaining({ deployment: 'diamond-v1' }),
    ]);
    expect(outcome(r)).toMatchObject({ status: 'Succeeded' });
  });

  test('without a deployment asked for, none is passed on (the setting or the endpoint default applies)', async () => {
    const r = await play({ activities: world(['Completed']) });
    expect(inputsOf<object>(r, ACTIVITY.submitAmlJob)[0]).not.toHaveProperty('deployment');
  });

  test('a table outage while recording the outcome is waited out on the schedule', async () => {
    let attempts = 0;
    const r = await play({
      activities: world(['Completed'], {
        [ACTIVITY.recordOutcome]: () => (++attempts <= 8 ? thrown('publish') : { result: { ok: true } }),
      }),
    });
    expect(r.status).toBe('Completed');
    expect(r.output).toMatchObject({ status: 'Succeeded' });
    expect(inputsOf(r, ACTIVITY.recordOutcome)).toHaveLength(9); // a round of 6, then 3 more after a wait
    expect(r.customStatuses).toContainEqual(
      expect.objectContaining({ phase: 'Recording', outage: expect.objectContaining({ missedChecks: 1 }) }),
    );
  });

  test('an outcome that cannot be recorded at all fails the orchestration visibly (for the reconciler)', async () => {
    const r = await play({
      activities: world(['Completed'], {
        [ACTIVITY.recordOutcome]: () => ({
          result: { ok: false, error: { code: 'StorageAuth', message: 'access denied', retryable: false } },
        }),
      }),
    });
    expect(r.status).toBe('Failed');
    expect(r.error).toContain('The Succeeded outcome could not be recorded: StorageAuth: access denied');
  });

  test('current hosts hand the failure over as FailureDetails: decoded the same way', async () => {
    const r = await play({ activities: world([], { [ACTIVITY.submitAmlJob]: () => thrown('submit') }) });
    // The same history, with each TaskFailed also carrying FailureDetails as extension bundles >= 4.37.1 write it.
    const payload = JSON.parse(hostReasons.get('submit')!.slice(hostReasons.get('submit')!.indexOf('{'))) as {
      errorType: string;
      errorMessage: string;
      properties: Record<string, unknown>;
    };
    const history = r.histories[0]!.map((e) =>
      e.EventType === 6
        ? {
            ...e,
            Reason: `Activity function '${ACTIVITY.submitAmlJob}' failed: ${payload.errorMessage}`,
            FailureDetails: {
              ErrorType: payload.errorType,
              ErrorMessage: payload.errorMessage,
              IsNonRetriable: false,
              Properties: payload.properties,
            },
          }
        : e,
    );
    const last = history
      .map((e, i) => (e.EventType === 12 ? i : -1))
      .filter((i) => i >= 0)
      .at(-1)!;
    const again = await replayActions(
      scoreJobOrchestrator,
      history.slice(0, last + 3).filter((e) => e.EventType !== 13),
      input,
      'j1',
    );
    const record = again.find(
      (a) => (a as { functionName?: string }).functionName === ACTIVITY.recordOutcome,
    ) as { input: OutcomeInput } | undefined;
    expect(record?.input.error).toEqual({
      code: 'AmlUnavailable',
      message: UNREACHABLE.message,
      retryable: true,
    });
  });
});
