import { BlobServiceClient } from '@azure/storage-blob';
import { NEVER, newtonsoftDate } from './clock';
import type { Invoke, RegisteredFunction } from './registry';
import type { LineLog } from './worker';

/**
 * Timer trigger, after azure-webjobs-sdk-extensions `Extensions/Timers`: NCRONTAB schedules with six fields
 * (`CronSchedule.cs`, NCrontab with seconds), the listener's invocation lock (one invocation at a time per function,
 * `TimerListener.cs`), the schedule status `{Last, Next, LastUpdated}` persisted under `azure-webjobs-hosts`
 * `timers/<hostId>/<timer>/status` (`StorageScheduleMonitor.cs`), and past-due detection on start-up
 * (`ScheduleMonitor.CheckPastDueAsync`). Times are UTC (WEBSITE_TIME_ZONE is not emulated).
 */

const NAMES: Record<number, string[]> = {
  4: ['', 'jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  5: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
};
const RANGES = [0, 59, 0, 59, 0, 23, 1, 31, 1, 12, 0, 6];

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
  const fields = parts.map((part, i) => {
    const [min, max] = [RANGES[2 * i]!, RANGES[2 * i + 1]!];
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
    return values;
  });
  const [sec, minute, hour, day, month, dow] = fields as [Set<number>, ...Set<number>[]];
  return {
    expression,
    next(after: number): number {
      const t = new Date(Math.floor(after / 1000) * 1000 + 1000);
      for (let guard = 0; guard < 100_000; guard++) {
        if (!month!.has(t.getUTCMonth() + 1)) {
          t.setUTCMonth(t.getUTCMonth() + 1, 1);
          t.setUTCHours(0, 0, 0);
        } else if (!day!.has(t.getUTCDate()) || !dow!.has(t.getUTCDay())) {
          t.setUTCDate(t.getUTCDate() + 1);
          t.setUTCHours(0, 0, 0);
        } else if (!hour!.has(t.getUTCHours())) {
          t.setUTCHours(t.getUTCHours() + 1, 0, 0);
        } else if (!minute!.has(t.getUTCMinutes())) {
          t.setUTCMinutes(t.getUTCMinutes() + 1, 0);
        } else if (!sec.has(t.getUTCSeconds())) {
          t.setUTCSeconds(t.getUTCSeconds() + 1);
        } else {
          return t.getTime();
        }
      }
      throw new Error(`Timer schedule "${expression}" has no occurrence`);
    },
  };
}

/** TimerInfo's times: DateTime (Kind Local on a UTC host) as Newtonsoft writes it. */
const dt = newtonsoftDate;
type Status = { Last: string; Next: string; LastUpdated: string };

