import { InvocationContext } from '@azure/functions';
import type { OrchestrationHandler } from 'durable-functions';
import {
  activityFailure,
  events,
  runOrchestrator,
  toJsonText,
  type HistoryEvent,
  type RawAction,
} from './history';
import {
  emptyHostState,
  orchestrationTriggerInput,
  pendingWork,
  pickBatch,
  playEpisode,
  replaySchema,
  type ActivityRequest,
  type InboxMessage,
  type ReplaySchema,
} from './replay';

/**
 * The Durable host in memory, on simulated time: the same episode planning as the runtime's engine (replay.ts), with
 * activities answered by a function and timers fired when the simulated clock reaches them, through durable-functions'
 * own replay engine (the handler `df.app.orchestration` registers). A 24-hour job runs in milliseconds. The
 * orchestrator's replay tests, the runtime's planning tests and bench's polling figures drive it.
 */

export type { HistoryEvent } from './history';

export type ActivityOutcome = { result: unknown } | { error: string };
/** `call` counts every activity run of the simulation; `at` is the simulated time at which the activity runs. */
export type ActivityFn = (name: string, input: unknown, call: number, at: Date) => ActivityOutcome;

export interface SimOptions {
  instanceId: string;
  input: unknown;
  start: Date;
  activities: ActivityFn;
  /** External events, raised at these times. */
  events?: { at: Date; name: string; data?: unknown }[];
  maxEpisodes?: number;
  /** Registered activity names; an activity not listed fails the orchestration like the extension. Default: all. */
  activityNames?: string[];
  /** How finished activities reach the orchestration: one per episode (default), or all queued ones at once. */
  completions?: 'fifo' | 'burst' | 'lifo-burst';
  /** Default: env LOCAL_RUNTIME_REPLAY_SCHEMA, else V3 (what released extensions send). */
  schema?: ReplaySchema;
}

export interface SimResult {
  status: 'Completed' | 'Failed';
  output: unknown;
  error?: string;
  executions: number;
  episodes: number;
  /** Every activity run, `at` the simulated time (ISO). */
  activityCalls: { name: string; input: unknown; at: string }[];
  customStatuses: unknown[];
  /** Every history as it stood at the end of each execution. */
  histories: HistoryEvent[][];
  /** The actions each episode returned (`actions[0]` of the OrchestratorState), by execution. */
  episodeActions: unknown[][];
  finishedAt: Date;
  maxHistoryLength: number;
  /** Patterns that break replay on the real host too (see applyActions). */
  warnings: string[];
}

type Handler = (t: unknown, c: InvocationContext) => Promise<unknown>;
const handlers = new Map<OrchestrationHandler, Handler>();

/** One orchestrator invocation through the library's own listener (as `df.app.orchestration` registers it), JSON
 * round-tripped as over RPC. */
