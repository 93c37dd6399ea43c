import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock';
import { fromTyped, type Invoker, type LineLog } from '../invoke';
import type { RegisteredFunction } from '../registry';
import { ActivityDispatcher, type ActivityOutcome, type ActivityWork } from './activities';
import { EventType, events, type HistoryEvent, type TaskFailure } from './history';
import { pickBatch, playEpisode, type ActivityRequest, type ReplaySchema } from './replay';
import {
  emptyHostState,
  newMessageId,
  TERMINAL,
  type DurableStore,
  type EpisodeOutcome,
  type HostState,
  type InboxMessage,
  type InstanceRecord,
} from './store';

/**
 * The orchestration engine. Per instance, one episode at a time: take waiting messages from the inbox, append
 * them to the history after an `OrchestratorStarted`, replay the whole history through the registered orchestrator
 * (durable-functions' own replay engine, through the programming model), apply the returned actions (replay.ts),
 * record the episode, then run what it scheduled. Client operations (start, raise, terminate, purge) and crash
 * recovery live here too; storage is in store.ts.
 */

interface Execution {
  instanceId: string;
  executionId: string;
  name: string;
  history: HistoryEvent[];
  host: HostState;
  consumed: Set<string>;
  lastTs: number;
  /** The execution ended (completed, failed, terminated or continued as new). */
  done: boolean;
}

export interface DurableEngineOptions {
  store: DurableStore;
  invoker: Invoker;
  clock: Clock;
  log: LineLog;
  orchestrations: RegisteredFunction[];
  activities: RegisteredFunction[];
  maxConcurrentActivities: number;
  maxConcurrentOrchestrations: number;
  schema: ReplaySchema;
}

