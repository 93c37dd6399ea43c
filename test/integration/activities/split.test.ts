/**
 * Splitting a large file into parts while validating (SPLIT_ROWS), and publishing it back as one file,
 * against Azurite with the real adapters. The reference for "correct" is the same file staged whole
 * (SPLIT_ROWS=0) and joined with AML's output for it: the split path must give the same bytes.
 */
import { Readable } from 'node:stream';
import type { Deps } from '../../../src/app/deps';
import { publishPredictions } from '../../../src/activities/publishPredictions';
import { validateAndStage } from '../../../src/activities/validateAndStage';
import type { Orchestrations } from '../../../src/adapters/orchestrations';
import { inputFolder } from '../../../src/domain/amlUris';
import { scoreJobInput, startJob } from '../../../src/handlers/startJob';
import type { SourceBlob, StagedFile } from '../../../src/orchestration/contracts';
import { testDeps } from '../../support/deps';

jest.setTimeout(60_000);

/** The orchestration edge, which cannot run here without a host: starts are only recorded. */
const started = new Set<string>();
const orch: Orchestrations = {
  state: async (id) => (started.has(id) ? 'active' : 'none'),
  start: async (id) => void started.add(id),
  startBatch: async (id) => void started.add(id),
  requestCancel: async () => undefined,
  raise: async () => undefined,
};

/**
 * 10 rows, CRLF, a quoted field spanning two lines (row 1), a blank line inside the second part
 * (between rows 3 and 4). With SPLIT_ROWS=3 the parts hold rows 0-2, 3-5, 6-8 and 9.
 */
const LINES = [
  'carat,cut,color,clarity,note', // line 1
  '0.21,Ideal,E,SI1,a', // line 2: row 0
  '0.22,Good,F,VS2,"two', // lines 3-4: row 1
  'lines"',
  '0.23,Fair,G,VS1,c', // line 5: row 2
  '0.24,Ideal,H,IF,d', // line 6: row 3
  '', // line 7: blank, not a row
  '0.25,Premium,I,I1,e', // line 8: row 4
  '0.26,Good,J,SI2,f', // line 9: row 5
  '0.27,Very Good,D,VVS1,g', // line 10: row 6
  '0.28,Ideal,E,VVS2,h', // line 11: row 7
  '0.29,Fair,F,VS1,i', // line 12: row 8
  '0.30,Good,G,SI1,j', // line 13: row 9
];
const FILE = LINES.map((l) => `${l}\r\n`).join('');
const HEADER = `${LINES[0]}\r\n`;
/** The input's records, by row. */
const ROWS = [
  LINES[1],
  `${LINES[2]}\r\n${LINES[3]}`,
  LINES[4],
  LINES[5],
  LINES[7],
  LINES[8],
  LINES[9],
  LINES[10],
  LINES[11],
  LINES[12],
].map((r) => `${r}\r\n`);
const PARTS = [
  { rows: [0, 1, 2], firstLine: 2 },
  { rows: [3, 4, 5], firstLine: 6 },
  { rows: [6, 7, 8], firstLine: 10 },
  { rows: [9], firstLine: 13 },
];
const prediction = (row: number) => `${1000 + row * 10}.5`;

let d: Deps;
beforeEach(async () => {
  d = await testDeps({ SPLIT_ROWS: '3', BATCH_WINDOW_SECONDS: '0' });
});

async function drop(deps: Deps, name: string, body: string): Promise<{ jobId: string; source: SourceBlob }> {
  await deps.data.upload(deps.settings.inboxContainer, name, Readable.from([Buffer.from(body)]));
  const job = await startJob(deps, orch, { container: deps.settings.inboxContainer, name });
  return { jobId: job.jobId, source: scoreJobInput(deps, job.record).source };
}

async function readText(store: Deps['data'], container: string, name: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await store.openRead(container, name)) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

async function listNames(deps: Deps, prefix: string): Promise<string[]> {
  const names: string[] = [];
  const c = deps.datastore.container(deps.settings.aml.datastoreContainer);
  for await (const b of c.listBlobsFlat({ prefix })) names.push(b.name);
  return names.sort();
}

