import * as df from 'durable-functions';
import { batchIdFor, lostBatchError } from '../../../src/domain/batch';
import { errorProperties, PipelineError, type ErrorInfo } from '../../../src/domain/errors';
import { batchOrchestrator } from '../../../src/orchestration/batch';
import {
  ACTIVITY,
  BATCH_CLOSE_EVENT,
  BATCH_DONE_EVENT,
  CANCEL_EVENT,
} from '../../../src/orchestration/names';
import { scoreJobOrchestrator } from '../../../src/orchestration/scoreJob';
import { POLLS_PER_EXECUTION } from '../../../src/orchestration/waiting';
import type {
  BatchDone,
  BatchInput,
  JoinBatchInput,
  NotifyMembersInput,
  OutcomeInput,
  PublishInput,
  ScoreJobInput,
  StagedFile,
} from '../../../src/orchestration/contracts';
import {
  simulate,
  type ActivityFn,
  type SimOptions,
  type SimResult,
} from '../../../dev/runtime/durable/memoryHost';
import { EventType, type HistoryEvent } from '../../../dev/runtime/durable/history';
import { expectDeterministic, hostReason, scoreJobInput, stagedFile } from '../../support/replay';

/**
 * Coalescing, both sides, through the real durable-functions replay engine (the one Durable host
 * model, dev/runtime/durable/memoryHost.ts): a member file's orchestration (scoreJob → batched.ts) and
 * the batch's own orchestration (batch.ts). Every run is replayed from every prefix of every
 * execution's history and must ask for the same actions again.
 */
const start = new Date('2026-01-01T00:00:00Z');
const after = (seconds: number): Date => new Date(start.getTime() + seconds * 1000);
const secondsAfterStart = (at: string): number => (Date.parse(at) - start.getTime()) / 1000;
const schedule = { firstDelaySeconds: 30, factor: 1.5, maxDelaySeconds: 300 };
const batching = { windowSeconds: 60, maxFiles: 10, maxBytes: 1_000_000 };

const J1 = 'j7000000000000-00000000000000000001';
const J2 = 'j7000000000001-00000000000000000002';
const BATCH = batchIdFor(J1);

/**
 * A thrown transient error as the orchestrator receives it from the host (as in scoreJob.replay.test.ts):
 * durable-functions' activity wrapper with the app's exception properties provider, then the
 * extension's `Activity function '<name>' failed: <message>` as the TaskFailed reason.
 */
const hostReasons = new Map<string, string>();
const CONTENTION = `job ${J1} could not join a batch under contention`;
beforeAll(async () => {
  df.app.setExceptionPropertiesProvider({ getExceptionProperties: errorProperties });
  hostReasons.set(
    'join',
    await hostReason(
      ACTIVITY.joinBatch,
      new PipelineError('StorageConflict', CONTENTION, { retryable: true }),
    ),
  );
  hostReasons.set(
    'check',
    await hostReason(
      ACTIVITY.checkAmlJob,
      new PipelineError('AmlUnavailable', 'Could not reach AML (ECONNREFUSED).', { retryable: true }),
    ),
  );
  hostReasons.set(
    'publish',
    await hostReason(
      ACTIVITY.publishPredictions,
      new PipelineError('StorageUnavailable', 'write outbox/a_predictions.csv: 503 Server Busy', {
        retryable: true,
      }),
    ),
  );
});
const thrown = (which: string) => ({ error: hostReasons.get(which)! });

const names = (r: SimResult): string[] => r.activityCalls.map((c) => c.name);
const inputsOf = <T>(r: SimResult, name: string): T[] =>
  r.activityCalls.filter((c) => c.name === name).map((c) => c.input as T);
const callTimes = (r: SimResult, name: string): number[] =>
  r.activityCalls.filter((c) => c.name === name).map((c) => secondsAfterStart(c.at));
const outcome = (r: SimResult): OutcomeInput => {
  const o = inputsOf<OutcomeInput>(r, ACTIVITY.recordOutcome);
  expect(o).toHaveLength(1); // exactly one terminal write, by the orchestrator
  return o[0]!;
};
/** Activities scheduled in one execution's history, by name. */
const scheduledIn = (history: HistoryEvent[]): string[] =>
  history.filter((e) => e.EventType === EventType.TaskScheduled).map((e) => String(e.Name));

// ---------------------------------------------------------------------------------------------------
// A member file: scoreJobOrchestrator with coalescing on and a batchable file.

