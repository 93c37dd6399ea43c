import { PipelineError, type ErrorCode } from '../errors';
import type { InputSchema } from '../schema';
import { isBlankRecord } from './blank';
import { findDuplicate, guessOtherSeparator, headerNames, parseHeaderFields } from './header';
import { RowChecker, type CompiledCheck } from './rules';
import { CsvRecord, CsvScanError, CsvScanner, DEFAULT_MAX_RECORD_BYTES } from './scanner';
import { PartSplitter, type PartInfo, type SplitOptions } from './split';
import { bufferChunks, type ByteSource } from './source';
import { sniffBinary, TextChecker } from './utf8';

/** One thing wrong with the input. `line` is the 1-based physical line (the header is line 1). */
export interface Problem {
  line: number;
  /** 1-based data row (the header and blank lines are not rows). */
  row?: number;
  column?: string;
  code: ErrorCode;
  message: string;
}

export interface ValidationReport {
  ok: boolean;
  /** Data rows seen (all of them when the scan completed; up to the stop otherwise). */
  rows: number;
  /** Bytes read, BOM included. */
  bytes: number;
  /** Header names, trimmed. Empty when there is no header. */
  columns: string[];
  hasBom: boolean;
  lineEnding: 'LF' | 'CRLF' | 'none';
  /** The first `maxProblems` problems, in file order. */
  problems: Problem[];
  /** All problems found (the scan goes on after value problems to count them all). */
  problemCount: number;
  errorCode?: ErrorCode;
  /** One sentence for people. */
  summary?: string;
  /** With `split`: the parts written (on an invalid file, those opened before the scan stopped writing). */
  parts: PartInfo[];
}

export interface ValidateOptions {
  schema: InputSchema;
  /** Larger inputs fail with InputTooLarge as soon as the limit is passed. */
  maxBytes: number;
  /** How many problems to list (all are counted). */
  maxProblems: number;
  /** Called after each chunk with the data rows and bytes so far. */
  onProgress?: (rows: number, bytes: number) => void;
  /** Longest accepted record in bytes (keeps memory bounded on junk without line breaks). Default 1 MiB. */
  maxRecordBytes?: number;
  /**
   * Also write the file, in the same pass, as parts of at most `rows` data rows, each starting with
   * the header line (see {@link PartSplitter}). Part 0 is opened even for a small file. Writes are
   * awaited before the next chunk is read; parts are ended once the file is valid, and all of them
   * are aborted when it is not or when reading or writing fails.
   */
  split?: SplitOptions;
}

/**
 * Validates a CSV byte stream against a schema in one pass and bounded memory.
 *
 * Stops reading early on a fatal problem (too large, not text, broken CSV structure, header
 * problems); value problems and rows whose field count differs from the header are counted to
 * the end. Blank lines (empty or only spaces, tabs, CRs) are skipped everywhere and are not rows, as
 * pandas' `skip_blank_lines` does; the join skips them the same way so row indexes agree.
 * Source errors (e.g. a failed download) and part writers' errors reject the promise.
 */
export async function validateCsvStream(
  source: ByteSource,
  opts: ValidateOptions,
): Promise<ValidationReport> {
  const v = new CsvValidator(opts);
  const parts = v.splitter;
  try {
    for await (const chunk of bufferChunks(source)) {
      const more = v.push(chunk);
      opts.onProgress?.(v.rows, v.bytes);
      await parts?.flush(v.failing);
      if (!more) break;
    }
    v.end();
    const report = v.report();
    if (parts) {
      await parts.flush(!report.ok);
      if (report.ok) await parts.end();
      else await parts.abort(new PipelineError(report.errorCode ?? 'InputNotCsv', report.summary ?? ''));
    }
    return report;
  } catch (err) {
    await parts?.abort(err);
    throw err;
  }
}

const STOP = new Error('validation stopped');

interface Fatal {
  code: ErrorCode;
  message: string;
  line: number;
}

