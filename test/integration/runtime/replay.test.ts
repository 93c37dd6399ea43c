import * as df from 'durable-functions';
import {
  DummyOrchestrationContext,
  type OrchestrationContext,
  type OrchestrationHandler,
} from 'durable-functions';
import { flattenActions, parseState, stateFromFailure } from '../../../dev/runtime/durable/actions';
import {
  activityFailure,
  EventType,
  events,
  toJsonText,
  type HistoryEvent,
} from '../../../dev/runtime/durable/history';
import {
  applyActions,
  applyDynamic,
  emptyPlan,
  forgetFinished,
  messageToEvent,
  orchestrationTriggerInput,
  pickBatch,
  retryDelay,
  type ActivityRequest,
} from '../../../dev/runtime/durable/replay';
import { emptyHostState, type InboxMessage } from '../../../dev/runtime/durable/store';

/**
 * The runtime's episode planning (replay.ts) driven against durable-functions' own replay engine, in memory: the
 * sequence numbers the runtime assigns must be the ones the SDK expects, whatever order completions arrive in.
 * Activities complete in a chosen order, timers fire in time order on a simulated clock.
 */

// The SDK's own wrapper around Orchestrator (what df.app.orchestration registers as the handler).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createOrchestrator } = require('durable-functions/lib/src/util/testingUtils') as {
  createOrchestrator: (fn: OrchestrationHandler) => (trigger: unknown, context: unknown) => Promise<unknown>;
};

type Activity = (input: unknown, attempt: number) => unknown;
/** fifo: one activity result per episode; burst / lifo-burst: all queued results at once, in or against order. */
type Mode = 'fifo' | 'burst' | 'lifo-burst';

interface SimResult {
  status: 'Completed' | 'Failed' | 'Stuck';
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
): Promise<SimResult> {
  const handler = createOrchestrator(fn);
  const execution = { instanceId: 'sim', executionId: 'e1', name: 'sim' };
  const host = emptyHostState();
  const history: HistoryEvent[] = [];
  const runs: Record<string, number> = {};
  const warnings: string[] = [];
  let seq = 0;
  const message = (kind: InboxMessage['kind'], payload: Record<string, unknown>): InboxMessage => ({
    id: String(seq++).padStart(6, '0'),
    instanceId: 'sim',
    kind,
    executionId: 'e1',
    payload,
  });
  const inputText = JSON.stringify(input);
  let inbox: InboxMessage[] = [message('start', { input: inputText })];
  const activityQueue: ActivityRequest[] = [];
  let timers: { id: number; fireAt: number }[] = [];
  let ts = Date.parse('2024-01-01T00:00:00Z');

  for (let episode = 0; episode < 500; episode++) {
    if (inbox.length === 0) {
      // 'burst' completes every queued activity before the next episode, so episodes get several events
      const take =
        mode === 'fifo'
          ? activityQueue.splice(0, 1)
          : mode === 'lifo-burst'
            ? activityQueue.splice(0).reverse()
            : activityQueue.splice(0);
      for (const work of take) {
        if (work.failWith) {
          inbox.push(message('taskFailed', { taskScheduledId: work.taskId, failure: work.failWith }));
          continue;
        }
        runs[work.name] = (runs[work.name] ?? 0) + 1;
        try {
          const result = activities[work.name]!(
            work.input === null ? undefined : JSON.parse(work.input),
            runs[work.name]!,
          );
          inbox.push(message('taskCompleted', { taskScheduledId: work.taskId, result: toJsonText(result) }));
        } catch (err) {
          inbox.push(
            message('taskFailed', { taskScheduledId: work.taskId, failure: activityFailure(work.name, err) }),
          );
        }
      }
      if (take.length > 0) continue;
      timers.sort((a, b) => a.fireAt - b.fireAt);
      const timer = timers.shift();
      if (!timer) return { status: 'Stuck', output: undefined, history, runs, warnings };
      ts = Math.max(ts, timer.fireAt);
      inbox.push(message('timerFired', { timerId: timer.id, fireAt: new Date(timer.fireAt).toISOString() }));
      continue;
    }
    const batch = pickBatch(host, history.length > 0, inbox);
    inbox = inbox.filter((m) => !batch.includes(m));
    ts += 1;
    const incoming = [events.orchestratorStarted(ts), ...batch.map((m) => messageToEvent(m, ts, execution))];
    const plan = emptyPlan();
    if (history.length > 0 && batch[0]) applyDynamic(host, batch[0], ts, plan);
    const trigger = orchestrationTriggerInput({
      instanceId: 'sim',
      past: history,
      current: incoming,
      inputText,
    });
    let failure: string | undefined;
    let state;
    try {
      // JSON round trip, as over RPC
      state = parseState(
        JSON.parse(
          JSON.stringify(await handler(JSON.parse(JSON.stringify(trigger)), new DummyOrchestrationContext())),
        ),
      );
    } catch (err) {
      state = stateFromFailure(err as Error);
      failure = state?.error ?? (err as Error).message;
    }
    try {
      applyActions(host, flattenActions(state!), ts, plan, {
        orchestration: 'sim',
        activityExists: (n) => n in activities,
        warn: (w) => warnings.push(w),
        timerPending: (id) => !history.some((e) => e.EventType === EventType.TimerFired && e.TimerId === id),
      });
    } catch (err) {
      failure = (err as Error).message;
    }
    forgetFinished(host, batch);
    history.push(...incoming, ...plan.scheduled, events.orchestratorCompleted(ts));
    if (failure !== undefined) return { status: 'Failed', output: failure, history, runs, warnings };
    if (state!.isDone) return { status: 'Completed', output: state!.output, history, runs, warnings };
    timers = timers.filter((t) => !plan.cancelTimers.includes(t.id));
    timers.push(...plan.timers);
    activityQueue.push(...plan.activities);
  }
  throw new Error('simulation did not finish in 500 episodes');
}

