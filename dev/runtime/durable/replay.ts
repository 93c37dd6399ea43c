import type { ActivityWork } from './activities';
import {
  ActionType,
  actionName,
  actionSignature,
  decodeActionInput,
  flattenActions,
  parseState,
  stateFromFailure,
  type OrchestratorState,
  type RawAction,
} from './actions';
import { EventType, events, type HistoryEvent, type TaskFailure } from './history';

/**
 * The one model of the Durable host's scheduling, free of I/O, shared by the runtime's engine (engine.ts) and the
 * in-memory host (memoryHost.ts): which messages make up the next episode, which events they become, and what the
 * orchestrator's actions schedule. Mirrors the extension's out-of-proc shim on top of DTFx
 * (azure-functions-durable-extension `Listener/OutOfProcOrchestrationShim.cs`): every atomic action, in the order
 * the SDK lists them (Task.all / Task.any children in order), is one scheduling call that takes the next sequence
 * number (`EventId`); CallActivityWithRetry runs DTFx's RetryInterceptor host-side (attempt, failure, retry timer,
 * next attempt, each with its own sequence number); timers beyond maximumShortTimerDuration are refused.
 */

/**
 * Replay schema the host advertises. Released extensions send `upperSchemaVersion` V2 (=1) and
 * `upperSchemaVersionNew` V3 (=2) (`Bindings/OrchestrationTriggerAttributeBindingProvider.cs`,
 * `OrchestrationContextToString`; enum values in `OutOfProcOrchestrationShim.SchemaVersion`); the raise to V4 (=3)
 * is recent. durable-functions takes `upperSchemaVersionNew` when present. Configurable so the app is tested under
 * both: env `LOCAL_RUNTIME_REPLAY_SCHEMA` = V3 (default) | V4.
 */
export type ReplaySchema = 'V3' | 'V4';
export const UPPER_SCHEMA_VERSION = 1;
const SCHEMA_VALUE: Record<ReplaySchema, number> = { V3: 2, V4: 3 };

export function replaySchema(value: string | undefined): ReplaySchema {
  const v = (value ?? 'V3').toUpperCase();
  if (v !== 'V3' && v !== 'V4')
    throw new Error(`LOCAL_RUNTIME_REPLAY_SCHEMA must be V3 or V4 (got ${value})`);
  return v;
}

/** Azure Storage provider timer limits, as the extension passes them to out-of-proc SDKs. */
export const MAXIMUM_SHORT_TIMER = '6.00:00:00';
export const LONG_RUNNING_TIMER_INTERVAL = '3.00:00:00';
const DAY = 24 * 3600 * 1000;
export const MAXIMUM_SHORT_TIMER_MS = 6 * DAY;
export const DEFAULT_HTTP_ASYNC_SLEEP_MS = 30_000;
const MAX_BATCH = 50;

export type InboxKind = 'start' | 'taskCompleted' | 'taskFailed' | 'timerFired' | 'eventRaised' | 'terminate';

export interface InboxMessage {
  id: string;
  instanceId: string;
  kind: InboxKind;
  /** Completions and starts target one execution; raised events and terminate target the instance. */
  executionId?: string;
  payload: Record<string, unknown>;
}

/** The runtime's bookkeeping for one execution, saved with every episode (only the latest one matters). */
export interface HostState {
  nextId: number;
  actionCount: number;
  actionSigs: string[];
  retries: Record<string, RetryGroup>;
  /** Index of a CreateTimer action -> the timer id currently pending for it. */
  timerByAction: Record<string, number>;
  cancelledTimers: number[];
}

export interface RetryGroup {
  name: string;
  input: string | null;
  options: {
    firstRetryIntervalInMilliseconds: number;
    maxNumberOfAttempts: number;
    backoffCoefficient?: number;
    maxRetryIntervalInMilliseconds?: number;
    retryTimeoutInMilliseconds?: number;
  };
  /** durable-functions' RetryableTask.attemptNumber: 1 before the first failure. */
  attempt: number;
  firstAttemptAt: number;
  taskIds: number[];
  timerIds: number[];
  /** The retry timeout expired: remaining attempts fail without running (see README). */
  gaveUp?: boolean;
  lastFailure?: Record<string, unknown>;
}

