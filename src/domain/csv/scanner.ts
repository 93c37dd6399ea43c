/**
 * Incremental, byte-level RFC 4180 record scanner.
 *
 * Push Buffer chunks in, get one callback per record. A record is handed out as a reusable
 * {@link CsvRecord} view over the bytes (no string is created unless a field is asked for), so
 * scanning runs at close to raw byte-loop speed and memory stays bounded by the chunk size plus
 * the longest record.
 *
 * Semantics follow `csv-parse` with its default options (it is the reference in the tests):
 * - the record delimiter is discovered from the first CR/LF outside quotes (CRLF or LF) and from
 *   then on only that delimiter ends records; any other CR/LF outside quotes is field content (the
 *   record is flagged with `strayLineBreak` so callers can reject mixed endings);
 * - `""` inside a quoted field is an escaped quote; a closing quote must be followed by a comma,
 *   the record delimiter or the end of input (`CSV_INVALID_CLOSING_QUOTE` otherwise);
 * - a quote inside an unquoted field is an error (`INVALID_OPENING_QUOTE`);
 * - an unterminated quoted field at the end of input is an error (`CSV_QUOTE_NOT_CLOSED`);
 * - an empty line is a record with one empty field; a final empty line (trailing newline) is not.
 *
 * Deliberate differences: a leading UTF-8 BOM is removed (csv-parse needs `bom: true` for that);
 * records longer than `maxRecordBytes` are an error (`CSV_MAX_RECORD_SIZE`, counted in bytes of the
 * raw record); a NUL byte right after a closing quote is an error (csv-parse treats a NUL there
 * like the end of input; NUL bytes are never valid text input anyway); and a lone CR as the first
 * line break outside quotes is an error (`CSV_CR_LINE_ENDINGS`) where csv-parse would take CR as
 * the record delimiter: classic Mac files are rejected, so there is no CR-only mode to carry.
 *
 * Physical line numbers are 1-based and count LF bytes (CRLF is one line break).
 */

export type LineEnding = 'LF' | 'CRLF';

export type CsvScanErrorCode =
  | 'CSV_QUOTE_NOT_CLOSED'
  | 'INVALID_OPENING_QUOTE'
  | 'CSV_INVALID_CLOSING_QUOTE'
  | 'CSV_MAX_RECORD_SIZE'
  | 'CSV_CR_LINE_ENDINGS';

/**
 * A structural CSV error; `code` uses csv-parse's error codes (CSV_CR_LINE_ENDINGS is ours), `line`
 * is the physical line.
 */
export class CsvScanError extends Error {
  readonly code: CsvScanErrorCode;
  readonly line: number;
  /** 0-based index of the record the error is in (the header is record 0). */
  readonly recordIndex: number;

  constructor(code: CsvScanErrorCode, message: string, line: number, recordIndex: number) {
    super(message);
    this.name = 'CsvScanError';
    this.code = code;
    this.line = line;
    this.recordIndex = recordIndex;
  }
}

export interface ScannerOptions {
  /** Longest accepted record in bytes, terminator included. Default 1 MiB. */
  maxRecordBytes?: number;
  /** Remove a leading UTF-8 byte order mark. Default true. */
  stripBom?: boolean;
}

export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;

const COMMA = 44;
const QUOTE = 34;
const LF = 10;
const CR = 13;

// Record delimiter modes.
const M_UNKNOWN = 0;
const M_LF = 1;
const M_CRLF = 2;

// Field flags.
const F_PLAIN = 0;
const F_QUOTED = 1;
const F_ESCAPED = 2; // quoted and contains doubled quotes

const BOM0 = 0xef;
const BOM1 = 0xbb;
const BOM2 = 0xbf;

/**
 * A view of one record. The scanner reuses a single instance and the bytes it points at are only
 * valid during the callback: copy what you need to keep (`raw()`/`content()` return views too).
 */
export class CsvRecord {
  /** Buffer holding the record; offsets below index into it. */
  buf: Buffer = Buffer.alloc(0);
  /** Offset of the record's first byte. */
  start = 0;
  /** Offset just past the record's content (before the line terminator). */
  end = 0;
  /** Offset just past the line terminator (equals `end` for a last record without one). */
  next = 0;
  /** 1-based physical line where the record starts. */
  line = 1;
  /** 1-based physical line where the record ends (differs from `line` for quoted newlines). */
  endLine = 1;
  /** 0-based record index, counting every record the scanner emits (the header is 0). */
  index = 0;
  fieldCount = 0;
  /** A CR or LF outside quotes that is not the file's record delimiter (mixed line endings). */
  strayLineBreak = false;
  /**
   * @internal owned by the scanner: where each field starts (at its opening quote, if any), and for
   * quoted fields their content's end (before the closing quote) and flags; a plain field's flag is 0.
   */
  fs: Int32Array;
  fe: Int32Array;
  fq: Uint8Array;