const flaky =
  (failTimes: number): Activity =>
  (_input, attempt) => {
    if (attempt <= failTimes) throw new Error(`flaky failure ${attempt}`);
    return `ok after ${attempt}`;
  };
const echo: Activity = (input) => input;

describe.each(['fifo', 'burst', 'lifo-burst'] as const)(
  'replay planning against the SDK (%s completions)',
  (mode) => {
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
      );
      expect(result).toMatchObject({ status: 'Completed', output: 'Exception: flaky failure 3 / recovered' });
      expect(result.runs.flaky).toBe(3);
    });

    it('stops retrying when the retry timeout has passed (remaining attempts fail without running)', async () => {
      const result = await simulate(
        function* (context: OrchestrationContext) {
          const retry = new df.RetryOptions(1000, 10);
          retry.retryTimeoutInMilliseconds = 1500;
          try {
            yield context.df.callActivityWithRetry('flaky', retry, null);
          } catch (err) {
            return (err as Error).message.split('\n')[1];
          }
          return 'no';
        },
        null,
        { flaky: flaky(99) },
        mode,
      );
      expect(result).toMatchObject({ status: 'Completed', output: 'Exception: flaky failure 3' });
      expect(result.runs.flaky).toBe(3);
    });

    it('splits a timer longer than maximumShortTimerDuration into segments', async () => {
      const result = await simulate(
        function* (context: OrchestrationContext) {
          const start = context.df.currentUtcDateTime.getTime();
          const fireAt = start + 10 * 24 * 3600 * 1000;
          yield context.df.createTimer(new Date(fireAt));
          const late = context.df.currentUtcDateTime.getTime() >= fireAt;
          return { late, hello: (yield context.df.callActivity('echo', 'hello')) as string };
        },
        null,
        { echo },
        mode,
      );
      expect(result).toMatchObject({ status: 'Completed', output: { late: true, hello: 'hello' } });
      expect(result.history.filter((e) => e.EventType === EventType.TimerCreated)).toHaveLength(3); // +3d, +6d, +10d
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
      );
      expect(result).toMatchObject({
        status: 'Failed',
        output: "The function 'missing' doesn't exist, is disabled, or is not an activity function.",
      });
    });
  },
);

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

describe('episode batching', () => {
  const host = emptyHostState();
  host.retries['3'] = {
    name: 'a',
    input: null,
    options: { firstRetryIntervalInMilliseconds: 1, maxNumberOfAttempts: 2 },
    attempt: 1,
    firstAttemptAt: 0,
    taskIds: [3],
    timerIds: [],
  };
  const msg = (
    id: string,
    kind: InboxMessage['kind'],
    payload: Record<string, unknown> = {},
  ): InboxMessage => ({
    id,
    instanceId: 'i',
    kind,
    payload,
  });

  it('starts an episode with an event that makes the SDK assign sequence numbers, and ends before the next', () => {
    const done = msg('1', 'taskCompleted', { taskScheduledId: 1 });
    const retryFailed = msg('2', 'taskFailed', { taskScheduledId: 3 });
    const other = msg('3', 'taskCompleted', { taskScheduledId: 2 });
    expect(pickBatch(host, true, [done, retryFailed, other])).toEqual([done]);
    expect(pickBatch(host, true, [retryFailed, other])).toEqual([retryFailed]);
  });

  it('takes at most one raised event per episode', () => {
    const e1 = msg('1', 'eventRaised', { name: 'x' });
    const c = msg('2', 'taskCompleted', { taskScheduledId: 1 });
    const e2 = msg('3', 'eventRaised', { name: 'x' });
    expect(pickBatch(host, true, [e1, c, e2])).toEqual([e1, c]);
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
