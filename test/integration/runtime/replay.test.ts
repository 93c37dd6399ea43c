import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { EventType, events, type HistoryEvent } from '../../../dev/runtime/durable/history';
import { simulate as simulateHost, type SimOptions } from '../../../dev/runtime/durable/memoryHost';
import { newExecution, pickBatch, retryDelay, type InboxMessage } from '../../../dev/runtime/durable/replay';

/**
 * The runtime's episode planning (replay.ts), through the in-memory host, against durable-functions' own replay
 * engine: the sequence numbers the runtime assigns must be the ones the SDK expects, whatever order completions
 * arrive in, under both replay schemas the extension may advertise.
 */

type Activity = (input: unknown, attempt: number) => unknown;
type Mode = NonNullable<SimOptions['completions']>;

interface Result {
  status: 'Completed' | 'Failed';
  output: unknown;
  history: HistoryEvent[];
  runs: Record<string, number>;
  warnings: string[];
}

async function simulate(
  fn: OrchestrationHandler,
  input: unknown,
  activities: Record<string, Activity>,
  mode: Mode = 'fifo',
  schema: SimOptions['schema'] = 'V3',
): Promise<Result> {
  const runs: Record<string, number> = {};
  const r = await simulateHost(fn, {
    instanceId: 'sim',
    input,
    start: new Date('2024-01-01T00:00:00Z'),
    completions: mode,
    schema,
    activityNames: Object.keys(activities),
    activities: (name, value) => {
      runs[name] = (runs[name] ?? 0) + 1;
      try {
        return { result: activities[name]!(value, runs[name]!) };
      } catch (err) {
        return { error: (err as Error).message };
      }
    },
  });
  return {
    status: r.status,
    output: r.status === 'Failed' ? r.error : r.output,
    history: r.histories.at(-1) ?? [],
    runs,
    warnings: r.warnings,
  };
}

const flaky =
  (failTimes: number): Activity =>
  (_input, attempt) => {
    if (attempt <= failTimes) throw new Error(`flaky failure ${attempt}`);
    return `ok after ${attempt}`;
  };
const echo: Activity = (input) => input;

