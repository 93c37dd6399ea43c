import { InvocationContext } from '@azure/functions';
import type { OrchestrationHandler } from 'durable-functions';

/**
 * Plays the Durable host's part for replay tests: builds the history the host would write (the same
 * event shapes, sequence ids, retry timers for CallActivityWithRetry, timers, raised events,
 * continueAsNew) and runs every episode through the durable-functions library's own replay engine
 * (`df.app.orchestration`'s handler), replaying the whole history each time, with replay schema V4
 * as the current extension sends. Time is simulated: a 24-hour job runs in milliseconds.
 */

enum E {
  ExecutionStarted = 0,
  TaskScheduled = 4,
  TaskCompleted = 5,
  TaskFailed = 6,
  TimerCreated = 10,
  TimerFired = 11,
  OrchestratorStarted = 12,
  OrchestratorCompleted = 13,
  EventRaised = 15,
}
enum A {
  CallActivity = 0,
  CallActivityWithRetry = 1,
  ContinueAsNew = 4,
  CreateTimer = 5,
  WaitForExternalEvent = 6,
  WhenAny = 11,
  WhenAll = 12,
}

export type HistoryEvent = Record<string, unknown> & {
  EventType: number;
  EventId: number;
  Timestamp: string;
  IsPlayed: boolean;
};

interface Action {
  actionType: number;
  functionName?: string;
  input?: unknown;
  fireAt?: string;
  retryOptions?: {
    firstRetryIntervalInMilliseconds: number;
    maxNumberOfAttempts: number;
    backoffCoefficient?: number;
    maxRetryIntervalInMilliseconds?: number;
  };
  compoundActions?: Action[];
  isCanceled?: boolean;
}

export type ActivityOutcome = { result: unknown } | { error: string };
/** `at` is the simulated time at which the activity runs. */
export type ActivityFn = (name: string, input: unknown, call: number, at: Date) => ActivityOutcome;

export interface SimOptions {
  instanceId: string;
  input: unknown;
  start: Date;
  activities: ActivityFn;
  /** External events, raised at these times. */
  events?: { at: Date; name: string; data?: unknown }[];
  maxEpisodes?: number;
}

export interface ActivityCall {
  name: string;
  input: unknown;
  at: string;
}

export interface SimResult {
  status: 'Completed' | 'Failed';
  output: unknown;
  error?: string;
  executions: number;
  episodes: number;
  activityCalls: ActivityCall[];
  customStatuses: unknown[];
  /** Every history as it stood at the end of each execution. */
  histories: HistoryEvent[][];
  /** The actions each episode returned, by execution, for determinism checks. */
  episodeActions: unknown[][];
  finishedAt: Date;
  maxHistoryLength: number;
}

let registered:
  Map<OrchestrationHandler, (trigger: unknown, ctx: InvocationContext) => Promise<unknown>> | undefined;

/** The library's own orchestrator listener, as `df.app.orchestration` registers it. */
export function libraryHandler(
  fn: OrchestrationHandler,
): (trigger: unknown, ctx: InvocationContext) => Promise<unknown> {
  registered ??= new Map();
  let h = registered.get(fn);
  if (!h) {
    // createOrchestrator is what df.app.orchestration wraps the handler in before registering it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createOrchestrator } = require('durable-functions/lib/src/util/testingUtils') as {
      createOrchestrator: (f: OrchestrationHandler) => (t: unknown, c: InvocationContext) => Promise<unknown>;
    };
    h = createOrchestrator(fn);
    registered.set(fn, h);
  }
  return h;
}

function flatten(actions: Action[]): Action[] {
  return actions.flatMap((a) =>
    a.actionType === A.WhenAny || a.actionType === A.WhenAll ? flatten(a.compoundActions ?? []) : [a],
  );
}