test('a 10-row file with SPLIT_ROWS=3 is staged as 4 parts, each with the header, byte for byte', async () => {
  const job = await drop(d, 'big/rows.csv', FILE);
  const v = await validateAndStage({ jobId: job.jobId, source: job.source }, d);
  if (!v.ok) throw new Error(JSON.stringify(v.error));
  const folder = inputFolder(d.settings.aml.datastorePathPrefix, job.jobId);
  expect(v.staged).toEqual({
    rows: 10,
    bytes: Buffer.byteLength(FILE),
    inputPath: `${folder}/`,
    outputPath: `${d.settings.aml.datastorePathPrefix}/${job.jobId}/output/predictions.csv`,
    inputUri: `azureml://datastores/workspaceblobstore/paths/${folder}/`,
    outputUri: `azureml://datastores/workspaceblobstore/paths/${d.settings.aml.datastorePathPrefix}/${job.jobId}/output/predictions.csv`,
    folder: true,
    parts: PARTS.map((p) => ({ rows: p.rows.length, firstLine: p.firstLine })),
  });
  // A split file goes to AML on its own, never into a batch.
  expect(v.batchable).toBeUndefined();
  const names = PARTS.map((_, k) => `${folder}/part-0000${k}.csv`);
  expect(await listNames(d, `${d.settings.aml.datastorePathPrefix}/${job.jobId}/`)).toEqual(names);
  const ds = d.settings.aml.datastoreContainer;
  for (const [k, p] of PARTS.entries()) {
    // The blank line (input line 7) stays in its part, between rows 3 and 4: line numbers stay the input's.
    const rows = p.rows.map((r) => ROWS[r]!);
    if (k === 1) rows.splice(1, 0, '\r\n');
    expect(await readText(d.datastore, ds, names[k]!)).toBe(HEADER + rows.join(''));
  }
  expect(await d.jobs.get(job.jobId)).toMatchObject({ status: 'Validating', rowCount: 10, parts: 4 });
  // Repeated (a retried activity): the same answer and the same parts.
  expect(await validateAndStage({ jobId: job.jobId, source: job.source }, d)).toEqual(v);
  expect(await listNames(d, `${d.settings.aml.datastorePathPrefix}/${job.jobId}/`)).toEqual(names);
});

test('a file read in many chunks splits into parts that add up to it, byte for byte', async () => {
  const rows = Array.from({ length: 30_000 }, (_, i) => `0.${i + 1},Ideal,E,SI1,row ${i}\r\n`);
  const big = HEADER + rows.join('');
  d = await testDeps({ SPLIT_ROWS: '10000', BATCH_WINDOW_SECONDS: '0' });
  const job = await drop(d, 'chunks.csv', big);
  const v = await validateAndStage({ jobId: job.jobId, source: job.source }, d);
  if (!v.ok) throw new Error(JSON.stringify(v.error));
  expect(v.staged.parts).toEqual([
    { rows: 10_000, firstLine: 2 },
    { rows: 10_000, firstLine: 10_002 },
    { rows: 10_000, firstLine: 20_002 },
  ]);
  const folder = inputFolder(d.settings.aml.datastorePathPrefix, job.jobId);
  for (const k of [0, 1, 2]) {
    const part = await readText(
      d.datastore,
      d.settings.aml.datastoreContainer,
      `${folder}/part-0000${k}.csv`,
    );
    expect(part).toBe(HEADER + rows.slice(k * 10_000, (k + 1) * 10_000).join(''));
  }
});

test('a file within SPLIT_ROWS is one part, staged as a plain file', async () => {
  const small = HEADER + ROWS.slice(0, 3).join('');
  const job = await drop(d, 'small.csv', small);
  const v = await validateAndStage({ jobId: job.jobId, source: job.source }, d);
  if (!v.ok) throw new Error(JSON.stringify(v.error));
  const folder = inputFolder(d.settings.aml.datastorePathPrefix, job.jobId);
  expect(v.staged).toMatchObject({ rows: 3, inputPath: `${folder}/part-00000.csv` });
  expect(v.staged.folder).toBeUndefined();
  expect(v.staged.parts).toBeUndefined();
  expect(await readText(d.datastore, d.settings.aml.datastoreContainer, v.staged.inputPath)).toBe(small);
});