/** The synchronous core of {@link validateCsvStream}: push chunks, then `end()` and `report()`. */
export class CsvValidator {
  rows = 0;
  bytes = 0;
  private readonly opts: ValidateOptions;
  private readonly scanner: CsvScanner;
  private readonly text = new TextChecker();
  private head: Buffer = Buffer.alloc(0);
  private columns: string[] | undefined;
  private width = 0;
  private checker = new RowChecker([]);
  private readonly problems: Problem[] = [];
  private problemCount = 0;
  private notCsv = 0;
  private invalid = 0;
  private firstNotCsv: Problem | undefined;
  private firstInvalid: Problem | undefined;
  private fatal: Fatal | undefined;
  private ended = false;
  /** With `split`: writes accepted rows into parts. */
  readonly splitter: PartSplitter | undefined;

  constructor(opts: ValidateOptions) {
    this.opts = opts;
    this.scanner = new CsvScanner((rec) => this.onRecord(rec), {
      maxRecordBytes: opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
    });
    this.splitter = opts.split ? new PartSplitter(opts.split, this.scanner) : undefined;
  }

  /** Whether a problem already makes the file invalid (rows after it are not worth writing). */
  get failing(): boolean {
    return this.fatal !== undefined || this.notCsv > 0 || this.invalid > 0;
  }

  /** Feeds a chunk; returns false once the outcome is settled and reading should stop. */
  push(chunk: Buffer): boolean {
    if (this.fatal || this.ended) return false;
    if (this.bytes + chunk.length > this.opts.maxBytes) {
      this.bytes += chunk.length;
      const limit = this.opts.maxBytes;
      this.setFatal(
        'InputTooLarge',
        `The file is larger than the limit of ${limit} bytes (${formatBytes(limit)}); split it into smaller files`,
        this.scanner.currentLine(),
      );
      return false;
    }
    this.bytes += chunk.length;
    if (this.head.length < 8) this.head = Buffer.concat([this.head, chunk.subarray(0, 8 - this.head.length)]);
    const fault = this.text.check(chunk);
    if (fault) {
      const line = this.scanner.currentLine() + countLf(chunk, 0, fault.offset);
      this.setNotText(fault.kind, fault.byte, line);
      return false;
    }
    this.run(() => this.scanner.push(chunk));
    return this.fatal === undefined;
  }

