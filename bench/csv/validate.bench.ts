/**
 * Validation throughput: `npx tsx bench/csv/validate.bench.ts [sizeMB]` (default 256).
 *
 * Generates a synthetic diamonds-like CSV of the given size in a temp file, then reads it with
 * the same stream settings through: a raw byte scan (counting newlines), csv-parse with default
 * options, csv-parse with `columns: true`, and `validateCsvStream` with the diamonds schema.
 * Prints MB/s (10^6 bytes per second) and ratios. `benchValidation` and `generateDiamondsCsv` are
 * exported for a later `npm run bench`.
 */
import { parse } from 'csv-parse';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { validateCsvStream } from '../../src/domain/csv';
import { parseSchema } from '../../src/domain/schema';

const READ_CHUNK = 1024 * 1024;

export interface ValidationBench {
  bytes: number;
  rawScanMBps: number;
  csvParseMBps: number;
  csvParseColumnsMBps: number;
  validatorMBps: number;
}

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HEADER = 'carat,cut,color,clarity,depth,table,price,x,y,z\n';
const CUTS = ['Fair', 'Good', 'Very Good', 'Premium', 'Ideal'];
const COLORS = ['D', 'E', 'F', 'G', 'H', 'I', 'J'];
const CLARITIES = ['I1', 'SI2', 'SI1', 'VS2', 'VS1', 'VVS2', 'VVS1', 'IF'];

/** About 1 MiB of random diamonds rows. */
function block(r: () => number): Buffer {
  const lines: string[] = [];
  let size = 0;
  const pick = (xs: string[]): string => xs[Math.floor(r() * xs.length)] as string;
  while (size < 1024 * 1024) {
    const line =
      [
        (0.2 + r() * 3).toFixed(2),
        pick(CUTS),
        pick(COLORS),
        pick(CLARITIES),
        (55 + r() * 10).toFixed(1),
        String(50 + Math.floor(r() * 15)),
        String(300 + Math.floor(r() * 18000)),
        (3 + r() * 6).toFixed(2),
        (3 + r() * 6).toFixed(2),
        (2 + r() * 4).toFixed(2),
      ].join(',') + '\n';
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join(''));
}

/** Writes a diamonds-like CSV (header + rows) of about `bytes` bytes (whole rows) to `path`. */
export async function generateDiamondsCsv(path: string, bytes: number): Promise<number> {
  const r = rng(2024);
  const blocks = Array.from({ length: 16 }, () => block(r));
  const out = createWriteStream(path);
  let written = 0;
  const write = async (b: Buffer): Promise<void> => {
    written += b.length;
    if (!out.write(b)) await once(out, 'drain');
  };
  await write(Buffer.from(HEADER));
  while (written < bytes) {
    let b = blocks[Math.floor(r() * blocks.length)] as Buffer;
    if (written + b.length > bytes) {
      const cut = b.lastIndexOf(10, bytes - written - 1);
      if (cut < 0) break;
      b = b.subarray(0, cut + 1);
    }
    await write(b);
  }
  out.end();
  await once(out, 'close');
  return written;
}

async function timed(fn: () => Promise<void>, bytes: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return bytes / 1e6 / seconds;
}

const read = (filePath: string): NodeJS.ReadableStream =>
  createReadStream(filePath, { highWaterMark: READ_CHUNK });

/** Measures MB/s of the four readers over the file (one pass each, same read stream settings). */
export async function benchValidation(filePath: string): Promise<ValidationBench> {
  const bytes = (await stat(filePath)).size;
  const schema = parseSchema(
    JSON.parse(readFileSync(join(__dirname, '../../src/domain/schemas/diamonds.json'), 'utf8')),
  );

  let lines = 0;
  const rawScanMBps = await timed(async () => {
    for await (const chunk of read(filePath) as AsyncIterable<Buffer>) {
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++;
    }
  }, bytes);

  let records = 0;
  const csvParseMBps = await timed(async () => {
    for await (const _record of read(filePath).pipe(parse())) records++;
  }, bytes);

  let objects = 0;
  const csvParseColumnsMBps = await timed(async () => {
    for await (const _record of read(filePath).pipe(parse({ columns: true }))) objects++;
  }, bytes);

  let rows = 0;
  const validatorMBps = await timed(async () => {
    const rep = await validateCsvStream(read(filePath), {
      schema,
      maxBytes: Number.MAX_SAFE_INTEGER,
      maxProblems: 10,
    });
    if (!rep.ok) throw new Error(`validation failed: ${rep.summary}`);
    rows = rep.rows;
  }, bytes);

  if (records !== lines || objects !== lines - 1 || rows !== lines - 1) {
    throw new Error(`readers disagree: ${lines} lines, ${records} records, ${objects} objects, ${rows} rows`);
  }
  return { bytes, rawScanMBps, csvParseMBps, csvParseColumnsMBps, validatorMBps };
}

async function main(): Promise<void> {
  const sizeMB = Number(process.argv[2] ?? 256);
  if (!(sizeMB > 0)) throw new Error('usage: validate.bench.ts [sizeMB]');
  const file = join(tmpdir(), `diamonds-bench-${process.pid}.csv`);
  try {
    const written = await generateDiamondsCsv(file, Math.round(sizeMB * 1024 * 1024));
    console.log(`file: ${file} (${(written / 1e6).toFixed(1)} MB), node ${process.version}`);
    const b = await benchValidation(file);
    const row = (name: string, v: number): string =>
      `${name.padEnd(26)} ${v.toFixed(0).padStart(7)} MB/s   ${(v / b.csvParseMBps).toFixed(1).padStart(5)}x csv-parse   ${((100 * v) / b.rawScanMBps).toFixed(0).padStart(3)}% of raw scan`;
    console.log(row('raw byte scan (newlines)', b.rawScanMBps));
    console.log(row('csv-parse (defaults)', b.csvParseMBps));
    console.log(row('csv-parse (columns: true)', b.csvParseColumnsMBps));
    console.log(row('validateCsvStream', b.validatorMBps));
  } finally {
    await rm(file, { force: true });
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
