/**
 * Coalescing against Azurite with the real adapters: joinBatch, closeBatch, the batch's publish
 * (regroup) and notifyMembers. The only fake is the Durable extension's client HTTP API
 * (test/support/durableApiFake.ts), driven by the real durable-functions DurableClient through the
 * app's own adapter (durableOrchestrations): starts of a running instance are refused as the extension
 * refuses them, raising on an ended instance answers 410, and every start and event is recorded.
 */
import { Readable } from 'node:stream';
import type { DurableClient } from 'durable-functions';
import type { Deps } from '../../../src/app/deps';
import { closeBatch } from '../../../src/activities/closeBatch';
import { joinBatch } from '../../../src/activities/joinBatch';
import { notifyMembers } from '../../../src/activities/notifyMembers';
import { publishPredictions } from '../../../src/activities/publishPredictions';
import { validateAndStage } from '../../../src/activities/validateAndStage';
import { BatchHeads } from '../../../src/adapters/batchHeads';
import { durableOrchestrations, type Orchestrations } from '../../../src/adapters/orchestrations';
import { inputFolder } from '../../../src/domain/amlUris';
import { batchIdFor, bytesOf, memberFileName, type BatchHead } from '../../../src/domain/batch';
import { scoreJobInput, startJob } from '../../../src/handlers/startJob';
import type {
  BatchDone,
  BatchInput,
  BatchLimitsInput,
  SourceBlob,
  StagedFile,
} from '../../../src/orchestration/contracts';
import { BATCH_CLOSE_EVENT, BATCH_DONE_EVENT, ORCHESTRATION } from '../../../src/orchestration/names';
import { testDeps } from '../../support/deps';
import { startDurableApiFake, type DurableApiFake } from '../../support/durableApiFake';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DurableClient: Client } = require('durable-functions/lib/src/durableClient/DurableClient') as {
  DurableClient: new (data: unknown) => DurableClient;
};

let durable: DurableApiFake;
let orch: Orchestrations;
/** Every raise the activities made, with its payload (the fake API records names only). */
let raised: { id: string; event: string; data: unknown }[];
let d: Deps;

jest.setTimeout(120_000);

const HEADER = 'carat,cut,color,clarity\n';
const LIMITS: BatchLimitsInput = { windowSeconds: 60, maxFiles: 7, maxBytes: 300 };

beforeAll(async () => {
  durable = await startDurableApiFake();
  const real = durableOrchestrations(new Client(durable.clientData));
  orch = {
    ...real,
    raise: async (id, event, data) => {
      await real.raise(id, event, data);
      raised.push({ id, event, data });
    },
  };
});
afterAll(async () => durable?.close());

beforeEach(async () => {
  raised = [];
  d = await testDeps({ BATCH_WINDOW_SECONDS: '60', BATCH_MAX_FILES: '7', BATCH_MAX_BYTES: '300' });
});

interface Member {
  jobId: string;
  name: string;
  body: string;
  source: SourceBlob;
  staged: StagedFile;
}

/** A file dropped in the inbox, its job started (record + scoreJob instance) and validated and staged. */
async function member(name: string, body: string): Promise<Member> {
  await d.data.upload(d.settings.inboxContainer, name, Readable.from([Buffer.from(body)]));
  const job = await startJob(d, orch, { container: d.settings.inboxContainer, name });
  const source = scoreJobInput(d, job.record).source;
  const v = await validateAndStage({ jobId: job.jobId, source }, d);
  if (!v.ok) throw new Error(`${name}: ${JSON.stringify(v.error)}`);
  expect(v.batchable).toBe(true);
  return { jobId: job.jobId, name, body, source, staged: v.staged };
}

/** `rows` data rows, distinct per file. */
function csv(i: number, rows: number): string {
  return HEADER + Array.from({ length: rows }, (_, r) => `0.${i + 1}${r},Ideal,E,SI1\n`).join('');
}

const join = (m: Member, limits = LIMITS, deployment?: string) =>
  joinBatch({ jobId: m.jobId, staged: m.staged, limits, ...(deployment ? { deployment } : {}) }, d, orch);

/** joinBatch as the orchestration calls it: retried when it throws, up to the policy's 6 attempts (steps.ts). */
async function batchIdOf(m: Member, limits = LIMITS): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await join(m, limits);
      if (!r.ok) throw new Error(JSON.stringify(r.error));
      return r.batchId;
    } catch (err) {
      if (attempt >= 6 || !(err as { retryable?: boolean }).retryable) throw err;
    }
  }
}

