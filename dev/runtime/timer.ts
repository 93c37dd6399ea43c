import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import type { Invoker, LineLog } from './invoke';
import type { RpcParameterBinding } from './functionsCore';
import type { RegisteredFunction } from './registry';

/**
 * Timer trigger, after azure-webjobs-sdk-extensions `Extensions/Timers`: NCRONTAB schedules with six fields
 * (`CronSchedule.cs`, NCrontab with seconds), the listener's invocation lock (one invocation at a time per function,
 * `TimerListener.cs`), the schedule status `{Last, Next, LastUpdated}` persisted under `azure-webjobs-hosts`
 * `timers/<hostId>/<timer>/status` (`StorageScheduleMonitor.cs`), and past-due detection on start-up
 * (`ScheduleMonitor.CheckPastDueAsync`). Times are UTC (WEBSITE_TIME_ZONE is not emulated).
 */

interface Field {
  values: Set<number>;
  min: number;
  max: number;
}

const NAMES: Record<number, string[]> = {
  4: ['', 'jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  5: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
};
const RANGES: [number, number][] = [
  [0, 59],
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 6],
];

export interface CronSchedule {
  expression: string;
  /** The first occurrence strictly after `after` (ms). */
  next(after: number): number;
}

/** Parses a 6-field NCRONTAB expression: `*`, numbers, names, `a-b`, `,` lists and `/step`; day AND day-of-week. */
export function parseCron(expression: string): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 6) {
    throw new Error(
      `Timer schedule "${expression}" is not a 6-field NCRONTAB expression ({second} {minute} {hour} {day} {month} {day-of-week}); ` +
        'TimeSpan schedules are not supported by the local runtime',
    );
  }
  const fields = parts.map((part, i): Field => {
    const [min, max] = RANGES[i]!;
    const values = new Set<number>();
    const value = (t: string): number => {
      const named = NAMES[i]?.indexOf(t.toLowerCase()) ?? -1;
      const n = named >= 0 ? named : Number(t);
      if (!Number.isInteger(n) || n < min || n > (i === 5 ? 7 : max))
        throw new Error(`Timer schedule "${expression}": "${t}" is out of range in field ${i + 1}`);
      return i === 5 && n === 7 ? 0 : n;
    };
    for (const item of part.split(',')) {
      const [range, stepText] = item.split('/');
      const step = stepText === undefined ? 1 : Number(stepText);
      if (!Number.isInteger(step) || step < 1)
        throw new Error(`Timer schedule "${expression}": bad step "${item}"`);
      let lo: number;
      let hi: number;
      if (range === '*') [lo, hi] = [min, max];
      else if (range!.includes('-')) [lo, hi] = range!.split('-').map(value) as [number, number];
      else [lo, hi] = [value(range!), stepText === undefined ? value(range!) : max];
      for (let v = lo; v <= hi; v += step) values.add(v);
    }
    return { values, min, max };
  });
  const [sec, minute, hour, day, month, dow] = fields as [Field, Field, Field, Field, Field, Field];
  return {
    expression,
    next(after: number): number {
      const t = new Date(Math.floor(after / 1000) * 1000 + 1000);
      for (let guard = 0; guard < 100_000; guard++) {
        if (!month.values.has(t.getUTCMonth() + 1)) {
          t.setUTCMonth(t.getUTCMonth() + 1, 1);
          t.setUTCHours(0, 0, 0);
        } else if (!day.values.has(t.getUTCDate()) || !dow.values.has(t.getUTCDay())) {
          t.setUTCDate(t.getUTCDate() + 1);
          t.setUTCHours(0, 0, 0);
        } else if (!hour.values.has(t.getUTCHours())) {
          t.setUTCHours(t.getUTCHours() + 1, 0, 0);
        } else if (!minute.values.has(t.getUTCMinutes())) {
          t.setUTCMinutes(t.getUTCMinutes() + 1, 0);
        } else if (!sec.values.has(t.getUTCSeconds())) {
          t.setUTCSeconds(t.getUTCSeconds() + 1);
        } else {
          return t.getTime();
        }
      }
      throw new Error(`Timer schedule "${expression}" has no occurrence`);
    },
  };
}

/** DateTime (Kind Local on a UTC host) as Newtonsoft writes it; default(DateTime) for "never". */
function dt(ms: number | undefined): string {
  return ms === undefined
    ? '0001-01-01T00:00:00+00:00'
    : new Date(ms).toISOString().replace(/\.?0*Z$/, '+00:00');
}

interface Status {
  Last: string;
  Next: string;
  LastUpdated: string;
}

const NEVER = dt(undefined);