export function emptyHostState(): HostState {
  return {
    nextId: 0,
    actionCount: 0,
    actionSigs: [],
    retries: {},
    timerByAction: {},
    cancelledTimers: [],
  };
}

export type ActivityRequest = Omit<ActivityWork, 'instanceId' | 'executionId'>;

/** What an episode schedules, applied only if the episode is recorded and the orchestration keeps running. */
export interface EpisodePlan {
  scheduled: HistoryEvent[];
  activities: ActivityRequest[];
  timers: { id: number; fireAt: number }[];
  cancelTimers: number[];
}

export function emptyPlan(): EpisodePlan {
  return { scheduled: [], activities: [], timers: [], cancelTimers: [] };
}

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
    upperSchemaVersion: UPPER_SCHEMA_VERSION,
    upperSchemaVersionNew: SCHEMA_VALUE[o.schema],
    longRunningTimerIntervalDuration: LONG_RUNNING_TIMER_INTERVAL,
    maximumShortTimerDuration: MAXIMUM_SHORT_TIMER,
    defaultHttpAsyncRequestSleepTimeMillseconds: DEFAULT_HTTP_ASYNC_SLEEP_MS,
  };
}

function retryGroupOfTask(host: HostState, taskId: number): RetryGroup | undefined {
  return Object.values(host.retries).find((g) => g.taskIds.includes(taskId));
}

function retryGroupOfTimer(host: HostState, timerId: number): RetryGroup | undefined {
  return Object.values(host.retries).find((g) => g.timerIds.includes(timerId));
}

/** Events whose processing makes the SDK assign sequence numbers by itself (retry timers and attempts). */
export function isDynamic(host: HostState, m: InboxMessage): boolean {
  if (m.kind === 'taskFailed') return retryGroupOfTask(host, Number(m.payload.taskScheduledId)) !== undefined;
  if (m.kind === 'timerFired') {
    const id = Number(m.payload.timerId);
    return retryGroupOfTimer(host, id) !== undefined;
  }
  return false;
}

/**
 * Which waiting messages go into the next episode: everything waiting, like a DTFx work item, except that the SDK
 * assigns sequence numbers for retry timers, and retried attempts while it processes the
 * corresponding event, before user code resumes; such an event therefore always starts its own episode, so the
 * runtime assigns the same numbers in the same order. Raised events in the batch that the execution does not consume
 * before `continueAsNew` are dropped with it, as on the host (the shim calls `ContinueAsNew(input)`, which does not
 * preserve unprocessed events: OutOfProcOrchestrationShim.cs).
 */
export function pickBatch(host: HostState, started: boolean, live: InboxMessage[]): InboxMessage[] {
  const batch: InboxMessage[] = [];
  let rest = live;
  if (!started) {
    const start = live.find((m) => m.kind === 'start');
    if (!start) return [];
    batch.push(start);
    rest = live.filter((m) => m !== start);
  }
  for (const m of rest) {
    if (m.kind === 'start' || m.kind === 'terminate') continue;
    const dynamic = isDynamic(host, m);
    if (dynamic && batch.length > 0) break;
    batch.push(m);
    if (dynamic || batch.length >= MAX_BATCH) break;
  }
  return batch;
}

/** The history event a message becomes in the episode that consumes it. */
export function messageToEvent(
  m: InboxMessage,
  ts: number,
  execution: { instanceId: string; executionId: string; name: string },
): HistoryEvent {
  const p = m.payload;
  const at = typeof p.at === 'number' ? Math.min(p.at, ts) : ts;
  switch (m.kind) {
    case 'start':
      return events.executionStarted(ts, { ...execution, input: (p.input as string | null) ?? null });
    case 'taskCompleted':
      return events.taskCompleted(at, Number(p.taskScheduledId), String(p.result));
    case 'taskFailed':
      return events.taskFailed(at, Number(p.taskScheduledId), p.failure as TaskFailure);
    case 'timerFired':
      return events.timerFired(at, Number(p.timerId), String(p.fireAt));
    case 'eventRaised':
      return events.eventRaised(at, String(p.name), (p.input as string | null) ?? null);
    default:
      throw new Error(`a ${m.kind} message is not an orchestration event`);
  }
}