const head = async (deployment?: string): Promise<BatchHead | undefined> =>
  (await new BatchHeads(d.jobs.client).read(deployment)).head;

/** The member list of a batch: its record once it has one, else its head. */
async function membersOf(batchId: string): Promise<string[] | undefined> {
  const rec = await d.jobs.get(batchId);
  if (rec?.files) return rec.files.map((f) => f.jobId).sort();
  const h = await new BatchHeads(d.jobs.client).find(batchId);
  return h?.files.map((f) => f.jobId).sort();
}

function groupBy(results: { jobId: string; batchId: string }[]): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const r of results) by.set(r.batchId, [...(by.get(r.batchId) ?? []), r.jobId]);
  for (const v of by.values()) v.sort();
  return by;
}

const batchStarts = (id: string) =>
  durable.starts.filter((s) => s.instanceId === id && s.name === ORCHESTRATION.batch && !s.refused);
const closeEvents = (id: string) =>
  durable.events.filter((e) => e.instanceId === id && e.name === BATCH_CLOSE_EVENT);

async function listNames(prefix: string): Promise<string[]> {
  const names: string[] = [];
  const c = d.datastore.container(d.settings.aml.datastoreContainer);
  for await (const b of c.listBlobsFlat({ prefix })) names.push(b.name);
  return names.sort();
}

async function readText(store: Deps['data'], container: string, name: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await store.openRead(container, name)) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Checks the batches the members ended in: every member in exactly one batch, which is the batch its
 * join answered and its record names; each batch within the limits and started exactly once.
 */
async function expectOneBatchEach(members: Member[], results: { jobId: string; batchId: string }[]) {
  expect(results.map((r) => r.jobId).sort()).toEqual(members.map((m) => m.jobId).sort());
  const byBatch = groupBy(results);
  const seen = new Set<string>();
  for (const [batchId, jobIds] of byBatch) {
    expect(await membersOf(batchId)).toEqual(jobIds);
    for (const j of jobIds) {
      expect(seen.has(j)).toBe(false);
      seen.add(j);
      expect((await d.jobs.get(j))?.batchId).toBe(batchId);
    }
    expect(batchStarts(batchId)).toHaveLength(1);
  }
  expect(seen.size).toBe(members.length);
  return byBatch;
}

