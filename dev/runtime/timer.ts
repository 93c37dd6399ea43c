import { BlobServiceClient } from '@azure/storage-blob';
import { Cron } from 'croner';
import { NEVER, newtonsoftDate as dt } from './clock';
import type { Invoke, RegisteredFunction } from './registry';
import type { LineLog } from './worker';

/**
 * Timer trigger, after azure-webjobs-sdk-extensions `Extensions/Timers`: NCRONTAB schedules with six fields
 * (`CronSchedule.cs`, NCrontab with seconds), the listener's invocation lock (one invocation at a time per function,
 * `TimerListener.cs`), the schedule status `{Last, Next, LastUpdated}` persisted under `azure-webjobs-hosts`
 * `timers/<hostId>/<timer>/status` (`StorageScheduleMonitor.cs`), and past-due detection on start-up
 * (`ScheduleMonitor.CheckPastDueAsync`). Times are UTC (WEBSITE_TIME_ZONE is not emulated).
 */

/** Field maxima (NCrontab `CrontabFieldImpl.cs`): `n/step` runs to the maximum; day of week is 0-6, 7 is refused. */
const MAX = [59, 59, 23, 31, 12, 6];
/** One list item as NCrontab reads it: `*`, a number or a name, an optional `-` end and `/step`. */
const ITEM = /^(\*|\d+|[a-z]{3})(?:-(\d+|[a-z]{3}))?(?:\/(\d+))?$/i;

/**
 * A 6-field NCRONTAB expression, evaluated by croner with NCrontab's rules: seconds first, day AND day-of-week, UTC.
 * Items are checked and rewritten first where croner reads them differently: `n/step` (n through the maximum in
 * NCrontab, refused by croner), day of week 7, and croner's own extensions (`L W # ? +`), which NCrontab refuses.
 */
export function parseCron(expression: string) {
  const fail = (why: string) => new Error(`Timer schedule "${expression}" ${why}`);
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 6)
    throw fail(
      'is not a 6-field NCRONTAB expression ({second} {minute} {hour} {day} {month} {day-of-week}); ' +
        'TimeSpan schedules are not supported by the local runtime',
    );
  const items = fields.map((field, i) =>
    field.split(',').map((item) => {
      const m = ITEM.exec(item);
      if (!m || (i === 5 && [m[1], m[2]].some((v) => Number(v) > 6)))
        throw fail(`is not NCRONTAB: "${item}" is out of range or unsupported in field ${i + 1}`);
      return m[1] !== '*' && !m[2] && m[3] ? `${m[1]}-${MAX[i]}/${m[3]}` : item;
    }),
  );
  let cron: Cron;
  try {
    const options = { mode: '6-part', domAndDow: true, timezone: 'Etc/UTC' } as const;
    cron = new Cron(items.map((f) => f.join(',')).join(' '), options);
  } catch (err) {
    throw fail(`is not NCRONTAB: ${(err as Error).message}`);
  }
  if (!cron.nextRun()) throw fail('has no occurrence');
  return {
    expression,
    /** The first occurrence strictly after `after` (ms): there is one, as a schedule without years recurs. */
    next: (after: number): number => cron.nextRun(new Date(after))!.getTime(),
  };
}

/** TimerInfo's times (`dt`): DateTime (Kind Local on a UTC host) as Newtonsoft writes it. */
type Status = { Last: string; Next: string; LastUpdated: string };

export class TimerTrigger {
  private readonly schedule: ReturnType<typeof parseCron>;
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
    this.useMonitor = fn.timer!.useMonitor && this.schedule.next(first) - first >= 60_000;
    this.hosts = BlobServiceClient.fromConnectionString(storage).getContainerClient('azure-webjobs-hosts');
    this.blob = this.hosts.getBlockBlobClient(`timers/${hostId}/Host.Functions.${fn.name}/status`);
  }

  /** TimerListener.StartAsync: read the status, check past due, then run (past due) or schedule. */
  async start(): Promise<void> {
    const now = Date.now();
    const pastDue = this.useMonitor && (await this.checkPastDue(now));
    this.status ??= { Last: NEVER, Next: dt(this.schedule.next(now)), LastUpdated: NEVER };
    const why = pastDue ? ' (past due: running now)' : '';
    this.log(`timer ${this.fn.name}: schedule "${this.schedule.expression}", next ${this.status.Next}${why}`);
    if (pastDue) this.run(true, ' (past due)', now);
    else this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.handle);
    await this.lock;
  }

  /** The admin API's invocation: TimerInfo with the stored status, not past due (TimerTriggerBinding.BindAsync). */
  invokeNow(): void {
    this.run(false, ' (admin API)');
  }

  private arm(): void {
    if (this.stopped) return;
    const next = Date.parse(this.status!.Next);
    this.handle = setTimeout(
      () => (Date.now() < next ? this.arm() : this.run(false, '', Date.now())),
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
      (err: { statusCode?: number }) => (err.statusCode === 404 ? undefined : Promise.reject(err)),
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
   * The argument is TimerInfo (TimerInfo.cs), camel-cased by the library. A scheduled run (`at`: past due or
   * due) then records Last and Next (TimerListener.InvokeJobFunction; arm() never fires early, so the listener's
   * early-firing adjustment is not needed) and arms the next occurrence.
   */
  private run(isPastDue: boolean, why: string, at?: number): void {
    this.lock = this.lock.then(async () => {
      if (this.stopped) return;
      const status = this.useMonitor ? this.status : null;
      const info = { Schedule: { AdjustForDST: true }, ScheduleStatus: status, IsPastDue: isPastDue };
      await this.invoke(this.fn, { json: JSON.stringify(info) }).then(
        () => this.log(`timer ${this.fn.name}: invoked${why}`),
        (err: Error) => this.log(`timer ${this.fn.name}: failed: ${err.message.split('\n')[0]}`),
      );
      if (at === undefined) return;
      this.status = { Last: dt(at), Next: dt(this.schedule.next(at)), LastUpdated: dt(at) };
      if (this.useMonitor)
        await this.write(this.status).catch((e: Error) => this.log(`ERROR timer status: ${e.message}`));
      this.arm();
    });
  }
}
