import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { parseCron } from '../../../dev/runtime/timer';
import { testConnectionString, uniqueName } from '../../support/storage';
import { post, spawnRuntime, stateDir, waitFor, type RuntimeProcess } from './support';

jest.setTimeout(40_000);

const lines = (dir: string, file: string): string[] =>
  existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean) : [];

describe('NCRONTAB schedules (6 fields, UTC)', () => {
  const next = (expr: string, from: string): string =>
    new Date(parseCron(expr).next(Date.parse(from))).toISOString();

  it('finds the next occurrence strictly after a time', () => {
    expect(next('0 */5 * * * *', '2026-01-01T00:03:10Z')).toBe('2026-01-01T00:05:00.000Z');
    expect(next('0 */5 * * * *', '2026-01-01T00:05:00Z')).toBe('2026-01-01T00:10:00.000Z');
    expect(next('*/15 * * * * *', '2026-01-01T00:00:14.5Z')).toBe('2026-01-01T00:00:15.000Z');
    expect(next('0 30 9 * * Mon-Fri', '2026-01-03T10:00:00Z')).toBe('2026-01-05T09:30:00.000Z'); // Sat → Mon
    expect(next('0 0 0 1 Jan *', '2026-03-01T00:00:00Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(next('0 0 12 13 * 5', '2026-01-01T00:00:00Z')).toBe('2026-02-13T12:00:00.000Z'); // day AND weekday
    expect(next('5/20 * * * * *', '2026-01-01T00:00:46Z')).toBe('2026-01-01T00:01:05.000Z'); // n/step: n to 59
    expect(next('0 0 0 29 Feb *', '2026-01-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
  });

  it('refuses what it does not support, loudly', () => {
    expect(() => parseCron('0 */5 * * *')).toThrow(/6-field NCRONTAB/);
    expect(() => parseCron('00:05:00')).toThrow(/TimeSpan schedules are not supported/);
    expect(() => parseCron('0 61 * * * *')).toThrow(/Invalid value for minute: 61/);
    // NCrontab (CrontabFieldImpl.cs): day of week 0-6, and none of croner's extensions
    expect(() => parseCron('0 0 0 * * 7')).toThrow(/"7" is out of range or unsupported in field 6/);
    for (const ext of ['0 0 0 L * *', '0 0 0 ? * *', '0 0 0 * * MON#2', '0 0 0 15W * *', '0 0 0 1 * +MON'])
      expect(() => parseCron(ext)).toThrow(/is not NCRONTAB/);
    expect(() => parseCron('0 0 0 30 Feb *')).toThrow(/has no occurrence/);
  });
});

describe('timer trigger', () => {
  let rt: RuntimeProcess | undefined;
  let dir: string;
  const hub = uniqueName('tm');
  const statusBlob = () =>
    BlobServiceClient.fromConnectionString(testConnectionString())
      .getContainerClient('azure-webjobs-hosts')
      .getBlockBlobClient(`timers/${hub.toLowerCase()}/Host.Functions.yearly/status`);

  beforeAll(async () => {
    dir = stateDir();
    // A status recorded last year whose next occurrence has passed: the listener finds it past due at start-up.
    await BlobServiceClient.fromConnectionString(testConnectionString())
      .getContainerClient('azure-webjobs-hosts')
      .createIfNotExists();
    const status = JSON.stringify({
      Last: '2024-01-01T00:00:00+00:00',
      Next: '2025-01-01T00:00:00+00:00',
      LastUpdated: '2024-01-01T00:00:00+00:00',
    });
    await statusBlob().upload(status, status.length);
    rt = await spawnRuntime({
      AzureWebJobsStorage: testConnectionString(),
      FixtureStorage: testConnectionString(),
      FIXTURE_BLOB_CONTAINER: uniqueName('unused'),
      FIXTURE_STATE_DIR: dir,
      DURABLE_TASK_HUB: hub,
      FIXTURE_EVERY_SECOND_SCHEDULE: '* * * * * *',
    });
  });

  afterAll(async () => {
    await rt?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a past-due timer at start-up with isPastDue and the stored schedule status, then records the run', async () => {
    const first = await waitFor(async () => lines(dir, 'yearly.log')[0], 'past-due run');
    expect(JSON.parse(first)).toEqual({
      schedule: { adjustForDST: true },
      scheduleStatus: {
        last: '2024-01-01T00:00:00+00:00',
        next: '2025-01-01T00:00:00+00:00',
        lastUpdated: '2024-01-01T00:00:00+00:00',
      },
      isPastDue: true,
    });
    const recorded = await waitFor(async () => {
      const s = JSON.parse((await statusBlob().downloadToBuffer()).toString()) as Record<string, string>;
      return s.Last?.startsWith('2024') ? undefined : s;
    }, 'status update');
    const year = new Date(Date.parse(recorded.Last!)).getUTCFullYear();
    expect(recorded.Next).toBe(`${year + 1}-01-01T00:00:00+00:00`);
    expect(recorded.LastUpdated).toBe(recorded.Last);
  });

  it('runs a timer function now through the admin API: 202, not past due', async () => {
    await waitFor(async () => lines(dir, 'yearly.log')[0], 'past-due run');
    const r = await post(`${rt!.url}/admin/functions/yearly`, { input: '' });
    expect(r.status).toBe(202);
    const second = JSON.parse(await waitFor(async () => lines(dir, 'yearly.log')[1], 'admin run')) as {
      isPastDue: boolean;
      scheduleStatus: { last: string };
    };
    expect(second.isPastDue).toBe(false);
    expect(second.scheduleStatus.last).not.toBe('2024-01-01T00:00:00+00:00');
    expect((await post(`${rt!.url}/admin/functions/noSuchFunction`, { input: '' })).status).toBe(404);
    expect((await fetch(`${rt!.url}/admin/functions/yearly`, { method: 'POST' })).status).toBe(400);
  });

  it('never overlaps two runs of one timer (the listener invokes one at a time)', async () => {
    // every second, each run takes 2.5 s: without the lock, runs would overlap
    const log = await waitFor(async () => {
      const l = lines(dir, 'everySecond.log');
      return l.filter((x) => x === 'end').length >= 2 ? l : undefined;
    }, 'two finished runs');
    const kinds = log.map((l) => (l.startsWith('start') ? 'start' : 'end'));
    kinds.forEach((k, i) => expect(k).toBe(i % 2 === 0 ? 'start' : 'end'));
    // more than once a minute: no schedule monitor, so no status (TimerTriggerAttribute.UseMonitor)
    expect(JSON.parse(log[0]!.slice('start '.length))).toMatchObject({
      scheduleStatus: null,
      isPastDue: false,
    });
  });
});
