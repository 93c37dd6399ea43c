import { randomUUID } from 'node:crypto';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { drain, type Clock } from '../clock';
import type { Invoke, RegisteredFunction } from '../registry';
import type { LineLog } from '../worker';
import { activityFailure, events, toJsonText, type HistoryEvent } from './history';
import {
  newExecution,
  pendingWork,
  playEpisode,
  type ActivityRequest,
  type Execution,
  type ReplaySchema,
} from './replay';

/**
 * The orchestration engine. Per instance, one episode at a time: take waiting messages from its inbox, replay the
 * history plus the new events through the registered orchestrator (durable-functions' own replay engine, through the
 * programming model), apply the returned actions (replay.ts), record the episode, then run what it scheduled:
 * activities (bounded by maxConcurrentActivityFunctions) and timers.
 *
 * Persistence (README; shaped like the Azure Storage provider's guarantees, not its layout): one blob per instance in
 * `<hub>-instances`, replaced whole by one atomic upload on every change. A message (activity result, timer fired,
 * raised event) is stored before anything acts on it, an episode and the messages it consumed in the same write. One
 * process owns a task hub, so the runtime keeps every instance in memory and writes through.
 */

export const TERMINAL: ReadonlySet<string> = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

/** An instance and its current execution. */
export interface Instance extends Execution {
  runtimeStatus: 'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed';
  /** JSON text (or null). */
  input: string | null;
  output: string | null;
  customStatus: string | null;
  createdTime: string;
  lastUpdatedTime: string;
}

export interface DurableEngineOptions {
  storage: string;
  hub: string;
  clock: Clock;
  log: LineLog;
  /** The app's functions; the engine runs the orchestrations and activities among them. */
  functions: RegisteredFunction[];
  /** Binds the trigger and the function's other inputs (a durable client, which the host binds for activities too). */
  invoke: Invoke;
  maxConcurrentActivities: number;
  schema: ReplaySchema;
}

export class ClientError extends Error {
  constructor(
    readonly status: 400 | 500,
    message: string,
    readonly exceptionType = 'System.ArgumentException',
  ) {
    super(message);
  }
}

type Work = ActivityRequest & { instanceId: string; executionId: string };
const workKey = (w: Work): string => `${w.instanceId}|${w.executionId}|${w.taskId}`;
const iso = (ms: number): string => new Date(ms).toISOString();
const newId = (): string => randomUUID().replace(/-/g, '');
const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const notAFunction = (name: string, kind: string): string =>
  `The function '${name}' doesn't exist, is disabled, or is not an ${kind} function.`;

export class DurableEngine {
  private readonly container: ContainerClient;
  private readonly instances = new Map<string, Instance>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly waking = new Set<string>();
  private readonly timers = new Map<string, () => void>();
  private readonly queue = new Map<string, Work>();
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(private readonly o: DurableEngineOptions) {
    const blobs = BlobServiceClient.fromConnectionString(o.storage);
    this.container = blobs.getContainerClient(`${o.hub.toLowerCase()}-instances`);
  }

  private fn(kind: 'orchestration' | 'activity', name: string): RegisteredFunction | undefined {
    return this.o.functions.find((f) => f.kind === kind && f.name.toLowerCase() === name.toLowerCase());
  }

  /** Loads every instance; unfinished ones resume: pending activities run again, timers re-arm. */
  async start(): Promise<void> {
    await this.container.createIfNotExists();
    let resumed = 0;
    for await (const b of this.container.listBlobsFlat()) {
      const text = String(await this.container.getBlobClient(b.name).downloadToBuffer());
      const inst = JSON.parse(text) as Instance;
      this.instances.set(inst.instanceId, inst);
      if (TERMINAL.has(inst.runtimeStatus)) continue;
      this.schedule(inst, true);
      resumed++;
      this.wake(inst.instanceId);
    }
    if (resumed > 0)
      this.o.log(`durable: resumed ${resumed} unfinished orchestration(s) from task hub ${this.o.hub}`);
  }