const memberStaged = stagedFile(J1, 3);
const memberInput: ScoreJobInput = { ...scoreJobInput(J1), batching };
const runs = [
  `p/${BATCH}/output/by-file/${J1}.csv/00000.csv`,
  `p/${BATCH}/output/by-file/${J1}.csv/00002.csv`,
];
const scoredDone: BatchDone = {
  batchId: BATCH,
  amlJobName: 'aml-b',
  scored: true,
  predictionRuns: runs,
  status: 'Succeeded',
};

function memberWorld(overrides: Partial<Record<string, ActivityFn>> = {}): ActivityFn {
  return (name, inp, call, at) => {
    const o = overrides[name];
    if (o) return o(name, inp, call, at);
    switch (name) {
      case ACTIVITY.validateAndStage:
        return { result: { ok: true, staged: memberStaged, batchable: true } };
      case ACTIVITY.joinBatch:
        return { result: { ok: true, batchId: BATCH } };
      case ACTIVITY.submitAmlJob:
        return { result: { ok: true, amlJobName: 'aml-own', amlStatus: 'NotStarted' } };
      case ACTIVITY.checkAmlJob:
        return { result: { ok: true, amlStatus: 'Completed', cancelRequested: false } };
      case ACTIVITY.publishPredictions:
        return { result: { ok: true, outputBlob: 'outbox/a_predictions.csv', rows: 3, rowsFailed: 0 } };
      case ACTIVITY.recordOutcome:
      case ACTIVITY.recordOutage:
        return { result: { ok: true } };
      default:
        throw new Error(`unexpected activity ${name}`);
    }
  };
}

async function playMember(o: Partial<SimOptions> & { activities: ActivityFn }): Promise<SimResult> {
  const r = await simulate(scoreJobOrchestrator, { instanceId: J1, input: memberInput, start, ...o });
  await expectDeterministic(scoreJobOrchestrator, J1, r);
  return r;
}
const doneAt = (seconds: number, done: BatchDone = scoredDone) => ({
  at: after(seconds),
  name: BATCH_DONE_EVENT,
  data: done,
});

