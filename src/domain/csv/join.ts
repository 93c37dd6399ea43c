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
  /** Size of the chunks handed to `out`. Default 1 MiB. */
  chunkBytes?: number;
  /**
   * Where rows without a prediction go (AML skips the rows of a failed mini-batch, and a scoring
   * script may return fewer rows). Without it a missing prediction is an error. With it each such
   * row is written as `input_line,reason,<the input record's bytes>` under a header of those two
   * columns plus the input's header; nothing is handed out when no row is missing. A row counts as
   * missing when the predictions file ends without it, or when `reorderWindow` later rows came first.
   */
  errors?: (chunk: Buffer) => Promise<void> | void;
  /** The `reason` written for a missing row. */
  missingReason?: string;
  /**
   * Write the output's header line (default true). False for the parts of a split file after the
   * first: each part starts with the header, the joined output has it once.
   */
  header?: boolean;
  /**
   * Write the errors file's header line when rows are missing (default: as `header`). A caller
   * joining part by part sets it true for the first part that has missing rows.
   */
  errorsHeader?: boolean;
  /**
   * The line, in the whole file, of this input's first data row: for a part of a split file its
   * `firstLine`. The lines written for missing rows are then the file's: each row's line in the
   * input plus (firstLine less the first data row's line in the input), whatever stands before that
   * row (a BOM, blank lines, a header spanning lines). Default: the input's own line numbers.
   */
  firstLine?: number;
  /**
   * Whether the header lines written start with a BOM. Default: when the input has one. A split
   * file's later parts have none: they are given part 0's (`JoinResult.bom`).
   */
  bom?: boolean;
}

export interface JoinResult {
  /** Data rows written with their prediction (blank input lines are skipped and not counted). */
  rows: number;
  /** Data rows without a prediction, written to `errors` (0 without it). */
  failed: number;
  /** Bytes handed to `out`. */
  bytes: number;
  /** Whether the input starts with a BOM. */
  bom: boolean;
}

export const DEFAULT_MISSING_REASON =
  'No prediction: the model deployment skipped this row (a failed mini-batch, or a scoring script that returned fewer rows); see the AML job logs.';

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
 * ('InputEmpty'). `out` is awaited for every chunk (backpressure). Memory: the reorder window, the
 * predictions read ahead (at most one input chunk's rows, capped), a few chunks and the longest record.
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
    opts.errors !== undefined,
  );
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const writer = new Writer(out, chunkBytes, STAGE_BYTES);
  const errors = opts.errors
    ? {
        writer: new Writer(opts.errors, chunkBytes),
        reason: csvQuote(opts.missingReason ?? DEFAULT_MISSING_REASON),
      }
    : undefined;
  try {
    const file = new InputJoin(reader, writer, opts.column ?? 'prediction', maxRecordBytes, errors, {
      header: opts.header ?? true,
      errorsHeader: opts.errorsHeader ?? opts.header ?? true,
      ...(opts.firstLine !== undefined ? { firstLine: opts.firstLine } : {}),
      ...(opts.bom !== undefined ? { bom: opts.bom } : {}),
    });
    await file.run(input);
    await reader.finish(file.index);
    await writer.flush();
    if (file.failed > 0) await errors?.writer.flush();
    return { rows: file.rows, failed: file.failed, bytes: writer.bytes, bom: file.hasBom };
  } catch (err) {
    // Stop both downloads (an iterator that never started would not close its stream).
    await reader.close().catch(() => undefined);
    destroyIfStream(predictions);
    destroyIfStream(input);
    throw err;
  }
}

const DEFAULT_CHUNK_BYTES = 1024 * 1024;
// InputJoin phases.
const HEADER = 0;
const FIRST_ROW = 1;
const ROWS = 2;

interface Headers {
  header: boolean;
  errorsHeader: boolean;
  firstLine?: number;
  bom?: boolean;
}
/** Input chunks up to this size are staged in the output block (see Writer.stage); larger ones are copied row by row. */
const STAGE_BYTES = 256 * 1024;
/** Most predictions read ahead of the input (bounds memory for inputs read in huge chunks). */
const MAX_READ_AHEAD = 65_536;

/**
 * The join of one input file: its rows are numbered from 0 and matched with the reader's
 * predictions in order. A row is written straight from the scanner's callback when its prediction
 * has already been read, which is the rule: after each input chunk the reader reads ahead at least
 * as many predictions as the largest chunk held rows. Otherwise that row and the rest of the chunk
 * are copied aside and written once the predictions file has been read further.
 */
