import { InvocationContext } from '@azure/functions';
import type { OrchestrationHandler } from 'durable-functions';
import { activityFailure, events, toJsonText, type HistoryEvent, type RawAction } from './history';
import {
  newExecution,
  orchestrationTriggerInput,
  pendingWork,
  playEpisode,
  replaySchema,
  runOrchestrator,
  type ActivityRequest,
  type ReplaySchema,
} from './replay';

/**
 * The Durable host in memory, on simulated time: the same episode planning as the runtime's engine (replay.ts), with
 * activities answered by a function and timers fired when the simulated clock reaches them, through durable-functions'
 * own replay engine (the handler `df.app.orchestration` registers). A 24-hour job runs in milliseconds. The
 * orchestrator's replay tests, the runtime's planning tests and bench's polling figures drive it.
 */

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
  const ctx = new InvocationContext({ functionName: 'sim', logHandler: () => undefined });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createOrchestrator } = require('durable-functions/lib/src/util/testingUtils') as {
    createOrchestrator: (f: OrchestrationHandler) => Handler;
  };
  const handler = handlers.get(fn) ?? handlers.set(fn, createOrchestrator(fn)).get(fn)!;
  return JSON.parse(JSON.stringify(await handler(JSON.parse(JSON.stringify(trigger)), ctx))) as unknown;
}

/** Replays one history (as the host would send it) and returns the actions the orchestrator answers with. */
export async function replayActions(
  fn: OrchestrationHandler,
  history: HistoryEvent[],
  input: unknown,
  instanceId: string,
  schema: ReplaySchema = replaySchema(process.env.LOCAL_RUNTIME_REPLAY_SCHEMA),
): Promise<RawAction[]> {
  const trigger = orchestrationTriggerInput({ instanceId, past: [], current: [], input, schema });
  const { state } = await runOrchestrator(() => invoke(fn, { ...trigger, history }));
  return state?.actions[0] ?? [];
}

export async function simulate(fn: OrchestrationHandler, o: SimOptions): Promise<SimResult> {
  const schema = o.schema ?? replaySchema(process.env.LOCAL_RUNTIME_REPLAY_SCHEMA);
  const known = o.activityNames && new Set(o.activityNames.map((n) => n.toLowerCase()));
  const raised = [...(o.events ?? [])].sort((a, b) => a.at.getTime() - b.at.getTime());
  const r: SimResult = {
    status: 'Completed',
    output: undefined,
    executions: 1,
    activityCalls: [],
    customStatuses: [],
    histories: [],
    episodeActions: [],
    finishedAt: o.start,
    maxHistoryLength: 0,
    warnings: [],
  };
  let clock = o.start.getTime();
  let calls = 0;
  let episodes = 0;
  const input = toJsonText(o.input);
  let exec = newExecution({ instanceId: o.instanceId, executionId: 'e1', name: 'sim', input, at: clock });
  let actionsByEpisode: unknown[] = [];
  /** Completions and fired timers are for the current execution, raised events for the instance (as in the engine). */
  const push = (event: HistoryEvent, executionId?: string) => exec.inbox.push({ event, executionId });

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
      return void push(events.taskCompleted(clock, taskId, toJsonText(outcome.result)), exec.executionId);
    const err = new Error(outcome.error);
    err.stack = `Error: ${outcome.error}`; // no simulator frames in the history
    push(events.taskFailed(clock, taskId, activityFailure(name, err)), exec.executionId);
  };

  /** Delivers the next piece of work in time order (nothing if the orchestration waits on nothing). */
  const deliver = (): void => {
    const { activities, timers } = pendingWork(exec);
    const timer = timers.sort((a, b) => a.fireAt - b.fireAt)[0];
    const event = raised[0];
    if (activities.length > 0) {
      const mode = o.completions ?? 'fifo';
      const take = mode === 'fifo' ? activities.slice(0, 1) : activities;
      (mode === 'lifo-burst' ? take.reverse() : take).forEach(runActivity);
    } else if (event && (!timer || event.at.getTime() < timer.fireAt)) {
      raised.shift();
      clock = Math.max(clock, event.at.getTime());
      push(events.eventRaised(clock, event.name, toJsonText(event.data ?? null)));
    } else if (timer) {
      clock = Math.max(clock, timer.fireAt);
      push(events.timerFired(clock, timer.id, new Date(timer.fireAt).toISOString()), exec.executionId);
    }
  };

  for (;;) {
    if (exec.inbox.length === 0) deliver();
    if (++episodes > (o.maxEpisodes ?? 5000)) throw new Error('memoryHost: too many episodes');
    const ep = await playEpisode({
      execution: exec,
      ts: clock,
      schema,
      newExecutionId: () => `e${r.executions + 1}`,
      warn: (w) => r.warnings.push(w),
      activityExists: (name) => !known || known.has(name.toLowerCase()),
      invoke: (trigger) => invoke(fn, trigger),
    });
    if (!ep) throw new Error('memoryHost: the orchestration is waiting on nothing');
    const history = [...exec.history, ...ep.events];
    exec = ep.execution;
    r.customStatuses.push(ep.state?.customStatus);
    actionsByEpisode.push(ep.state?.actions[0] ?? []);
    r.maxHistoryLength = Math.max(r.maxHistoryLength, history.length);
    if (ep.status === 'Running') continue;
    r.histories.push(history);
    r.episodeActions.push(actionsByEpisode);
    actionsByEpisode = [];
    if (ep.status === 'ContinuedAsNew') {
      r.executions++;
      continue;
    }
    r.finishedAt = new Date(clock);
    if (ep.status === 'Failed') return { ...r, status: 'Failed', error: ep.failure };
    return { ...r, status: 'Completed', output: ep.state?.output };
  }
}