test.each([
  [
    'in the same chunk as the parts before it',
    3,
    FILE.replace('0.28,Ideal,E,VVS2,h', '0.28,Ideal,Z,VVS2,h'),
    11,
  ],
  [
    'after earlier parts were written and committed (a later chunk)',
    10_000,
    HEADER +
      Array.from({ length: 30_000 }, (_, i) => `0.${i + 1},Ideal,${i === 25_000 ? 'Z' : 'E'},SI1,r\r\n`).join(
        '',
      ),
    25_002,
  ],
] as const)('an invalid file leaves no part behind: bad row %s', async (_when, splitRows, body, line) => {
  d = await testDeps({ SPLIT_ROWS: String(splitRows), BATCH_WINDOW_SECONDS: '0' });
  const job = await drop(d, 'bad.csv', body);
  const v = await validateAndStage({ jobId: job.jobId, source: job.source }, d);
  expect(v).toMatchObject({ ok: false, error: { code: 'InputInvalidValues' } });
  expect(!v.ok && v.rejected?.problems).toEqual([expect.objectContaining({ line, column: 'color' })]);
  expect(await listNames(d, `${d.settings.aml.datastorePathPrefix}/${job.jobId}/`)).toEqual([]);
});

describe('publish of a split file', () => {
  interface Published {
    predictions: string;
    errors: string;
    rows: number;
    failed: number;
  }

  async function outbox(deps: Deps, p: Awaited<ReturnType<typeof publishPredictions>>): Promise<Published> {
    if (!p.ok) throw new Error(JSON.stringify(p.error));
    const o = deps.settings.outboxContainer;
    return {
      predictions: await readText(deps.data, o, 'big/rows_predictions.csv'),
      errors: await readText(deps.data, o, 'big/rows_errors.csv'),
      rows: p.rows,
      failed: p.rowsFailed,
    };
  }

  /** The unsplit reference: the whole file staged and joined with AML's output for it. */
  async function unsplit(missing: ReadonlySet<number>, body = FILE): Promise<Published> {
    const whole = await testDeps({ SPLIT_ROWS: '0', BATCH_WINDOW_SECONDS: '0' });
    const job = await drop(whole, 'big/rows.csv', body);
    const v = await validateAndStage({ jobId: job.jobId, source: job.source }, whole);
    if (!v.ok) throw new Error('validation failed');
    expect(v.staged.parts).toBeUndefined();
    const base = v.staged.inputPath.split('/').pop()!;
    const out = Array.from({ length: v.staged.rows }, (_, r) => r)
      .filter((r) => !missing.has(r))
      .map((r) => `${r},${prediction(r)},${base}\n`)
      .join('');
    await whole.datastore.putText(
      whole.settings.aml.datastoreContainer,
      v.staged.outputPath,
      out,
      'text/csv',
    );
    return outbox(
      whole,
      await publishPredictions({ jobId: job.jobId, source: job.source, staged: v.staged }, whole),
    );
  }

  /**
   * The file split into parts (4 for FILE), and AML's one output file over them: each part's lines
   * together (its rows within the part, 0-based), the parts in the order their mini-batches happened
   * to finish (the reverse of theirs, FILE's in the order 2, 0, 3, 1).
   */
  async function split(missing: ReadonlySet<number>, body = FILE) {
    const job = await drop(d, 'big/rows.csv', body);
    const v = await validateAndStage({ jobId: job.jobId, source: job.source }, d);
    if (!v.ok) throw new Error('validation failed');
    const staged: StagedFile = v.staged;
    const parts = staged.parts ?? [];
    expect(parts.length).toBeGreaterThan(1);
    const before = (k: number) => parts.slice(0, k).reduce((n, p) => n + p.rows, 0);
    const run = (k: number) =>
      Array.from({ length: parts[k]!.rows }, (_, i) =>
        missing.has(before(k) + i) ? '' : `${i},${prediction(before(k) + i)},part-0000${k}.csv\n`,
      ).join('');
    const order = body === FILE ? [2, 0, 3, 1] : parts.map((_, k) => parts.length - 1 - k);
    const aml = order.map(run).join('');
    await d.datastore.putText(d.settings.aml.datastoreContainer, staged.outputPath, aml, 'text/csv');
    const input = { jobId: job.jobId, source: job.source, staged };
    const p = await publishPredictions(input, d);
    return { input, p, published: await outbox(d, p) };
  }

  test('AML output over the parts, shuffled: one outbox file identical to the unsplit join; errors with input line numbers', async () => {
    // Rows AML skipped: row 1 (the two-line record), row 3 (first of part 1), row 9 (alone in part 3).
    const missing = new Set([1, 3, 9]);
    const { input, p, published } = await split(missing);
    const o = d.settings.outboxContainer;
    expect(p).toEqual({
      ok: true,
      rows: 7,
      rowsFailed: 3,
      outputBlob: `${o}/big/rows_predictions.csv`,
      errorsBlob: `${o}/big/rows_errors.csv`,
    });
    // Stated outright, then against the unsplit path.
    expect(published.predictions).toBe(
      `${LINES[0]},prediction\r\n` +
        ROWS.map((rec, r) => (missing.has(r) ? '' : `${rec.slice(0, -2)},${prediction(r)}\r\n`)).join(''),
    );
    expect(published.errors.split('\r\n').map((l) => l.split(',')[0])).toEqual([
      'input_line',
      '3', // row 1: the two-line record starts on line 3 (its second line has no number of its own)
      'lines"',
      '6', // row 3
      '13', // row 9
      '',
    ]);
    expect(published).toEqual(await unsplit(missing));

    // Repeatable: the same files again.
    expect(await publishPredictions(input, d)).toEqual(p);
    expect(await readText(d.data, o, 'big/rows_predictions.csv')).toBe(published.predictions);
  });

  // Parts keep blank lines where they stand, so a row after a blank line inside a part keeps its input line.
  test('a skipped row after a blank line inside a part is numbered with its input line', async () => {
    const missing = new Set([4]);
    const { published } = await split(missing);
    expect(published.errors.split('\r\n')[1]!.split(',')[0]).toBe('8');
    expect(published).toEqual(await unsplit(missing));
  });

  // The two bugs of the last round, through the activities: the errors file of a BOM file starts with
  // the BOM whichever part its failed rows are in; blank lines before the header do not move part
  // 0's line numbers (nor a file of one part's: it is staged as part 0).
  test.each([
    ['a BOM, rows skipped in part 1 only', `\ufeff${FILE}`, [3, 5]],
    ['a BOM, rows skipped in part 0 and part 3', `\ufeff${FILE}`, [0, 9]],
    ['blank lines before the header, rows skipped in part 0', `\r\n \r\n${FILE}`, [0, 2, 4]],
    [
      'a BOM and a blank line before the header, the last row without a line break',
      `\ufeff\r\n${FILE.slice(0, -2)}`,
      [1, 9],
    ],
  ] as const)('%s: the same outbox and errors files as unsplit', async (_name, body, skipped) => {
    const missing = new Set<number>(skipped);
    const { published } = await split(missing, body);
    expect(published.failed).toBe(missing.size);
    expect(published).toEqual(await unsplit(missing, body));
  });

  test('a file of one part with blank lines before the header: staged as the file itself, lines as in it', async () => {
    const small = `\ufeff\r\n\r\n${HEADER}${ROWS.slice(0, 3).join('')}`;
    const job = await drop(d, 'big/rows.csv', small);
    const v = await validateAndStage({ jobId: job.jobId, source: job.source }, d);
    if (!v.ok) throw new Error(JSON.stringify(v.error));
    expect(v.staged.parts).toBeUndefined();
    const ds = d.settings.aml.datastoreContainer;
    expect(await readText(d.datastore, ds, v.staged.inputPath)).toBe(small);
    const base = v.staged.inputPath.split('/').pop()!;
    await d.datastore.putText(ds, v.staged.outputPath, `0,${prediction(0)},${base}\n`, 'text/csv');
    const published = await outbox(
      d,
      await publishPredictions({ jobId: job.jobId, source: job.source, staged: v.staged }, d),
    );
    // Row 1 (lines 5-6) and row 2 (line 7): the header is on line 3.
    expect(published.errors.split('\r\n').map((l) => l.split(',')[0])).toEqual([
      '\ufeffinput_line',
      '5',
      'lines"',
      '7',
      '',
    ]);
  });
});