export class ClientError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly exceptionType = 'System.ArgumentException',
  ) {
    super(message);
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function newId(): string {
  return randomUUID().replace(/-/g, '');
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class DurableEngine {
  readonly store: DurableStore;
  private readonly invoker: Invoker;
  private readonly clock: Clock;
  private readonly log: LineLog;
  private readonly orchestrations = new Map<string, RegisteredFunction>();
  private readonly activityNames = new Set<string>();
  private readonly executions = new Map<string, Execution>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly dirty = new Set<string>();
  private readonly loops = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, () => void>();
  private readonly dispatcher: ActivityDispatcher;
  private readonly maxOrchestrations: number;
  private runningOrchestrations = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private stopped = false;
  private readonly schema: ReplaySchema;

  constructor(opts: DurableEngineOptions) {
    this.schema = opts.schema;
    this.store = opts.store;
    this.invoker = opts.invoker;
    this.clock = opts.clock;
    this.log = opts.log;
    this.maxOrchestrations = Math.max(1, opts.maxConcurrentOrchestrations);
    for (const fn of opts.orchestrations) this.orchestrations.set(fn.name.toLowerCase(), fn);
    const activities = new Map<string, RegisteredFunction>();
    for (const fn of opts.activities) {
      activities.set(fn.name.toLowerCase(), fn);
      this.activityNames.add(fn.name.toLowerCase());
    }
    this.dispatcher = new ActivityDispatcher(
      activities,
      opts.invoker,
      Math.max(1, opts.maxConcurrentActivities),
      (instanceId, executionId) => this.isLive(instanceId, executionId),
      (work, outcome) => this.recordActivity(work, outcome),
      opts.log,
    );
  }

  // ---- lifecycle ---------------------------------------------------------------------------------------------

  /** Creates the storage and resumes every unfinished orchestration: pending activities run again, timers re-arm. */
  async start(): Promise<void> {
    await this.store.init();
    const rows = await this.store.listInstances();
    let resumed = 0;
    for (const row of rows) {
      if (TERMINAL.has(row.runtimeStatus)) continue;
      await this.withLock(row.instanceId, async () => {
        const { exec, row: current } = await this.execution(row);
        if (!TERMINAL.has(current.runtimeStatus)) await this.resumePending(exec);
      });
      resumed++;
      this.wake(row.instanceId);
    }
    for (const id of await this.store.instancesWithMessages()) this.wake(id);
    if (resumed > 0)
      this.log(`durable: resumed ${resumed} unfinished orchestration(s) from task hub ${this.store.hub}`);
  }

  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopped = true;
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    await this.dispatcher.stop(timeoutMs);
    await Promise.race([
      Promise.allSettled([...this.loops.values()]),
      new Promise((r) => setTimeout(r, timeoutMs).unref()),
    ]);
  }

  hasOrchestration(name: string): RegisteredFunction | undefined {
    return this.orchestrations.get(name.toLowerCase());
  }

  // ---- client operations -------------------------------------------------------------------------------------

  /**
   * Starts an instance, like DurableClient.StartNewAsync with the default OverridableExistingInstanceStates =
   * NonRunningStates (OverridableStates.cs): an id that is Running/Pending/ContinuedAsNew/Suspended makes DTFx throw
   * OrchestrationAlreadyExistsException, which the HTTP API answers with 500 (the client throws); a
   * Completed/Failed/Terminated one is overwritten with a fresh history.
   */
  async startNew(name: string, instanceId: string | undefined, inputText: string | null): Promise<string> {
    const fn = this.hasOrchestration(name);
    if (!fn)
      throw new ClientError(
        400,
        `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      );
    const id = instanceId && instanceId.length > 0 ? instanceId : newId();
    validateInstanceId(id);
    return this.withLock(id, async () => {
      const row = await this.store.getInstance(id);
      if (row && !TERMINAL.has(row.runtimeStatus)) {
        throw new ClientError(
          500,
          `An Orchestration instance with the status ${row.runtimeStatus} already exists.`,
          'DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException',
        );
      }
      const now = this.clock.now();
      const executionId = newId();
      if (row) {
        this.cancelTimers(id);
        this.executions.delete(id);
        await this.store.deleteHistory(id);
        const stale = await this.store.listMessages(id);
        await this.store.deleteMessages(
          id,
          stale.map((m) => m.id),
        );
      }
      await this.store.addMessage({
        id: newMessageId(),
        instanceId: id,
        kind: 'start',
        executionId,
        payload: { name: fn.name, input: inputText, at: now },
      });
      const ok = await this.store.putInstance(
        {
          instanceId: id,
          name: fn.name,
          runtimeStatus: 'Pending',
          input: inputText,
          output: null,
          customStatus: null,
          createdTime: iso(now),
          lastUpdatedTime: iso(now),
          executionId,
        },
        row?.etag ?? 'new',
      );
      if (!ok)
        throw new ClientError(
          500,
          `An Orchestration instance with the id ${id} was created concurrently.`,
          'DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException',
        );
      this.wake(id);
      return id;
    });
  }

  async raiseEvent(instanceId: string, eventName: string, inputText: string | null): Promise<void> {
    await this.sendToLive(instanceId, 'eventRaised', {
      name: eventName,
      input: inputText,
      at: this.clock.now(),
    });
  }

  async terminate(instanceId: string, reason: string | null): Promise<void> {
    await this.sendToLive(instanceId, 'terminate', { reason, at: this.clock.now() });
  }

  /** Queues a message for an instance that exists and has not ended (404 / 410 otherwise, as the extension). */
  private async sendToLive(
    instanceId: string,
    kind: 'eventRaised' | 'terminate',
    payload: InboxMessage['payload'],
  ): Promise<void> {
    const row = await this.store.getInstance(instanceId);
    if (!row) throw new ClientError(404, `No instance with ID '${instanceId}' found.`);
    if (TERMINAL.has(row.runtimeStatus))
      throw new ClientError(410, `Instance '${instanceId}' is ${row.runtimeStatus}.`);
    await this.store.addMessage({ id: newMessageId(), instanceId, kind, payload } as InboxMessage);
    this.wake(instanceId);
  }

  getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    return this.store.getInstance(instanceId);
  }

  /** The history of the instance's current execution. */
  async getHistory(row: InstanceRecord): Promise<HistoryEvent[]> {
    const cached = this.executions.get(row.instanceId);
    if (cached && cached.executionId === row.executionId) return cached.history;
    return (await this.store.readExecution(row.instanceId, row.executionId)).flatMap((e) => e.events);
  }

  // ---- scheduling --------------------------------------------------------------------------------------------

  private withLock<T>(instanceId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(instanceId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(instanceId, tail);
    void tail.then(() => {
      if (this.locks.get(instanceId) === tail) this.locks.delete(instanceId);
    });
    return next;
  }

  /** Marks an instance as having work and makes sure its (single) episode loop runs. */
  wake(instanceId: string): void {
    if (this.stopped) return;
    this.dirty.add(instanceId);
    if (this.loops.has(instanceId)) return;
    const loop = (async () => {
      while (this.dirty.has(instanceId) && !this.stopped) {
        this.dirty.delete(instanceId);
        try {
          await this.withLock(instanceId, () => this.processInbox(instanceId));
        } catch (err) {
          this.log(
            `ERROR durable: processing instance ${instanceId} failed, retrying in 1 s: ${errorMessage(err)}`,
          );
          setTimeout(() => this.wake(instanceId), 1000).unref();
        }
      }
    })().finally(() => this.loops.delete(instanceId));
    this.loops.set(instanceId, loop);
  }

  private isLive(instanceId: string, executionId: string): boolean {
    if (this.stopped) return false;
    const exec = this.executions.get(instanceId);
    return !exec || (exec.executionId === executionId && !exec.done);
  }

  private async acquireSlot(): Promise<void> {
    if (this.runningOrchestrations < this.maxOrchestrations) {
      this.runningOrchestrations++;
      return;
    }
    await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    this.runningOrchestrations++;
  }

  private releaseSlot(): void {
    this.runningOrchestrations--;
    this.slotWaiters.shift()?.();
  }

  // ---- loading and reconciling -------------------------------------------------------------------------------

  /** The cached execution for the row, or loads it (and re-applies the last episode's outcome to the row). */
  private async execution(row: InstanceRecord): Promise<{ exec: Execution; row: InstanceRecord }> {
    const cached = this.executions.get(row.instanceId);
    if (cached && cached.executionId === row.executionId) return { exec: cached, row };
    const episodes = await this.store.readExecution(row.instanceId, row.executionId);
    const last = episodes.at(-1);
    const history = episodes.flatMap((e) => e.events);
    const exec: Execution = {
      instanceId: row.instanceId,
      executionId: row.executionId,
      name: row.name,
      history,
      host: last?.host ?? emptyHostState(),
      consumed: new Set(episodes.flatMap((e) => e.consumed)),
      lastTs: history.length > 0 ? Date.parse(history.at(-1)!.Timestamp) : 0,
      done: !!last && last.outcome.status !== 'Running',
    };
    this.executions.set(row.instanceId, exec);
    if (!last) return { exec, row };
    // Crash recovery: the episode was recorded but the row may not reflect it yet.
    const o = last.outcome;
    const upToDate =
      row.runtimeStatus === o.status &&
      row.output === o.output &&
      row.customStatus === o.customStatus &&
      !o.continueAsNew;
    if (upToDate) return { exec, row };
    const updated = await this.applyOutcome(row, exec, o);
    if (o.continueAsNew) return this.execution(updated);
    return { exec, row: updated };
  }

  /** After a restart: activities scheduled without a recorded result run again, timers not yet fired re-arm. */
  private async resumePending(exec: Execution): Promise<void> {
    if (exec.done) return;
    const messages = (await this.store.listMessages(exec.instanceId)).filter(
      (m) => m.executionId === exec.executionId,
    );
    const completed = new Set<number>();
    const fired = new Set<number>();
    for (const ev of exec.history) {
      if (ev.EventType === EventType.TaskCompleted || ev.EventType === EventType.TaskFailed)
        completed.add(Number(ev.TaskScheduledId));
      if (ev.EventType === EventType.TimerFired) fired.add(Number(ev.TimerId));
    }
    for (const m of messages) {
      if (m.kind === 'taskCompleted' || m.kind === 'taskFailed')
        completed.add(Number(m.payload.taskScheduledId));
      if (m.kind === 'timerFired') fired.add(Number(m.payload.timerId));
    }
    const cancelled = new Set(exec.host.cancelledTimers);
    for (const ev of exec.history) {
      if (ev.EventType === EventType.TaskScheduled && !completed.has(ev.EventId)) {
        const group = Object.values(exec.host.retries).find((g) => g.taskIds.includes(ev.EventId));
        this.dispatch(exec, {
          taskId: ev.EventId,
          name: String(ev.Name),
          input: typeof ev.Input === 'string' ? ev.Input : null,
          ...(group?.gaveUp && group.lastFailure
            ? { failWith: group.lastFailure as unknown as TaskFailure }
            : {}),
        });
        this.log(
          `durable: re-running activity ${String(ev.Name)} (instance ${exec.instanceId}, task #${ev.EventId}): its result was not recorded`,
        );
      }
      if (ev.EventType === EventType.TimerCreated && !fired.has(ev.EventId) && !cancelled.has(ev.EventId)) {
        this.armTimer(exec, ev.EventId, Date.parse(String(ev.FireAt)));
      }
    }
  }

  // ---- episodes ----------------------------------------------------------------------------------------------

  private async processInbox(instanceId: string): Promise<void> {
    const found = await this.store.getInstance(instanceId);
    const messages = await this.store.listMessages(instanceId);
    if (!found) {
      if (messages.length > 0)
        await this.store.deleteMessages(
          instanceId,
          messages.map((m) => m.id),
        );
      return;
    }
    const { exec, row } = await this.execution(found);
    const live: InboxMessage[] = [];
    const drop: string[] = [];
    for (const m of messages) {
      const stale =
        (m.executionId !== undefined && m.executionId !== row.executionId) || exec.consumed.has(m.id);
      if (stale || TERMINAL.has(row.runtimeStatus) || exec.done) drop.push(m.id);
      else live.push(m);
    }
    if (drop.length > 0) await this.store.deleteMessages(instanceId, drop);
    if (live.length === 0) return;

    const terminate = live.find((m) => m.kind === 'terminate');
    if (terminate) {
      await this.terminateExecution(exec, row, terminate, live);
      return;
    }
    const batch = pickBatch(exec.host, exec.history.length > 0, live);
    if (batch.length === 0) return;
    await this.runEpisode(exec, row, batch);
    if (batch.length < live.length) this.dirty.add(instanceId);
  }

  private async runEpisode(exec: Execution, row: InstanceRecord, batch: InboxMessage[]): Promise<void> {
    const ts = Math.max(this.clock.now(), exec.lastTs);
    const firstEpisode = exec.history.length === 0;
    const fn = this.hasOrchestration(exec.name);
    const ep = await playEpisode({
      ...exec,
      batch,
      ts,
      schema: this.schema,
      activityExists: (name) => this.activityNames.has(name.toLowerCase()),
      warn: (message) => this.log(`WARN ${message}`),
      invoke: async (trigger) => {
        if (!fn)
          throw new Error(
            `The function '${exec.name}' doesn't exist, is disabled, or is not an orchestrator function.`,
          );
        await this.acquireSlot();
        try {
          const response = await this.invoker.invoke(fn, {
            inputData: [{ name: fn.trigger.name, data: { string: JSON.stringify(trigger) } }],
            triggerMetadata: {},
          });
          return fromTyped(response.returnValue);
        } finally {
          this.releaseSlot();
        }
      },
    });
    const { host, plan, failure } = ep;
    const outcome: EpisodeOutcome = {
      status: ep.status,
      output: ep.status === 'ContinuedAsNew' ? null : ep.output,
      customStatus: ep.customStatus,
      ...(ep.status === 'ContinuedAsNew'
        ? { continueAsNew: { executionId: newId(), messageId: newMessageId(), input: ep.output } }
        : {}),
    };
    const episodeEvents = ep.events;
    const consumed = batch.map((m) => m.id);

    await this.store.appendEpisode(exec.instanceId, exec.executionId, {
      events: episodeEvents,
      consumed,
      host,
      outcome,
    });
    exec.history.push(...episodeEvents);
    exec.host = host;
    exec.lastTs = ts;
    for (const id of consumed) exec.consumed.add(id);
    exec.done = outcome.status !== 'Running';

    if (firstEpisode) this.log(`orchestration ${exec.name} (${exec.instanceId}) started`);
    await this.applyOutcome(row, exec, outcome);
    if (outcome.status === 'Running') {
      for (const id of plan.cancelTimers) this.cancelTimer(exec, id);
      for (const a of plan.activities) this.dispatch(exec, a);
      for (const t of plan.timers) this.armTimer(exec, t.id, t.fireAt);
    } else {
      this.cancelTimers(exec.instanceId);
      if (outcome.status === 'Failed') {
        this.log(`orchestration ${exec.name} (${exec.instanceId}) failed: ${failure ?? ''}`.split('\n')[0]!);
      } else if (outcome.status === 'Completed') {
        this.log(`orchestration ${exec.name} (${exec.instanceId}) completed`);
      } else {
        this.log(`orchestration ${exec.name} (${exec.instanceId}) continued as new`);
      }
    }
    await this.store.deleteMessages(exec.instanceId, consumed);
  }

  private async terminateExecution(
    exec: Execution,
    row: InstanceRecord,
    msg: InboxMessage,
    live: InboxMessage[],
  ): Promise<void> {
    const ts = Math.max(this.clock.now(), exec.lastTs);
    const reason = typeof msg.payload.reason === 'string' ? msg.payload.reason : null;
    const outcome: EpisodeOutcome = {
      status: 'Terminated',
      output: JSON.stringify(reason ?? ''),
      customStatus: row.customStatus,
    };
    const episodeEvents = [
      events.orchestratorStarted(ts),
      events.executionTerminated(ts, reason),
      events.orchestratorCompleted(ts),
    ];
    const consumed = live.map((m) => m.id);
    const episode = { events: episodeEvents, consumed, host: exec.host, outcome };
    await this.store.appendEpisode(exec.instanceId, exec.executionId, episode);
    exec.history.push(...episodeEvents);
    exec.lastTs = ts;
    exec.done = true;
    for (const id of consumed) exec.consumed.add(id);
    this.cancelTimers(exec.instanceId);
    await this.applyOutcome(row, exec, outcome);
    this.log(`orchestration ${exec.name} (${exec.instanceId}) terminated: ${reason ?? ''}`);
    await this.store.deleteMessages(exec.instanceId, consumed);
  }

  /** Writes the episode's outcome to the instance row (and performs a continue-as-new). Idempotent. */
  private async applyOutcome(
    row: InstanceRecord,
    exec: Execution,
    o: EpisodeOutcome,
  ): Promise<InstanceRecord> {
    const now = iso(this.clock.now());
    if (o.continueAsNew) {
      const c = o.continueAsNew;
      await this.store.addMessage({
        id: c.messageId,
        instanceId: exec.instanceId,
        kind: 'start',
        executionId: c.executionId,
        payload: { name: exec.name, input: c.input, at: this.clock.now() },
      });
      const next: InstanceRecord = {
        ...row,
        runtimeStatus: 'ContinuedAsNew',
        input: c.input,
        output: null,
        customStatus: o.customStatus,
        lastUpdatedTime: now,
        executionId: c.executionId,
      };
      await this.store.putInstance(next);
      this.cancelTimers(exec.instanceId);
      this.executions.delete(exec.instanceId);
      await this.store.deleteHistory(exec.instanceId, c.executionId);
      this.dirty.add(exec.instanceId);
      return next;
    }
    const next: InstanceRecord = {
      ...row,
      runtimeStatus: o.status,
      output: o.output,
      customStatus: o.customStatus,
      lastUpdatedTime: now,
    };
    await this.store.putInstance(next);
    return next;
  }

  // ---- activities and timers ---------------------------------------------------------------------------------

  private dispatch(exec: Execution, a: ActivityRequest): void {
    this.dispatcher.enqueue({ ...a, instanceId: exec.instanceId, executionId: exec.executionId });
  }

  private async recordActivity(work: ActivityWork, outcome: ActivityOutcome): Promise<void> {
    await this.store.addMessage({
      id: newMessageId(),
      instanceId: work.instanceId,
      kind: outcome.ok ? 'taskCompleted' : 'taskFailed',
      executionId: work.executionId,
      payload: outcome.ok
        ? { taskScheduledId: work.taskId, result: outcome.result, at: this.clock.now() }
        : { taskScheduledId: work.taskId, failure: outcome.failure, at: this.clock.now() },
    });
    this.wake(work.instanceId);
  }

  private timerKey(instanceId: string, executionId: string, timerId: number): string {
    return `${instanceId}|${executionId}|${timerId}`;
  }

  private armTimer(exec: Execution, timerId: number, fireAt: number): void {
    if (this.stopped) return;
    const key = this.timerKey(exec.instanceId, exec.executionId, timerId);
    if (this.timers.has(key)) return;
    const { instanceId, executionId } = exec;
    const fire = async (): Promise<void> => {
      try {
        await this.store.addMessage({
          id: newMessageId(),
          instanceId,
          kind: 'timerFired',
          executionId,
          payload: { timerId, fireAt: iso(fireAt), at: this.clock.now() },
        });
        this.timers.delete(key);
        this.wake(instanceId);
      } catch (err) {
        this.log(
          `ERROR durable: recording timer #${timerId} of ${instanceId} failed, retrying: ${errorMessage(err)}`,
        );
        if (!this.stopped) setTimeout(() => void fire(), 1000).unref();
      }
    };
    this.timers.set(
      key,
      this.clock.at(fireAt, () => void fire()),
    );
  }

  private cancelTimer(exec: Execution, timerId: number): void {
    const key = this.timerKey(exec.instanceId, exec.executionId, timerId);
    this.timers.get(key)?.();
    this.timers.delete(key);
  }

  private cancelTimers(instanceId: string): void {
    for (const [key, cancel] of this.timers) {
      if (key.startsWith(`${instanceId}|`)) {
        cancel();
        this.timers.delete(key);
      }
    }
  }
}

/** The Azure Storage provider's instance id rules. */
export function validateInstanceId(id: string): void {
  if (id.length > 256) throw new ClientError(400, 'Instance ID length must not exceed 256 characters.');
  if (/[/\\#?\u0000-\u001f\u007f-\u009f]/.test(id)) {
    throw new ClientError(
      400,
      `Instance ID '${id}' contains invalid characters (/, \\, #, ? or control characters).`,
    );
  }
}