describe('a member file (scoreJob with coalescing, real durable-functions replay engine)', () => {
  test('joins its batch, waits for BatchDone, publishes its own runs and records Succeeded', async () => {
    const r = await playMember({ activities: memberWorld(), events: [doneAt(90)] });
    expect(names(r)).toEqual([
      ACTIVITY.validateAndStage,
      ACTIVITY.joinBatch,
      ACTIVITY.publishPredictions,
      ACTIVITY.recordOutcome,
    ]);
    expect(inputsOf<JoinBatchInput>(r, ACTIVITY.joinBatch)).toEqual([
      { jobId: J1, staged: memberStaged, limits: batching },
    ]);
    expect(r.customStatuses).toContainEqual({ phase: 'Batching', batchId: BATCH });
    // Publishing waits for the batch, then goes at once (no poll timer: AML already completed).
    expect(callTimes(r, ACTIVITY.publishPredictions)).toEqual([90]);
    expect(inputsOf<PublishInput>(r, ACTIVITY.publishPredictions)).toEqual([
      { jobId: J1, source: memberInput.source, staged: { ...memberStaged, predictionRuns: runs } },
    ]);
    expect(outcome(r)).toEqual({
      jobId: J1,
      status: 'Succeeded',
      amlStatus: 'Completed',
      outputBlob: 'outbox/a_predictions.csv',
      rowsScored: 3,
      rowsFailed: 0,
    });
    expect(r.output).toMatchObject({ jobId: J1, status: 'Succeeded', amlJobName: 'aml-b' });
    expect(r.customStatuses.at(-1)).toEqual({ phase: 'Done' });
  });

  test('the deployment the file asked for goes to joinBatch (only files of one deployment share a job)', async () => {
    const r = await playMember({
      activities: memberWorld({
        [ACTIVITY.validateAndStage]: () => ({
          result: { ok: true, staged: memberStaged, batchable: true, deployment: 'blue' },
        }),
      }),
      events: [doneAt(90)],
    });
    expect(inputsOf<JoinBatchInput>(r, ACTIVITY.joinBatch)[0]).toMatchObject({ deployment: 'blue' });
  });

  test('a BatchDone raised before the member waits (notify raced the join) is still taken', async () => {
    const r = await playMember({
      activities: memberWorld({
        // The join's first attempt fails transiently; the event arrives while the retry timer runs.
        [ACTIVITY.joinBatch]: (_n, _i, call) =>
          call === 2 ? thrown('join') : { result: { ok: true, batchId: BATCH } },
      }),
      events: [doneAt(2)],
    });
    expect(callTimes(r, ACTIVITY.joinBatch)).toEqual([0, 5]);
    expect(outcome(r)).toMatchObject({ status: 'Succeeded' });
  });

  test('a BatchDone told twice (notifyMembers retried) publishes and records once', async () => {
    const r = await playMember({
      activities: memberWorld({
        // The second BatchDone arrives while the first publish is being retried.
        [ACTIVITY.publishPredictions]: (_n, _i, call) =>
          call === 3
            ? thrown('publish')
            : { result: { ok: true, outputBlob: 'outbox/a_predictions.csv', rows: 3, rowsFailed: 0 } },
      }),
      events: [doneAt(90), doneAt(92)],
    });
    expect(callTimes(r, ACTIVITY.publishPredictions)).toEqual([90, 95]);
    expect(outcome(r)).toMatchObject({ status: 'Succeeded' });
  });

  test('some rows without a prediction from the batch: Succeeded with a warning naming the batch’s AML job', async () => {
    const r = await playMember({
      activities: memberWorld({
        [ACTIVITY.publishPredictions]: () => ({
          result: {
            ok: true,
            outputBlob: 'outbox/a_predictions.csv',
            errorsBlob: 'outbox/a_errors.csv',
            rows: 2,
            rowsFailed: 1,
          },
        }),
      }),
      events: [doneAt(90)],
    });
    expect(outcome(r)).toMatchObject({
      status: 'Succeeded',
      rowsScored: 2,
      rowsFailed: 1,
      errorsBlob: 'outbox/a_errors.csv',
      warnings: [expect.stringMatching(/^1 of 3 rows got no prediction\..*aml-b/)],
    });
  });

  test.each([
    ['Failed', { code: 'AmlJobFailed', message: 'AML job aml-b failed: out of memory', retryable: false }],
    ['TimedOut', { code: 'TimedOut', message: 'The job did not end within 86400 s: ...', retryable: true }],
    [
      'Canceled',
      { code: 'AmlJobCanceled', message: 'AML job aml-b was canceled in Azure ML.', retryable: true },
    ],
  ] as const)(
    'batch not scored (%s): the member ends as the batch did, the message names the batch; nothing published',
    async (status, error) => {
      const r = await playMember({
        activities: memberWorld(),
        events: [doneAt(600, { batchId: BATCH, amlJobName: 'aml-b', scored: false, status, error })],
      });
      expect(names(r)).toEqual([ACTIVITY.validateAndStage, ACTIVITY.joinBatch, ACTIVITY.recordOutcome]);
      expect(outcome(r)).toEqual({
        jobId: J1,
        status,
        error: { ...error, message: `Batch ${BATCH}: ${error.message}` },
      });
      expect(r.output).toMatchObject({ status, amlJobName: 'aml-b' });
      expect(r.finishedAt).toEqual(after(600));
    },
  );

  test('a batch that failed before AML (submit refused) tells the member without an AML job name', async () => {
    const error: ErrorInfo = { code: 'AmlAuth', message: 'needs AzureML Data Scientist', retryable: false };
    const r = await playMember({
      activities: memberWorld(),
      events: [doneAt(60, { batchId: BATCH, scored: false, status: 'Failed', error })],
    });
    expect(outcome(r)).toEqual({
      jobId: J1,
      status: 'Failed',
      error: { ...error, message: `Batch ${BATCH}: needs AzureML Data Scientist` },
    });
    expect(r.output).toMatchObject({ amlJobName: BATCH });
  });

  test('cancel while waiting: Canceled with a cancel record, no AML cancel (the job scores other files too)', async () => {
    const r = await playMember({
      activities: memberWorld(),
      events: [{ at: after(30), name: CANCEL_EVENT, data: { at: 'api' } }, doneAt(90)],
    });
    expect(names(r)).not.toContain(ACTIVITY.cancelAmlJob);
    expect(names(r)).not.toContain(ACTIVITY.publishPredictions);
    expect(outcome(r)).toEqual({
      jobId: J1,
      status: 'Canceled',
      error: { code: 'Canceled', message: 'Canceled on request.', retryable: true },
      cancel: {
        requestedAt: after(30).toISOString(),
        confirmed: false,
        amlAnswer: expect.stringContaining(`batch ${BATCH}`),
      },
    });
    expect(r.finishedAt).toEqual(after(30)); // at once: it did not wait for the batch
  });

  test('cancel during a publish outage (after BatchDone) ends Canceled, as on the plain path; AML is not cancelled', async () => {
    const r = await playMember({
      activities: memberWorld({
        [ACTIVITY.publishPredictions]: () => thrown('publish'),
      }),
      // The cancel arrives while the first publish is still being retried (attempts at +90 s ... +245 s).
      events: [doneAt(90), { at: after(100), name: CANCEL_EVENT, data: { at: 'api' } }],
    });
    expect(callTimes(r, ACTIVITY.publishPredictions)).toEqual([90, 95, 105, 125, 165, 245]);
    expect(inputsOf(r, ACTIVITY.recordOutage)).toEqual([
      {
        jobId: J1,
        outage: {
          since: after(90).toISOString(),
          missedChecks: 1,
          lastError: expect.objectContaining({ code: 'StorageUnavailable' }),
        },
      },
    ]);
    // Canceled at the first outage wait (the out-of-retries answer comes one capped interval after the
    // last attempt), not at the deadline a day later.
    expect(callTimes(r, ACTIVITY.recordOutage)).toEqual([365]);
    expect(r.finishedAt).toEqual(after(365));
    expect(names(r)).not.toContain(ACTIVITY.cancelAmlJob);
    expect(outcome(r)).toMatchObject({
      status: 'Canceled',
      amlStatus: 'Completed',
      error: { code: 'Canceled', message: 'Canceled on request.' },
    });
  });

  test('plain path too: a cancel raised while a check is being retried is acted on at the next wait', async () => {
    let checks = 0;
    const r = await playMember({
      input: { ...memberInput, batching: undefined },
      activities: memberWorld({
        [ACTIVITY.checkAmlJob]: () =>
          ++checks === 1
            ? thrown('check')
            : { result: { ok: true, amlStatus: 'Running', cancelRequested: false } },
        [ACTIVITY.cancelAmlJob]: () => ({
          result: { ok: true, confirmed: true, amlAnswer: 'AML accepted the cancel (202).' },
        }),
      }),
      // The first check runs at +30 s and is retried at +35 s; the cancel comes in between.
      events: [{ at: after(32), name: CANCEL_EVENT, data: { at: 'api' } }],
    });
    expect(callTimes(r, ACTIVITY.checkAmlJob)).toEqual([30, 35]);
    expect(callTimes(r, ACTIVITY.cancelAmlJob)).toEqual([35]);
    expect(outcome(r)).toMatchObject({ status: 'Canceled', cancel: { confirmed: true } });
  });

  test('no BatchDone ever: BatchLost after the safety timer (window + deadline + 1 h), retryable', async () => {
    const r = await playMember({ activities: memberWorld() });
    expect(names(r)).toEqual([ACTIVITY.validateAndStage, ACTIVITY.joinBatch, ACTIVITY.recordOutcome]);
    expect(secondsAfterStart(r.finishedAt.toISOString())).toBe(60 + 24 * 3600 + 3600);
    expect(outcome(r)).toEqual({
      jobId: J1,
      status: 'Failed',
      error: {
        code: 'BatchLost',
        message: expect.stringMatching(new RegExp(`^Batch ${BATCH} did not report.*/api/jobs/${J1}/retry`)),
        retryable: true,
      },
    });
  });

  test.each([
    ['while it waits', 3600],
    ['before it has even joined (its orchestration was started again)', 0],
  ])(
    'told by the reconciler that its batch was lost (%s): Failed at once, BatchLost, retryable, naming the batch',
    async (_when, seconds) => {
      const lost = lostBatchError('Failed', 'aml-b');
      const r = await playMember({
        activities: memberWorld(),
        events: [
          doneAt(seconds, {
            batchId: BATCH,
            amlJobName: 'aml-b',
            scored: false,
            status: 'Failed',
            error: lost,
            predictionRuns: [],
          }),
        ],
      });
      expect(names(r)).toEqual([ACTIVITY.validateAndStage, ACTIVITY.joinBatch, ACTIVITY.recordOutcome]);
      expect(outcome(r)).toEqual({
        jobId: J1,
        status: 'Failed',
        error: { code: 'BatchLost', message: `Batch ${BATCH}: ${lost.message}`, retryable: true },
      });
      expect(r.finishedAt).toEqual(after(seconds));
    },
  );

  test('a BatchDone one moment before the safety timer still wins', async () => {
    const r = await playMember({ activities: memberWorld(), events: [doneAt(60 + 24 * 3600 + 3599)] });
    expect(outcome(r)).toMatchObject({ status: 'Succeeded' });
  });

  test('a join that fails (returned) ends the member Failed with that error; it waits for nothing', async () => {
    const error = { code: 'StorageAuth', message: 'access denied to the jobs table', retryable: false };
    const r = await playMember({
      activities: memberWorld({ [ACTIVITY.joinBatch]: () => ({ result: { ok: false, error } }) }),
      events: [doneAt(90)],
    });
    expect(names(r)).toEqual([ACTIVITY.validateAndStage, ACTIVITY.joinBatch, ACTIVITY.recordOutcome]);
    expect(outcome(r)).toEqual({ jobId: J1, status: 'Failed', error });
    expect(r.finishedAt).toEqual(start);
  });

  test('a join out of retries (thrown: contention) ends the member Failed, retryable', async () => {
    const r = await playMember({
      activities: memberWorld({
        [ACTIVITY.joinBatch]: () => thrown('join'),
      }),
    });
    expect(inputsOf(r, ACTIVITY.joinBatch)).toHaveLength(6); // the retry policy's attempts
    expect(outcome(r)).toEqual({
      jobId: J1,
      status: 'Failed',
      error: { code: 'StorageConflict', message: CONTENTION, retryable: true },
    });
    expect(names(r)).not.toContain(ACTIVITY.publishPredictions);
  });

  test('a file that is not batchable takes the plain path: its own AML job, no join', async () => {
    const r = await playMember({
      activities: memberWorld({
        [ACTIVITY.validateAndStage]: () => ({ result: { ok: true, staged: memberStaged, batchable: false } }),
      }),
      events: [doneAt(10)],
    });
    expect(names(r)).toEqual([
      ACTIVITY.validateAndStage,
      ACTIVITY.submitAmlJob,
      ACTIVITY.checkAmlJob,
      ACTIVITY.publishPredictions,
      ACTIVITY.recordOutcome,
    ]);
    expect(inputsOf<PublishInput>(r, ACTIVITY.publishPredictions)[0]!.staged).toEqual(memberStaged);
    expect(r.output).toMatchObject({ status: 'Succeeded', amlJobName: 'aml-own' });
  });

  test('without `batching` in the input (coalescing off when the job started) a batchable file goes alone', async () => {
    const { batching: _off, ...plain } = memberInput;
    const r = await playMember({ input: plain, activities: memberWorld() });
    expect(names(r)).not.toContain(ACTIVITY.joinBatch);
    expect(names(r)).toContain(ACTIVITY.submitAmlJob);
    expect(outcome(r)).toMatchObject({ status: 'Succeeded' });
  });

  test('a member whose publish outlives several executions still publishes its runs', async () => {
    let attempts = 0;
    const r = await playMember({
      activities: memberWorld({
        // Out of retries POLLS_PER_EXECUTION times in a row: each is an outage, then continueAsNew.
        [ACTIVITY.publishPredictions]: () =>
          ++attempts <= 6 * POLLS_PER_EXECUTION
            ? thrown('publish')
            : { result: { ok: true, outputBlob: 'outbox/a_predictions.csv', rows: 3, rowsFailed: 0 } },
      }),
      events: [doneAt(90)],
    });
    expect(r.executions).toBe(2);
    expect(names(r).filter((n) => n === ACTIVITY.joinBatch)).toHaveLength(1);
    const publishes = inputsOf<PublishInput>(r, ACTIVITY.publishPredictions);
    expect(new Set(publishes.map((p) => JSON.stringify(p.staged.predictionRuns)))).toEqual(
      new Set([JSON.stringify(runs)]),
    );
    expect(outcome(r)).toMatchObject({ status: 'Succeeded', amlStatus: 'Completed' });
  });
});

