import type { CsvRecord, CsvScanner } from './scanner';
import { SegmentQueue, type PartWriter } from './segments';

export interface SplitOptions {
  /** Most data rows per part (at least 1). */
  rows: number;
  /** Opens part `index` (0-based); called once per part, in order. */
  open: (index: number) => PartWriter;
}

export interface PartInfo {
  rows: number;
  /** Bytes written to the part: its header line (and in part 0 all that came before it) included. */
  bytes: number;
  /** 1-based input line of the part's first data row. */
  firstLine: number;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

interface Part {
  info: PartInfo;
  writer: PartWriter;
  state: 'open' | 'ended' | 'aborted';
}

/**
 * Writes the rows the validator accepts into parts of at most `rows` data rows, each starting with
 * the header line, byte for byte: the original records with their own line endings. Part 0 is a
 * byte-exact prefix of the input (its BOM and any blank lines before the header included), so a
 * file of one part is the input itself; every later part is the header line then its records. Blank
 * lines are not rows but stay in the part they fall in (blank lines before a part's first row end
 * the part before), so within a part, lines keep a fixed distance from the input's: a row's input
 * line is its line in the part plus (`firstLine` less the part line of the part's first row).
 * Records are queued
 * during the scanner's callbacks and written by `flush` (awaited, after each chunk). Parts are
 * ended only once the whole file is known to be valid; otherwise every opened part is aborted, so
 * an invalid file never leaves a complete part behind.
 */
export class PartSplitter {
  readonly parts: Part[] = [];
  private readonly opts: SplitOptions;
  private readonly scanner: CsvScanner;
  private readonly queue = new SegmentQueue<Part>();
  private header: Buffer = Buffer.alloc(0);
  private current: Part | undefined;

  constructor(opts: SplitOptions, scanner: CsvScanner) {
    if (!Number.isSafeInteger(opts.rows) || opts.rows < 1) {
      throw new RangeError(`split.rows must be a positive integer, got ${opts.rows}`);
    }
    this.opts = opts;
    this.scanner = scanner;
  }

  /** The accepted header: goes to part 0 (opened here unless blank lines came first). */
  onHeader(rec: CsvRecord): void {
    this.header = Buffer.from(rec.raw());
    this.onBlank(rec);
  }

  /** An accepted data row. */
  onRow(rec: CsvRecord): void {
    let part = this.current as Part;
    if (part.info.rows === this.opts.rows) part = this.openPart(this.header, rec.line);
    else if (part.info.rows === 0) part.info.firstLine = rec.line;
    part.info.rows++;
    part.info.bytes += rec.next - rec.start;
    this.queue.add(part, rec.buf, rec.start, rec.next, this.scanner.isScratch(rec.buf));
  }

  /**
   * A blank line (or the header): written to the current part, where it stands in the input; one
   * before the header opens part 0, after the input's BOM if it has one.
   */
  onBlank(rec: CsvRecord): void {
    const part = this.current ?? this.openPart(this.scanner.hasBom ? BOM : Buffer.alloc(0), 0);
    part.info.bytes += rec.next - rec.start;
    this.queue.add(part, rec.buf, rec.start, rec.next, this.scanner.isScratch(rec.buf));
  }

  /** Writes what the last chunk queued (nothing once the file is known to be invalid). */
  async flush(invalid: boolean): Promise<void> {
    const items = this.queue.take();
    if (invalid) return;
    for (const { target, bytes } of items) await target.writer.write(bytes);
  }

  /** Ends every part, in order (the file is valid). */
  async end(): Promise<void> {
    for (const part of this.parts) {
      await part.writer.end();
      part.state = 'ended';
    }
  }

  /** Aborts every part not ended (an invalid file, a failed read or write); never throws. */
  async abort(err: unknown): Promise<void> {
    for (const part of this.parts) {
      if (part.state !== 'open') continue;
      part.state = 'aborted';
      await part.writer.abort(err).catch(() => undefined);
    }
  }

  /** Opens the next part, starting with `lead` (the header; for part 0 the BOM, if any). */
  private openPart(lead: Buffer, firstLine: number): Part {
    const writer = this.opts.open(this.parts.length);
    const part: Part = { info: { rows: 0, bytes: lead.length, firstLine }, writer, state: 'open' };
    this.parts.push(part);
    this.current = part;
    if (lead.length > 0) this.queue.addBytes(part, lead);
    return part;
  }
}
