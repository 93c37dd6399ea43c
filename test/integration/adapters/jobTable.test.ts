import { TableClient } from '@azure/data-tables';
import { JobTable } from '../../../src/adapters/jobTable';
import { deriveJobId } from '../../../src/domain/jobId';
import type { JobRecord } from '../../../src/domain/jobRecord';
import { testConnectionString, uniqueName } from '../../support/storage';

let table: JobTable;
const t0 = new Date('2026-05-01T10:00:00Z');

function record(name: string, lastModified: Date): JobRecord {
  const jobId = deriveJobId({ container: 'inbox', name, etag: '"e"', lastModified });
  const iso = lastModified.toISOString();
  return {
    jobId,
    status: 'Received',
    sourceContainer: 'inbox',
    sourceBlob: name,
    sourceEtag: 'e',
    receivedAt: iso,
    createdAt: iso,
    updatedAt: iso,
    phases: { Received: iso },
  };
}

beforeEach(async () => {
  table = JobTable.fromConnection(
    { kind: 'connectionString', connectionString: testConnectionString() },
    uniqueName('jobs'),
  );
  await table.ensureTable();
});

test('create is insert-if-absent: a second delivery gets the existing record', async () => {
  const r = record('a.csv', t0);
  expect((await table.create(r)).created).toBe(true);
  await table.transition(r.jobId, 'Validating', { rowCount: 5 }, t0);
  const again = await table.create(r);
  expect(again.created).toBe(false);
  expect(again.record).toMatchObject({ status: 'Validating', rowCount: 5 });
});

test('transitions move forward only, keep per-phase timestamps, and are safe to repeat', async () => {
  const r = record('b.csv', t0);
  await table.create(r);
  const t1 = new Date(t0.getTime() + 1000);
  await table.transition(r.jobId, 'Submitted', { amlJobName: 'aml-1' }, t1);
  await table.transition(r.jobId, 'Submitted', { amlJobName: 'aml-1' }, new Date(t1.getTime() + 5000)); // a retry
  await table.transition(r.jobId, 'Validating', { rowCount: 1 }, t1); // a late replay: ignored
  const rec = await table.get(r.jobId);
  expect(rec).toMatchObject({
    status: 'Submitted',
    amlJobName: 'aml-1',
    phases: { Received: t0.toISOString(), Submitted: t1.toISOString() },
  });
  expect(rec?.rowCount).toBeUndefined();
  await table.transition(
    r.jobId,
    'Failed',
    { error: { code: 'AmlJobFailed', message: 'boom', retryable: false, at: t1.toISOString() } },
    t1,
  );
  await table.transition(r.jobId, 'Succeeded', {}, t1);
  expect(await table.get(r.jobId)).toMatchObject({
    status: 'Failed',
    error: { code: 'AmlJobFailed', message: 'boom' },
  });
});

test('concurrent updates do not lose each other (optimistic concurrency)', async () => {
  const r = record('c.csv', t0);
  await table.create(r);
  await Promise.all([
    table.mark(r.jobId, { cancelRequested: true }, t0),
    table.transition(r.jobId, 'Validating', { rowCount: 10 }, t0),
    table.transition(r.jobId, 'Validating', { byteCount: 99 }, t0),
  ]);
  expect(await table.get(r.jobId)).toMatchObject({
    status: 'Validating',
    cancelRequested: true,
    rowCount: 10,
    byteCount: 99,
  });
});

test('large rejection details are stored (truncated if needed), and unknown ids read as undefined', async () => {
  const r = record('d.csv', t0);
  await table.create(r);
  const problems = Array.from({ length: 400 }, (_, i) => ({
    line: i + 2,
    column: 'carat',
    message: 'x'.repeat(200),
  }));
  await table.transition(
    r.jobId,
    'Rejected',
    {
      error: {
        code: 'InputInvalidValues',
        message: 'bad',
        retryable: false,
        at: t0.toISOString(),
        problems,
        problemCount: 5000,
      },
    },
    t0,
  );
  const rec = await table.get(r.jobId);
  expect(rec?.error?.problemCount).toBe(5000);
  expect((rec?.error?.problems ?? []).length).toBeGreaterThan(0);
  expect(await table.get('j0000000000000-00000000000000000000')).toBeUndefined();
});