class InputJoin {
  /** Data rows seen (the next row's 0-based index), written with a prediction, and without one. */
  index = 0;
  rows = 0;
  failed = 0;
  private readonly reader: PredictionReader;
  private readonly writer: Writer;
  private readonly column: string;
  private readonly scanner: CsvScanner;
  private readonly batch = new Batch();
  /** What the next non-blank record is: the header, the first data row, or a later one. */
  private phase = HEADER;
  /** Added to a row's input line to give its line in the whole file (see JoinOptions.firstLine). */
  private lineOffset = 0;
  private width = 0;
  private eol: Buffer = Buffer.from('\n');
  private chunkRows = 0;
  private readAhead = 0;
  private readonly errors: { writer: Writer; reason: string } | undefined;
  private readonly headers: Headers;

  constructor(
    reader: PredictionReader,
    writer: Writer,
    column: string,
    maxRecordBytes: number,
    errors: { writer: Writer; reason: string } | undefined,
    headers: Headers,
  ) {
    this.reader = reader;
    this.writer = writer;
    this.column = column;
    this.errors = errors;
    this.headers = headers;
    this.scanner = new CsvScanner((rec) => this.onRecord(rec), { maxRecordBytes });
  }

  async run(input: ByteSource): Promise<void> {
    for await (const chunk of bufferChunks(input)) {
      this.chunkRows = 0;
      this.writer.stage(chunk);
      feed(() => this.scanner.push(chunk));
      await this.afterChunk();
    }
    feed(() => this.scanner.end());
    await this.afterChunk();
    if (this.phase === HEADER) throw new PipelineError('InputEmpty', 'The input has no header');
  }

  get hasBom(): boolean {
    return this.scanner.hasBom;
  }

  private onRecord(rec: CsvRecord): void {
    if (rec.fieldCount === 1 && isBlankRecord(rec)) return;
    if (this.phase !== ROWS) {
      if (this.phase === HEADER) {
        this.phase = FIRST_ROW;
        this.eol = eolBytes(this.scanner.lineEnding);
        this.width = rec.fieldCount;
        const bom = this.headers.bom ?? this.scanner.hasBom;
        if (this.headers.header) this.writer.write(headerLine(rec, this.column, bom, this.eol));
        if (this.headers.errorsHeader) this.errors?.writer.write(errorsHeader(rec, bom, this.eol));
        return;
      }
      this.phase = ROWS;
      const first = this.headers.firstLine;
      if (first !== undefined) this.lineOffset = first - rec.line;
    }
    if (rec.strayLineBreak || rec.fieldCount !== this.width) {
      throw new PipelineError(
        'InputNotCsv',
        `Input line ${rec.line} does not match the header (${rec.fieldCount} fields, mixed line endings or a stray line break)`,
      );
    }
    this.chunkRows++;
    const reader = this.reader;
    if (this.batch.count === 0 && reader.take(this.index)) {
      this.writer.row(
        rec.buf,
        rec.start,
        rec.end,
        reader.valueBuf,
        reader.valueStart,
        reader.valueEnd,
        this.eol,
      );
      this.rows++;
      this.index++;
    } else {
      this.batch.add(rec);
    }
  }