  constructor(fs: Int32Array, fe: Int32Array, fq: Uint8Array) {
    this.fs = fs;
    this.fe = fe;
    this.fq = fq;
  }

  /** Offset of field i's first content byte (after an opening quote). */
  fieldStart(i: number): number {
    return this.fq[i] === F_PLAIN ? (this.fs[i] as number) : (this.fs[i] as number) + 1;
  }

  /** Offset just past field i's content (before a closing quote). */
  fieldEnd(i: number): number {
    // A plain field ends where the next one starts, less its comma (see CsvScanner.closeField).
    return this.fq[i] === F_PLAIN ? (this.fs[i + 1] as number) - 1 : (this.fe[i] as number);
  }

  /** Whether field i was quoted. */
  isQuoted(i: number): boolean {
    return this.fq[i] !== F_PLAIN;
  }

  /** Whether field i contains doubled quotes, i.e. its bytes are not its value as they stand. */
  hasEscapes(i: number): boolean {
    return this.fq[i] === F_ESCAPED;
  }

  /** The value of field i, decoded as UTF-8 with `""` unescaped. */
  field(i: number): string {
    const s = this.fieldStart(i);
    const e = this.fieldEnd(i);
    const text = this.buf.toString('utf8', s, e);
    return this.fq[i] === F_ESCAPED ? text.replace(/""/g, '"') : text;
  }

  /** All field values (allocates; for tests and small records such as the header). */
  fields(): string[] {
    const out: string[] = new Array<string>(this.fieldCount);
    for (let i = 0; i < this.fieldCount; i++) out[i] = this.field(i);
    return out;
  }

  /** The record's bytes including its line terminator (a view). */
  raw(): Buffer {
    return this.buf.subarray(this.start, this.next);
  }

  /** The record's bytes without its line terminator (a view). */
  content(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }
}

/** Incremental scanner; see the module comment for the exact semantics. */
export class CsvScanner {
  private readonly onRecord: (rec: CsvRecord) => void;
  private readonly maxRecordBytes: number;
  private readonly rec: CsvRecord;

  // Field arrays shared with `rec`; grown on demand.
  private fs: Int32Array;
  private fe: Int32Array;
  private fq: Uint8Array;

  // Bytes of the pending (incomplete) record when it spans chunks.
  private carry: Buffer = Buffer.allocUnsafe(64 * 1024);
  private carryLen = 0;

  // Parser state, as positions in the buffer being scanned (the carry between pushes).
  private recStart = 0;
  private pos = 0;
  private n = 0; // index of the field being scanned
  private quoted = false; // inside a quoted field
  private escaped = false; // the current quoted field has a doubled quote
  private quotedFields = false; // the current record has quoted fields (fq is not all 0)
  private stray = false; // the current record has a CR or LF outside quotes that is not the delimiter
  private mode = M_UNKNOWN;
  private line = 1; // physical line at `pos`
  private recLine = 1; // physical line at `recStart`
  private quoteLine = 1; // line of the opening quote of the current quoted field
  private recIndex = 0;

  private bomState = 0; // 0: undecided, 1: decided
  private bomBytes: Buffer | undefined;
  private bom = false;
  private readonly stripBom: boolean;
  private done = false;
  private failed: CsvScanError | undefined;
  private total = 0;

  constructor(onRecord: (rec: CsvRecord) => void, opts: ScannerOptions = {}) {
    this.onRecord = onRecord;
    this.maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    this.stripBom = opts.stripBom ?? true;
    this.fs = new Int32Array(64);
    this.fe = new Int32Array(64);
    this.fq = new Uint8Array(64);
    this.rec = new CsvRecord(this.fs, this.fe, this.fq);
    this.bomState = this.stripBom ? 0 : 1;
  }

  /** Whether a UTF-8 BOM was found (and removed) at the start. */
  get hasBom(): boolean {
    return this.bom;
  }

  /** The record delimiter, once the first one outside quotes has been seen. */
  get lineEnding(): LineEnding | undefined {
    return this.mode === M_LF ? 'LF' : this.mode === M_CRLF ? 'CRLF' : undefined;
  }