async function invoke(fn: OrchestrationHandler, trigger: Record<string, unknown>): Promise<unknown> {
  const ctx = new InvocationContext({
    functionName: 'sim',
    invocationId: 'sim',
    logHandler: () => undefined,
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createOrchestrator } = require('durable-functions/lib/src/util/testingUtils') as {
    createOrchestrator: (f: OrchestrationHandler) => Handler;
  };
  const handler = handlers.get(fn) ?? handlers.set(fn, createOrchestrator(fn)).get(fn)!;
  return JSON.parse(JSON.stringify(await handler(JSON.parse(JSON.stringify(trigger)), ctx))) as unknown;
}

/** Replays one history (as the host would send it) and returns what the orchestrator answers. */
export async function runEpisode(
  fn: OrchestrationHandler,
  history: HistoryEvent[],
  input: unknown,
  instanceId: string,
  schema: ReplaySchema = replaySchema(process.env.LOCAL_RUNTIME_REPLAY_SCHEMA),
): Promise<{
  isDone: boolean;
  actions: RawAction[];
  output: unknown;
  customStatus: unknown;
  error?: string;
}> {
  const trigger = orchestrationTriggerInput({ instanceId, past: [], current: [], input, schema });
  const { state, failure: error } = await runOrchestrator(() => invoke(fn, { ...trigger, history }));
  const { isDone, actions, output, customStatus } = state ?? { isDone: true, actions: [] };
  const done = error !== undefined || isDone;
  return { isDone: done, actions: actions[0] ?? [], output, customStatus, ...(error ? { error } : {}) };
}

export async function simulate(fn: OrchestrationHandler, o: SimOptions): Promise<SimResult> {
  const schema = o.schema ?? replaySchema(process.env.LOCAL_RUNTIME_REPLAY_SCHEMA);
  const known = o.activityNames && new Set(o.activityNames.map((n) => n.toLowerCase()));
  const raised = [...(o.events ?? [])].sort((a, b) => a.at.getTime() - b.at.getTime());
  const r: SimResult = {
    status: 'Completed',
    output: undefined,
    executions: 1,
    episodes: 0,
    activityCalls: [],
    customStatuses: [],
    histories: [],
    episodeActions: [],
    finishedAt: o.start,
    maxHistoryLength: 0,
    warnings: [],
  };
  const name = 'sim';
  let clock = o.start.getTime();
  let calls = 0;
  let inbox: InboxMessage[] = [];
  const push = (event: HistoryEvent) => inbox.push({ event });
  const start = (input: string | null) =>
    push(
      events.executionStarted(clock, {
        instanceId: o.instanceId,
        executionId: `e${r.executions}`,
        name,
        input,
      }),
    );
  start(toJsonText(o.input));
  let host = emptyHostState();
  let history: HistoryEvent[] = [];
  let actionsByEpisode: unknown[] = [];

  const runActivity = ({ taskId, name, input }: ActivityRequest): void => {
    const value = input === null ? undefined : (JSON.parse(input) as unknown);
    r.activityCalls.push({ name, input: value, at: new Date(clock).toISOString() });
    let outcome: ActivityOutcome;
    try {
      outcome = o.activities(name, value, ++calls, new Date(clock));
    } catch (err) {
      outcome = { error: (err as Error).message };
    }
    if ('result' in outcome)
      return void push(events.taskCompleted(clock, taskId, toJsonText(outcome.result)));
    const err = new Error(outcome.error);
    err.stack = `Error: ${outcome.error}`; // no simulator frames in the history
    push(events.taskFailed(clock, taskId, activityFailure(name, err)));
  };

  /** Delivers the next piece of work in time order; false when the orchestration waits on nothing. */
  const deliver = (): boolean => {
    const { activities, timers } = pendingWork(history, host);
    if (activities.length > 0) {
      const mode = o.completions ?? 'fifo';
      const take = mode === 'fifo' ? activities.slice(0, 1) : activities;
      (mode === 'lifo-burst' ? take.reverse() : take).forEach(runActivity);
      return true;
    }
    const timer = timers.sort((a, b) => a.fireAt - b.fireAt)[0];
    const event = raised[0];
    if (event && (!timer || event.at.getTime() < timer.fireAt)) {
      raised.shift();
      clock = Math.max(clock, event.at.getTime());
      push(events.eventRaised(clock, event.name, toJsonText(event.data ?? null)));
    } else if (timer) {
      clock = Math.max(clock, timer.fireAt);
      push(events.timerFired(clock, timer.id, new Date(timer.fireAt).toISOString()));
    }
    return !!(event || timer);
  };

  for (;;) {
    if (inbox.length === 0 && !deliver())
      throw new Error('memoryHost: the orchestration is waiting on nothing');
    if (++r.episodes > (o.maxEpisodes ?? 5000)) throw new Error('memoryHost: too many episodes');
    const batch = pickBatch(host, history.length > 0, inbox);
    inbox = inbox.filter((m) => !batch.includes(m));
    const ep = await playEpisode({
      instanceId: o.instanceId,
      name,
      history,
      host,
      batch,
      ts: clock,
      schema,
      warn: (w) => r.warnings.push(w),
      activityExists: (name) => !known || known.has(name.toLowerCase()),
      invoke: (trigger) => invoke(fn, trigger),
    });
    host = ep.host;
    r.customStatuses.push(ep.state?.customStatus);
    actionsByEpisode.push(ep.state?.actions[0] ?? []);
    history.push(...ep.events);
    r.maxHistoryLength = Math.max(r.maxHistoryLength, history.length);
    if (ep.status === 'Running') continue;
    r.histories.push(history);
    r.episodeActions.push(actionsByEpisode);
    if (ep.status === 'ContinuedAsNew') {
      // What the execution received but did not consume is gone (OutOfProcOrchestrationShim: ContinueAsNew(input)).
      r.executions++;
      [host, history, actionsByEpisode, inbox] = [emptyHostState(), [], [], []];
      start(ep.output);
      continue;
    }
    r.finishedAt = new Date(clock);
    if (ep.status === 'Failed') return { ...r, status: 'Failed', error: ep.failure };
    return { ...r, status: 'Completed', output: ep.state?.output };
  }
}
