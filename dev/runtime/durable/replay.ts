import {
  ActionType,
  actionName,
  EventType,
  events,
  type HistoryEvent,
  type OrchestratorState,
  type RawAction,
  type RetryOptions,
} from './history';

/**
 * The one model of the Durable host's scheduling, free of I/O, shared by the runtime's engine (engine.ts) and the
 * in-memory host (memoryHost.ts): which messages make up the next episode, which events they become, and what the
 * orchestrator's actions schedule. Follows the extension's out-of-proc shim on DTFx
 * (`Listener/OutOfProcOrchestrationShim.cs`) and DTFx's RetryInterceptor (README, rows for `durable/replay.ts`).
 */

/**
 * The `upperSchemaVersionNew` the trigger input offers (durable `OrchestrationTriggerAttributeBindingProvider.cs`,
 * README): V3 like released extensions, or V4 (env `LOCAL_RUNTIME_REPLAY_SCHEMA`).
 */
export type ReplaySchema = 'V3' | 'V4';

export function replaySchema(value: string | undefined): ReplaySchema {
  const v = (value ?? 'V3').toUpperCase();
  if (v !== 'V3' && v !== 'V4')
    throw new Error(`LOCAL_RUNTIME_REPLAY_SCHEMA must be V3 or V4 (got ${value})`);
  return v;
}

/** Azure Storage provider timer limits, as the extension passes them to out-of-proc SDKs. */
const MAXIMUM_SHORT_TIMER = '6.00:00:00';
const MAXIMUM_SHORT_TIMER_MS = 6 * 24 * 3600_000;
const MAX_BATCH = 50;

/**
 * A waiting message: the history event it becomes (`Timestamp` = when it happened; an ExecutionStarted takes the
 * episode's time). Completions and starts target one execution; raised events the instance.
 */
export interface InboxMessage {
  event: HistoryEvent;
  executionId?: string | undefined;
}

/** The runtime's bookkeeping for one execution, saved with every episode (only the latest one matters). */
export interface HostState {
  nextId: number;
  actionSigs: string[];
  retries: Record<string, RetryGroup>;
  /** Index of a CreateTimer action -> the timer id pending for it. */
  timerByAction: Record<string, number>;
  cancelledTimers: number[];
}

export interface RetryGroup {
  name: string;
  input: string | null;
  options: RetryOptions;
  /** durable-functions' RetryableTask.attemptNumber: 1 before the first failure. */
  attempt: number;
  taskIds: number[];
  timerIds: number[];
}

/** One execution of an orchestration instance, as the host keeps it between episodes. */
export interface Execution {
  instanceId: string;
  /** The orchestration's name. */
  name: string;
  executionId: string;
  history: HistoryEvent[];
  host: HostState;
  /** Messages waiting to be played. */
  inbox: InboxMessage[];
}

/** A fresh execution and the message that starts it, then `raised`: events already sent to the instance. */
export function newExecution(
  o: { instanceId: string; executionId: string; name: string; input: string | null; at: number },
  raised: InboxMessage[] = [],
): Execution {
  const { instanceId, name, executionId } = o;
  const start = { event: events.executionStarted(o.at, o), executionId };
  const host: HostState = { nextId: 0, actionSigs: [], retries: {}, timerByAction: {}, cancelledTimers: [] };
  return { instanceId, name, executionId, history: [], host, inbox: [start, ...raised] };
}

/**
 * What an execution waits for, read from its history: activities scheduled without a result (`input`: JSON text, as
 * recorded in TaskScheduled) and timers neither fired nor cancelled, in sequence order (results waiting in the inbox
 * count). The engine runs them after every episode and again after a restart (at least once); the in-memory host
 * delivers them in simulated time.
 */