  /** Ends the input (idempotent). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.fatal) return;
    const fault = this.text.end();
    if (fault) {
      this.setNotText(fault.kind, fault.byte, this.scanner.currentLine());
      return;
    }
    this.run(() => this.scanner.end());
  }

  report(): ValidationReport {
    const errorCode = this.errorCode();
    return {
      ok: errorCode === undefined,
      rows: this.rows,
      bytes: this.bytes,
      columns: this.columns ?? [],
      hasBom: this.scanner.hasBom,
      lineEnding: this.scanner.lineEnding ?? 'none',
      problems: this.problems,
      problemCount: this.problemCount,
      ...(errorCode !== undefined ? { errorCode } : {}),
      summary: this.summary(errorCode),
      parts: this.splitter ? this.splitter.parts.map((p) => ({ ...p.info })) : [],
    };
  }

  private errorCode(): ErrorCode | undefined {
    if (this.fatal) return this.fatal.code;
    if (this.notCsv > 0) return 'InputNotCsv';
    if (this.invalid > 0) return 'InputInvalidValues';
    if (!this.ended) return undefined;
    if (this.columns === undefined) return 'InputEmpty';
    if (this.rows === 0) return 'InputHeaderOnly';
    return undefined;
  }

  private summary(code: ErrorCode | undefined): string {
    if (this.fatal) return this.fatal.message;
    const also = (n: number, what: string): string => (n > 0 ? ` (also ${n} ${what})` : '');
    switch (code) {
      case 'InputNotCsv': {
        const p = this.firstNotCsv as Problem;
        const n = this.notCsv;
        return `${n} ${n === 1 ? 'row does' : 'rows do'} not match the CSV structure; first at line ${p.line}: ${p.message}${also(this.invalid, this.invalid === 1 ? 'invalid value' : 'invalid values')}`;
      }
      case 'InputInvalidValues': {
        const p = this.firstInvalid as Problem;
        const n = this.invalid;
        return `${n} ${n === 1 ? 'invalid value' : 'invalid values'}; first at line ${p.line}: ${p.message}`;
      }
      case 'InputEmpty':
        return this.bytes === 0
          ? 'The file is empty (0 bytes)'
          : 'The file has no content: only blank lines, whitespace or a byte order mark';
      case 'InputHeaderOnly':
        return 'The file has a header but no data rows';
      default:
        return this.ended
          ? `Valid: ${this.rows} ${this.rows === 1 ? 'row' : 'rows'}, ${this.width} columns`
          : `No problems so far: ${this.rows} rows`;
    }
  }

  private run(step: () => void): void {
    try {
      step();
    } catch (err) {
      if (err === STOP) return;
      if (err instanceof CsvScanError) {
        this.setFatal(
          'InputNotCsv',
          scanErrorMessage(err, this.opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES),
          err.line,
        );
        return;
      }
      throw err;
    }
  }

  private addProblem(p: Problem): void {
    this.problemCount++;
    if (this.problems.length < this.opts.maxProblems) this.problems.push(p);
  }

  private setFatal(code: ErrorCode, message: string, line: number): void {
    this.fatal = { code, message, line };
    this.addProblem({ line, code, message });
  }

  private setNotText(kind: 'utf8' | 'nul', byte: number | undefined, line: number): void {
    const hint = sniffBinary(this.head);
    const what =
      kind === 'nul'
        ? `it contains a NUL byte at line ${line}, so it looks like binary data`
        : `it is not valid UTF-8: byte 0x${(byte ?? 0).toString(16).toUpperCase().padStart(2, '0')} at line ${line}`;
    const advice = hint
      ? ` (${hint})`
      : kind === 'utf8'
        ? ' (save it as UTF-8; it may be in another encoding such as Windows-1252)'
        : '';
    this.setFatal('InputNotText', `The file is not text: ${what}${advice}`, line);
  }

  private stop(code: ErrorCode, message: string, line: number): never {
    this.setFatal(code, message, line);
    throw STOP;
  }

  private onRecord(rec: CsvRecord): void {
    // Only one-field records can be blank (checked first: it skips a call per row).
    if (rec.fieldCount === 1 && isBlankRecord(rec)) {
      // Kept in the parts (not rows, but lines; before the header too): line numbers then stay the input's.
      if (this.splitter && this.notCsv === 0 && this.invalid === 0) this.splitter.onBlank(rec);
      return;
    }
    if (this.columns === undefined) {
      this.onHeader(rec);
      return;
    }
    const row = ++this.rows;
    if (rec.strayLineBreak) {
      const ending = this.scanner.lineEnding;
      this.notCsvProblem(
        rec.line,
        row,
        `mixed line endings: a ${ending === 'LF' ? 'CR' : 'LF'} line break outside quotes where the file uses ${ending}`,
      );
      return;
    }
    if (rec.fieldCount !== this.width) {
      this.notCsvProblem(
        rec.line,
        row,
        `${rec.fieldCount} ${rec.fieldCount === 1 ? 'field' : 'fields'}, but the header has ${this.width}`,
      );
      return;
    }
    this.checker.check(rec, this.onValueProblem);
    if (this.splitter && this.notCsv === 0 && this.invalid === 0) this.splitter.onRow(rec);
  }

  private readonly onValueProblem = (rec: CsvRecord, c: CompiledCheck, message: string): void => {
    this.invalid++;
    const p: Problem = {
      line: lineOfField(rec, c.col),
      row: this.rows,
      column: c.name,
      code: 'InputInvalidValues',
      message,
    };
    this.firstInvalid ??= p;
    this.addProblem(p);
  };

  private notCsvProblem(line: number, row: number, message: string): void {
    this.notCsv++;
    const p: Problem = { line, row, code: 'InputNotCsv', message };
    this.firstNotCsv ??= p;
    this.addProblem(p);
  }

  private onHeader(rec: CsvRecord): void {
    const line = rec.line;
    if (rec.strayLineBreak) {
      // Only blank lines before the header can set a line ending the header does not use; its rows
      // would then not match the header repeated at the top of each part (nor be joined cleanly).
      const ending = this.scanner.lineEnding;
      this.stop(
        'InputNotCsv',
        `The header (line ${line}) has mixed line endings: a ${ending === 'LF' ? 'CR' : 'LF'} line break outside quotes where the blank lines before it use ${ending}`,
        line,
      );
    }
    let fields: string[];
    try {
      fields = parseHeaderFields(rec.content());
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.stop('InputNotCsv', `The header (line ${line}) is not valid CSV: ${why}`, line);
    }
    if (fields.length !== rec.fieldCount) {
      this.stop(
        'InputNotCsv',
        `The header (line ${line}) could not be split into columns consistently`,
        line,
      );
    }
    const names = headerNames(fields);
    this.columns = names;
    this.width = names.length;
    const schema = this.opts.schema;
    const missing = schema.columns.filter((c) => c.required && !names.includes(c.name)).map((c) => c.name);
    if (missing.length > 0) {
      const sep = names.length === 1 ? guessOtherSeparator(fields[0] as string) : undefined;
      if (sep !== undefined) {
        this.stop(
          'InputNotCsv',
          `The file looks ${sep}-separated: the header has no commas but has ${sep === 'tab' ? 'tabs' : `${sep}s`}; save it as comma-separated CSV`,
          line,
        );
      }
      const lower = new Set(names.map((n) => n.toLowerCase()));
      const caseHint = missing.some((m) => lower.has(m.toLowerCase()))
        ? '; column names are case-sensitive'
        : '';
      this.stop(
        'InputMissingColumns',
        `Missing required columns: ${missing.join(', ')} (found: ${names.join(',')})${caseHint}`,
        line,
      );
    }
    const dup = findDuplicate(names);
    if (dup) {
      this.stop(
        'InputNotCsv',
        `Duplicate column name in the header: "${dup.name}" (columns ${dup.positions.join(' and ')})`,
        line,
      );
    }
    this.checker = RowChecker.compile(schema.columns, names);
    this.splitter?.onHeader(rec);
  }
}

function lineOfField(rec: CsvRecord, col: number): number {
  return rec.line + countLf(rec.buf, rec.start, rec.fieldStart(col));
}

function countLf(buf: Buffer, from: number, to: number): number {
  let n = 0;
  let p = buf.indexOf(10, from);
  while (p >= 0 && p < to) {
    n++;
    p = buf.indexOf(10, p + 1);
  }
  return n;
}

function scanErrorMessage(err: CsvScanError, maxRecordBytes: number): string {
  switch (err.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return `The file is not valid CSV: a quoted field starting at line ${err.line} is never closed`;
    case 'INVALID_OPENING_QUOTE':
      return `The file is not valid CSV: a quote inside an unquoted field at line ${err.line} (quote the whole field and double the inner quotes)`;
    case 'CSV_INVALID_CLOSING_QUOTE':
      return `The file is not valid CSV: a closing quote at line ${err.line} is not followed by a comma or the end of the line`;
    case 'CSV_CR_LINE_ENDINGS':
      return 'The file uses CR-only line endings (classic Mac); save it with LF or CRLF line endings';
    case 'CSV_MAX_RECORD_SIZE':
      return `The file is not valid CSV: the row starting at line ${err.line} is longer than ${formatBytes(maxRecordBytes)}; is it really comma-separated text with line breaks?`;
  }
}

function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}