  /**
   * Whether `buf` is the scanner's own scratch buffer, which it overwrites on the next push: a record
   * in it must be copied to be kept; a record in a pushed chunk is a view of that chunk.
   */
  isScratch(buf: Buffer): boolean {
    return buf === this.carry;
  }

  /**
   * At a record boundary with nothing pending and the line ending known: a caller may then handle
   * complete simple lines itself (see `skip`) and push the rest.
   */
  get idle(): boolean {
    return (
      this.carryLen === 0 &&
      this.n === 0 &&
      !this.quoted &&
      this.mode !== M_UNKNOWN &&
      this.bomState === 1 &&
      !this.done &&
      this.failed === undefined
    );
  }

  /** The 1-based physical line the next record starts on (when `idle`). */
  get nextLine(): number {
    return this.line;
  }

  /** Accounts for `lines` complete one-line records of `bytes` bytes that the caller handled itself while `idle`. */
  skip(lines: number, bytes: number): void {
    this.line += lines;
    this.recLine = this.line;
    this.recIndex += lines;
    this.total += bytes;
  }

  /** Records emitted so far. */
  get records(): number {
    return this.recIndex;
  }

  /** Bytes pushed so far (BOM included). */
  get bytes(): number {
    return this.total;
  }

  /**
   * The physical line at the end of the input pushed so far (the line the next byte would be on).
   * Counts the line breaks of the pending partial record too; cheap unless that record is long.
   */
  currentLine(): number {
    let line = this.line;
    const buf = this.carry;
    for (let i = this.pos; i < this.carryLen; i++) if (buf[i] === LF) line++;
    return line;
  }

  /** Feeds the next chunk. Throws {@link CsvScanError}, or whatever the record callback throws. */
  push(chunk: Uint8Array): void {
    if (this.failed) throw this.failed;
    if (this.done) throw new Error('CsvScanner: push() after end()');
    let buf = toBuffer(chunk);
    this.total += buf.length;
    if (this.bomState === 0) {
      const b = this.takeBom(buf, false);
      if (b === undefined) return;
      buf = b;
    }
    if (buf.length === 0) return;
    try {
      this.feed(buf);
    } catch (err) {
      if (err instanceof CsvScanError) this.failed = err;
      throw err;
    }
  }

  /** Signals the end of input: emits the last record or throws for an unterminated quote. */
  end(): void {
    if (this.failed) throw this.failed;
    if (this.done) return;
    this.done = true;
    try {
      if (this.bomState === 0) {
        const b = this.takeBom(Buffer.alloc(0), true);
        if (b !== undefined && b.length > 0) this.feed(b);
      }
      this.scan(this.carry, this.carryLen, true);
      this.carryLen = 0;
    } catch (err) {
      if (err instanceof CsvScanError) this.failed = err;
      throw err;
    }
  }

  /** Collects the first bytes until the BOM question is decided; returns the data to scan. */
  private takeBom(buf: Buffer, final: boolean): Buffer | undefined {
    const have = this.bomBytes ? Buffer.concat([this.bomBytes, buf]) : buf;
    const sig = [BOM0, BOM1, BOM2];
    const k = Math.min(have.length, 3);
    for (let i = 0; i < k; i++) {
      if (have[i] !== sig[i]) {
        this.bomState = 1;
        this.bomBytes = undefined;
        return have;
      }
    }
    if (have.length >= 3) {
      this.bomState = 1;
      this.bom = true;
      this.bomBytes = undefined;
      return have.subarray(3);
    }
    if (final) {
      this.bomState = 1;
      this.bomBytes = undefined;
      return have;
    }
    this.bomBytes = Buffer.from(have);
    return undefined;
  }

  private feed(chunk: Buffer): void {
    let p = 0;
    const len = chunk.length;
    if (this.carryLen > 0) {
      // Finish the pending record in the carry, appending the chunk up to each next line break
      // so that bytes after the record are scanned in place rather than copied.
      while (p < len) {
        let cut = this.mode === M_UNKNOWN ? -1 : chunk.indexOf(LF, p);
        cut = cut < 0 ? len : cut + 1;
        this.append(chunk, p, cut);
        p = cut;
        this.scan(this.carry, this.carryLen, false);
        if (this.recStart === this.carryLen) {
          this.carryLen = 0;
          this.rebase(-this.recStart);
          break;
        }
        this.keepPending(this.carry);
      }
      if (p >= len) return;
    }
    // Nothing pending (positions are 0-based then): continue in the chunk itself.
    this.rebase(p - this.recStart);
    this.scan(chunk, len, false);
    this.keepPending(chunk);
  }

