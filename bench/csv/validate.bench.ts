/**
 * Validation throughput: `npx tsx bench/csv/validate.bench.ts [sizeMB]` (default 256).
 *
 * Generates a diamonds CSV of the given size in a temp file (synthetic rows drawn from the committed
 * `samples/diamonds-sample.csv` with small jitter), then reads it with the same stream settings
 * through: a raw byte scan (counting newlines), csv-parse with default options, csv-parse with
 * `columns: true`, and `validateCsvStream` with the diamonds schema; the byte scan and the validator
 * alternate for a few rounds and their median pass counts. Prints MB/s (10^6 bytes per second) and ratios. `benchValidation` and `generateDiamondsCsv` are used by `npm run bench`.
 */
import { parse } from 'csv-parse';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { mulberry32 } from '../../dev/random';
import { validateCsvStream } from '../../src/domain/csv';
import { parseSchema } from '../../src/domain/schema';

/** What a blob download stream yields per chunk (measured on Azurite: 64 KiB socket reads). */
export const DOWNLOAD_CHUNK = 64 * 1024;

export interface ValidationBench {
  bytes: number;
  /** The read size used for every pass. */
  chunkBytes: number;
  /** Passes of the byte scan and of the validator, alternated; their figures are the median pass. */
  rounds: number;
  rawScanMBps: number;
  csvParseMBps: number;
  /** Absent when `columns: false` was passed (the slowest pass, which `npm run bench` skips). */
  csvParseColumnsMBps?: number;
  validatorMBps: number;
  /** CPU seconds of the median passes: on a shared machine, a steadier comparison than wall time. */
  rawScanCpuSeconds: number;
  validatorCpuSeconds: number;
}

const SAMPLE = join(__dirname, '../../samples/diamonds-sample.csv');
const HEADER = 'carat,cut,color,clarity,depth,table,price,x,y,z\n';

interface SampleRow {
  carat: number;
  cut: string;
  color: string;
  clarity: string;
  depth: number;
  table: number;
  price: number;
  x: number;
  y: number;
  z: number;
}

/** The committed 200 real diamonds, whose distribution the generator follows. */
function sampleRows(): SampleRow[] {
  const lines = readFileSync(SAMPLE, 'utf8').split(/\r?\n/);
  if (`${lines[0]}\n` !== HEADER) throw new Error(`unexpected header in ${SAMPLE}: ${lines[0]}`);
  return lines
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const f = l.split(',');
      if (f.length !== 10) throw new Error(`unexpected row in ${SAMPLE}: ${l}`);
      const n = (i: number): number => Number(f[i]);
      return {
        carat: n(0),
        cut: f[1] as string,
        color: f[2] as string,
        clarity: f[3] as string,
        depth: n(4),
        table: n(5),
        price: n(6),
        x: n(7),
        y: n(8),
        z: n(9),
      };
    });
}

/** A number with at most `digits` decimals, written the shortest way (`0.7`, `58`), as in the sample. */
function fmt(v: number, digits: number): string {
  const p = 10 ** digits;
  return String(Math.round(v * p) / p);
}

/**
 * One synthetic row: a sample row picked at random, its cut, color and clarity kept, its numbers
 * jittered a little and consistently (carat by up to ±3 %, the dimensions by its cube root, the
 * price with the carat; depth by up to ±0.4, table by ±1 now and then).
 */
function syntheticRow(rows: SampleRow[], r: () => number): string {
  const s = rows[Math.floor(r() * rows.length)] as SampleRow;
  const jitter = (span: number): number => 1 + (r() - 0.5) * 2 * span;
  const f = jitter(0.03);
  const d = Math.cbrt(f);
  return (
    [
      fmt(Math.max(0.2, s.carat * f), 2),
      s.cut,
      s.color,
      s.clarity,
      fmt(s.depth + (r() - 0.5) * 0.8, 1),
      fmt(r() < 0.7 ? s.table : s.table + (r() < 0.5 ? -1 : 1), 1),
      fmt(Math.max(326, s.price * f * jitter(0.03)), 0),
      fmt(s.x * d * jitter(0.005), 2),
      fmt(s.y * d * jitter(0.005), 2),
      fmt(s.z * d * jitter(0.005), 2),
    ].join(',') + '\n'
  );
}

/** About 1 MiB of synthetic rows. */
function block(rows: SampleRow[], r: () => number): Buffer {
  const lines: string[] = [];
  let size = 0;
  while (size < 1024 * 1024) {
    const line = syntheticRow(rows, r);
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join(''));
}

/**
 * Writes a diamonds CSV (header + rows) of about `bytes` bytes (whole rows) to `path`: rows drawn
 * from the committed sample's rows with small jitter (`syntheticRow`), the same bytes on every run.
 * Up to 64 distinct 1 MiB blocks are generated and then written in random order, so a large file
 * costs disk time only.
 */