describe.each([
  ['fifo', 'V3'],
  ['burst', 'V3'],
  ['lifo-burst', 'V3'],
  ['fifo', 'V4'],
  ['lifo-burst', 'V4'],
] as const)('replay planning against the SDK (%s completions, schema %s)', (mode, schema) => {
  it('retries inside Task.all next to other activities and a timer', async () => {
    const result = await simulate(
      function* (context: OrchestrationContext) {
        const retry = new df.RetryOptions(1000, 5);
        retry.backoffCoefficient = 2;
        const start = context.df.currentUtcDateTime.getTime();
        const all = (yield context.df.Task.all([
          context.df.callActivityWithRetry('flaky', retry, 'x'),
          context.df.callActivity('echo', 'a'),
          context.df.createTimer(new Date(start + 500)),
          context.df.callActivity('echo', { b: 1 }),
        ])) as unknown[];
        const after = (yield context.df.callActivity('echo', 'after')) as string;
        return { all: [all[0], all[1], all[3]], after };
      },
      null,
      { flaky: flaky(3), echo },
      mode,
      schema,
    );
    expect(result.status).toBe('Completed');
    expect(result.output).toEqual({ all: ['ok after 4', 'a', { b: 1 }], after: 'after' });
    expect(result.runs.flaky).toBe(4);
    // retry delays 1000, 2000, 4000 (backoff 2) between attempts
    const retryTimers = result.history
      .filter((e) => e.EventType === EventType.TimerCreated)
      .map((e) => Date.parse(String(e.FireAt)) - Date.parse(e.Timestamp));
    expect(retryTimers).toEqual(expect.arrayContaining([1000, 2000, 4000]));
  });

  it('fails the retried task after the last attempt, with the last error', async () => {
    const result = await simulate(
      function* (context: OrchestrationContext) {
        try {
          yield context.df.callActivityWithRetry('flaky', new df.RetryOptions(10, 3), null);
        } catch (err) {
          const next = (yield context.df.callActivity('echo', 'recovered')) as string;
          return `${(err as Error).message.split('\n')[1]} / ${next}`;
        }
        return 'no';
      },
      null,
      { flaky: flaky(99), echo },
      mode,
      schema,
    );
    expect(result).toMatchObject({ status: 'Completed', output: 'Exception: flaky failure 3 / recovered' });
    expect(result.runs.flaky).toBe(3);
  });

  it('refuses a retry timeout loudly (the app sets none; DTFx RetryInterceptor is not imitated)', async () => {
    const result = await simulate(
      function* (context: OrchestrationContext) {
        const retry = new df.RetryOptions(1000, 10);
        retry.retryTimeoutInMilliseconds = 1500;
        yield context.df.callActivityWithRetry('flaky', retry, null);
        return 'no';
      },
      null,
      { flaky: flaky(99) },
      mode,
      schema,
    );
    expect(result.status).toBe('Failed');
    expect(result.output).toMatch(/does not support retryTimeoutInMilliseconds \(activity 'flaky'\)/);
    expect(result.runs.flaky ?? 0).toBe(0);
  });

  it('refuses a timer longer than maximumShortTimerDuration (6 days) loudly', async () => {
    const result = await simulate(
      function* (context: OrchestrationContext) {
        yield context.df.createTimer(
          new Date(context.df.currentUtcDateTime.getTime() + 10 * 24 * 3600 * 1000),
        );
        return 'no';
      },
      null,
      { echo },
      mode,
      schema,
    );
    expect(result.status).toBe('Failed');
    expect(result.output).toMatch(/does not support timers longer than 6\.00:00:00/);
  });

  it('does not wait for a timer cancelled after losing a Task.any', async () => {
    const result = await simulate(
      function* (context: OrchestrationContext) {
        const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 3600_000));
        const work = context.df.callActivity('echo', 'fast');
        const winner = yield context.df.Task.any([work, timer]);
        if (winner === work) timer.cancel();
        const next = (yield context.df.callActivity('echo', 'next')) as string;
        return [winner === work ? work.result : 'timer', next];
      },
      null,
      { echo },
      mode,
      schema,
    );
    expect(result).toMatchObject({ status: 'Completed', output: ['fast', 'next'] });
    expect(result.history.some((e) => e.EventType === EventType.TimerFired)).toBe(false);
  });

  it('fails the orchestration when it calls an activity that does not exist', async () => {
    const result = await simulate(
      function* (context: OrchestrationContext) {
        yield context.df.callActivity('missing', 1);
      },
      null,
      {},
      mode,
      schema,
    );
    expect(result).toMatchObject({
      status: 'Failed',
      output: "The function 'missing' doesn't exist, is disabled, or is not an activity function.",
    });
  });
});

it('warns when a pending timer Task is yielded again (the extension would schedule it twice)', async () => {
  const result = await simulate(
    function* (context: OrchestrationContext) {
      const deadline = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 3600_000));
      for (let i = 0; i < 2; i++) {
        const work = context.df.callActivity('echo', i);
        yield context.df.Task.any([work, deadline]);
      }
      return 'done';
    },
    null,
    { echo },
  );
  expect(result.warnings).toHaveLength(1);
  expect(result.warnings[0]).toMatch(/second timer .* still pending/);
});