  /** Moves the pending record bytes [recStart, end) of `buf` to the start of the carry. */
  private keepPending(buf: Buffer): void {
    const end = buf === this.carry ? this.carryLen : buf.length;
    const from = this.recStart;
    const size = end - from;
    if (size > this.maxRecordBytes) {
      throw new CsvScanError(
        'CSV_MAX_RECORD_SIZE',
        `Record starting at line ${this.recLine} is longer than ${this.maxRecordBytes} bytes`,
        this.recLine,
        this.recIndex,
      );
    }
    if (buf === this.carry) {
      if (from > 0) this.carry.copyWithin(0, from, end);
    } else {
      this.ensureCarry(size);
      buf.copy(this.carry, 0, from, end);
    }
    this.carryLen = size;
    this.rebase(-from);
  }

  private append(src: Buffer, from: number, to: number): void {
    this.ensureCarry(this.carryLen + (to - from));
    src.copy(this.carry, this.carryLen, from, to);
    this.carryLen += to - from;
  }

  private ensureCarry(size: number): void {
    if (size <= this.carry.length) return;
    let cap = this.carry.length * 2;
    while (cap < size) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.carry.copy(next, 0, 0, this.carryLen);
    this.carry = next;
  }

  /** Shifts every stored position by delta (the pending record moved between buffers). */
  private rebase(delta: number): void {
    if (delta === 0) return;
    this.recStart += delta;
    this.pos += delta;
    const fs = this.fs;
    const fe = this.fe;
    for (let i = 0; i <= this.n; i++) fs[i] = (fs[i] as number) + delta;
    for (let i = 0; i < this.n; i++) fe[i] = (fe[i] as number) + delta;
  }

  private grow(): void {
    const cap = this.fs.length * 2;
    const fs = new Int32Array(cap);
    const fe = new Int32Array(cap);
    const fq = new Uint8Array(cap);
    fs.set(this.fs);
    fe.set(this.fe);
    fq.set(this.fq);
    this.fs = fs;
    this.fe = fe;
    this.fq = fq;
    this.rec.fs = fs;
    this.rec.fe = fe;
    this.rec.fq = fq;
  }

  private error(code: CsvScanErrorCode, message: string, line: number): CsvScanError {
    return new CsvScanError(code, message, line, this.recIndex);
  }