export class TimerTrigger {
  private readonly schedule: CronSchedule;
  private readonly useMonitor: boolean;
  private readonly hosts;
  private readonly blob;
  private status: Status | undefined;
  private handle: NodeJS.Timeout | undefined;
  private lock: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    readonly fn: RegisteredFunction,
    storage: string,
    hostId: string,
    private readonly invoke: Invoke,
    private readonly log: LineLog,
  ) {
    this.schedule = parseCron(fn.timer!.schedule);
    // TimerTriggerAttribute.UseMonitor: on by default, off for schedules that fire more than once a minute.
    const first = this.schedule.next(Date.now());
    this.useMonitor = (fn.timer!.useMonitor ?? true) && this.schedule.next(first) - first >= 60_000;
    this.hosts = BlobServiceClient.fromConnectionString(storage).getContainerClient('azure-webjobs-hosts');
    this.blob = this.hosts.getBlockBlobClient(`timers/${hostId}/Host.Functions.${fn.name}/status`);
  }

  /** TimerListener.StartAsync: read the status, check past due, then run (past due or runOnStartup) and schedule. */
  async start(): Promise<void> {
    const now = Date.now();
    const pastDue = this.useMonitor && (await this.checkPastDue(now));
    this.status ??= { Last: NEVER, Next: dt(this.schedule.next(now)), LastUpdated: NEVER };
    const runOnStartup = !pastDue && this.fn.timer!.runOnStartup;
    const why = pastDue ? ' (past due: running now)' : runOnStartup ? ' (runOnStartup: running now)' : '';
    this.log(`timer ${this.fn.name}: schedule "${this.schedule.expression}", next ${this.status.Next}${why}`);
    if (pastDue || runOnStartup) void this.run(now, pastDue, runOnStartup);
    else this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.handle);
    await this.lock;
  }

  /** The admin API's invocation: TimerInfo with the stored status, not past due (TimerTriggerBinding.BindAsync). */
  invokeNow(): void {
    void this.locked(false, ' (admin API)');
  }

  private arm(): void {
    if (this.stopped) return;
    const next = Date.parse(this.status!.Next);
    this.handle = setTimeout(
      () => (Date.now() < next ? this.arm() : void this.run(Date.now(), false, false)),
      Math.min(Math.max(0, next - Date.now()), 2 ** 31 - 1),
    );
  }

  private async write(status: Status): Promise<void> {
    this.status = status;
    const text = JSON.stringify(status);
    await this.blob.upload(text, Buffer.byteLength(text));
  }

  /** ScheduleMonitor.CheckPastDueAsync, with the status kept in StorageScheduleMonitor's blob. */
  private async checkPastDue(now: number): Promise<boolean> {
    await this.hosts.createIfNotExists();
    const s = await this.blob.downloadToBuffer().then(
      (b) => JSON.parse(b.toString('utf8')) as Status,
      (err: { statusCode?: number }) => {
        if (err.statusCode === 404) return undefined;
        throw err;
      },
    );
    if (!s) {
      await this.write({ Last: NEVER, Next: dt(this.schedule.next(now)), LastUpdated: dt(now) });
      return false;
    }
    this.status = s;
    const last = s.Last !== NEVER ? s.Last : s.LastUpdated !== NEVER ? s.LastUpdated : undefined;
    let lastUpdated = last ? Date.parse(last) : now;
    let expected = this.schedule.next(lastUpdated);
    if (Date.parse(s.Next) !== expected) {
      // the schedule changed: a next occurrence already in the past is recomputed from now, not "past due"
      if (now > expected) [expected, lastUpdated] = [this.schedule.next(now), now];
      await this.write({ Last: NEVER, Next: dt(expected), LastUpdated: dt(lastUpdated) });
    }
    return now > Date.parse(this.status.Next);
  }

  /**
   * One invocation under the listener's lock (TimerListener `_invocationLock`); errors do not stop the schedule.
   * The argument is TimerInfo (TimerInfo.cs), camel-cased by the library.
   */
  private locked(isPastDue: boolean, why: string, after?: () => Promise<void>): Promise<void> {
    const next = this.lock.then(async () => {
      if (this.stopped) return;
      const status = this.useMonitor ? this.status : null;
      const info = { Schedule: { AdjustForDST: true }, ScheduleStatus: status, IsPastDue: isPastDue };
      await this.invoke(this.fn, { json: JSON.stringify(info) }).then(
        () => this.log(`timer ${this.fn.name}: invoked${why}`),
        (err: Error) => this.log(`timer ${this.fn.name}: failed: ${err.message.split('\n')[0]}`),
      );
      await after?.();
    });
    this.lock = next.catch(() => undefined);
    return next;
  }

  /** TimerListener.InvokeJobFunction, then the new status (Last, Next) and the next occurrence. */
  private run(at: number, isPastDue: boolean, runOnStartup: boolean): Promise<void> {
    return this.locked(isPastDue, isPastDue ? ' (past due)' : '', async () => {
      const scheduled = Date.parse(this.status!.Next);
      const t = !isPastDue && !runOnStartup && scheduled > at ? scheduled : at;
      const status = { Last: dt(t), Next: dt(this.schedule.next(t)), LastUpdated: dt(t) };
      this.status = status;
      if (this.useMonitor)
        await this.write(status).catch((e: Error) => this.log(`ERROR timer status: ${e.message}`));
      this.arm();
    });
  }
}
