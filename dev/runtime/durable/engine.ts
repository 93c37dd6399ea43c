import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock';
import type { RegisteredFunction } from '../registry';
import type { LineLog, WorkerApp } from '../worker';
import {
  activityFailure,
  EventType,
  events,
  toJsonText,
  type HistoryEvent,
  type TaskFailure,
} from './history';
import {
  emptyHostState,
  pickBatch,
  playEpisode,
  type ActivityRequest,
  type HostState,
  type InboxMessage,
  type ReplaySchema,
} from './replay';
import {
  DurableStore,
  newMessageId,
  TERMINAL,
  type EpisodeOutcome,
  type EpisodeRecord,
  type InstanceRecord,
} from './store';

/**
 * The orchestration engine. Per instance, one episode at a time: take waiting messages from the inbox, replay the
 * history plus the new events through the registered orchestrator (durable-functions' own replay engine, through
 * the programming model), apply the returned actions (replay.ts), record the episode, then run what it scheduled:
 * activities (bounded by maxConcurrentActivityFunctions) and timers. Client operations and crash recovery live here
 * too; storage is in store.ts.
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

interface ActivityWork extends ActivityRequest {
  instanceId: string;
  executionId: string;
}

export interface DurableEngineOptions {
  storage: string;
  hub: string;
  app: WorkerApp;
  clock: Clock;
  log: LineLog;
  orchestrations: RegisteredFunction[];
  activities: RegisteredFunction[];
  maxConcurrentActivities: number;
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

const iso = (ms: number): string => new Date(ms).toISOString();
const newId = (): string => randomUUID().replace(/-/g, '');
const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const notAFunction = (name: string, kind: string): string =>
  `The function '${name}' doesn't exist, is disabled, or is not an ${kind} function.`;

export class DurableEngine {
  readonly store: DurableStore;
  private readonly functions = new Map<string, RegisteredFunction>();
  private readonly executions = new Map<string, Execution>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly dirty = new Set<string>();
  private readonly loops = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, () => void>();
  private readonly queue: ActivityWork[] = [];
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(private readonly o: DurableEngineOptions) {
    this.store = new DurableStore(o.storage, o.hub);
    for (const fn of [...o.orchestrations, ...o.activities])
      this.functions.set(`${fn.kind}:${fn.name.toLowerCase()}`, fn);
  }

  private fn(kind: 'orchestration' | 'activity', name: string): RegisteredFunction | undefined {
    return this.functions.get(`${kind}:${name.toLowerCase()}`);
  }

  /** Creates the storage and resumes every unfinished orchestration: pending activities run again, timers re-arm. */
  async start(): Promise<void> {
    await this.store.init();
    let resumed = 0;
    for (const row of await this.store.listInstances()) {
      if (TERMINAL.has(row.runtimeStatus)) continue;
      await this.withLock(row.instanceId, async () => {
        const { exec } = await this.execution(row);
        await this.resumePending(exec);
      });
      resumed++;
      this.wake(row.instanceId);
    }
    for (const id of await this.store.instancesWithMessages()) this.wake(id);
    if (resumed > 0)
      this.o.log(`durable: resumed ${resumed} unfinished orchestration(s) from task hub ${this.o.hub}`);
  }

  /** Stops taking work; running episodes and activities finish (up to 10 s) and their results are recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.forEach((cancel) => cancel());
    this.queue.length = 0;
    const drained = async () => {
      await Promise.allSettled(this.running.values());
      await Promise.allSettled(this.loops.values());
    };
    await Promise.race([drained(), new Promise((r) => setTimeout(r, 10_000).unref())]);
  }

  // ---- client operations -------------------------------------------------------------------------------------

  /**
   * DurableClient.StartNewAsync with the default OverridableExistingInstanceStates = NonRunningStates: an id that is
   * Running/Pending/ContinuedAsNew/Suspended makes DTFx throw OrchestrationAlreadyExistsException, which the HTTP API
   * answers with 500; a Completed/Failed/Terminated one is overwritten with a fresh history.
   */
  async startNew(name: string, instanceId: string | undefined, input: string | null): Promise<string> {
    const fn = this.fn('orchestration', name);
    if (!fn) throw new ClientError(400, notAFunction(name, 'orchestrator'));
    const id = instanceId || newId();
    if (id.length > 256) throw new ClientError(400, 'Instance ID length must not exceed 256 characters.');
    if (/[/\\#?\u0000-\u001f\u007f-\u009f]/.test(id))
      throw new ClientError(
        400,
        `Instance ID '${id}' contains invalid characters (/, \\, #, ? or control characters).`,
      );
    const exists = (message: string) =>
      new ClientError(500, message, 'DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException');
    return this.withLock(id, async () => {
      const row = await this.store.getInstance(id);
      if (row && !TERMINAL.has(row.runtimeStatus))
        throw exists(`An Orchestration instance with the status ${row.runtimeStatus} already exists.`);
      const now = this.o.clock.now();
      const executionId = newId();
      if (row) {
        this.cancelTimers(id);
        this.executions.delete(id);
        await this.store.deleteHistory(id);
        await this.store.deleteMessages(
          id,
          (await this.store.listMessages(id)).map((m) => m.id),
        );
      }
      const payload = { name: fn.name, input, at: now };
      await this.store.addMessage({
        id: newMessageId(),
        instanceId: id,
        kind: 'start',
        executionId,
        payload,
      });
      const times = { createdTime: iso(now), lastUpdatedTime: iso(now) };
      const rec = {
        instanceId: id,
        name: fn.name,
        runtimeStatus: 'Pending' as const,
        input,
        output: null,
        customStatus: null,
      };
      if (!(await this.store.putInstance({ ...rec, ...times, executionId }, row?.etag ?? 'new')))
        throw exists(`An Orchestration instance with the id ${id} was created concurrently.`);
      this.wake(id);
      return id;
    });
  }

  /** Queues an event or a termination for an instance that exists and has not ended (404 / 410 otherwise). */
  async send(
    instanceId: string,
    kind: 'eventRaised' | 'terminate',
    payload: Record<string, unknown>,
  ): Promise<void> {
    const row = await this.store.getInstance(instanceId);
    if (!row) throw new ClientError(404, `No instance with ID '${instanceId}' found.`);
    if (TERMINAL.has(row.runtimeStatus))
      throw new ClientError(410, `Instance '${instanceId}' is ${row.runtimeStatus}.`);
    await this.store.addMessage({
      id: newMessageId(),
      instanceId,
      kind,
      payload: { ...payload, at: this.o.clock.now() },
    });
    this.wake(instanceId);
  }

  /** The history of the instance's current execution. */
  async getHistory(row: InstanceRecord): Promise<HistoryEvent[]> {
    const cached = this.executions.get(row.instanceId);
    if (cached?.executionId === row.executionId) return cached.history;
    return (await this.store.readExecution(row.instanceId, row.executionId)).flatMap((e) => e.events);
  }

  // ---- scheduling --------------------------------------------------------------------------------------------

  private withLock<T>(instanceId: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.locks.get(instanceId) ?? Promise.resolve()).then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(instanceId, tail);
    void tail.then(() => this.locks.get(instanceId) === tail && this.locks.delete(instanceId));
    return next;
  }

  /** Marks an instance as having work and makes sure its (single) episode loop runs. */
  private wake(instanceId: string): void {
    if (this.stopped) return;
    this.dirty.add(instanceId);
    if (this.loops.has(instanceId)) return;
    const loop = (async () => {
      while (this.dirty.delete(instanceId) && !this.stopped) {
        try {
          await this.withLock(instanceId, () => this.processInbox(instanceId));
        } catch (err) {
          this.o.log(
            `ERROR durable: processing instance ${instanceId} failed, retrying in 1 s: ${errorMessage(err)}`,
          );
          setTimeout(() => this.wake(instanceId), 1000).unref();
        }
      }
    })().finally(() => this.loops.delete(instanceId));
    this.loops.set(instanceId, loop);
  }

  // ---- loading and reconciling -------------------------------------------------------------------------------

  /** The cached execution for the row, or loads it (and re-applies the last episode's outcome to the row). */
  private async execution(row: InstanceRecord): Promise<{ exec: Execution; row: InstanceRecord }> {
    const cached = this.executions.get(row.instanceId);
    if (cached?.executionId === row.executionId) return { exec: cached, row };
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
    // Crash recovery: the episode was recorded but the row may not reflect it yet.
    const o = last?.outcome;
    if (
      !o ||
      (row.runtimeStatus === o.status &&
        row.output === o.output &&
        row.customStatus === o.customStatus &&
        !o.continueAsNew)
    )
      return { exec, row };
    const updated = await this.applyOutcome(row, exec, o);
    return o.continueAsNew ? this.execution(updated) : { exec, row: updated };
  }

  /** After a restart: activities scheduled without a recorded result run again, timers not yet fired re-arm. */
  private async resumePending(exec: Execution): Promise<void> {
    if (exec.done) return;
    const messages = (await this.store.listMessages(exec.instanceId)).filter(
      (m) => m.executionId === exec.executionId,
    );
    const seen = new Set<string>();
    for (const ev of exec.history) {
      if (ev.EventType === EventType.TaskCompleted || ev.EventType === EventType.TaskFailed)
        seen.add(`t${ev.TaskScheduledId}`);
      if (ev.EventType === EventType.TimerFired) seen.add(`f${ev.TimerId}`);
    }
    for (const m of messages)
      seen.add(m.kind === 'timerFired' ? `f${m.payload.timerId}` : `t${m.payload.taskScheduledId}`);
    for (const ev of exec.history) {
      if (ev.EventType === EventType.TaskScheduled && !seen.has(`t${ev.EventId}`)) {
        const group = Object.values(exec.host.retries).find((g) => g.taskIds.includes(ev.EventId));
        const failWith = group?.gaveUp ? group.lastFailure : undefined;
        const input = typeof ev.Input === 'string' ? ev.Input : null;
        this.dispatch(exec, {
          taskId: ev.EventId,
          name: String(ev.Name),
          input,
          ...(failWith ? { failWith } : {}),
        });
        this.o.log(
          `durable: re-running activity ${String(ev.Name)} (instance ${exec.instanceId}, task #${ev.EventId}): its result was not recorded`,
        );
      }
      if (
        ev.EventType === EventType.TimerCreated &&
        !seen.has(`f${ev.EventId}`) &&
        !exec.host.cancelledTimers.includes(ev.EventId)
      )
        this.armTimer(exec, ev.EventId, Date.parse(String(ev.FireAt)));
    }
  }

  // ---- episodes ----------------------------------------------------------------------------------------------

  private async processInbox(instanceId: string): Promise<void> {
    const found = await this.store.getInstance(instanceId);
    const messages = await this.store.listMessages(instanceId);
    if (!found)
      return this.store.deleteMessages(
        instanceId,
        messages.map((m) => m.id),
      );
    const { exec, row } = await this.execution(found);
    const stale = (m: InboxMessage) =>
      (m.executionId !== undefined && m.executionId !== row.executionId) ||
      exec.consumed.has(m.id) ||
      TERMINAL.has(row.runtimeStatus) ||
      exec.done;
    const live = messages.filter((m) => !stale(m));
    if (live.length < messages.length)
      await this.store.deleteMessages(
        instanceId,
        messages.filter(stale).map((m) => m.id),
      );
    const terminate = live.find((m) => m.kind === 'terminate');
    const batch = terminate ? live : pickBatch(exec.host, exec.history.length > 0, live);
    if (batch.length === 0) return;
    if (terminate) await this.terminate(exec, row, terminate, live);
    else await this.runEpisode(exec, row, batch);
    if (batch.length < live.length) this.dirty.add(instanceId);
  }

  /** Records an episode and applies its outcome to the instance row. */
  private async record(exec: Execution, row: InstanceRecord, ep: EpisodeRecord, ts: number): Promise<void> {
    await this.store.appendEpisode(exec.instanceId, exec.executionId, ep);
    exec.history.push(...ep.events);
    exec.host = ep.host;
    exec.lastTs = ts;
    ep.consumed.forEach((id) => exec.consumed.add(id));
    exec.done = ep.outcome.status !== 'Running';
    if (exec.done) this.cancelTimers(exec.instanceId);
    await this.applyOutcome(row, exec, ep.outcome);
  }

  private async runEpisode(exec: Execution, row: InstanceRecord, batch: InboxMessage[]): Promise<void> {
    const ts = Math.max(this.o.clock.now(), exec.lastTs);
    const firstEpisode = exec.history.length === 0;
    const fn = this.fn('orchestration', exec.name);
    const ep = await playEpisode({
      ...exec,
      batch,
      ts,
      schema: this.o.schema,
      activityExists: (name) => this.fn('activity', name) !== undefined,
      warn: (message) => this.o.log(`WARN ${message}`),
      invoke: async (trigger) => {
        if (!fn) throw new Error(notAFunction(exec.name, 'orchestrator'));
        return (
          await this.o.app.invoke(fn, [{ name: fn.trigger.name, data: { string: JSON.stringify(trigger) } }])
        ).returnValue;
      },
    });
    const continued = ep.status === 'ContinuedAsNew';
    const outcome: EpisodeOutcome = {
      status: ep.status,
      output: continued ? null : ep.output,
      customStatus: ep.customStatus,
      ...(continued
        ? { continueAsNew: { executionId: newId(), messageId: newMessageId(), input: ep.output } }
        : {}),
    };
    const consumed = batch.map((m) => m.id);
    await this.record(exec, row, { events: ep.events, consumed, host: ep.host, outcome }, ts);
    const what = `orchestration ${exec.name} (${exec.instanceId})`;
    if (firstEpisode) this.o.log(`${what} started`);
    if (outcome.status === 'Running') {
      for (const id of ep.plan.cancelTimers) this.cancelTimer(`${exec.instanceId}|${exec.executionId}|${id}`);
      for (const a of ep.plan.activities) this.dispatch(exec, a);
      for (const t of ep.plan.timers) this.armTimer(exec, t.id, t.fireAt);
    } else if (outcome.status === 'Failed') this.o.log(`${what} failed: ${ep.failure ?? ''}`.split('\n')[0]!);
    else this.o.log(`${what} ${continued ? 'continued as new' : 'completed'}`);
    await this.store.deleteMessages(exec.instanceId, consumed);
  }

  private async terminate(
    exec: Execution,
    row: InstanceRecord,
    msg: InboxMessage,
    live: InboxMessage[],
  ): Promise<void> {
    const ts = Math.max(this.o.clock.now(), exec.lastTs);
    const reason = typeof msg.payload.reason === 'string' ? msg.payload.reason : null;
    const outcome: EpisodeOutcome = {
      status: 'Terminated',
      output: JSON.stringify(reason ?? ''),
      customStatus: row.customStatus,
    };
    const evs = [
      events.orchestratorStarted(ts),
      events.executionTerminated(ts, reason),
      events.orchestratorCompleted(ts),
    ];
    const consumed = live.map((m) => m.id);
    await this.record(exec, row, { events: evs, consumed, host: exec.host, outcome }, ts);
    this.o.log(`orchestration ${exec.name} (${exec.instanceId}) terminated: ${reason ?? ''}`);
    await this.store.deleteMessages(exec.instanceId, consumed);
  }

  /** Writes the episode's outcome to the instance row (and performs a continue-as-new). Idempotent. */
  private async applyOutcome(
    row: InstanceRecord,
    exec: Execution,
    o: EpisodeOutcome,
  ): Promise<InstanceRecord> {
    const lastUpdatedTime = iso(this.o.clock.now());
    const c = o.continueAsNew;
    if (!c) {
      const next = {
        ...row,
        runtimeStatus: o.status,
        output: o.output,
        customStatus: o.customStatus,
        lastUpdatedTime,
      };
      await this.store.putInstance(next);
      return next;
    }
    const payload = { name: exec.name, input: c.input, at: this.o.clock.now() };
    await this.store.addMessage({
      id: c.messageId,
      instanceId: exec.instanceId,
      kind: 'start',
      executionId: c.executionId,
      payload,
    });
    const next: InstanceRecord = {
      ...row,
      runtimeStatus: 'ContinuedAsNew',
      input: c.input,
      output: null,
      customStatus: o.customStatus,
      lastUpdatedTime,
      executionId: c.executionId,
    };
    await this.store.putInstance(next);
    this.cancelTimers(exec.instanceId);
    this.executions.delete(exec.instanceId);
    await this.store.deleteHistory(exec.instanceId, c.executionId);
    this.dirty.add(exec.instanceId);
    return next;
  }

  // ---- activities and timers ---------------------------------------------------------------------------------

  private dispatch(exec: Execution, a: ActivityRequest): void {
    const work = { ...a, instanceId: exec.instanceId, executionId: exec.executionId };
    const key = `${work.instanceId}|${work.executionId}|${work.taskId}`;
    if (
      this.stopped ||
      this.running.has(key) ||
      this.queue.some((w) => `${w.instanceId}|${w.executionId}|${w.taskId}` === key)
    )
      return;
    this.queue.push(work);
    this.pump();
  }

  private pump(): void {
    while (
      !this.stopped &&
      this.running.size < Math.max(1, this.o.maxConcurrentActivities) &&
      this.queue.length > 0
    ) {
      const work = this.queue.shift()!;
      const exec = this.executions.get(work.instanceId);
      if (exec && (exec.executionId !== work.executionId || exec.done)) continue; // that execution has ended
      const key = `${work.instanceId}|${work.executionId}|${work.taskId}`;
      this.running.set(
        key,
        this.runActivity(work).finally(() => {
          this.running.delete(key);
          this.pump();
        }),
      );
    }
  }

  /** Invokes the activity with its input (JSON) and records its result or failure before anything else happens. */
  private async runActivity(work: ActivityWork): Promise<void> {
    const where = `(instance ${work.instanceId}, task #${work.taskId}`;
    const fn = this.fn('activity', work.name);
    const started = Date.now();
    let outcome: { result: string } | { failure: TaskFailure };
    try {
      if (work.failWith) outcome = { failure: work.failWith };
      else if (!fn) throw new Error(notAFunction(work.name, 'activity'));
      else {
        const inputs = [
          { name: fn.trigger.name, ...(work.input === null ? {} : { data: { json: work.input } }) },
        ];
        const { returnValue } = await this.o.app.invoke(fn, inputs, {
          instanceId: { string: work.instanceId },
        });
        outcome = { result: toJsonText(returnValue) };
        this.o.log(`activity ${work.name} completed ${where}, ${Date.now() - started} ms)`);
      }
    } catch (err) {
      this.o.log(
        `activity ${work.name} failed ${where}, ${Date.now() - started} ms): ${errorMessage(err).split('\n')[0]}`,
      );
      outcome = { failure: activityFailure(work.name, err) };
    }
    try {
      const { instanceId, executionId, taskId } = work;
      const ok = 'result' in outcome;
      const payload = { taskScheduledId: taskId, ...outcome, at: this.o.clock.now() };
      await this.store.addMessage({
        id: newMessageId(),
        instanceId,
        kind: ok ? 'taskCompleted' : 'taskFailed',
        executionId,
        payload,
      });
      this.wake(instanceId);
    } catch (err) {
      this.o.log(`ERROR recording the result of activity ${work.name} ${where}): ${errorMessage(err)}`);
    }
  }

  private armTimer(exec: Execution, timerId: number, fireAt: number): void {
    const { instanceId, executionId } = exec;
    const key = `${instanceId}|${executionId}|${timerId}`;
    if (this.stopped || this.timers.has(key)) return;
    const fire = async (): Promise<void> => {
      try {
        const payload = { timerId, fireAt: iso(fireAt), at: this.o.clock.now() };
        await this.store.addMessage({
          id: newMessageId(),
          instanceId,
          kind: 'timerFired',
          executionId,
          payload,
        });
        this.timers.delete(key);
        this.wake(instanceId);
      } catch (err) {
        this.o.log(
          `ERROR durable: recording timer #${timerId} of ${instanceId} failed, retrying: ${errorMessage(err)}`,
        );
        if (!this.stopped) setTimeout(() => void fire(), 1000).unref();
      }
    };
    this.timers.set(
      key,
      this.o.clock.at(fireAt, () => void fire()),
    );
  }

  private cancelTimer(key: string): void {
    this.timers.get(key)?.();
    this.timers.delete(key);
  }

  private cancelTimers(instanceId: string): void {
    for (const key of this.timers.keys()) if (key.startsWith(`${instanceId}|`)) this.cancelTimer(key);
  }
}