// ---------------------------------------------------------------------------------------------------
// The batch: batchOrchestrator, instance id = batch id.

const batchStaged: StagedFile = {
  rows: 7,
  bytes: 300,
  inputPath: `p/${BATCH}/input/`,
  outputPath: `p/${BATCH}/output/predictions.csv`,
  inputUri: `azureml://datastores/ws/paths/p/${BATCH}/input/`,
  outputUri: `azureml://datastores/ws/paths/p/${BATCH}/output/predictions.csv`,
  folder: true,
  members: [J1, J2],
};
const batchInput: BatchInput = {
  jobId: BATCH,
  source: { container: 'datastore', name: `p/${BATCH}`, etag: '' },
  schedule,
  deadlineSeconds: 24 * 3600,
  batch: { closesAt: after(60).toISOString() },
};

/** Activities of a batch; `statuses` is what AML reports at each check. */
function batchWorld(statuses: string[], overrides: Partial<Record<string, ActivityFn>> = {}): ActivityFn {
  let checks = 0;
  return (name, inp, call, at) => {
    const o = overrides[name];
    if (o) return o(name, inp, call, at);
    switch (name) {
      case ACTIVITY.closeBatch:
        return { result: { ok: true, staged: batchStaged } };
      case ACTIVITY.submitAmlJob:
        return { result: { ok: true, amlJobName: 'aml-b', amlStatus: 'NotStarted' } };
      case ACTIVITY.checkAmlJob: {
        const s = statuses[Math.min(checks++, statuses.length - 1)]!;
        return { result: { ok: true, amlStatus: s, cancelRequested: false } };
      }
      case ACTIVITY.publishPredictions:
        return { result: { ok: true, rows: 7, rowsFailed: 0 } };
      case ACTIVITY.notifyMembers:
      case ACTIVITY.recordOutcome:
      case ACTIVITY.recordOutage:
        return { result: { ok: true } };
      default:
        throw new Error(`unexpected activity ${name}`);
    }
  };
}

