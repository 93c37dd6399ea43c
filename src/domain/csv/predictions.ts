import { PipelineError } from '../errors';
import { isBlankRecord } from './blank';
import { CsvRecord, CsvScanError, CsvScanner, DEFAULT_MAX_RECORD_BYTES } from './scanner';

/**
 * Reads Azure ML's MLflow batch output (`predictions.csv`): no header, one line per scored row,
 * `row,prediction,file_name`, where `row` is the 0-based index of the input data row. Hands out
 * predictions by row index, tolerating rows that arrive out of order within a bounded window.
 *
 * Each prediction is kept as the bytes to write into an output CSV field: an unquoted field as it
 * stands, a quoted one unescaped and quoted again only when it needs it. Predictions read and not
 * yet taken wait in file order in one arena buffer and typed arrays (no object per row; the caller
 * decides how far to read ahead); only out-of-order ones are copied aside.
 * A stray CR/LF (mixed line endings) is tolerated: it either merges lines, which the field count
 * catches, or leaves a CR at the end of file_name, which is not used.
 */
export class PredictionReader {
  /** The value found by the last successful `take`: bytes [valueStart, valueEnd) of valueBuf. */
  valueBuf: Buffer = Buffer.alloc(0);
  valueStart = 0;
  valueEnd = 0;

  private readonly iter: AsyncIterator<Buffer>;
  private readonly scanner: CsvScanner;
  private readonly window: number;
  /** Out-of-order predictions waiting for their row, and their lines in the file. */
  private readonly pending = new Map<number, Buffer>();
  private readonly pendingLine = new Map<number, number>();
  // Predictions parsed from the latest chunk, in file order.
  private arena: Buffer = Buffer.allocUnsafe(64 * 1024);
  private arenaUsed = 0;
  private qRows = new Float64Array(4096);
  private qPos = new Int32Array(2 * 4096);
  private qLines = new Float64Array(4096);
  private qLen = 0;
  private qHead = 0;
  private done = false;
  private readonly gaps: boolean;
  private readonly maxRecordBytes: number;

  /**
   * `gaps`: rows may have no prediction. Then a full window is not an error: `take` stops setting
   * rows aside and `full` tells the caller to give the row up as missing.
   */
  constructor(
    iter: AsyncIterator<Buffer>,
    window: number,
    maxRecordBytes = DEFAULT_MAX_RECORD_BYTES,
    gaps = false,
  ) {
    this.iter = iter;
    this.window = window;
    this.gaps = gaps;
    this.maxRecordBytes = maxRecordBytes;
    this.scanner = new CsvScanner((rec) => this.onRecord(rec), { maxRecordBytes });
  }

  /**
   * Looks up the prediction for `row`; on success sets valueBuf/valueStart/valueEnd and returns
   * true. False means more of the file must be read first (`fill`).
   */
  take(row: number): boolean {
    if (this.pending.size > 0) {
      const v = this.pending.get(row);
      if (v !== undefined) {
        this.pending.delete(row);
        this.pendingLine.delete(row);
        this.valueBuf = v;
        this.valueStart = 0;
        this.valueEnd = v.length;
        return true;
      }
    }
    const rows = this.qRows;
    const pos = this.qPos;
    while (this.qHead < this.qLen) {
      const k = this.qHead++;
      const r = rows[k] as number;
      if (r === row) {
        this.valueBuf = this.arena;
        this.valueStart = pos[2 * k] as number;
        this.valueEnd = pos[2 * k + 1] as number;
        return true;
      }
      const line = this.qLines[k] as number;
      if (this.gaps && this.pending.size >= this.window && r > row) {
        this.qHead = k; // left in the queue until the rows before it are done
        return false;
      }
      if (r < row || this.pending.has(r)) {
        throw invalid(`Duplicate prediction for row ${r} at line ${line} of the predictions file`);
      }
      this.pending.set(r, Buffer.from(this.arena.subarray(pos[2 * k] as number, pos[2 * k + 1] as number)));
      this.pendingLine.set(r, line);
      if (this.pending.size > this.window) {
        throw invalid(
          `Predictions are too far out of order: more than ${this.window} rows arrived before the prediction for row ${row}`,
        );
      }
    }
    return false;
  }