/** DTFx RetryInterceptor.ComputeNextDelay (the retry timeout is checked by the caller). */
export function retryDelay(options: RetryGroup['options'], retryCount: number): number {
  const next =
    options.firstRetryIntervalInMilliseconds *
    Math.pow(options.backoffCoefficient ?? 1, Math.max(0, retryCount));
  const max = options.maxRetryIntervalInMilliseconds;
  return typeof max === 'number' && max > 0 && next >= max ? max : next;
}

/** Sequence numbers the SDK assigns while processing the first event of the episode (see pickBatch). */
export function applyDynamic(host: HostState, m: InboxMessage, ts: number, plan: EpisodePlan): void {
  if (m.kind === 'taskFailed') {
    const group = retryGroupOfTask(host, Number(m.payload.taskScheduledId));
    if (!group) return;
    // RetryableTask: attemptNumber++ and wait for a retry timer, also after the last attempt (DTFx's
    // RetryInterceptor creates that timer as well before it rethrows).
    group.attempt += 1;
    group.lastFailure = m.payload.failure as Record<string, unknown>;
    let delay = retryDelay(group.options, group.attempt - 2);
    const timeout = group.options.retryTimeoutInMilliseconds;
    if (typeof timeout === 'number' && ts >= group.firstAttemptAt + timeout) {
      group.gaveUp = true;
      delay = 0;
    }
    const timerId = host.nextId++;
    group.timerIds.push(timerId);
    plan.scheduled.push(events.timerCreated(ts, timerId, ts + delay));
    plan.timers.push({ id: timerId, fireAt: ts + delay });
    return;
  }
  if (m.kind !== 'timerFired') return;
  const timerId = Number(m.payload.timerId);
  const group = retryGroupOfTimer(host, timerId);
  if (group) {
    if (group.attempt > group.options.maxNumberOfAttempts) {
      delete host.retries[String(group.taskIds[0])]; // the SDK now fails the task with the last error
      return;
    }
    const taskId = host.nextId++;
    group.taskIds.push(taskId);
    plan.scheduled.push(events.taskScheduled(ts, taskId, group.name, group.input));
    plan.activities.push({
      taskId,
      name: group.name,
      input: group.input,
      ...(group.gaveUp && group.lastFailure ? { failWith: group.lastFailure as unknown as TaskFailure } : {}),
    });
    return;
  }
}

function cancelForAction(host: HostState, actionIndex: number, plan: EpisodePlan): void {
  const id = host.timerByAction[String(actionIndex)];
  if (id === undefined || host.cancelledTimers.includes(id)) return;
  host.cancelledTimers.push(id);
  plan.cancelTimers.push(id);
}

/**
 * Applies the actions of this replay: checks the ones recorded before still match (non-determinism), notices
 * timers cancelled since, and schedules the new ones. Returns the continue-as-new request if there is one.
 * Throws (the orchestration fails) on unsupported actions and unknown activities, like the extension.
 */