describe('joinBatch under concurrent arrivals', () => {
  test('40 equal files at once: batches of exactly maxFiles, each file in one, each batch started once', async () => {
    const members = await Promise.all(
      Array.from({ length: 40 }, (_, i) => member(`in/f${i}.csv`, csv(i, 1))),
    );
    const results = await Promise.all(
      members.map(async (m) => ({ jobId: m.jobId, batchId: await batchIdOf(m) })),
    );
    const byBatch = await expectOneBatchEach(members, results);

    // The window (60 s) has not passed: only a full batch closes, so 40 = 5 x 7 + 5.
    expect([...byBatch.values()].map((v) => v.length).sort()).toEqual([5, 7, 7, 7, 7, 7]);
    const open = (await head())!;
    expect(open).toMatchObject({ state: 'open' });
    expect(open.files).toHaveLength(5);
    for (const [batchId, jobIds] of byBatch) {
      if (batchId === open.batchId) {
        expect(closeEvents(batchId)).toHaveLength(0);
        continue;
      }
      // Closed early (full): its record was written before the head moved on, and its orchestration heard.
      const rec = await d.jobs.get(batchId);
      expect(rec).toMatchObject({
        status: 'Received',
        closesAt: expect.any(String),
        closedAt: expect.any(String),
      });
      expect(rec!.files!.map((f) => f.jobId).sort()).toEqual(jobIds);
      expect(closeEvents(batchId).length).toBeGreaterThanOrEqual(1);
      // The batch id is the first member's (its opener), so a retried opener opens the same one.
      expect(jobIds.map(batchIdFor)).toContain(batchId);
    }
    // The batch orchestration's input: its id, its folder as "source", the window's end.
    const start = batchStarts(open.batchId)[0]!.input as BatchInput;
    expect(start).toMatchObject({
      jobId: open.batchId,
      source: { name: inputFolder(d.settings.aml.datastorePathPrefix, open.batchId) },
      batch: { closesAt: open.closesAt },
      deadlineSeconds: d.settings.jobDeadlineSeconds,
    });
  });

  test('25 files of mixed sizes at once: no batch over maxFiles or maxBytes, none closed while every file would fit', async () => {
    // Big files (8 rows) never share a batch with each other under 300 bytes; small ones (1 row) fill up.
    const members = await Promise.all(
      Array.from({ length: 25 }, (_, i) => member(`mixed/f${i}.csv`, csv(i, i % 5 === 0 ? 8 : 1))),
    );
    const biggest = Math.max(...members.map((m) => m.staged.bytes));
    const results = await Promise.all(
      members.map(async (m) => ({ jobId: m.jobId, batchId: await batchIdOf(m) })),
    );
    const byBatch = await expectOneBatchEach(members, results);
    const open = (await head())!;
    for (const batchId of byBatch.keys()) {
      const files = batchId === open.batchId ? open.files : (await d.jobs.get(batchId))!.files!;
      const bytes = bytesOf({ files });
      expect(files.length).toBeLessThanOrEqual(LIMITS.maxFiles);
      expect(bytes).toBeLessThanOrEqual(LIMITS.maxBytes);
      if (batchId !== open.batchId) {
        // Closed before its window: full by count, or without room for some file.
        expect(files.length === LIMITS.maxFiles || bytes + biggest > LIMITS.maxBytes).toBe(true);
        expect(closeEvents(batchId).length).toBeGreaterThanOrEqual(1);
      }
    }
    // Five big files that cannot share: at least five batches.
    expect(byBatch.size).toBeGreaterThanOrEqual(5);
  });

  test('joins racing the window: closeBatch at any moment and the clock jumping past closesAt lose nothing', async () => {
    const members = await Promise.all(
      Array.from({ length: 24 }, (_, i) => member(`race/f${i}.csv`, csv(i, 1))),
    );
    let offsetMs = 0;
    d = { ...d, now: () => new Date(Date.now() + offsetMs) };
    const limits = { ...LIMITS, maxFiles: 100, maxBytes: 1e6 };
    const closes: { batchId: string; members: string[] }[] = [];
    let joining = true;

    // What the batch orchestrations do at their window's end, as often and as early as possible.
    const closer = (async () => {
      for (let n = 0; joining || n === 0; n++) {
        const h = await head();
        if (h) {
          const r = await closeBatch({ batchId: h.batchId }, d);
          if (!r.ok) throw new Error(JSON.stringify(r.error));
          closes.push({ batchId: h.batchId, members: r.staged.members! });
        }
        if (n % 3 === 2) offsetMs += 61_000; // now past every closesAt: the next join closes the head itself
        await new Promise((r) => setImmediate(r));
      }
    })();
    const results = await Promise.all(
      members.map(async (m, i) => {
        if (i % 4 === 0) await new Promise((r) => setTimeout(r, i * 3)); // spread some arrivals out
        return { jobId: m.jobId, batchId: await batchIdOf(m, limits) };
      }),
    ).finally(() => {
      joining = false;
    });
    await closer;
    // The last batch closes at its window's end too.
    const last = (await head())!;
    const final = await closeBatch({ batchId: last.batchId }, d);
    if (!final.ok) throw new Error('close failed');
    closes.push({ batchId: last.batchId, members: final.staged.members! });

    const byBatch = await expectOneBatchEach(members, results);
    expect(byBatch.size).toBeGreaterThan(1);
    for (const c of closes) {
      // Every close of a batch saw the same, complete member list: nobody joined after it closed.
      expect([...c.members].sort()).toEqual(byBatch.get(c.batchId));
    }
    for (const batchId of byBatch.keys()) {
      const rec = (await d.jobs.get(batchId))!;
      expect(rec.files).toBeDefined();
      // Each batch that was staged holds exactly its members' files.
      if (closes.some((c) => c.batchId === batchId)) {
        const folder = inputFolder(d.settings.aml.datastorePathPrefix, batchId);
        expect(await listNames(`${folder}/`)).toEqual(
          byBatch
            .get(batchId)!
            .map((j) => `${folder}/${memberFileName(j)}`)
            .sort(),
        );
      }
    }
  });
});