  /**
   * Scans buf from the saved position to `end`, emitting complete records. Stops at `end`, or
   * earlier when a decision needs a byte that has not arrived (then resumes there later).
   *
   * The outer loop turns once per record (and once more per quoted field); inner loops scan plain
   * or quoted content up to what ends a field, which `closeField` records.
   */
  private scan(buf: Buffer, end: number, final: boolean): void {
    let i = this.pos;
    let n = this.n;
    let line = this.line;
    let recStart = this.recStart;
    let quoted = this.quoted;
    let stray = this.stray;
    const rec = this.rec;

    scan: for (;;) {
      let fieldEnd: number; // just past the field's content (before a closing quote)
      let next: number; // just past what ends the field: a comma or a record delimiter
      let flag = F_PLAIN;
      if (!quoted) {
        for (;;) {
          if (i >= end) {
            if (!final || i === recStart) break scan; // wait for more input, or nothing pending
            fieldEnd = next = i;
            break;
          }
          const c = buf[i] as number;
          if (c > COMMA) {
            i++; // the common case: no special byte is above ','
            continue;
          }
          if (c === COMMA) {
            this.closeField(n++, i, F_PLAIN, ++i);
            continue;
          }
          if (c === QUOTE) {
            if (i !== this.fs[n]) {
              throw this.error(
                'INVALID_OPENING_QUOTE',
                `Invalid Opening Quote: a quote is found in the unquoted field ${n + 1} at line ${line}`,
                line,
              );
            }
            quoted = true;
            this.escaped = false;
            this.quoteLine = line;
            i++;
            continue scan;
          }
          if (c === LF || c === CR) {
            const d = this.delimiterAt(buf, i, end, final, line);
            if (d < 0) break scan;
            if (d > 0) {
              fieldEnd = i;
              next = i + d;
              break;
            }
            stray = true; // a line break that is not the record delimiter is field content
            if (c === LF) line++;
          }
          i++;
        }
      } else {
        for (;;) {
          if (i >= end) {
            if (!final) break scan;
            throw this.error(
              'CSV_QUOTE_NOT_CLOSED',
              `Quote Not Closed: the quoted field starting at line ${this.quoteLine} is not closed at the end of the input`,
              this.quoteLine,
            );
          }
          const c = buf[i] as number;
          if (c !== QUOTE) {
            if (c === LF) line++;
            i++;
            continue;
          }
          if (i + 1 >= end) {
            if (!final) break scan;
            fieldEnd = i; // closing quote at the end of the input
            next = i + 1;
            break;
          }
          const d = buf[i + 1] as number;
          if (d === QUOTE) {
            this.escaped = true;
            i += 2;
            continue;
          }
          // A closing quote: what follows must end the field or the record.
          if (d === COMMA) {
            this.closeField(n++, i, this.escaped ? F_ESCAPED : F_QUOTED, i + 2);
            i += 2;
            quoted = false;
            continue scan;
          }
          const len = d === LF || d === CR ? this.delimiterAt(buf, i + 1, end, final, line) : 0;
          if (len < 0) break scan;
          if (len === 0) {
            throw this.error(
              'CSV_INVALID_CLOSING_QUOTE',
              `Invalid Closing Quote: got ${JSON.stringify(String.fromCharCode(d))} at line ${line} instead of a comma or the line end after a closing quote`,
              line,
            );
          }
          fieldEnd = i;
          next = i + 1 + len;
          break;
        }
        quoted = false;
        flag = this.escaped ? F_ESCAPED : F_QUOTED;
      }

      // The last field and the record end here; the next record starts at `next`.
      this.closeField(n, fieldEnd, flag, fieldEnd + 1);
      i = next;
      if (next - recStart > this.maxRecordBytes) {
        throw this.error(
          'CSV_MAX_RECORD_SIZE',
          `Record starting at line ${this.recLine} is longer than ${this.maxRecordBytes} bytes`,
          this.recLine,
        );
      }
      const contentEnd = flag === F_PLAIN ? fieldEnd : fieldEnd + 1;
      rec.buf = buf;
      rec.start = recStart;
      rec.end = contentEnd;
      rec.next = next;
      rec.line = this.recLine;
      rec.endLine = line;
      rec.index = this.recIndex;
      rec.fieldCount = n + 1;
      rec.strayLineBreak = stray;
      // Commit state before the callback (it may throw; the scanner is then unusable anyway).
      this.recIndex++;
      if (next > contentEnd) line++;
      this.recLine = line;
      recStart = next;
      stray = false;
      this.onRecord(rec);
      if (this.quotedFields) {
        this.fq.fill(F_PLAIN, 0, n + 1);
        this.quotedFields = false;
      }
      n = 0;
      this.fs[0] = next;
    }

    this.pos = i;
    this.n = n;
    this.line = line;
    this.recStart = recStart;
    this.quoted = quoted;
    this.stray = stray;
  }

  /**
   * Field n ends at `end` (its content's end, before a closing quote) and field n + 1 would start
   * at `next`. A plain field's end is implied: the next start less one (a record's last field gets
   * a next start just past its end), so plain fields, the hot path, cost one store.
   */
  private closeField(n: number, end: number, flag: number, next: number): void {
    if (flag !== F_PLAIN) {
      this.fe[n] = end;
      this.fq[n] = flag;
      this.quotedFields = true;
    }
    if (n + 1 >= this.fs.length) this.grow();
    this.fs[n + 1] = next;
  }

  /**
   * The length of the record delimiter at `p` (a CR or LF outside quotes): 1 for LF, 2 for CRLF;
   * 0 when it is not the file's delimiter (mixed line endings); -1 when that depends on a byte that
   * has not arrived. The first one decides the file's delimiter; a lone CR cannot be it.
   */
  private delimiterAt(buf: Buffer, p: number, end: number, final: boolean, line: number): number {
    const mode = this.mode;
    if (buf[p] === LF) {
      if (mode === M_CRLF) return 0;
      this.mode = M_LF;
      return 1;
    }
    if (mode === M_LF) return 0;
    if (p + 1 >= end && !final) return -1;
    if (p + 1 < end && buf[p + 1] === LF) {
      this.mode = M_CRLF;
      return 2;
    }
    if (mode === M_CRLF) return 0;
    throw this.error(
      'CSV_CR_LINE_ENDINGS',
      `CR-only line endings: the first line break at line ${line} is a lone CR (classic Mac)`,
      line,
    );
  }
}

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