it('fails an orchestration whose replay schedules a different action where an earlier one stood', async () => {
  let replays = 0;
  const result = await simulate(
    function* (context: OrchestrationContext) {
      replays++;
      yield context.df.callActivity(replays === 1 ? 'echo' : 'other', 1); // not deterministic
      yield context.df.callActivity('echo', 2);
      return 'no';
    },
    null,
    { echo, other: echo },
  );
  expect(result.status).toBe('Failed');
  expect(result.output).toMatch(/Non-deterministic workflow detected: action #0 was CallActivity:echo/);
});

describe('episode batching', () => {
  const { host } = newExecution({ instanceId: 'i', executionId: 'e', name: 'o', input: null, at: 0 });
  host.retries['3'] = {
    name: 'a',
    input: null,
    options: { firstRetryIntervalInMilliseconds: 1, maxNumberOfAttempts: 2 },
    attempt: 1,
    taskIds: [3],
    timerIds: [],
  };
  const completed = (id: number): InboxMessage => ({ event: events.taskCompleted(0, id, 'null') });
  const raised = (data: string): InboxMessage => ({ event: events.eventRaised(0, 'x', data) });

  it('starts an episode with an event that makes the SDK assign sequence numbers, and ends before the next', () => {
    const done = completed(1);
    const retryFailed: InboxMessage = { event: events.taskFailed(0, 3, { Reason: 'r', Details: 'd' }) };
    const other = completed(2);
    expect(pickBatch(host, true, [done, retryFailed, other])).toEqual([done]);
    expect(pickBatch(host, true, [retryFailed, other])).toEqual([retryFailed]);
  });

  it('takes every waiting raised event into one episode, like a DTFx work item', () => {
    const e1 = raised('1');
    const c = completed(1);
    const e2 = raised('2');
    expect(pickBatch(host, true, [e1, c, e2])).toEqual([e1, c, e2]);
  });

  it('computes retry delays like DTFx (backoff, capped by the max interval)', () => {
    const options = {
      firstRetryIntervalInMilliseconds: 100,
      maxNumberOfAttempts: 9,
      backoffCoefficient: 3,
      maxRetryIntervalInMilliseconds: 1000,
    };
    expect([0, 1, 2, 3].map((n) => retryDelay(options, n))).toEqual([100, 300, 900, 1000]);
  });
});

describe('continueAsNew', () => {
  it('drops raised events the execution received but did not consume (OutOfProcOrchestrationShim)', async () => {
    const r = await simulateHost(
      function* (context: OrchestrationContext) {
        const generation = context.df.getInput<number>();
        if (generation === 0) {
          // the event arrives while this execution waits on the timer, and is never waited for
          yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 60_000));
          context.df.continueAsNew(1);
          return undefined;
        }
        const event = context.df.waitForExternalEvent('go');
        const timeout = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 60_000));
        const winner = yield context.df.Task.any([event, timeout]);
        return winner === event ? 'received' : 'dropped';
      },
      {
        instanceId: 'can',
        input: 0,
        start: new Date('2024-01-01T00:00:00Z'),
        activities: () => ({ result: null }),
        events: [{ at: new Date('2024-01-01T00:00:30Z'), name: 'go' }],
      },
    );
    expect(r).toMatchObject({ status: 'Completed', output: 'dropped', executions: 2 });
  });

  it('drops results for the old execution still waiting when it continued as new', async () => {
    const r = await simulateHost(
      function* (context: OrchestrationContext) {
        if (context.df.getInput<number>() === 1) return 'second execution';
        const retried = context.df.callActivityWithRetry('flaky', new df.RetryOptions(1000, 2), null);
        // lifo-burst: echo's result is played first; flaky's failure (which starts its own episode) still waits
        yield context.df.Task.any([retried, context.df.callActivity('echo', 'fast')]);
        context.df.continueAsNew(1);
        return undefined;
      },
      {
        instanceId: 'can3',
        input: 0,
        start: new Date('2024-01-01T00:00:00Z'),
        completions: 'lifo-burst',
        activities: (name) => (name === 'flaky' ? { error: 'flaky failure' } : { result: 'ok' }),
      },
    );
    expect(r).toMatchObject({ status: 'Completed', output: 'second execution', executions: 2 });
    expect(r.histories[1]!.some((e) => e.EventType === EventType.TaskFailed)).toBe(false);
  });

  it('delivers an event raised after continueAsNew to the new execution', async () => {
    const r = await simulateHost(
      function* (context: OrchestrationContext) {
        if (context.df.getInput<number>() === 0) {
          context.df.continueAsNew(1);
          return undefined;
        }
        return (yield context.df.waitForExternalEvent('go')) as string;
      },
      {
        instanceId: 'can2',
        input: 0,
        start: new Date('2024-01-01T00:00:00Z'),
        activities: () => ({ result: null }),
        events: [{ at: new Date('2024-01-01T00:00:30Z'), name: 'go', data: 'hello' }],
      },
    );
    expect(r).toMatchObject({ status: 'Completed', output: 'hello', executions: 2 });
  });
});

it.each([
  ['V3', 2],
  ['V4', 3],
] as const)(
  'sends upperSchemaVersion 1 and upperSchemaVersionNew for %s as the extension does',
  async (schema, value) => {
    const { orchestrationTriggerInput } = await import('../../../dev/runtime/durable/replay');
    expect(
      orchestrationTriggerInput({ instanceId: 'i', past: [], current: [], input: null, schema }),
    ).toMatchObject({ upperSchemaVersion: 1, upperSchemaVersionNew: value });
  },
);