test('AML status history, outage, cancel and warnings round-trip; an outage clears with undefined', async () => {
  const t1 = new Date(t0.getTime() + 1000);
  const r = record('h.csv', t0);
  await table.create(r);
  const lastError = { code: 'AmlUnavailable' as const, message: 'Could not reach AML', retryable: true };
  await table.transition(
    r.jobId,
    'Running',
    {
      amlStatusHistory: [
        { status: 'Queued', since: t0.toISOString() },
        { status: 'Running', since: t1.toISOString() },
      ],
      outage: { since: t1.toISOString(), lastError, missedChecks: 2 },
    },
    t1,
  );
  expect(await table.get(r.jobId)).toMatchObject({
    amlStatusHistory: [{ status: 'Queued' }, { status: 'Running' }],
    outage: { lastError, missedChecks: 2 },
  });
  await table.transition(
    r.jobId,
    'Canceled',
    {
      outage: undefined,
      cancel: { requestedAt: t1.toISOString(), confirmed: false, amlAnswer: 'AML answered 404' },
      warnings: ['may still be running'],
    },
    t1,
  );
  const done = await table.get(r.jobId);
  expect(done).toMatchObject({ cancel: { confirmed: false, amlAnswer: 'AML answered 404' } });
  expect(done?.warnings).toEqual(['may still be running']);
  expect(done).not.toHaveProperty('outage');
});

test('list is newest first, filters by status, and pages', async () => {
  const recs = Array.from({ length: 7 }, (_, i) =>
    record(`f${i}.csv`, new Date(t0.getTime() + i * 3_600_000 * 20)),
  );
  for (const r of recs) await table.create(r);
  await table.transition(recs[2]!.jobId, 'Failed', {}, t0);
  await table.transition(recs[5]!.jobId, 'Failed', {}, t0);

  const all = await table.list({ top: 100 });
  expect(all.jobs.map((j) => j.sourceBlob)).toEqual([
    'f6.csv',
    'f5.csv',
    'f4.csv',
    'f3.csv',
    'f2.csv',
    'f1.csv',
    'f0.csv',
  ]);

  const failed = await table.list({ top: 100, status: 'Failed' });
  expect(failed.jobs.map((j) => j.sourceBlob)).toEqual(['f5.csv', 'f2.csv']);

  const seen: string[] = [];
  let token: string | undefined;
  do {
    const page = await table.list({ top: 3, ...(token ? { continuationToken: token } : {}) });
    expect(page.jobs.length).toBeLessThanOrEqual(3);
    seen.push(...page.jobs.map((j) => j.sourceBlob));
    token = page.continuationToken;
  } while (token);
  expect(seen).toEqual(all.jobs.map((j) => j.sourceBlob));
});

/** A table client as another process would have one, with the requests it sends counted on the wire. */
function counted(name: string): { table: JobTable; sent: string[] } {
  const sent: string[] = [];
  const client = TableClient.fromConnectionString(testConnectionString(), name, {
    allowInsecureConnection: true,
    additionalPolicies: [
      {
        position: 'perRetry',
        policy: {
          name: 'count',
          sendRequest: (req, next) => {
            sent.push(req.method);
            return next(req);
          },
        },
      },
    ],
  });
  return { table: new JobTable(client), sent };
}