export async function generateDiamondsCsv(path: string, bytes: number): Promise<number> {
  const rows = sampleRows();
  const r = mulberry32(2024);
  const distinct = Math.max(1, Math.min(64, Math.ceil(bytes / (1024 * 1024))));
  const blocks = Array.from({ length: distinct }, () => block(rows, r));
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

interface Pass {
  /** 10^6 bytes per second of wall time. */
  mbps: number;
  /** This process's CPU seconds (user + system). */
  cpuSeconds: number;
}

async function timed(fn: () => Promise<void>, bytes: number): Promise<Pass> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { mbps: bytes / 1e6 / seconds, cpuSeconds: (c.user + c.system) / 1e6 };
}

/** The pass with the median speed. */
function median(passes: Pass[]): Pass {
  return [...passes].sort((a, b) => a.mbps - b.mbps)[passes.length >> 1] as Pass;
}

export interface BenchValidationOptions {
  /** Read size; default DOWNLOAD_CHUNK (what a blob download delivers). */
  chunkBytes?: number;
  /** Also time csv-parse with `columns: true` (slow); default true. */
  columns?: boolean;
  /** Passes of the byte scan and the validator, alternated (csv-parse runs once); default 3. */
  rounds?: number;
}

/** Measures MB/s of the readers over the file (one pass each, same read stream settings). */
export async function benchValidation(
  filePath: string,
  opts: BenchValidationOptions = {},
): Promise<ValidationBench> {
  const chunkBytes = opts.chunkBytes ?? DOWNLOAD_CHUNK;
  const read = (): NodeJS.ReadableStream => createReadStream(filePath, { highWaterMark: chunkBytes });
  const bytes = (await stat(filePath)).size;
  const schema = parseSchema(
    JSON.parse(readFileSync(join(__dirname, '../../src/domain/schemas/diamonds.json'), 'utf8')),
  );

  const rounds = opts.rounds ?? 3;
  let lines = 0;
  const rawScan = async (): Promise<Pass> => {
    lines = 0;
    return timed(async () => {
      for await (const chunk of read() as AsyncIterable<Buffer>) {
        for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++;
      }
    }, bytes);
  };
  let rows = 0;
  const validator = (): Promise<Pass> =>
    timed(async () => {
      const rep = await validateCsvStream(read(), {
        schema,
        maxBytes: Number.MAX_SAFE_INTEGER,
        maxProblems: 10,
      });
      if (!rep.ok) throw new Error(`validation failed: ${rep.summary}`);
      rows = rep.rows;
    }, bytes);

  const raws: Pass[] = [await rawScan()];
  let records = 0;
  const csvParseMBps = (
    await timed(async () => {
      for await (const _record of read().pipe(parse())) records++;
    }, bytes)
  ).mbps;

  let objects = lines - 1;
  let csvParseColumnsMBps: number | undefined;
  if (opts.columns !== false) {
    objects = 0;
    csvParseColumnsMBps = (
      await timed(async () => {
        for await (const _record of read().pipe(parse({ columns: true }))) objects++;
      }, bytes)
    ).mbps;
  }

  const validators: Pass[] = [await validator()];
  for (let k = 1; k < rounds; k++) {
    raws.push(await rawScan());
    validators.push(await validator());
  }
  const raw = median(raws);
  const valid = median(validators);

  if (records !== lines || objects !== lines - 1 || rows !== lines - 1) {
    throw new Error(`readers disagree: ${lines} lines, ${records} records, ${objects} objects, ${rows} rows`);
  }
  return {
    bytes,
    chunkBytes,
    rounds,
    rawScanMBps: raw.mbps,
    csvParseMBps,
    ...(csvParseColumnsMBps !== undefined ? { csvParseColumnsMBps } : {}),
    validatorMBps: valid.mbps,
    rawScanCpuSeconds: raw.cpuSeconds,
    validatorCpuSeconds: valid.cpuSeconds,
  };
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
    console.log(`reads of ${b.chunkBytes / 1024} KiB; byte scan and validator: median of ${b.rounds} passes`);
    console.log(row('raw byte scan (newlines)', b.rawScanMBps));
    console.log(row('csv-parse (defaults)', b.csvParseMBps));
    if (b.csvParseColumnsMBps !== undefined)
      console.log(row('csv-parse (columns: true)', b.csvParseColumnsMBps));
    console.log(row('validateCsvStream', b.validatorMBps));
    const cpuShare = (100 * b.rawScanCpuSeconds) / b.validatorCpuSeconds;
    console.log(
      `CPU: byte scan ${b.rawScanCpuSeconds.toFixed(2)} s, validator ${b.validatorCpuSeconds.toFixed(2)} s (${cpuShare.toFixed(0)}%)`,
    );
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