export function pendingWork({ history, host, inbox }: Execution) {
  const done = new Set([...history, ...inbox.map((m) => m.event)].map((e) => e.TimerId ?? e.TaskScheduledId));
  const open = history.filter((e) => !done.has(e.EventId) && !host.cancelledTimers.includes(e.EventId));
  const of = (type: number) => open.filter((e) => e.EventType === type);
  return {
    activities: of(EventType.TaskScheduled).map((e) => {
      const input = typeof e.Input === 'string' ? e.Input : null;
      return { taskId: e.EventId, name: String(e.Name), input };
    }),
    timers: of(EventType.TimerCreated).map((e) => ({ id: e.EventId, fireAt: Date.parse(String(e.FireAt)) })),
  };
}

export type ActivityRequest = ReturnType<typeof pendingWork>['activities'][number];

/** The orchestration trigger input the extension sends (OrchestrationTriggerAttributeBindingProvider). */
export function orchestrationTriggerInput(o: {
  instanceId: string;
  past: HistoryEvent[];
  current: HistoryEvent[];
  input: unknown;
  schema: ReplaySchema;
}): Record<string, unknown> {
  return {
    history: [
      ...o.past.map((e) => ({ ...e, IsPlayed: true })),
      ...o.current.map((e) => ({ ...e, IsPlayed: false })),
    ],
    input: o.input,
    instanceId: o.instanceId,
    isReplaying: o.past.length > 0,
    parentInstanceId: null,
    upperSchemaVersion: 1,
    upperSchemaVersionNew: o.schema === 'V3' ? 2 : 3,
    longRunningTimerIntervalDuration: '3.00:00:00',
    maximumShortTimerDuration: MAXIMUM_SHORT_TIMER,
    defaultHttpAsyncRequestSleepTimeMillseconds: 30_000,
  };
}

const OUT_OF_PROC_DATA = '$OutOfProcData$:';

/**
 * Runs an orchestrator invocation: its state is the return value or, when it threw, the JSON the SDK embeds after
 * `$OutOfProcData$:` in the error message (OrchestrationFailureError), which is how the extension reads it too;
 * `failure` says why the orchestrator failed.
 */
export async function runOrchestrator(invoke: () => Promise<unknown>) {
  try {
    const value = await invoke();
    const state = (typeof value === 'string' ? JSON.parse(value) : value) as OrchestratorState;
    if (!Array.isArray(state?.actions))
      throw new Error(
        'Out of proc orchestrators must return a valid JSON schema (no OrchestratorState in the response)',
      );
    return { state };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const i = message.indexOf(OUT_OF_PROC_DATA);
    let state: OrchestratorState | undefined;
    try {
      if (i >= 0) state = JSON.parse(message.slice(i + OUT_OF_PROC_DATA.length)) as OrchestratorState;
    } catch {
      /* no state: the message is the failure */
    }
    return { state, failure: state?.error ?? message };
  }
}

/**
 * The atomic actions in the order the extension's shim replays them into DTFx: compound actions (Task.all / any)
 * contribute their children in order. With replay schema >= V2 the outer array has exactly one element.
 */
export function flattenActions(state: OrchestratorState): RawAction[] {
  const schema = state.schemaVersion ?? 0; // V3 or V4 (orchestrationTriggerInput offers no lower one)
  if (state.actions.length !== 1)
    throw new Error(
      `With OOProc schema V${schema + 1}, expected actions array to be of length 1 in outer layer but got size: ${state.actions.length}`,
    );
  // Task.all / Task.any (WhenAll, WhenAny) are the actions with compoundActions
  const flat = (list: RawAction[]): RawAction[] =>
    list.flatMap((a) => (a.compoundActions ? flat(a.compoundActions) : [a]));
  return flat(state.actions[0] ?? []);
}

const groupOf = (host: HostState, e: HistoryEvent): RetryGroup | undefined =>
  Object.values(host.retries).find(
    (g) => g.timerIds.includes(e.TimerId as number) || g.taskIds.includes(e.TaskScheduledId as number),
  );

/** Events whose processing makes the SDK assign sequence numbers by itself (retry timers and attempts). */
const isDynamic = (host: HostState, e: HistoryEvent): boolean =>
  (e.EventType === EventType.TaskFailed || e.EventType === EventType.TimerFired) && !!groupOf(host, e);