  /** Writes the rows set aside, hands out full output chunks, and reads predictions ahead. */
  private async afterChunk(): Promise<void> {
    const { batch, reader, writer } = this;
    for (let k = 0; k < batch.count; k++) {
      const row = this.index++;
      let found = true;
      while (!reader.take(row)) {
        if (!reader.full && (await reader.fill())) continue;
        if (!this.errors) {
          throw new PipelineError(
            'PredictionsInvalid',
            `No prediction for row ${row} (input line ${batch.line(k)}); the predictions file ends early`,
          );
        }
        found = false;
        break;
      }
      if (!found) {
        this.failed++;
        const prefix = Buffer.from(`${batch.line(k) + this.lineOffset},${this.errors!.reason}`);
        this.errors!.writer.row(prefix, 0, prefix.length, batch.buf, batch.start(k), batch.end(k), this.eol);
        continue;
      }
      writer.row(
        batch.buf,
        batch.start(k),
        batch.end(k),
        reader.valueBuf,
        reader.valueStart,
        reader.valueEnd,
        this.eol,
      );
      this.rows++;
    }
    batch.clear();
    await writer.flushFull();
    await this.errors?.writer.flushFull();
    this.readAhead = Math.min(MAX_READ_AHEAD, Math.max(this.readAhead, this.chunkRows));
    while (reader.queued < this.readAhead && (await reader.fill()));
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

/** The errors file's header: `input_line,reason` and the input's header, with the input's BOM. */
function errorsHeader(rec: CsvRecord, bom: boolean, eol: Buffer): Buffer {
  let names: string[];
  try {
    names = headerNames(parseHeaderFields(rec.content()));
  } catch {
    names = [];
  }
  const unique = (wanted: string): string => {
    let c = wanted;
    for (let k = 2; names.includes(c); k++) c = `${wanted}_${k}`;
    return c;
  };
  return Buffer.concat([
    bom ? BOM : Buffer.alloc(0),
    Buffer.from(`${csvQuote(unique('input_line'))},${csvQuote(unique('reason'))},`),
    rec.content(),
    eol,
  ]);
}

/** Records of one input chunk set aside until their predictions are read (copied: the scanner's views do not outlive its callback). */
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

/**
 * Assembles output chunks of `size` bytes (larger only for a longer line) and hands each to `out`,
 * awaiting it. Rows are appended synchronously; chunks that fill up wait in `full` until `flushFull`.
 *
 * Copying a row is the join's main cost after scanning. A row of the input chunk being scanned is
 * moved with `copyWithin` from a copy of that chunk kept at the block's tail (`stage`, one native
 * copy per chunk and block): a native move with no allocation, where `Buffer.copy` of part of a
 * buffer costs a view per call on Node 20 and a JS loop a step per byte.
 */
class Writer {
  bytes = 0;
  private buf: Buffer;
  private used = 0;
  private full: Buffer[] = [];
  private readonly out: (chunk: Buffer) => Promise<void> | void;
  private readonly size: number;
  private readonly stageCap: number;
  /** The input chunk copied to buf[stageAt, buf.length), if any. */
  private staged: Buffer | undefined;
  private stageAt = 0;

  constructor(out: (chunk: Buffer) => Promise<void> | void, size: number, stageCap = 0) {
    this.out = out;
    this.size = size;
    this.stageCap = stageCap;
    this.buf = Buffer.allocUnsafe(size + stageCap);
  }

  /** Keeps a copy of the next input chunk in the block, so that its rows move natively. */
  stage(chunk: Buffer): void {
    if (chunk.length > this.stageCap) {
      this.staged = undefined;
      return;
    }
    this.staged = chunk;
    this.stageAt = this.buf.length - chunk.length;
    chunk.copy(this.buf, this.stageAt);
  }

  write(bytes: Buffer): void {
    this.reserve(bytes.length);
    bytes.copy(this.buf, this.used);
    this.used += bytes.length;
  }

  /** Appends one output line: record bytes [s, e) of src, a comma, value bytes [vs, ve), the line end. */
  row(src: Buffer, s: number, e: number, value: Buffer, vs: number, ve: number, eol: Buffer): void {
    this.reserve(e - s + 1 + (ve - vs) + eol.length);
    const b = this.buf;
    let u = this.used;
    if (src === this.staged) {
      b.copyWithin(u, this.stageAt + s, this.stageAt + e);
      u += e - s;
    } else {
      u = copyBytes(src, s, e, b, u);
    }
    b[u++] = 44;
    u = copyBytes(value, vs, ve, b, u);
    b[u++] = eol[0] as number;
    if (eol.length > 1) b[u++] = eol[1] as number;
    this.used = u;
  }

  /** Hands out the chunks that are full. */
  async flushFull(): Promise<void> {
    const full = this.full;
    this.full = [];
    for (const chunk of full) await this.emit(chunk);
  }

  /** Hands out everything. */
  async flush(): Promise<void> {
    await this.flushFull();
    if (this.used === 0) return;
    const chunk = this.buf.subarray(0, this.used);
    this.newBlock(0);
    await this.emit(chunk);
  }

  private async emit(chunk: Buffer): Promise<void> {
    this.bytes += chunk.length;
    await this.out(chunk);
  }

  /** Makes room for `len` more bytes: a full chunk is set aside and a new one started (the consumer may keep chunks). */
  private reserve(len: number): void {
    if (this.used + len <= this.size) return;
    if (this.used > 0) this.full.push(this.buf.subarray(0, this.used));
    this.newBlock(len);
  }

  /** A fresh block (the old one may still be in the consumer's hands), with the staged chunk copied in. */
  private newBlock(len: number): void {
    this.buf = Buffer.allocUnsafe(Math.max(this.size, len) + this.stageCap);
    this.used = 0;
    if (this.staged) {
      this.stageAt = this.buf.length - this.staged.length;
      this.staged.copy(this.buf, this.stageAt);
    }
  }
}

/**
 * Copies src[s, e) to dst at d and returns the end: short runs byte by byte, since on Node 20
 * `Buffer.copy` of part of a buffer costs an allocation (a view) per call.
 */
function copyBytes(src: Buffer, s: number, e: number, dst: Buffer, d: number): number {
  if (e - s > 32) return d + src.copy(dst, d, s, e);
  for (let k = s; k < e; k++) dst[d++] = src[k] as number;
  return d;
}