describe('joinBatch retried', () => {
  test('the same input twice, in turn and at once, joins once; after its batch was replaced, still the same batch', async () => {
    const [m1, m2, m3, m4] = await Promise.all([1, 2, 3, 4].map((i) => member(`retry/f${i}.csv`, csv(i, 1))));
    const b = await batchIdOf(m1!);
    expect(b).toBe(batchIdFor(m1!.jobId));
    expect(await batchIdOf(m1!)).toBe(b);
    const twice = await Promise.all([batchIdOf(m2!), batchIdOf(m2!)]);
    expect(twice).toEqual([b, b]);
    expect((await head())!.files.map((f) => f.jobId)).toEqual([m1!.jobId, m2!.jobId]);

    // The batch closes (its window passed) and the next file opens a new batch.
    const closed = await closeBatch({ batchId: b }, d);
    expect(closed).toMatchObject({ ok: true, staged: { members: [m1!.jobId, m2!.jobId] } });
    const b3 = await batchIdOf(m3!);
    expect(b3).toBe(batchIdFor(m3!.jobId));
    // Retries of the earlier members find their batch, not the open one.
    expect(await batchIdOf(m1!)).toBe(b);
    expect(await batchIdOf(m2!)).toBe(b);
    expect(await batchIdOf(m3!)).toBe(b3);
    expect((await head())!.files.map((f) => f.jobId)).toEqual([m3!.jobId]);
    expect((await d.jobs.get(b))!.files!.map((f) => f.jobId)).toEqual([m1!.jobId, m2!.jobId]);

    // A join that crashed after naming its batch on the record but before the head write: its retry
    // finds it is not in that batch, and joins the open one.
    await d.jobs.transition(m4!.jobId, 'Validating', { batchId: b }, new Date());
    expect(await batchIdOf(m4!)).toBe(b3);
    expect((await head())!.files.map((f) => f.jobId)).toEqual([m3!.jobId, m4!.jobId]);
    expect(batchStarts(b)).toHaveLength(1);
    expect(batchStarts(b3)).toHaveLength(1);
  });

  test('a retry after its batch closed but before another file came: the same batch, heard as closed', async () => {
    const m = await member('retry/only.csv', csv(9, 1));
    const b = await batchIdOf(m);
    await closeBatch({ batchId: b }, d);
    expect(await head()).toMatchObject({ batchId: b, state: 'closed' });
    expect(await batchIdOf(m)).toBe(b);
    expect(batchStarts(b)).toHaveLength(1);
  });

  test('files for different deployments never share a batch', async () => {
    const ms = await Promise.all([0, 1, 2, 3].map((i) => member(`dep/f${i}.csv`, csv(i, 1))));
    const r = await Promise.all(
      ms.map(async (m, i) => {
        const res = await join(m, LIMITS, i % 2 ? 'blue' : 'green');
        if (!res.ok) throw new Error('join failed');
        return res.batchId;
      }),
    );
    expect(r[0]).toBe(r[2]);
    expect(r[1]).toBe(r[3]);
    expect(r[0]).not.toBe(r[1]);
    expect(await head('green')).toMatchObject({ deployment: 'green', batchId: r[0] });
    expect(await head('blue')).toMatchObject({ deployment: 'blue', batchId: r[1] });
    expect(await head()).toBeUndefined();
    expect((batchStarts(r[1]!)[0]!.input as BatchInput).deployment).toBe('blue');
  });
});

describe('closeBatch', () => {
  test('stages exactly one <jobId>.csv per member with its bytes; same names from two folders do not collide; repeatable', async () => {
    const a = await member('team-a/data.csv', csv(1, 2));
    const b = await member(
      'team-b/data.csv',
      'carat,cut,color,clarity,note\r\n0.9,Good,J,I1,"two\r\nlines"\r\n',
    );
    const batchId = await batchIdOf(a);
    expect(await batchIdOf(b)).toBe(batchId);
    // A file that is not a member sits in the datastore too; it must not end up in the folder.
    const outsider = await member('team-c/data.csv', csv(3, 1));

    const r = await closeBatch({ batchId }, d);
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    const folder = inputFolder(d.settings.aml.datastorePathPrefix, batchId);
    expect(r.staged).toMatchObject({
      folder: true,
      inputPath: `${folder}/`,
      members: [a.jobId, b.jobId],
      rows: 3,
      bytes: a.staged.bytes + b.staged.bytes,
      outputPath: `${d.settings.aml.datastorePathPrefix}/${batchId}/output/predictions.csv`,
    });
    expect(r.staged.inputUri).toMatch(new RegExp(`/paths/${folder}/$`));
    const expected = [a, b].map((m) => `${folder}/${memberFileName(m.jobId)}`).sort();
    expect(await listNames(`${folder}/`)).toEqual(expected);
    const ds = d.settings.aml.datastoreContainer;
    expect(await readText(d.datastore, ds, `${folder}/${a.jobId}.csv`)).toBe(a.body);
    expect(await readText(d.datastore, ds, `${folder}/${b.jobId}.csv`)).toBe(b.body);
    expect(await head()).toMatchObject({ batchId, state: 'closed' });
    expect(await d.jobs.get(batchId)).toMatchObject({
      status: 'Validating',
      stagedInputUri: r.staged.inputUri,
      files: [expect.objectContaining({ jobId: a.jobId }), expect.objectContaining({ jobId: b.jobId })],
    });

    // Again (a retried activity, a replay): the same answer, the same folder.
    expect(await closeBatch({ batchId }, d)).toEqual(r);
    expect(await listNames(`${folder}/`)).toEqual(expected);
    // And once a newer batch has replaced its head.
    const next = await batchIdOf(outsider);
    expect(next).not.toBe(batchId);
    expect(await closeBatch({ batchId }, d)).toEqual(r);
    expect(await listNames(`${folder}/`)).toEqual(expected);
  });
});