/**
 * Which waiting messages go into the next episode: everything waiting, like a DTFx work item, except that the SDK
 * assigns sequence numbers for retry timers and retried attempts while it processes the corresponding event, before
 * user code resumes; such an event therefore starts its own episode, so the runtime assigns the same numbers in the
 * same order. Raised events that the execution does not consume before `continueAsNew` are dropped with it, as on
 * the host (the shim's `ContinueAsNew(input)` does not preserve unprocessed events).
 */
export function pickBatch(host: HostState, started: boolean, live: InboxMessage[]): InboxMessage[] {
  const isStart = (m: InboxMessage) => m.event.EventType === EventType.ExecutionStarted;
  const start = started ? undefined : live.find(isStart);
  if (!started && !start) return [];
  const batch = start ? [start] : [];
  for (const m of live) {
    if (isStart(m)) continue;
    const dynamic = isDynamic(host, m.event);
    if (dynamic && batch.length > 0) break;
    batch.push(m);
    if (dynamic || batch.length >= MAX_BATCH) break;
  }
  return batch;
}

/** DTFx RetryInterceptor.ComputeNextDelay. */
export function retryDelay(options: RetryOptions, retryCount: number): number {
  const next =
    options.firstRetryIntervalInMilliseconds *
    Math.pow(options.backoffCoefficient ?? 1, Math.max(0, retryCount));
  const max = options.maxRetryIntervalInMilliseconds;
  return typeof max === 'number' && max > 0 && next >= max ? max : next;
}

/** Sequence numbers the SDK assigns while processing the first event of the episode (see pickBatch). */
function applyDynamic(host: HostState, e: HistoryEvent, ts: number, scheduled: HistoryEvent[]): void {
  const group = isDynamic(host, e) ? groupOf(host, e)! : undefined;
  if (!group) return;
  if (e.EventType === EventType.TaskFailed) {
    // RetryableTask: attemptNumber++ and wait for a retry timer, also after the last attempt (DTFx's
    // RetryInterceptor creates that timer as well before it rethrows).
    group.attempt += 1;
    const timerId = host.nextId++;
    group.timerIds.push(timerId);
    scheduled.push(events.timerCreated(ts, timerId, ts + retryDelay(group.options, group.attempt - 2)));
  } else if (group.attempt > group.options.maxNumberOfAttempts) {
    delete host.retries[String(group.taskIds[0])]; // the SDK now fails the task with the last error
  } else {
    const taskId = host.nextId++;
    group.taskIds.push(taskId);
    scheduled.push(events.taskScheduled(ts, taskId, group.name, group.input));
  }
}

/**
 * Applies the actions of this replay: checks the ones recorded before still match (non-determinism), notices timers
 * cancelled since, and schedules the new ones. Returns the continue-as-new input if there is one. Throws (the
 * orchestration fails) on unsupported actions and unknown activities, like the extension.
 */