async function playBatch(o: Partial<SimOptions> & { activities: ActivityFn }): Promise<SimResult> {
  const r = await simulate(batchOrchestrator, { instanceId: BATCH, input: batchInput, start, ...o });
  await expectDeterministic(batchOrchestrator, BATCH, r);
  return r;
}
const notified = (r: SimResult): NotifyMembersInput[] =>
  inputsOf<NotifyMembersInput>(r, ACTIVITY.notifyMembers);

describe('a batch (batchOrchestrator, real durable-functions replay engine)', () => {
  test('closes at closesAt by its timer, submits one AML job for the folder, regroups, records, then notifies', async () => {
    const r = await playBatch({ activities: batchWorld(['Running', 'Completed']) });
    expect(names(r)).toEqual([
      ACTIVITY.closeBatch,
      ACTIVITY.submitAmlJob,
      ACTIVITY.checkAmlJob,
      ACTIVITY.checkAmlJob,
      ACTIVITY.publishPredictions,
      ACTIVITY.recordOutcome,
      ACTIVITY.notifyMembers,
    ]);
    expect(callTimes(r, ACTIVITY.closeBatch)).toEqual([60]);
    expect(inputsOf(r, ACTIVITY.closeBatch)).toEqual([{ batchId: BATCH }]);
    expect(inputsOf(r, ACTIVITY.submitAmlJob)).toEqual([{ jobId: BATCH, staged: batchStaged }]);
    expect(inputsOf<PublishInput>(r, ACTIVITY.publishPredictions)).toEqual([
      { jobId: BATCH, source: batchInput.source, staged: batchStaged },
    ]);
    expect(outcome(r)).toEqual({
      jobId: BATCH,
      status: 'Succeeded',
      amlStatus: 'Completed',
      rowsScored: 7,
      rowsFailed: 0,
    });
    expect(notified(r)).toEqual([
      {
        batchId: BATCH,
        members: [J1, J2],
        done: { batchId: BATCH, amlJobName: 'aml-b', scored: true, status: 'Succeeded' },
      },
    ]);
    expect(r.customStatuses).toContainEqual({ phase: 'Batching', batchId: BATCH });
    expect(r.output).toMatchObject({ jobId: BATCH, status: 'Succeeded', amlJobName: 'aml-b' });
  });

  test('the deployment of the batch goes to closeBatch and to the submit', async () => {
    const r = await playBatch({
      input: { ...batchInput, deployment: 'blue' },
      activities: batchWorld(['Completed']),
    });
    expect(inputsOf(r, ACTIVITY.closeBatch)).toEqual([{ batchId: BATCH, deployment: 'blue' }]);
    expect(inputsOf(r, ACTIVITY.submitAmlJob)).toEqual([
      { jobId: BATCH, staged: batchStaged, deployment: 'blue' },
    ]);
  });

  test('closes early when its head filled (BatchClosed), without waiting for the window', async () => {
    const r = await playBatch({
      activities: batchWorld(['Completed']),
      events: [{ at: after(12), name: BATCH_CLOSE_EVENT, data: { closedAt: after(12).toISOString() } }],
    });
    expect(callTimes(r, ACTIVITY.closeBatch)).toEqual([12]);
    expect(callTimes(r, ACTIVITY.submitAmlJob)).toEqual([12]);
    expect(outcome(r)).toMatchObject({ status: 'Succeeded' });
  });

  test('BatchClosed raised by several joiners, and again after the close: closed and staged once', async () => {
    const closeAt = (s: number) => ({
      at: after(s),
      name: BATCH_CLOSE_EVENT,
      data: { closedAt: after(s).toISOString() },
    });
    const r = await playBatch({
      activities: batchWorld(['Completed']),
      events: [closeAt(10), closeAt(10), closeAt(11), closeAt(70)],
    });
    expect(callTimes(r, ACTIVITY.closeBatch)).toEqual([10]);
    expect(inputsOf(r, ACTIVITY.submitAmlJob)).toHaveLength(1);
    expect(notified(r)).toHaveLength(1);
  });

  test('a BatchClosed raised with the start (full at its first file) closes at once', async () => {
    const r = await playBatch({
      activities: batchWorld(['Completed']),
      events: [{ at: start, name: BATCH_CLOSE_EVENT, data: { closedAt: start.toISOString() } }],
    });
    expect(callTimes(r, ACTIVITY.closeBatch)).toEqual([0]);
  });

  test('a window already past when the orchestration starts: closes at once, no timer', async () => {
    const r = await playBatch({
      input: { ...batchInput, batch: { closesAt: after(-5).toISOString() } },
      activities: batchWorld(['Completed']),
    });
    expect(callTimes(r, ACTIVITY.closeBatch)).toEqual([0]);
    const timers = r.histories[0]!.filter((e) => e.EventType === EventType.TimerCreated);
    expect(timers.map((e) => secondsAfterStart(String(e.FireAt)))).toEqual([30]); // only the first poll
  });

  test('a close that fails: Failed, nothing submitted and nobody notified here (the reconciler tells the members of the ended record)', async () => {
    const error = {
      code: 'Internal',
      message: `batch ${BATCH} has neither a head nor a record`,
      retryable: false,
    };
    const r = await playBatch({
      activities: batchWorld([], { [ACTIVITY.closeBatch]: () => ({ result: { ok: false, error } }) }),
    });
    expect(names(r)).toEqual([ACTIVITY.closeBatch, ACTIVITY.recordOutcome]);
    expect(outcome(r)).toEqual({ jobId: BATCH, status: 'Failed', error });
    expect(r.output).toMatchObject({ status: 'Failed' });
  });

  test('a submit that fails: Failed, and every member is told (not scored)', async () => {
    const error = { code: 'AmlAuth', message: 'needs AzureML Data Scientist', retryable: false };
    const r = await playBatch({
      activities: batchWorld([], { [ACTIVITY.submitAmlJob]: () => ({ result: { ok: false, error } }) }),
    });
    expect(names(r)).toEqual([
      ACTIVITY.closeBatch,
      ACTIVITY.submitAmlJob,
      ACTIVITY.recordOutcome,
      ACTIVITY.notifyMembers,
    ]);
    expect(outcome(r)).toEqual({ jobId: BATCH, status: 'Failed', error });
    expect(notified(r)).toEqual([
      { batchId: BATCH, members: [J1, J2], done: { batchId: BATCH, scored: false, status: 'Failed', error } },
    ]);
  });

  test('AML fails the job: Failed, members told not scored with the AML reason; nothing regrouped', async () => {
    const r = await playBatch({
      activities: batchWorld([], {
        [ACTIVITY.checkAmlJob]: () => ({
          result: { ok: true, amlStatus: 'Failed', amlError: 'out of memory', cancelRequested: false },
        }),
      }),
    });
    expect(names(r)).not.toContain(ACTIVITY.publishPredictions);
    const [n] = notified(r);
    expect(n).toEqual({
      batchId: BATCH,
      members: [J1, J2],
      done: {
        batchId: BATCH,
        amlJobName: 'aml-b',
        scored: false,
        status: 'Failed',
        error: { code: 'AmlJobFailed', message: expect.stringContaining('out of memory'), retryable: false },
      },
    });
    expect(outcome(r)).toMatchObject({ status: 'Failed', amlStatus: 'Failed' });
  });

  test('AML cancels the job: Canceled, members told not scored', async () => {
    const r = await playBatch({ activities: batchWorld(['Queued', 'Canceled']) });
    expect(notified(r)[0]!.done).toMatchObject({
      scored: false,
      status: 'Canceled',
      error: { code: 'AmlJobCanceled' },
    });
  });

  test('no row of any member got a prediction (AllRowsFailed): the batch Fails but is scored, members publish their errors', async () => {
    const r = await playBatch({
      activities: batchWorld(['Completed'], {
        [ACTIVITY.publishPredictions]: () => ({ result: { ok: true, rows: 0, rowsFailed: 7 } }),
      }),
    });
    expect(outcome(r)).toMatchObject({
      status: 'Failed',
      rowsScored: 0,
      rowsFailed: 7,
      error: { code: 'AllRowsFailed' },
    });
    expect(notified(r)[0]!.done).toEqual({
      batchId: BATCH,
      amlJobName: 'aml-b',
      scored: true,
      status: 'Failed',
      error: expect.objectContaining({ code: 'AllRowsFailed' }),
    });
  });

  test('an output that cannot be regrouped (permanent): Failed, members told not scored', async () => {
    const error = {
      code: 'PredictionsInvalid',
      message: 'file_name x.csv is not in the batch',
      retryable: false,
    };
    const r = await playBatch({
      activities: batchWorld(['Completed'], {
        [ACTIVITY.publishPredictions]: () => ({ result: { ok: false, error } }),
      }),
    });
    expect(notified(r)[0]!.done).toEqual({
      batchId: BATCH,
      amlJobName: 'aml-b',
      scored: false,
      status: 'Failed',
      error,
    });
  });

  test('continues as new across POLLS_PER_EXECUTION checks; notifies once, at the end of the last execution, with the members from its progress', async () => {
    const statuses = [...Array<string>(2 * POLLS_PER_EXECUTION + 3).fill('Running'), 'Completed'];
    const r = await playBatch({ activities: batchWorld(statuses) });
    expect(r.executions).toBe(3);
    expect(names(r).filter((n) => n === ACTIVITY.closeBatch)).toHaveLength(1);
    expect(names(r).filter((n) => n === ACTIVITY.submitAmlJob)).toHaveLength(1);
    expect(notified(r)).toEqual([
      {
        batchId: BATCH,
        members: [J1, J2],
        done: { batchId: BATCH, amlJobName: 'aml-b', scored: true, status: 'Succeeded' },
      },
    ]);
    // Earlier executions end in continueAsNew with the progress (the members with it), and tell nobody.
    for (const h of r.histories.slice(0, -1)) {
      expect(scheduledIn(h)).not.toContain(ACTIVITY.notifyMembers);
      expect(scheduledIn(h)).not.toContain(ACTIVITY.recordOutcome);
    }
    const last = r.histories.at(-1)!;
    expect(scheduledIn(last).slice(-2)).toEqual([ACTIVITY.recordOutcome, ACTIVITY.notifyMembers]);
    const lastInput = JSON.parse(String(last[1]!.Input)) as BatchInput;
    expect(lastInput.progress).toMatchObject({ amlJobName: 'aml-b', staged: { members: [J1, J2] } });
    expect(lastInput.batch).toEqual(batchInput.batch);
    expect(r.maxHistoryLength).toBeLessThan(8 * POLLS_PER_EXECUTION + 20);
  });

  test('an AML failure found in a later execution is told to the members too', async () => {
    const statuses = [...Array<string>(POLLS_PER_EXECUTION).fill('Running'), 'Failed'];
    const r = await playBatch({ activities: batchWorld(statuses) });
    expect(r.executions).toBe(2);
    expect(notified(r)).toEqual([
      expect.objectContaining({
        members: [J1, J2],
        done: expect.objectContaining({ scored: false, status: 'Failed' }),
      }),
    ]);
  });

  test('deadline: a job stuck in Queued is cancelled in AML, the batch ends TimedOut and members are told', async () => {
    const r = await playBatch({
      input: { ...batchInput, deadlineSeconds: 2 * 3600 },
      activities: batchWorld(['Queued'], {
        [ACTIVITY.cancelAmlJob]: () => ({
          result: {
            ok: true,
            confirmed: true,
            amlAnswer: 'AML accepted the cancel (202).',
            amlStatus: 'CancelRequested',
          },
        }),
      }),
    });
    expect(outcome(r)).toMatchObject({ status: 'TimedOut', cancel: { confirmed: true } });
    expect(notified(r)[0]!.done).toMatchObject({
      scored: false,
      status: 'TimedOut',
      error: { code: 'TimedOut' },
    });
  });
});