export function applyActions(
  host: HostState,
  actions: RawAction[],
  ts: number,
  plan: EpisodePlan,
  ctx: {
    orchestration: string;
    activityExists: (name: string) => boolean;
    /** Told about patterns that break replay on the real host too. */
    warn?: (message: string) => void;
    /** Whether a timer id has not fired yet (for the warning about re-yielded timers). */
    timerPending?: (timerId: number) => boolean;
  },
): { input: string | null } | undefined {
  const processed = host.actionCount;
  if (actions.length < processed) {
    throw new Error(
      `Non-deterministic workflow detected: this replay scheduled ${actions.length} actions, earlier replays ${processed}`,
    );
  }
  for (let i = 0; i < processed; i++) {
    const a = actions[i]!;
    const sig = actionSignature(a);
    if (sig !== host.actionSigs[i]) {
      throw new Error(
        `Non-deterministic workflow detected: action #${i} was ${host.actionSigs[i]} and is now ${sig}`,
      );
    }
    if (a.actionType === ActionType.CreateTimer && a.isCanceled) cancelForAction(host, i, plan);
  }
  let continueAsNew: { input: string | null } | undefined;
  for (let i = processed; i < actions.length; i++) {
    const a = actions[i]!;
    switch (a.actionType) {
      case ActionType.CallActivity:
      case ActionType.CallActivityWithRetry: {
        const name = String(a.functionName ?? '');
        if (!ctx.activityExists(name)) {
          throw new Error(
            `The function '${name}' doesn't exist, is disabled, or is not an activity function.`,
          );
        }
        const input = a.input === undefined ? null : JSON.stringify(decodeActionInput(a.input));
        const id = host.nextId++;
        plan.scheduled.push(events.taskScheduled(ts, id, name, input));
        plan.activities.push({ taskId: id, name, input });
        if (a.actionType === ActionType.CallActivityWithRetry) {
          const o = a.retryOptions;
          if (!o || !(o.firstRetryIntervalInMilliseconds > 0) || typeof o.maxNumberOfAttempts !== 'number') {
            throw new Error(`CallActivityWithRetry '${name}': invalid retryOptions ${JSON.stringify(o)}`);
          }
          host.retries[String(id)] = {
            name,
            input,
            options: { ...o },
            attempt: 1,
            firstAttemptAt: ts,
            taskIds: [id],
            timerIds: [],
          };
        }
        break;
      }
      case ActionType.CreateTimer: {
        const fireAt = Date.parse(String(a.fireAt));
        if (Number.isNaN(fireAt)) throw new Error(`CreateTimer: invalid fireAt ${String(a.fireAt)}`);
        const twin = actions.findIndex(
          (b, j) =>
            j < i && b.actionType === ActionType.CreateTimer && b.fireAt === a.fireAt && !b.isCanceled,
        );
        const twinId = twin >= 0 ? host.timerByAction[String(twin)] : undefined;
        if (twinId !== undefined && ctx.timerPending?.(twinId)) {
          ctx.warn?.(
            `orchestration '${ctx.orchestration}' schedules a second timer for ${String(a.fireAt)} while timer #${twinId} for the same time ` +
              'is still pending. If this is the same timer Task yielded again (e.g. in another Task.any), the Durable extension ' +
              'schedules it twice as well and later tasks no longer match their results: create a new timer instead.',
          );
        }
        if (fireAt - ts > MAXIMUM_SHORT_TIMER_MS) {
          // The extension splits these into LongTimerTask segments; the app's timers are minutes, so refuse loudly.
          throw new Error(
            `The local runtime does not support timers longer than ${MAXIMUM_SHORT_TIMER} (maximumShortTimerDuration); ` +
              `orchestration '${ctx.orchestration}' asked for ${String(a.fireAt)}`,
          );
        }
        const id = host.nextId++;
        host.timerByAction[String(i)] = id;
        plan.scheduled.push(events.timerCreated(ts, id, fireAt));
        if (a.isCanceled) host.cancelledTimers.push(id);
        else plan.timers.push({ id, fireAt });
        break;
      }
      case ActionType.WaitForExternalEvent:
        break; // raised events are recorded in the history whether or not anyone waits for them yet
      case ActionType.ContinueAsNew:
        continueAsNew = { input: a.input === undefined ? null : JSON.stringify(decodeActionInput(a.input)) };
        break;
      default:
        throw new Error(
          `The local runtime does not support the durable action ${actionName(a.actionType)} (orchestration '${ctx.orchestration}'). ` +
            'Supported: callActivity, callActivityWithRetry, createTimer, waitForExternalEvent, continueAsNew, Task.all, Task.any.',
        );
    }
    host.actionSigs.push(actionSignature(a));
    host.actionCount = i + 1;
  }
  return continueAsNew;
}

/**
 * Drops bookkeeping that finished with this episode's events (succeeded retry groups, fired timers), so the state
 * saved with every episode stays small however long the orchestration runs.
 */
