import { PipelineError } from '../errors';
import { isBlankRecord } from './blank';
import { headerNames, parseHeaderFields } from './header';
import { csvQuote, PredictionReader } from './predictions';
import { CsvRecord, CsvScanError, CsvScanner, DEFAULT_MAX_RECORD_BYTES, type LineEnding } from './scanner';
import { bufferChunks, type ByteSource } from './source';

export interface JoinOptions {
  /**
   * How many predictions may arrive ahead of the row being written (they wait in memory). More
   * than this is an error (PredictionsInvalid). Default 100,000.
   */
  reorderWindow?: number;
  /** Name of the added column; default `prediction` (made unique with a suffix if the input has one). */
  column?: string;
  /** Longest accepted record in bytes, in either file. Default 1 MiB. */
  maxRecordBytes?: number;
  /** Size of the chunks handed to `out`. Default 256 KiB. */
  chunkBytes?: number;
}

export interface JoinResult {
  /** Data rows written (blank input lines are skipped and not counted). */
  rows: number;
  /** Bytes handed to `out`. */
  bytes: number;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Streams `input` (the original CSV, with header) and the Azure ML predictions file together and
 * writes the input with one more column: the header plus `,prediction`, then every data record's
 * original bytes (terminator excluded) plus `,` and its prediction, each line ended with the
 * input's own line ending (also after the last row). A BOM in the input is kept in the output.
 * Blank input lines are dropped (they are not rows; see `isBlankRecord`).
 *
 * Rows are matched by the predictions' 0-based `row` index; predictions may come out of order
 * within `reorderWindow`. Missing, extra or duplicate predictions and bad row indexes throw
 * PipelineError('PredictionsInvalid'); a malformed input throws PipelineError('InputNotCsv') or
 * ('InputEmpty'). `out` is awaited for every chunk (backpressure). Memory: the reorder window plus
 * a few chunks and the longest record.
 */
export async function joinPredictions(
  input: ByteSource,
  predictions: ByteSource,
  out: (chunk: Buffer) => Promise<void> | void,
  opts: JoinOptions = {},
): Promise<JoinResult> {
  const maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const reader = new PredictionReader(
    bufferChunks(predictions)[Symbol.asyncIterator](),
    opts.reorderWindow ?? 100_000,
    maxRecordBytes,
  );
  const writer = new Writer(out, opts.chunkBytes ?? 256 * 1024);
  const batch = new Batch();
  let header: Buffer | undefined;
  let width = 0;
  let eol: Buffer = Buffer.from('\n');
  let rows = 0;

  const scanner = new CsvScanner(
    (rec: CsvRecord) => {
      if (rec.fieldCount === 1 && isBlankRecord(rec)) return;
      if (header === undefined) {
        eol = eolBytes(scanner.lineEnding);
        header = headerLine(rec, opts.column ?? 'prediction', scanner.hasBom, eol);
        width = rec.fieldCount;
        return;
      }
      if (rec.strayLineBreak || rec.fieldCount !== width) {
        throw new PipelineError(
          'InputNotCsv',
          `Input line ${rec.line} does not match the header (${rec.fieldCount} fields, mixed line endings or a stray line break)`,
        );
      }
      batch.add(rec);
    },
    { maxRecordBytes },
  );

  const drain = async (): Promise<void> => {
    if (header !== undefined && !writer.started) writer.write(header);
    for (let k = 0; k < batch.count; k++) {
      const row = rows;
      while (!reader.take(row)) {
        if (!(await reader.fill())) {
          throw new PipelineError(
            'PredictionsInvalid',
            `No prediction for row ${row} (input line ${batch.line(k)}); the predictions file ends early`,
          );
        }
      }
      const s = batch.start(k);
      const e = batch.end(k);
      const vs = reader.valueStart;
      const ve = reader.valueEnd;
      const len = e - s + 1 + (ve - vs) + eol.length;
      if (!writer.fits(len)) await writer.flush();
      writer.row(batch.buf, s, e, reader.valueBuf, vs, ve, eol, len);
      rows++;
    }
    batch.clear();
    await writer.maybeFlush();
  };

  try {
    for await (const chunk of bufferChunks(input)) {
      feed(() => scanner.push(chunk));
      await drain();
    }
    feed(() => scanner.end());
    await drain();
    if (header === undefined) throw new PipelineError('InputEmpty', 'The input has no header');
    await reader.finish(rows);
    await writer.flush();
    return { rows, bytes: writer.bytes };
  } catch (err) {
    // Stop both downloads (an iterator that never started would not close its stream).
    await reader.close().catch(() => undefined);
    destroyIfStream(predictions);
    destroyIfStream(input);
    throw err;
  }
}

function destroyIfStream(source: ByteSource): void {
  const s = source as { destroy?: () => void; destroyed?: boolean };
  if (typeof s.destroy === 'function' && s.destroyed !== true) s.destroy();
}

function feed(step: () => void): void {
  try {
    step();
  } catch (err) {
    if (err instanceof CsvScanError)
      throw new PipelineError('InputNotCsv', `The input is not valid CSV: ${err.message}`);
    throw err;
  }
}

function eolBytes(ending: LineEnding | undefined): Buffer {
  return Buffer.from(ending === 'CRLF' ? '\r\n' : '\n');
}

/** The output header: the input's header bytes plus the new column, with the input's BOM. */
function headerLine(rec: CsvRecord, wanted: string, bom: boolean, eol: Buffer): Buffer {
  let names: string[];
  try {
    names = headerNames(parseHeaderFields(rec.content()));
  } catch (err) {
    throw new PipelineError('InputNotCsv', `The input header is not valid CSV: ${(err as Error).message}`);
  }
  let column = wanted;
  for (let k = 2; names.includes(column); k++) column = `${wanted}_${k}`;
  return Buffer.concat([
    bom ? BOM : Buffer.alloc(0),
    rec.content(),
    Buffer.from(`,${csvQuote(column)}`),
    eol,
  ]);
}

/** Data records of one input chunk, copied (the scanner's views do not outlive its callback). */
class Batch {
  buf: Buffer = Buffer.allocUnsafe(256 * 1024);
  count = 0;
  private used = 0;
  private pos = new Int32Array(3 * 1024);