describe('a batch published and its members told', () => {
  test('AML output with runs interleaved, out of order and rows missing: each member gets what scoring it alone gives', async () => {
    const files = [
      ['x/data.csv', csv(1, 5)],
      [
        'y/data.csv',
        'carat,cut,color,clarity,note\r\n0.5,Good,J,I1,"a\r\nb"\r\n0.6,Fair,D,IF,c\r\n\r\n0.7,Ideal,F,VS1,d\r\n0.8,Premium,G,VS2,e\r\n',
      ],
      ['z.csv', csv(3, 3)],
    ] as const;
    const members: Member[] = [];
    for (const [name, body] of files) members.push(await member(name, body));
    const [x, y, z] = members as [Member, Member, Member];
    const batchId = await batchIdOf(x);
    for (const m of [y, z]) expect(await batchIdOf(m)).toBe(batchId);
    const closed = await closeBatch({ batchId }, d);
    if (!closed.ok) throw new Error('close failed');
    const staged = closed.staged;

    // Rows each member's predictions have (the rest AML skipped): x lacks row 2, y row 1, z row 0.
    const scored: Record<string, number[]> = {
      [x.jobId]: [0, 1, 3, 4],
      [y.jobId]: [0, 2, 3],
      [z.jobId]: [1, 2],
    };
    const line = (m: Member, row: number) =>
      `${row},${(row + 1) * 100 + members.indexOf(m)}.5,${m.jobId}.csv\n`;
    const aml = [
      line(y, 2),
      line(y, 3), // y's later rows first
      line(x, 3),
      line(x, 4),
      line(z, 1),
      line(z, 2),
      line(x, 0),
      line(x, 1), // x's first rows after its later ones
      line(y, 0),
    ].join('');
    const ds = d.settings.aml.datastoreContainer;
    await d.datastore.putText(ds, staged.outputPath, aml, 'text/csv');

    const batchSource = { container: ds, name: staged.inputPath, etag: '' };
    const p = await publishPredictions({ jobId: batchId, source: batchSource, staged }, d);
    expect(p).toEqual({ ok: true, rows: 9, rowsFailed: staged.rows - 9 });
    // The regrouped runs: one blob per contiguous run, in the order AML wrote them, and a manifest.
    const byFile = `${d.settings.aml.datastorePathPrefix}/${batchId}/output/by-file`;
    const manifest = JSON.parse(await readText(d.datastore, ds, `${byFile}/manifest.json`)) as Record<
      string,
      string[]
    >;
    expect(manifest).toEqual({
      [`${x.jobId}.csv`]: [`${byFile}/${x.jobId}.csv/00000.csv`, `${byFile}/${x.jobId}.csv/00001.csv`],
      [`${y.jobId}.csv`]: [`${byFile}/${y.jobId}.csv/00000.csv`, `${byFile}/${y.jobId}.csv/00001.csv`],
      [`${z.jobId}.csv`]: [`${byFile}/${z.jobId}.csv/00000.csv`],
    });
    expect(await readText(d.datastore, ds, manifest[`${x.jobId}.csv`]![1]!)).toBe(line(x, 0) + line(x, 1));
    // Publishing the batch writes nothing to the outbox: the members do.
    expect(await d.data.listPage(d.settings.outboxContainer, { maxPageSize: 10 })).toEqual({ blobs: [] });

    // The batch tells its members; one of them has ended meanwhile (canceled) and no longer listens.
    durable.instances.get(z.jobId)!.runtimeStatus = 'Completed';
    const done = { batchId, amlJobName: 'aml-1', scored: true, status: 'Succeeded' as const };
    await notifyMembers({ batchId, members: staged.members!, done }, d, orch);
    const told = new Map(
      raised.filter((r) => r.event === BATCH_DONE_EVENT).map((r) => [r.id, r.data as BatchDone]),
    );
    expect([...told.keys()].sort()).toEqual(staged.members!.slice().sort());
    // The extension answers 410 Gone for the ended one, which the client takes as done.
    const delivered = durable.events.filter((e) => e.name === BATCH_DONE_EVENT).map((e) => e.instanceId);
    expect(delivered.sort()).toEqual([x.jobId, y.jobId].sort());
    expect(told.get(x.jobId)).toEqual({ ...done, predictionRuns: manifest[`${x.jobId}.csv`] });
    expect(told.get(y.jobId)).toEqual({ ...done, predictionRuns: manifest[`${y.jobId}.csv`] });
    // Told again (a retried activity): harmless.
    await notifyMembers({ batchId, members: staged.members!, done }, d, orch);

    // Each member publishes its own file from its runs; compare with the file scored alone, staged
    // whole (SPLIT_ROWS=0: AML reads the original bytes).
    const alone = await testDeps({ SPLIT_ROWS: '0' });
    for (const m of members) {
      const runs = m === z ? manifest[`${z.jobId}.csv`]! : told.get(m.jobId)!.predictionRuns!;
      const res = await publishPredictions(
        { jobId: m.jobId, source: m.source, staged: { ...m.staged, predictionRuns: runs } },
        d,
      );
      const single = await scoreAlone(alone, m, scored[m.jobId]!, members.indexOf(m));
      expect(res).toEqual({
        ...single.result,
        ...(single.result.ok && single.result.outputBlob
          ? { outputBlob: `${d.settings.outboxContainer}/${outName(m.name)}` }
          : {}),
        ...(single.result.ok && single.result.errorsBlob
          ? { errorsBlob: `${d.settings.outboxContainer}/${errName(m.name)}` }
          : {}),
      });
      expect(await readText(d.data, d.settings.outboxContainer, outName(m.name))).toBe(single.predictions);
      expect(await readText(d.data, d.settings.outboxContainer, errName(m.name))).toBe(single.errors);
    }
    // The rows AML skipped are each in their file's errors, with the input line number.
    const yErrors = await readText(d.data, d.settings.outboxContainer, 'y/data_errors.csv');
    expect(yErrors.split('\r\n')[0]).toBe('input_line,reason,carat,cut,color,clarity,note');
    expect(yErrors).toMatch(/\r\n4,"?No prediction[^\r]*,0\.6,Fair,D,IF,c\r\n$/);
  });

  test('a batch not scored tells every member so, without reading any output', async () => {
    const m = await member('unscored.csv', csv(1, 1));
    const batchId = await batchIdOf(m);
    const done = {
      batchId,
      scored: false,
      status: 'Failed' as const,
      error: { code: 'AmlJobFailed' as const, message: 'The AML job failed.', retryable: true },
    };
    await notifyMembers({ batchId, members: [m.jobId], done }, d, orch);
    expect(raised).toEqual([{ id: m.jobId, event: BATCH_DONE_EVENT, data: { ...done, predictionRuns: [] } }]);
  });
});

const outName = (name: string) => `${name.replace(/\.csv$/, '')}_predictions.csv`;
const errName = (name: string) => `${name.replace(/\.csv$/, '')}_errors.csv`;

/**
 * The same file scored as a plain job of its own in separate containers: AML's output for it alone
 * (rows in order, the same rows missing, the same predictions), published the usual way.
 */
async function scoreAlone(alone: Deps, m: Member, rows: number[], k: number) {
  await alone.data.upload(alone.settings.inboxContainer, m.name, Readable.from([Buffer.from(m.body)]));
  const job = await startJob(alone, orch, { container: alone.settings.inboxContainer, name: m.name });
  const source = scoreJobInput(alone, job.record).source;
  const v = await validateAndStage({ jobId: job.jobId, source }, alone);
  if (!v.ok) throw new Error('validation failed');
  const base = v.staged.inputPath.split('/').pop()!;
  const out = rows.map((row) => `${row},${(row + 1) * 100 + k}.5,${base}\n`).join('');
  await alone.datastore.putText(alone.settings.aml.datastoreContainer, v.staged.outputPath, out, 'text/csv');
  const result = await publishPredictions({ jobId: job.jobId, source, staged: v.staged }, alone);
  const o = alone.settings.outboxContainer;
  return {
    result,
    predictions: await readText(alone.data, o, outName(m.name)),
    errors: await readText(alone.data, o, errName(m.name)),
  };
}