export function forgetFinished(host: HostState, batch: InboxMessage[]): void {
  for (const m of batch) {
    if (m.kind === 'taskCompleted') {
      const group = retryGroupOfTask(host, Number(m.payload.taskScheduledId));
      if (group) delete host.retries[String(group.taskIds[0])];
    } else if (m.kind === 'timerFired') {
      const id = Number(m.payload.timerId);
      for (const [action, timer] of Object.entries(host.timerByAction))
        if (timer === id) delete host.timerByAction[action];
    }
  }
}

/** One episode, as the host plays it: what the engine persists and what the in-memory host keeps in memory. */
export interface Episode {
  /** The bookkeeping after this episode (the input state is not modified). */
  host: HostState;
  /** OrchestratorStarted, the batch's events, what was scheduled, the closing event, OrchestratorCompleted. */
  events: HistoryEvent[];
  plan: EpisodePlan;
  state?: OrchestratorState;
  /** Why the orchestration failed (thrown by the orchestrator or by the shim's checks). */
  failure?: string;
  status: 'Running' | 'Completed' | 'Failed' | 'ContinuedAsNew';
  /** JSON text: the output (Completed, Failed) or the new input (ContinuedAsNew). */
  output: string | null;
  customStatus: string | null;
}

/**
 * Plays one episode: the batch becomes events after an OrchestratorStarted (whose timestamp is the orchestrator's
 * `currentUtcDateTime`), the whole history is replayed through `invoke` (the orchestrator function), the returned
 * actions are checked and scheduled, and the execution's outcome decided, as the out-of-proc shim does.
 */
export async function playEpisode(o: {
  instanceId: string;
  executionId: string;
  name: string;
  history: HistoryEvent[];
  host: HostState;
  batch: InboxMessage[];
  ts: number;
  schema: ReplaySchema;
  activityExists: (name: string) => boolean;
  warn: (message: string) => void;
  /** Runs the orchestrator with the trigger input; a throw is read like the extension reads it. */
  invoke: (trigger: Record<string, unknown>) => Promise<unknown>;
}): Promise<Episode> {
  const { ts, history } = o;
  const incoming = [events.orchestratorStarted(ts), ...o.batch.map((m) => messageToEvent(m, ts, o))];
  const host = structuredClone(o.host);
  const plan = emptyPlan();
  if (history.length > 0 && o.batch[0]) applyDynamic(host, o.batch[0], ts, plan);
  const started = [...history, ...incoming].find((e) => e.EventType === EventType.ExecutionStarted);
  const input = typeof started?.Input === 'string' ? (JSON.parse(started.Input) as unknown) : null;
  let state: OrchestratorState | undefined;
  let failure: string | undefined;
  let continueAsNew: { input: string | null } | undefined;
  try {
    state = parseState(
      await o.invoke(orchestrationTriggerInput({ ...o, past: history, current: incoming, input })),
    );
  } catch (err) {
    state = err instanceof Error ? stateFromFailure(err) : undefined;
    failure = state?.error ?? (err instanceof Error ? err.message : String(err));
  }
  if (state) {
    try {
      continueAsNew = applyActions(host, flattenActions(state), ts, plan, {
        orchestration: o.name,
        activityExists: o.activityExists,
        warn: o.warn,
        timerPending: (id) =>
          !host.cancelledTimers.includes(id) &&
          ![...history, ...incoming].some((e) => e.EventType === EventType.TimerFired && e.TimerId === id),
      });
    } catch (err) {
      failure ??= (err as Error).message;
    }
  }
  forgetFinished(host, o.batch);
  const customStatus = state?.customStatus == null ? null : JSON.stringify(state.customStatus);
  let status: Episode['status'] = 'Running';
  let output: string | null = null;
  const closing: HistoryEvent[] = [];
  if (failure !== undefined) {
    status = 'Failed';
    output = JSON.stringify(`Orchestrator function '${o.name}' failed: ${failure}`);
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
  return {
    host,
    events: [...incoming, ...plan.scheduled, ...closing, events.orchestratorCompleted(ts)],
    plan,
    ...(state ? { state } : {}),
    ...(failure !== undefined ? { failure } : {}),
    status,
    output,
    customStatus,
  };
}