export async function runEpisode(
  handler: OrchestrationHandler,
  history: HistoryEvent[],
  input: unknown,
  instanceId: string,
): Promise<{ isDone: boolean; actions: Action[]; output: unknown; customStatus: unknown; error?: string }> {
  const ctx = new InvocationContext({
    functionName: 'sim',
    invocationId: 'sim',
    logHandler: () => undefined,
  });
  try {
    const state = (await libraryHandler(handler)(
      {
        history,
        input,
        instanceId,
        isReplaying: false,
        parentInstanceId: '',
        upperSchemaVersion: 3, // ReplaySchema.V4
        longRunningTimerIntervalDuration: '3.00:00:00',
        maximumShortTimerDuration: '6.00:00:00',
        defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
      },
      ctx,
    )) as { isDone: boolean; actions: Action[][]; output: unknown; customStatus: unknown };
    return {
      isDone: state.isDone,
      actions: state.actions[0] ?? [],
      output: state.output,
      customStatus: state.customStatus,
    };
  } catch (err) {
    const state = (err as { orchestratorState?: { actions: Action[][]; customStatus: unknown } })
      .orchestratorState;
    return {
      isDone: true,
      actions: state?.actions[0] ?? [],
      output: undefined,
      customStatus: state?.customStatus,
      error: (err as Error).message,
    };
  }
}

interface Pending {
  at: number;
  seq: number;
  kind: 'activity' | 'timer' | 'retryTimer' | 'event';
  id: number;
  action?: Action;
  attempt?: number;
  name?: string;
  data?: unknown;
}

