import type { Invoker, LineLog } from '../invoke';
import { fromTyped } from '../invoke';
import type { RegisteredFunction } from '../registry';
import { activityFailure, toJsonText, type TaskFailure } from './history';

/**
 * Runs activity work items with bounded concurrency (host.json maxConcurrentActivityFunctions). An activity is
 * invoked with the activity trigger input (the JSON the orchestrator passed) through the programming model; its
 * result or failure is handed back to the engine, which records it durably before anything else happens.
 */

export interface ActivityWork {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  /** JSON text of the input, as recorded in TaskScheduled. */
  input: string | null;
  /** Set when the retry policy gave up (retry timeout): fail with this instead of running. */
  failWith?: TaskFailure;
}

export type ActivityOutcome = { ok: true; result: string } | { ok: false; failure: TaskFailure };

export class ActivityDispatcher {
  private readonly queue: ActivityWork[] = [];
  private readonly inFlight = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(
    private readonly activities: Map<string, RegisteredFunction>,
    private readonly invoker: Invoker,
    private readonly maxConcurrent: number,
    private readonly isLive: (instanceId: string, executionId: string) => boolean,
    private readonly onDone: (work: ActivityWork, outcome: ActivityOutcome) => Promise<void>,
    private readonly log: LineLog,
  ) {}

  private key(w: ActivityWork): string {
    return `${w.instanceId}|${w.executionId}|${w.taskId}`;
  }

  enqueue(work: ActivityWork): void {
    if (this.stopped) return;
    const k = this.key(work);
    if (this.inFlight.has(k) || this.queue.some((w) => this.key(w) === k)) return;
    this.queue.push(work);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.inFlight.size < this.maxConcurrent && this.queue.length > 0) {
      const work = this.queue.shift()!;
      if (!this.isLive(work.instanceId, work.executionId)) continue;
      const k = this.key(work);
      const p = this.run(work).finally(() => {
        this.inFlight.delete(k);
        this.pump();
      });
      this.inFlight.set(k, p);
    }
  }

  private async run(work: ActivityWork): Promise<void> {
    let outcome: ActivityOutcome;
    if (work.failWith) {
      outcome = { ok: false, failure: work.failWith };
    } else {
      const fn = this.activities.get(work.name.toLowerCase());
      if (!fn) {
        outcome = {
          ok: false,
          failure: activityFailure(
            work.name,
            new Error(
              `The function '${work.name}' doesn't exist, is disabled, or is not an activity function.`,
            ),
          ),
        };
      } else {
        const started = Date.now();
        try {
          const response = await this.invoker.invoke(fn, {
            inputData: [
              { name: fn.trigger.name, ...(work.input === null ? {} : { data: { json: work.input } }) },
            ],
            triggerMetadata: { instanceId: { string: work.instanceId } },
          });
          outcome = { ok: true, result: toJsonText(fromTyped(response.returnValue)) };
          this.log(
            `activity ${work.name} completed (instance ${work.instanceId}, task #${work.taskId}, ${Date.now() - started} ms)`,
          );
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          this.log(
            `activity ${work.name} failed (instance ${work.instanceId}, task #${work.taskId}, ${Date.now() - started} ms): ${message.split('\n')[0]}`,
          );
          outcome = { ok: false, failure: activityFailure(work.name, err) };
        }
      }
    }
    try {
      await this.onDone(work, outcome);
    } catch (err) {
      this.log(
        `ERROR recording the result of activity ${work.name} (instance ${work.instanceId}): ${(err as Error).message}`,
      );
    }
  }

  /** Stops taking work; in-flight activities finish and their results are still recorded. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    await Promise.race([
      Promise.allSettled([...this.inFlight.values()]),
      new Promise((r) => setTimeout(r, timeoutMs).unref()),
    ]);
  }
}