  add(rec: CsvRecord): void {
    const len = rec.end - rec.start;
    if (this.used + len > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < this.used + len) cap *= 2;
      const next = Buffer.allocUnsafe(cap);
      this.buf.copy(next, 0, 0, this.used);
      this.buf = next;
    }
    if (3 * this.count + 3 > this.pos.length) {
      const next = new Int32Array(this.pos.length * 2);
      next.set(this.pos);
      this.pos = next;
    }
    rec.buf.copy(this.buf, this.used, rec.start, rec.end);
    const k = 3 * this.count++;
    this.pos[k] = this.used;
    this.pos[k + 1] = this.used + len;
    this.pos[k + 2] = rec.line;
    this.used += len;
  }

  start(k: number): number {
    return this.pos[3 * k] as number;
  }

  end(k: number): number {
    return this.pos[3 * k + 1] as number;
  }

  line(k: number): number {
    return this.pos[3 * k + 2] as number;
  }

  clear(): void {
    this.count = 0;
    this.used = 0;
  }
}

/** Assembles output chunks of about `size` bytes and hands each to `out`, awaiting it. */
class Writer {
  bytes = 0;
  started = false;
  private buf: Buffer;
  private used = 0;
  private readonly out: (chunk: Buffer) => Promise<void> | void;
  private readonly size: number;

  constructor(out: (chunk: Buffer) => Promise<void> | void, size: number) {
    this.out = out;
    this.size = size;
    this.buf = Buffer.allocUnsafe(size);
  }

  write(bytes: Buffer): void {
    this.started = true;
    this.reserve(bytes.length);
    bytes.copy(this.buf, this.used);
    this.used += bytes.length;
  }

  /** Whether `len` more bytes fit in the current chunk. */
  fits(len: number): boolean {
    return this.used + len <= this.buf.length;
  }

  /** Appends one output line of `len` bytes: record bytes, a comma, the prediction, the line end. */
  row(
    src: Buffer,
    s: number,
    e: number,
    value: Buffer,
    vs: number,
    ve: number,
    eol: Buffer,
    len: number,
  ): void {
    this.reserve(len);
    const b = this.buf;
    let u = this.used;
    u += src.copy(b, u, s, e);
    b[u++] = 44;
    u += value.copy(b, u, vs, ve);
    u += eol.copy(b, u);
    this.used = u;
  }

  async maybeFlush(): Promise<void> {
    if (this.used >= this.size / 2) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    const chunk = this.buf.subarray(0, this.used);
    this.buf = Buffer.allocUnsafe(this.size); // the consumer may keep the chunk
    this.used = 0;
    this.bytes += chunk.length;
    await this.out(chunk);
  }

  private reserve(len: number): void {
    if (this.used + len <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.size, this.used + len));
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }
}