  /** Rows may be missing and the window is full: the row `take` could not find will not come. */
  get full(): boolean {
    return this.gaps && this.pending.size >= this.window;
  }

  /** Predictions read and not yet looked at by `take`. */
  get queued(): number {
    return this.qLen - this.qHead;
  }

  /** Reads the next chunk of the predictions file (adding to the queue); false at its end. */
  async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.iter.next();
    this.compact();
    try {
      if (r.done) {
        this.done = true;
        this.scanner.end();
      } else {
        this.pushChunk(r.value);
      }
    } catch (err) {
      if (err instanceof CsvScanError) {
        throw invalid(`The predictions file is not valid CSV at line ${err.line}: ${err.message}`);
      }
      throw err;
    }
    return true;
  }

  /**
   * Feeds a chunk: its simple lines (the common case: `row,value,file_name` with no quotes or stray
   * line breaks) are read by `simpleLines`, a tight loop with the same results as the scanner; the
   * scanner reads the rest (a record pending from the last chunk, anything unusual, the last
   * incomplete line).
   */
  private pushChunk(chunk: Buffer): void {
    const sc = this.scanner;
    let p = 0;
    if (!sc.idle) {
      const lf = chunk.indexOf(LF);
      if (lf < 0) {
        sc.push(chunk);
        return;
      }
      sc.push(chunk.subarray(0, lf + 1));
      p = lf + 1;
      if (!sc.idle) {
        if (p < chunk.length) sc.push(chunk.subarray(p));
        return;
      }
    }
    const last = chunk.lastIndexOf(LF);
    if (last >= p) {
      const stop = this.simpleLines(chunk, p, last + 1, sc.lineEnding === 'CRLF');
      sc.skip(this.simpleCount, stop - p);
      p = stop;
    }
    if (p < chunk.length) sc.push(chunk.subarray(p));
  }

  private simpleCount = 0;

  /**
   * Reads the complete lines of buf[p, end) that are `digits,value,name` with no quote, CR or extra
   * comma (CRLF files: ending in CR LF), queueing each as `onRecord` would; stops at the first other
   * line (blank, quoted, malformed, too long: the scanner then reads it, with its errors). Returns
   * where it stopped; `simpleCount` is the number of lines read.
   */
  private simpleLines(buf: Buffer, p: number, end: number, crlf: boolean): number {
    let line = this.scanner.nextLine;
    const first = line;
    const max = this.maxRecordBytes;
    while (p < end) {
      let i = p;
      let c = buf[i] as number;
      let row = 0;
      while (c >= 48 && c <= 57) {
        row = row * 10 + (c - 48);
        c = buf[++i] as number;
      }
      if (c !== COMMA || i === p || i - p > 15) break;
      const vs = ++i;
      for (;;) {
        c = buf[i] as number;
        if (c > COMMA || (c !== COMMA && c !== QUOTE && c !== LF && c !== CR)) i++;
        else break;
      }
      if (c !== COMMA) break;
      const ve = i++;
      for (;;) {
        c = buf[i] as number;
        if (c > COMMA || (c !== COMMA && c !== QUOTE && c !== LF && c !== CR)) i++;
        else break;
      }
      if (crlf) {
        if (c !== CR || buf[i + 1] !== LF) break;
        i++;
      } else if (c !== LF) break;
      if (i + 1 - p > max) break;
      const k = this.qLen++;
      if (k >= this.qRows.length) this.growQueue();
      this.qRows[k] = row;
      this.qLines[k] = line++;
      const start = this.arenaUsed;
      this.appendArena(buf, vs, ve);
      this.qPos[2 * k] = start;
      this.qPos[2 * k + 1] = this.arenaUsed;
      p = i + 1;
    }
    this.simpleCount = line - first;
    return p;
  }

  /** Drops the part of the queue `take` is done with, and its bytes in the arena. */
  private compact(): void {
    const head = this.qHead;
    const len = this.qLen;
    if (head === 0) return;
    const from = head < len ? (this.qPos[2 * head] as number) : this.arenaUsed;
    if (from < this.arenaUsed) this.arena.copyWithin(0, from, this.arenaUsed);
    this.arenaUsed -= from;
    this.qRows.copyWithin(0, head, len);
    this.qLines.copyWithin(0, head, len);
    this.qPos.copyWithin(0, 2 * head, 2 * len);
    for (let k = 0; k < 2 * (len - head); k++) this.qPos[k] = (this.qPos[k] as number) - from;
    this.qLen = len - head;
    this.qHead = 0;
  }

  /** After the last input row: every prediction must have been used. */
  async finish(rows: number): Promise<void> {
    let extra = this.pending.size;
    let first = Infinity;
    let firstLine = 0;
    for (const [r, line] of this.pendingLine) {
      if (r < first) {
        first = r;
        firstLine = line;
      }
    }
    for (;;) {
      for (let k = this.qHead; k < this.qLen; k++) {
        extra++;
        const r = this.qRows[k] as number;
        if (r < first) {
          first = r;
          firstLine = this.qLines[k] as number;
        }
      }
      this.qHead = this.qLen;
      if (!(await this.fill())) break;
    }
    if (extra > 0) {
      const what = first < rows ? 'a second prediction' : 'a prediction';
      throw invalid(
        `${extra} extra ${extra === 1 ? 'prediction' : 'predictions'}: the input has ${rows} rows but there is ${what} for row ${first} (line ${firstLine} of the predictions file)`,
      );
    }
  }

  /** Stops reading (on errors). */
  async close(): Promise<void> {
    await this.iter.return?.();
  }

  private onRecord(rec: CsvRecord): void {
    // Only one-field records can be blank (checked first: it skips a call per row).
    if (rec.fieldCount === 1 && isBlankRecord(rec)) return;
    if (rec.fieldCount !== 3) {
      throw invalid(
        `Line ${rec.line} of the predictions file has ${rec.fieldCount} fields; expected 3 (row,prediction,file_name)`,
      );
    }
    const row = parseIndex(rec);
    if (row < 0) {
      const shown = JSON.stringify(rec.field(0).slice(0, 40));
      throw invalid(
        `Row index ${shown} at line ${rec.line} of the predictions file is not a non-negative integer`,
      );
    }
    const k = this.qLen++;
    if (k >= this.qRows.length) this.growQueue();
    this.qRows[k] = row;
    this.qLines[k] = rec.line;
    const start = this.arenaUsed;
    if (rec.isQuoted(1)) this.appendArena(Buffer.from(csvQuote(rec.field(1)), 'utf8'), 0, -1);
    else this.appendArena(rec.buf, rec.fieldStart(1), rec.fieldEnd(1));
    this.qPos[2 * k] = start;
    this.qPos[2 * k + 1] = this.arenaUsed;
  }

  private appendArena(src: Buffer, s: number, e: number): void {
    const end = e < 0 ? src.length : e;
    const len = end - s;
    if (this.arenaUsed + len > this.arena.length) {
      const next = Buffer.allocUnsafe(Math.max(this.arena.length * 2, this.arenaUsed + len));
      this.arena.copy(next, 0, 0, this.arenaUsed);
      this.arena = next;
    }
    // Values are short: byte by byte beats Buffer.copy's per-call view on Node 20.
    const arena = this.arena;
    let d = this.arenaUsed;
    for (let k = s; k < end; k++) arena[d++] = src[k] as number;
    this.arenaUsed = d;
  }

  private growQueue(): void {
    const cap = this.qRows.length * 2;
    const rows = new Float64Array(cap);
    const pos = new Int32Array(2 * cap);
    const lines = new Float64Array(cap);
    rows.set(this.qRows);
    pos.set(this.qPos);
    lines.set(this.qLines);
    this.qRows = rows;
    this.qPos = pos;
    this.qLines = lines;
  }
}

const COMMA = 44;
const QUOTE = 34;
const LF = 10;
const CR = 13;

function invalid(message: string): PipelineError {
  return new PipelineError('PredictionsInvalid', message);
}

/** Field 0 as a non-negative safe integer (digits only), or -1. */
export function parseIndex(rec: CsvRecord): number {
  const buf = rec.buf;
  const s = rec.fieldStart(0);
  const e = rec.fieldEnd(0);
  if (e === s || e - s > 15 || rec.hasEscapes(0)) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const c = buf[i] as number;
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v;
}

const NEEDS_QUOTES = /[",\r\n]/;

/** A value as a CSV field: quoted (inner quotes doubled) only when it contains `"`, `,`, CR or LF. */
export function csvQuote(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