export class TimerTrigger {
  private readonly schedule: CronSchedule;
  private readonly useMonitor: boolean;
  private readonly container: ContainerClient;
  private readonly blob: ReturnType<ContainerClient['getBlockBlobClient']>;
  private status: Status | undefined;
  private handle: NodeJS.Timeout | undefined;
  private lock: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly fn: RegisteredFunction,
    storage: string,
    hostId: string,
    private readonly invoker: Invoker,
    private readonly log: LineLog,
    /** The function's other inputs (the durable client), bound on every invocation like the host's. */
    private readonly extraInputs: (fn: RegisteredFunction) => RpcParameterBinding[],
  ) {
    this.schedule = parseCron(fn.timer!.schedule);
    // TimerTriggerAttribute.UseMonitor: on by default, off for schedules that fire more than once a minute.
    const first = this.schedule.next(Date.now());
    this.useMonitor = (fn.timer!.useMonitor ?? true) && this.schedule.next(first) - first >= 60_000;
    this.container =
      BlobServiceClient.fromConnectionString(storage).getContainerClient('azure-webjobs-hosts');
    this.blob = this.container.getBlockBlobClient(`timers/${hostId}/Host.Functions.${fn.name}/status`);
  }

  /** TimerListener.StartAsync: read the status, check past due, then run (past due or runOnStartup) and schedule. */
  async start(): Promise<void> {
    const now = Date.now();
    let pastDue = false;
    if (this.useMonitor) {
      await this.container.createIfNotExists();
      this.status = await this.read();
      pastDue = await this.checkPastDue(now);
    }
    this.status ??= { Last: NEVER, Next: dt(this.schedule.next(now)), LastUpdated: NEVER };
    this.log(
      `timer ${this.fn.name}: schedule "${this.schedule.expression}", next ${this.status.Next}` +
        (pastDue
          ? ' (past due: running now)'
          : this.fn.timer!.runOnStartup
            ? ' (runOnStartup: running now)'
            : ''),
    );
    if (pastDue || this.fn.timer!.runOnStartup) void this.run(now, pastDue, !pastDue);
    else this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.handle) clearTimeout(this.handle);
    await this.lock;
  }

  /** The admin API's invocation: TimerInfo with the stored status, not past due (TimerTriggerBinding.BindAsync). */
  invokeNow(): void {
    // Through the same lock as scheduled runs: one invocation at a time (the host's singleton).
    const next = this.lock.then(() =>
      this.invoke(this.timerInfo(false)).then(
        () => this.log(`timer ${this.fn.name}: invoked (admin API)`),
        (err: Error) => this.log(`timer ${this.fn.name}: failed: ${err.message.split('\n')[0]}`),
      ),
    );
    this.lock = next;
  }

  private arm(): void {
    if (this.stopped) return;
    const delay = Math.max(0, Date.parse(this.status!.Next) - Date.now());
    this.handle = setTimeout(
      () =>
        Date.now() < Date.parse(this.status!.Next) ? this.arm() : void this.run(Date.now(), false, false),
      Math.min(delay, 2 ** 31 - 1),
    );
  }

  private async read(): Promise<Status | undefined> {
    try {
      return JSON.parse((await this.blob.downloadToBuffer()).toString('utf8')) as Status;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  private async write(status: Status): Promise<void> {
    const text = JSON.stringify(status);
    await this.blob.upload(text, Buffer.byteLength(text));
  }

  /** ScheduleMonitor.CheckPastDueAsync. */
  private async checkPastDue(now: number): Promise<boolean> {
    const s = this.status;
    if (!s) {
      this.status = { Last: NEVER, Next: dt(this.schedule.next(now)), LastUpdated: dt(now) };
      await this.write(this.status);
      return false;
    }
    let expected: number;
    let lastUpdated: number;
    if (s.Last !== NEVER)
      [expected, lastUpdated] = [this.schedule.next(Date.parse(s.Last)), Date.parse(s.Last)];
    else if (s.LastUpdated !== NEVER)
      [expected, lastUpdated] = [this.schedule.next(Date.parse(s.LastUpdated)), Date.parse(s.LastUpdated)];
    else [expected, lastUpdated] = [this.schedule.next(now), now];
    if (Date.parse(s.Next) !== expected) {
      // the schedule changed: a next occurrence already in the past is recomputed from now, not "past due"
      if (now > expected) [expected, lastUpdated] = [this.schedule.next(now), now];
      this.status = { Last: NEVER, Next: dt(expected), LastUpdated: dt(lastUpdated) };
      await this.write(this.status);
    }
    return now > Date.parse(this.status!.Next);
  }

  private timerInfo(isPastDue: boolean): Record<string, unknown> {
    return {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: this.useMonitor ? this.status : null,
      IsPastDue: isPastDue,
    };
  }

  private invoke(info: Record<string, unknown>): Promise<unknown> {
    return this.invoker.invoke(this.fn, {
      inputData: [
        { name: this.fn.trigger.name, data: { json: JSON.stringify(info) } },
        ...this.extraInputs(this.fn),
      ],
      triggerMetadata: {},
    });
  }

  /** TimerListener.InvokeJobFunction: one invocation at a time; errors do not stop the schedule. */
  private run(at: number, isPastDue: boolean, runOnStartup: boolean): Promise<void> {
    const next = this.lock.then(async () => {
      if (this.stopped) return;
      try {
        await this.invoke(this.timerInfo(isPastDue));
        this.log(`timer ${this.fn.name}: invoked${isPastDue ? ' (past due)' : ''}`);
      } catch (err) {
        this.log(`timer ${this.fn.name}: failed: ${(err as Error).message.split('\n')[0]}`);
      }
      const scheduled = Date.parse(this.status!.Next);
      const adjusted = !isPastDue && !runOnStartup && scheduled > at ? scheduled : at;
      this.status = { Last: dt(adjusted), Next: dt(this.schedule.next(adjusted)), LastUpdated: dt(adjusted) };
      if (this.useMonitor)
        await this.write(this.status).catch((e: Error) => this.log(`ERROR timer status: ${e.message}`));
      this.arm();
    });
    this.lock = next.catch(() => undefined);
    return next;
  }
}