describe('ETag cache: a writer reads only on a conflict', () => {
  test('after its own create, each transition is one write, with no read', async () => {
    const { table: a, sent } = counted(table.client.tableName);
    const r = record('k1.csv', t0);
    await a.create(r);
    await a.transition(r.jobId, 'Validating', {}, t0);
    await a.transition(r.jobId, 'Submitted', { amlJobName: 'aml-1' }, t0);
    await a.mark(r.jobId, { amlPolls: 1 }, t0);
    expect(sent).toEqual(['POST', 'PUT', 'PUT', 'PUT']);
    expect(await table.get(r.jobId)).toMatchObject({ status: 'Submitted', amlJobName: 'aml-1', amlPolls: 1 });
  });

  test('two writers with their own caches: the stale one is refused (412), reads, and keeps both changes', async () => {
    const { table: a, sent } = counted(table.client.tableName);
    const { table: b } = counted(table.client.tableName);
    const r = record('k2.csv', t0);
    await a.create(r); // a remembers the first ETag
    await b.transition(r.jobId, 'Validating', { rowCount: 7 }, t0); // b reads, writes
    await b.mark(r.jobId, { cancelRequested: true }, t0); // b writes again from its own cache
    sent.length = 0;
    const after = await a.transition(r.jobId, 'Submitted', { amlJobName: 'aml-2' }, t0);
    expect(sent).toEqual(['PUT', 'GET', 'PUT']); // refused, read, written
    expect(after).toMatchObject({
      status: 'Submitted',
      rowCount: 7,
      cancelRequested: true,
      amlJobName: 'aml-2',
    });
    expect(await table.get(r.jobId)).toEqual(after);
    // b's cache is now the stale one, and a lower state from it is not written either.
    await b.transition(r.jobId, 'Validating', { byteCount: 1 }, t0);
    expect(await table.get(r.jobId)).toEqual(after);
  });

  test('"nothing to do" on a remembered record is confirmed by a read, not assumed', async () => {
    const { table: a, sent } = counted(table.client.tableName);
    const r = record('k3.csv', t0);
    await a.create(r);
    await a.transition(r.jobId, 'Succeeded', {}, t0);
    sent.length = 0;
    await a.mark(r.jobId, { amlPolls: 3 }, t0); // ended: nothing to add
    expect(sent).toEqual(['GET']);
    // Another writer cannot un-end a job, so the read agrees; but a linkRetry still lands once.
    await a.linkRetry(r.jobId, 'j1', t0);
    await a.linkRetry(r.jobId, 'j2', t0);
    expect(await table.get(r.jobId)).toMatchObject({ status: 'Succeeded', retriedBy: 'j1' });
  });

  test('a stale cache that says "not ended" does not write over an end another writer recorded', async () => {
    const { table: a } = counted(table.client.tableName);
    const { table: b } = counted(table.client.tableName);
    const r = record('k4.csv', t0);
    await a.create(r);
    await b.transition(r.jobId, 'Canceled', {}, t0);
    const got = await a.mark(r.jobId, { amlPolls: 9 }, t0);
    expect(got.status).toBe('Canceled');
    expect(await table.get(r.jobId)).not.toHaveProperty('amlPolls');
  });

  test('a patch computed from the record sees the other writer’s change, not the stale copy', async () => {
    const { table: a } = counted(table.client.tableName);
    const { table: b } = counted(table.client.tableName);
    const r = record('k5.csv', t0);
    await a.create(r);
    await b.transition(r.jobId, 'Running', { amlStatusHistory: [{ status: 'Queued', since: 'q' }] }, t0);
    await a.transition(
      r.jobId,
      'Running',
      (cur) => ({ amlStatusHistory: [...(cur.amlStatusHistory ?? []), { status: 'Running', since: 'r' }] }),
      t0,
    );
    expect((await table.get(r.jobId))?.amlStatusHistory?.map((h) => h.status)).toEqual(['Queued', 'Running']);
  });

  test('changing a returned record does not change what the next write decides on', async () => {
    const { table: a } = counted(table.client.tableName);
    const r = record('k6.csv', t0);
    await a.create(r);
    const got = await a.transition(r.jobId, 'Validating', { rowCount: 1 }, t0);
    got.rowCount = 999;
    got.status = 'Succeeded';
    await a.transition(r.jobId, 'Submitted', {}, t0);
    expect(await table.get(r.jobId)).toMatchObject({ status: 'Submitted', rowCount: 1 });
  });
});