  /** Stops taking work; running episodes and activities finish (up to 10 s) and their results are recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.forEach((cancel) => cancel());
    this.queue.clear();
    await drain(
      Promise.allSettled(this.running.values()).then(() => Promise.allSettled(this.locks.values())),
    );
  }

  getInstance(instanceId: string): Instance | undefined {
    return this.instances.get(instanceId);
  }

  private async save(inst: Instance): Promise<void> {
    const text = JSON.stringify(inst);
    const name = `${encodeURIComponent(inst.instanceId)}.json`;
    await this.container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
    this.instances.set(inst.instanceId, inst);
  }

  /** Stores a message for the instance's current execution (dropped if it ended), then processes it. */
  private async add(instanceId: string, event: HistoryEvent, executionId?: string): Promise<void> {
    await this.withLock(instanceId, async () => {
      const inst = this.instances.get(instanceId);
      const current = inst && !TERMINAL.has(inst.runtimeStatus);
      if (current && (!executionId || executionId === inst.executionId))
        await this.save({ ...inst, inbox: [...inst.inbox, { event, executionId }] });
    });
    this.wake(instanceId);
  }

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
    await this.withLock(id, async () => {
      const row = this.instances.get(id);
      if (row && !TERMINAL.has(row.runtimeStatus))
        throw new ClientError(
          500,
          `An Orchestration instance with the status ${row.runtimeStatus} already exists.`,
          'DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException',
        );
      this.cancelTimers(id);
      const at = this.o.clock.now();
      const fresh = newExecution({ instanceId: id, name: fn.name, input, executionId: newId(), at });
      const record = { runtimeStatus: 'Pending' as const, input, output: null, customStatus: null };
      await this.save({ ...fresh, ...record, createdTime: iso(at), lastUpdatedTime: iso(at) });
    });
    this.wake(id);
    return id;
  }

  /** Records a raised event for the instance (the HTTP API answers 404/410 for unknown and finished ones). */
  raise(instanceId: string, name: string, input: string | null): Promise<void> {
    return this.add(instanceId, events.eventRaised(this.o.clock.now(), name, input));
  }

  private withLock<T>(instanceId: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.locks.get(instanceId) ?? Promise.resolve()).then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(instanceId, tail);
    void tail.then(() => this.locks.get(instanceId) === tail && this.locks.delete(instanceId));
    return next;
  }

  /** Queues an episode for the instance behind its lock, unless one is queued already. */
  private wake(instanceId: string): void {
    if (this.stopped || this.waking.has(instanceId)) return;
    this.waking.add(instanceId);
    const episode = async (): Promise<void> => {
      this.waking.delete(instanceId);
      if (!this.stopped) await this.processInbox(instanceId);
    };
    this.withLock(instanceId, episode).catch((err: unknown) => {
      this.o.log(
        `ERROR durable: processing instance ${instanceId} failed, retrying in 1 s: ${errorMessage(err)}`,
      );
      setTimeout(() => this.wake(instanceId), 1000).unref();
    });
  }

  /** Runs what the execution waits for and is not running yet (pendingWork); drops timers cancelled since. */
  private schedule(inst: Instance, resumed = false): void {
    const { activities, timers } = pendingWork(inst);
    for (const id of inst.host.cancelledTimers)
      this.cancelTimer(`${inst.instanceId}|${inst.executionId}|${id}`);
    for (const a of activities) {
      if (resumed)
        this.o.log(
          `durable: re-running activity ${a.name} (instance ${inst.instanceId}, task #${a.taskId}): its result was not recorded`,
        );
      this.dispatch({ ...a, instanceId: inst.instanceId, executionId: inst.executionId });
    }
    for (const t of timers) this.armTimer(inst, t.id, t.fireAt);
  }

  private async processInbox(instanceId: string): Promise<void> {
    const inst = this.instances.get(instanceId);
    if (!inst || TERMINAL.has(inst.runtimeStatus)) return;
    const what = `orchestration ${inst.name} (${instanceId})`;
    const fn = this.fn('orchestration', inst.name);
    const ep = await playEpisode({
      execution: inst,
      ts: Math.max(this.o.clock.now(), Date.parse(inst.history.at(-1)?.Timestamp ?? '') || 0),
      schema: this.o.schema,
      newExecutionId: newId,
      activityExists: (name) => this.fn('activity', name) !== undefined,
      warn: (message) => this.o.log(`WARN ${message}`),
      invoke: async (trigger) => {
        if (!fn) throw new Error(notAFunction(inst.name, 'orchestrator'));
        return (await this.o.invoke(fn, { string: JSON.stringify(trigger) })).returnValue;
      },
    });
    if (!ep) return;
    const renewed = ep.status === 'ContinuedAsNew';
    const next: Instance = {
      ...inst,
      ...ep.execution,
      runtimeStatus: ep.status,
      input: renewed ? ep.output : inst.input,
      output: ep.status === 'Running' || renewed ? null : ep.output,
      customStatus: ep.customStatus,
      lastUpdatedTime: iso(this.o.clock.now()),
    };
    await this.save(next);
    if (inst.history.length === 0) this.o.log(`${what} started`);
    if (ep.status === 'Running') this.schedule(next);
    else {
      this.cancelTimers(instanceId);
      if (ep.status === 'Failed') this.o.log(`${what} failed: ${ep.failure ?? ''}`.split('\n')[0]!);
      else this.o.log(`${what} ${renewed ? 'continued as new' : 'completed'}`);
    }
    if (next.inbox.length > 0) this.wake(instanceId);
  }

  /** Queues an activity unless it is queued or running already. */
  private dispatch(work: Work): void {
    const key = workKey(work);
    if (this.stopped || this.running.has(key) || this.queue.has(key)) return;
    this.queue.set(key, work);
    this.pump();
  }

  /** Starts queued activities, in order, while fewer than maxConcurrentActivities run. */
  private pump(): void {
    for (const [key, w] of this.queue) {
      if (this.stopped || this.running.size >= Math.max(1, this.o.maxConcurrentActivities)) return;
      this.queue.delete(key);
      const current = this.instances.get(w.instanceId);
      if (current?.executionId !== w.executionId || TERMINAL.has(current.runtimeStatus)) continue; // it has ended
      const done = (): void => {
        this.running.delete(key);
        this.pump();
      };
      this.running.set(key, this.runActivity(w).finally(done));
    }
  }

  /** Invokes the activity with its input (JSON) and stores its result or failure before anything else happens. */
  private async runActivity(work: Work): Promise<void> {
    const where = `(instance ${work.instanceId}, task #${work.taskId}`;
    const fn = this.fn('activity', work.name);
    const started = Date.now();
    let event: HistoryEvent;
    try {
      if (!fn) throw new Error(notAFunction(work.name, 'activity'));
      const data = work.input === null ? undefined : { json: work.input };
      const { returnValue } = await this.o.invoke(fn, data, { instanceId: { string: work.instanceId } });
      event = events.taskCompleted(this.o.clock.now(), work.taskId, toJsonText(returnValue));
      this.o.log(`activity ${work.name} completed ${where}, ${Date.now() - started} ms)`);
    } catch (err) {
      const message = errorMessage(err).split('\n')[0];
      this.o.log(`activity ${work.name} failed ${where}, ${Date.now() - started} ms): ${message}`);
      event = events.taskFailed(this.o.clock.now(), work.taskId, activityFailure(work.name, err));
    }
    await this.add(work.instanceId, event, work.executionId).catch((err: unknown) =>
      this.o.log(`ERROR recording the result of activity ${work.name} ${where}): ${errorMessage(err)}`),
    );
  }

  private armTimer({ instanceId, executionId }: Instance, timerId: number, fireAt: number): void {
    const key = `${instanceId}|${executionId}|${timerId}`;
    if (this.stopped || this.timers.has(key)) return;
    const fire = async (): Promise<void> => {
      try {
        await this.add(instanceId, events.timerFired(this.o.clock.now(), timerId, iso(fireAt)), executionId);
        this.timers.delete(key);
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