export async function simulate(handler: OrchestrationHandler, o: SimOptions): Promise<SimResult> {
  let clock = o.start.getTime();
  let input = o.input;
  const activityCalls: ActivityCall[] = [];
  const customStatuses: unknown[] = [];
  const histories: HistoryEvent[][] = [];
  const episodeActions: unknown[][] = [];
  const events = [...(o.events ?? [])].sort((a, b) => a.at.getTime() - b.at.getTime());
  let episodes = 0;
  let maxHistoryLength = 0;
  let callCount = 0;
  let seqCounter = 0;

  for (let execution = 1; ; execution++) {
    let nextTaskId = 0;
    const ev = (type: E, extra: Record<string, unknown> = {}): HistoryEvent => ({
      EventType: type,
      EventId: -1,
      Timestamp: new Date(clock).toISOString(),
      IsPlayed: false,
      ...extra,
    });
    const history: HistoryEvent[] = [
      ev(E.OrchestratorStarted),
      ev(E.ExecutionStarted, { Name: 'sim', Input: JSON.stringify(input) }),
    ];
    const pending: Pending[] = [];
    const execActions: unknown[] = [];
    let known = 0;
    for (;;) {
      if (++episodes > (o.maxEpisodes ?? 5000)) throw new Error('too many episodes');
      const r = await runEpisode(handler, history, input, o.instanceId);
      execActions.push(r.actions);
      customStatuses.push(r.customStatus);
      for (const h of history) h.IsPlayed = true;
      const flat = flatten(r.actions).filter((a) => a.actionType !== A.WaitForExternalEvent);
      const fresh = flat.slice(known);
      known = flat.length;
      const can = fresh.find((a) => a.actionType === A.ContinueAsNew);
      if (r.isDone || r.error) {
        // The execution ends here: keep its history for the caller's determinism checks.
        history.push(ev(E.OrchestratorCompleted));
        histories.push(history);
        episodeActions.push(execActions);
        maxHistoryLength = Math.max(maxHistoryLength, history.length);
      }
      if (!r.error && r.isDone && can) {
        input = can.input;
        // Events not yet delivered carry over to the new execution.
        for (const p of pending.filter((x) => x.kind === 'event'))
          events.push({ at: new Date(p.at), name: p.name!, data: p.data });
        break;
      }
      if (r.isDone || r.error) {
        const end = {
          executions: execution,
          episodes,
          activityCalls,
          customStatuses,
          histories,
          episodeActions,
          finishedAt: new Date(clock),
          maxHistoryLength,
        };
        return r.error
          ? { status: 'Failed', output: undefined, error: r.error, ...end }
          : { status: 'Completed', output: r.output, ...end };
      }
      for (const a of fresh) {
        const id = nextTaskId++;
        if (a.actionType === A.CallActivity || a.actionType === A.CallActivityWithRetry) {
          history.push(
            ev(E.TaskScheduled, { EventId: id, Name: a.functionName, Input: JSON.stringify(a.input) }),
          );
          pending.push({ at: clock, seq: seqCounter++, kind: 'activity', id, action: a, attempt: 1 });
        } else if (a.actionType === A.CreateTimer) {
          const fireAt = new Date(a.fireAt as string | Date);
          history.push(ev(E.TimerCreated, { EventId: id, FireAt: fireAt.toISOString() }));
          pending.push({ at: fireAt.getTime(), seq: seqCounter++, kind: 'timer', id });
        } else {
          throw new Error(`simulator: unsupported action ${a.actionType}`);
        }
      }
      history.push(ev(E.OrchestratorCompleted));
      maxHistoryLength = Math.max(maxHistoryLength, history.length);

      // Deliver the earliest due piece of work (events from the script count too), one per episode.
      while (events.length && pending.every((p) => p.kind !== 'event')) {
        const e = events.shift()!;
        pending.push({
          at: e.at.getTime(),
          seq: seqCounter++,
          kind: 'event',
          id: -1,
          name: e.name,
          data: e.data,
        });
      }
      pending.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = pending.shift();
      if (!next) throw new Error('simulator: orchestration is waiting on nothing');
      clock = Math.max(clock, next.at);
      history.push(ev(E.OrchestratorStarted));
      if (next.kind === 'activity') {
        const a = next.action!;
        activityCalls.push({ name: a.functionName!, input: a.input, at: new Date(clock).toISOString() });
        const outcome = o.activities(a.functionName!, a.input, ++callCount, new Date(clock));
        if ('result' in outcome) {
          history.push(
            ev(E.TaskCompleted, { TaskScheduledId: next.id, Result: JSON.stringify(outcome.result) }),
          );
        } else {
          history.push(
            ev(E.TaskFailed, { TaskScheduledId: next.id, Reason: outcome.error, Details: 'simulated' }),
          );
          const ro = a.retryOptions;
          if (a.actionType === A.CallActivityWithRetry && ro) {
            // The host (DTFx's RetryInterceptor) writes a retry timer after every failure, the last one
            // included, and schedules the activity again only while attempts remain; each gets a new id.
            const delay = Math.min(
              ro.firstRetryIntervalInMilliseconds * Math.pow(ro.backoffCoefficient ?? 1, next.attempt! - 1),
              ro.maxRetryIntervalInMilliseconds ?? Number.MAX_SAFE_INTEGER,
            );
            const timerId = nextTaskId++;
            history.push(
              ev(E.TimerCreated, { EventId: timerId, FireAt: new Date(clock + delay).toISOString() }),
            );
            pending.push({
              at: clock + delay,
              seq: seqCounter++,
              kind: 'retryTimer',
              id: timerId,
              action: a,
              attempt: next.attempt! + 1,
            });
          }
        }
      } else if (next.kind === 'timer') {
        history.push(ev(E.TimerFired, { TimerId: next.id, FireAt: new Date(next.at).toISOString() }));
      } else if (next.kind === 'retryTimer') {
        history.push(ev(E.TimerFired, { TimerId: next.id, FireAt: new Date(next.at).toISOString() }));
        if (next.attempt! <= next.action!.retryOptions!.maxNumberOfAttempts) {
          const id = nextTaskId++;
          history.push(
            ev(E.TaskScheduled, {
              EventId: id,
              Name: next.action!.functionName,
              Input: JSON.stringify(next.action!.input),
            }),
          );
          pending.push({
            at: clock,
            seq: seqCounter++,
            kind: 'activity',
            id,
            action: next.action!,
            attempt: next.attempt!,
          });
        }
      } else {
        history.push(ev(E.EventRaised, { Name: next.name, Input: JSON.stringify(next.data ?? null) }));
      }
    }
  }
}