test('change writes only when there is something to write, and always answers the stored record', async () => {
  const { table: a, sent } = counted(table.client.tableName);
  const { table: api } = counted(table.client.tableName);
  const r = record('k7.csv', t0);
  await a.create(r);
  const poll = (amlStatus: string) =>
    a.change(
      r.jobId,
      (rec) => (rec.amlStatus === amlStatus ? undefined : { status: 'Running', patch: { amlStatus } }),
      t0,
    );
  sent.length = 0;
  expect((await poll('Running')).amlStatus).toBe('Running');
  expect(sent).toEqual(['PUT']); // a change: one write on the remembered ETag
  sent.length = 0;
  await api.mark(r.jobId, { cancelRequested: true }, t0); // another process
  const same = await poll('Running');
  expect(sent).toEqual(['GET']); // no change: confirmed on a read, which sees the other writer
  expect(same.cancelRequested).toBe(true);
  sent.length = 0;
  await api.mark(r.jobId, { amlPolls: 5 }, t0);
  const next = await poll('Finalizing');
  expect(sent).toEqual(['PUT', 'GET', 'PUT']); // stale: refused, read, written
  expect(next).toMatchObject({ amlStatus: 'Finalizing', amlPolls: 5, cancelRequested: true });
  // A step backwards is never written, whatever decide answers.
  await a.change(r.jobId, () => ({ status: 'Validating', patch: { rowCount: 1 } }), t0);
  expect(await table.get(r.jobId)).toEqual(next);
});

describe('transitionMany: jobs that move together are written together', () => {
  const batch = (prefix: string, n: number): JobRecord[] =>
    // One partition: arrivals a second apart.
    Array.from({ length: n }, (_, i) => record(`${prefix}${i}.csv`, new Date(t0.getTime() + i * 1000)));

  test('one entity group transaction for the members of one partition, after their own creates', async () => {
    const { table: a, sent } = counted(table.client.tableName);
    const members = batch('m', 5);
    for (const r of members) await a.create(r);
    sent.length = 0;
    const ids = members.map((r) => r.jobId);
    const got = await a.transitionMany(ids, 'Submitted', { amlJobName: 'aml-b' }, t0);
    expect(sent).toEqual(['POST']); // one $batch
    expect(got.map((r) => r.jobId)).toEqual(ids);
    for (const id of ids)
      expect(await table.get(id)).toMatchObject({ status: 'Submitted', amlJobName: 'aml-b' });
    // The ETags came back with the transaction: the next step of one member is a single write.
    sent.length = 0;
    await a.transition(ids[0]!, 'Running', {}, t0);
    expect(sent).toEqual(['PUT']);
  });

  test('a stale member refuses the whole group; it is read again with one query and nothing is lost', async () => {
    const { table: a, sent } = counted(table.client.tableName);
    const { table: b } = counted(table.client.tableName);
    const members = batch('s', 4);
    for (const r of members) await a.create(r);
    const ids = members.map((r) => r.jobId);
    await b.mark(ids[2]!, { cancelRequested: true }, t0); // another process
    sent.length = 0;
    await a.transitionMany(ids, 'Submitted', (rec) => ({ amlJobName: `aml-${rec.sourceBlob}` }), t0);
    expect(sent).toEqual(['POST', 'GET', 'POST']); // refused whole, one query, written
    expect(await table.get(ids[2]!)).toMatchObject({
      status: 'Submitted',
      cancelRequested: true,
      amlJobName: 'aml-s2.csv',
    });
    expect(await table.get(ids[0]!)).toMatchObject({ status: 'Submitted', amlJobName: 'aml-s0.csv' });
  });

  test('without a cache: one query per partition; members not moving forward are left alone', async () => {
    const { table: a, sent } = counted(table.client.tableName);
    const members = batch('q', 20); // more than a filter's 15 comparisons: a key-range query
    for (const r of members) await table.create(r);
    await table.transition(members[3]!.jobId, 'Failed', {}, t0);
    const other = record('elsewhere.csv', new Date(t0.getTime() + 5 * 86_400_000)); // another partition
    await table.create(other);
    const ids = [...members.map((r) => r.jobId), other.jobId];
    const got = await a.transitionMany(ids, 'Validating', { rowCount: 2 }, t0);
    expect(sent).toEqual(['GET', 'POST', 'GET', 'POST']); // per partition: a query, a transaction
    expect(got[3]).toMatchObject({ status: 'Failed' });
    expect(await table.get(members[3]!.jobId)).not.toHaveProperty('rowCount');
    expect(await table.get(other.jobId)).toMatchObject({ status: 'Validating', rowCount: 2 });
    expect(await table.get(members[19]!.jobId)).toMatchObject({ status: 'Validating', rowCount: 2 });
  });
});