function applyActions(
  host: HostState,
  actions: RawAction[],
  ts: number,
  scheduled: HistoryEvent[],
  history: HistoryEvent[],
  ctx: { orchestration: string; activityExists: (name: string) => boolean; warn: (message: string) => void },
): { input: string | null } | undefined {
  const processed = host.actionSigs.length;
  if (actions.length < processed)
    throw new Error(
      `Non-deterministic workflow detected: this replay scheduled ${actions.length} actions, earlier replays ${processed}`,
    );
  let continueAsNew: { input: string | null } | undefined;
  actions.forEach((a, i) => {
    // replay-stable: the action's type and the activity or event it names
    const named = a.functionName ?? a.externalEventName;
    const sig = named === undefined ? actionName(a.actionType) : `${actionName(a.actionType)}:${named}`;
    if (i < processed && sig !== host.actionSigs[i])
      throw new Error(
        `Non-deterministic workflow detected: action #${i} was ${host.actionSigs[i]} and is now ${sig}`,
      );
    const timerId = host.timerByAction[String(i)];
    if (i < processed && a.isCanceled && timerId !== undefined && !host.cancelledTimers.includes(timerId))
      host.cancelledTimers.push(timerId);
    if (i < processed) return;
    // JSON text of the value passed (durable-functions' Utils.processInput already JSON-encodes strings)
    const input =
      typeof a.input === 'string' ? a.input : a.input === undefined ? null : JSON.stringify(a.input);
    if (a.actionType === ActionType.CallActivity || a.actionType === ActionType.CallActivityWithRetry) {
      const name = String(a.functionName ?? '');
      if (!ctx.activityExists(name))
        throw new Error(`The function '${name}' doesn't exist, is disabled, or is not an activity function.`);
      const id = host.nextId++;
      scheduled.push(events.taskScheduled(ts, id, name, input));
      if (a.actionType === ActionType.CallActivityWithRetry) {
        // durable-functions' RetryOptions validated the rest. The app sets no retry timeout; the extension's (DTFx
        // RetryInterceptor) is not imitated: refused.
        const options = a.retryOptions!;
        if (options.retryTimeoutInMilliseconds !== undefined)
          throw new Error(
            `The local runtime does not support retryTimeoutInMilliseconds (activity '${name}')`,
          );
        host.retries[String(id)] = { name, input, options, attempt: 1, taskIds: [id], timerIds: [] };
      }
    } else if (a.actionType === ActionType.CreateTimer) {
      const fireAt = Date.parse(String(a.fireAt)); // a Date, checked by durable-functions' CreateTimerAction
      const twin = actions.findIndex(
        (b, j) => j < i && b.actionType === ActionType.CreateTimer && b.fireAt === a.fireAt && !b.isCanceled,
      );
      const twinId = twin >= 0 ? host.timerByAction[String(twin)] : undefined;
      const fired = (id: number) =>
        history.some((e) => e.EventType === EventType.TimerFired && e.TimerId === id);
      if (twinId !== undefined && !host.cancelledTimers.includes(twinId) && !fired(twinId))
        ctx.warn(
          `orchestration '${ctx.orchestration}' schedules a second timer for ${String(a.fireAt)} while timer #${twinId} for the same time ` +
            'is still pending. If this is the same timer Task yielded again (e.g. in another Task.any), the Durable extension ' +
            'schedules it twice as well and later tasks no longer match their results: create a new timer instead.',
        );
      // The extension splits these into LongTimerTask segments; the app's timers are minutes, so refuse loudly.
      if (fireAt - ts > MAXIMUM_SHORT_TIMER_MS)
        throw new Error(
          `The local runtime does not support timers longer than ${MAXIMUM_SHORT_TIMER} (maximumShortTimerDuration); ` +
            `orchestration '${ctx.orchestration}' asked for ${String(a.fireAt)}`,
        );
      const id = host.nextId++;
      host.timerByAction[String(i)] = id;
      scheduled.push(events.timerCreated(ts, id, fireAt));
      if (a.isCanceled) host.cancelledTimers.push(id);
    } else if (a.actionType === ActionType.ContinueAsNew) {
      continueAsNew = { input };
    } else if (a.actionType !== ActionType.WaitForExternalEvent) {
      // (raised events are recorded whether or not anyone waits for them yet)
      throw new Error(
        `The local runtime does not support the durable action ${actionName(a.actionType)} (orchestration '${ctx.orchestration}'). ` +
          'Supported: callActivity, callActivityWithRetry, createTimer, waitForExternalEvent, continueAsNew, Task.all, Task.any.',
      );
    }
    host.actionSigs.push(sig);
  });
  return continueAsNew;
}

/**
 * Plays the execution's next episode, if a message waits for it (pickBatch): the batch becomes events after an
 * OrchestratorStarted (whose timestamp is the orchestrator's `currentUtcDateTime`), the whole history is replayed
 * through `invoke`, the returned actions are checked and scheduled, and the execution's outcome decided, as the
 * out-of-proc shim does. The input execution is not modified. Returns the episode's `events` (OrchestratorStarted,
 * the batch, what was scheduled, the closing event, OrchestratorCompleted), the `execution` after it (the same one, or
 * the fresh one a continueAsNew starts), the orchestrator's `state`, why it failed (`failure`: thrown by the
 * orchestrator or by the shim's checks), and `output`: JSON text of the output, or of the new input after
 * continueAsNew.
 */
export async function playEpisode(o: {
  execution: Execution;
  ts: number;
  schema: ReplaySchema;
  /** The id of the execution a continueAsNew starts. */
  newExecutionId: () => string;
  activityExists: (name: string) => boolean;
  warn: (message: string) => void;
  /** Runs the orchestrator with the trigger input. */
  invoke: (trigger: Record<string, unknown>) => Promise<unknown>;
}) {
  const { ts, execution } = o;
  const { instanceId, name, history, inbox } = execution;
  const batch = pickBatch(execution.host, history.length > 0, inbox);
  if (batch.length === 0) return undefined;
  const at = (e: HistoryEvent) =>
    e.EventType === EventType.ExecutionStarted ? ts : Math.min(Date.parse(e.Timestamp), ts);
  const received: HistoryEvent[] = batch.map(({ event: e }) => ({
    ...e,
    Timestamp: new Date(at(e)).toISOString(),
  }));
  const incoming = [events.orchestratorStarted(ts), ...received];
  const all = [...history, ...incoming];
  const host = structuredClone(execution.host);
  const scheduled: HistoryEvent[] = [];
  if (history.length > 0 && received[0]) applyDynamic(host, received[0], ts, scheduled);
  const started = all.find((e) => e.EventType === EventType.ExecutionStarted);
  const input = typeof started?.Input === 'string' ? (JSON.parse(started.Input) as unknown) : null;
  const trigger = orchestrationTriggerInput({ ...o, instanceId, past: history, current: incoming, input });
  const { state, failure: thrown } = await runOrchestrator(() => o.invoke(trigger));
  let failure = thrown;
  let continueAsNew: { input: string | null } | undefined;
  try {
    const ctx = { ...o, orchestration: name };
    if (state) continueAsNew = applyActions(host, flattenActions(state), ts, scheduled, all, ctx);
  } catch (err) {
    failure ??= (err as Error).message;
  }
  // Drop bookkeeping that finished with this episode (succeeded retry groups, fired timers): the state saved with
  // every episode stays small however long the orchestration runs.
  for (const e of received) {
    const group = e.EventType === EventType.TaskCompleted ? groupOf(host, e) : undefined;
    if (group) delete host.retries[String(group.taskIds[0])];
    for (const [action, timer] of Object.entries(host.timerByAction))
      if (timer === e.TimerId) delete host.timerByAction[action];
  }
  const customStatus = state?.customStatus == null ? null : JSON.stringify(state.customStatus);
  let status: 'Running' | 'Completed' | 'Failed' | 'ContinuedAsNew' = 'Running';
  let output: string | null = null;
  const closing: HistoryEvent[] = [];
  if (failure !== undefined) {
    status = 'Failed';
    output = JSON.stringify(`Orchestrator function '${name}' failed: ${failure}`);
    closing.push(events.executionCompleted(ts, 'Failed', output));
  } else if (continueAsNew) {
    status = 'ContinuedAsNew';
    output = continueAsNew.input;
    closing.push(events.continueAsNew(ts, output));
  } else if (state?.isDone) {
    status = 'Completed';
    output = state.output === undefined ? null : JSON.stringify(state.output);
    closing.push(events.executionCompleted(ts, 'Completed', output));
  }
  const played = [...incoming, ...scheduled, ...closing, events.orchestratorCompleted(ts)];
  const left = inbox.filter((m) => !batch.includes(m));
  // After continueAsNew, what the execution received but did not consume is gone (the shim's ContinueAsNew(input)):
  // the fresh execution keeps only the raised events still waiting, not yet played.
  const next =
    status === 'ContinuedAsNew'
      ? newExecution(
          { instanceId, name, executionId: o.newExecutionId(), input: output, at: ts },
          left.filter((m) => m.executionId === undefined),
        )
      : { ...execution, history: [...history, ...played], host, inbox: left };
  return { events: played, execution: next, state, failure, status, output, customStatus };
}
