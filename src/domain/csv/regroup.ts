import { PipelineError } from '../errors';
import { isBlankRecord } from './blank';
import { parseIndex } from './predictions';
import { CsvRecord, CsvScanError, CsvScanner, DEFAULT_MAX_RECORD_BYTES } from './scanner';
import { SegmentQueue, type PartWriter } from './segments';
import { bufferChunks, type ByteSource } from './source';

export interface RegroupOptions {
  /** The file names the job's input folder held; any other `file_name` is an error. */
  files?: ReadonlySet<string>;
  /** Longest accepted record in bytes. Default 1 MiB. */
  maxRecordBytes?: number;
}

export interface RegroupResult {
  /** Prediction lines per file. */
  rowsByFile: Map<string, number>;
  /** Contiguous runs written (writers opened). */
  runs: number;
}

/** Run writers ending (committing) at once, while the next runs are written. */
const MAX_ENDING = 4;

interface Run {
  file: string;
  /** 0-based sequence of this run among its file's runs (the order they appear in). */
  seq: number;
  writer?: PartWriter;
  ended: boolean;
}

/**
 * Splits a folder job's output (`row,prediction,file_name` lines, no header; AML writes each
 * mini-batch's lines together, mini-batches in any order) by `file_name`, in one streaming pass:
 * each contiguous run of one file's lines goes, verbatim, to a writer of its own, opened with the
 * file's name and the run's 0-based sequence among that file's runs. Concatenating a file's runs
 * in sequence order gives that file's predictions in output order, ready for `joinPredictions`
 * (a last line without a line break gets one, so runs concatenate). A run is ended as soon as the
 * next one starts, without waiting for that end (up to 4 at once); the result comes once every run
 * has ended. On an error, the run being written is aborted (runs already ended stay).
 * Lines that are not 3 fields with a non-negative integer row, and file names not in `files` (or
 * not a plain file name), throw PipelineError('PredictionsInvalid').
 */
export async function splitPredictionsByFile(
  predictions: ByteSource,
  open: (file: string, run: number) => PartWriter | Promise<PartWriter>,
  opts: RegroupOptions = {},
): Promise<RegroupResult> {
  const g = new Regrouper(opts);
  let current: Run | undefined;
  // A finished run's end (a blob commit) overlaps the next runs' writes; a few at a time.
  const ending: Promise<void>[] = [];
  const endRun = async (run: Run): Promise<void> => {
    if (ending.length >= MAX_ENDING) await ending.shift();
    const p = run.writer!.end().then(() => {
      run.ended = true;
    });
    p.catch(() => undefined); // awaited in turn; unhandled until then
    ending.push(p);
  };
  const drain = async (): Promise<void> => {
    for (const { target, bytes } of g.queue.take()) {
      if (target !== current) {
        if (current) await endRun(current);
        current = target;
        current.writer = await open(target.file, target.seq);
      }
      await current.writer!.write(bytes);
    }
  };
  try {
    for await (const chunk of bufferChunks(predictions)) {
      g.push(chunk);
      await drain();
    }
    g.end();
    await drain();
    if (current) await endRun(current);
    while (ending.length > 0) await ending.shift();
    return { rowsByFile: g.rowsByFile, runs: g.runs };
  } catch (err) {
    await Promise.allSettled(ending);
    if (current?.writer && !current.ended) await current.writer.abort(err).catch(() => undefined);
    const s = predictions as { destroy?: () => void; destroyed?: boolean };
    if (typeof s.destroy === 'function' && s.destroyed !== true) s.destroy();
    throw err;
  }
}

/** The synchronous part: scans lines and queues each for its run. */
class Regrouper {
  readonly queue = new SegmentQueue<Run>();
  readonly rowsByFile = new Map<string, number>();
  runs = 0;
  private readonly files: ReadonlySet<string> | undefined;
  private readonly scanner: CsvScanner;
  private readonly runsByFile = new Map<string, number>();
  private run: Run | undefined;
  /** The current run's file name as the bytes it was read as (compared before decoding). */
  private name: Buffer = Buffer.alloc(0);
  private rows = 0;

  constructor(opts: RegroupOptions) {
    this.files = opts.files;
    this.scanner = new CsvScanner((rec) => this.onRecord(rec), {
      maxRecordBytes: opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
    });
  }

  push(chunk: Buffer): void {
    guard(() => this.scanner.push(chunk));
  }

  end(): void {
    guard(() => this.scanner.end());
    this.closeRun();
  }

  private onRecord(rec: CsvRecord): void {
    if (rec.fieldCount === 1 && isBlankRecord(rec)) return;
    if (rec.fieldCount !== 3) {
      throw invalid(
        `Line ${rec.line} of the predictions file has ${rec.fieldCount} fields; expected 3 (row,prediction,file_name)`,
      );
    }
    if (parseIndex(rec) < 0) {
      const shown = JSON.stringify(rec.field(0).slice(0, 40));
      throw invalid(
        `Row index ${shown} at line ${rec.line} of the predictions file is not a non-negative integer`,
      );
    }
    const buf = rec.buf;
    const s = rec.fieldStart(2);
    const e = rec.fieldEnd(2);
    if (this.run === undefined || !sameBytes(this.name, buf, s, e) || rec.hasEscapes(2)) this.startRun(rec);
    this.rows++;
    const run = this.run as Run;
    const scratch = this.scanner.isScratch(buf);
    this.queue.add(run, buf, rec.start, rec.next, scratch);
    // The output's last line may lack a line break: add one, so that runs concatenate.
    if (rec.next === rec.end)
      this.queue.addBytes(run, Buffer.from(this.scanner.lineEnding === 'CRLF' ? '\r\n' : '\n'));
  }

  private startRun(rec: CsvRecord): void {
    const file = rec.field(2);
    if (this.run !== undefined && file === this.run.file) return; // same name, spelt differently
    if (this.files ? !this.files.has(file) : !plainName(file)) {
      const known = this.files
        ? ` (the job's input files: ${[...this.files].slice(0, 5).join(', ')}${this.files.size > 5 ? ', ...' : ''})`
        : '';
      throw invalid(
        `Line ${rec.line} of the predictions file names the input file ${JSON.stringify(file.slice(0, 100))}, which the job did not have${known}`,
      );
    }
    this.closeRun();
    const seq = this.runsByFile.get(file) ?? 0;
    this.runsByFile.set(file, seq + 1);
    this.run = { file, seq, ended: false };
    this.runs++;
    this.name = Buffer.from(rec.buf.subarray(rec.fieldStart(2), rec.fieldEnd(2)));
  }

  private closeRun(): void {
    if (this.run === undefined) return;
    this.rowsByFile.set(this.run.file, (this.rowsByFile.get(this.run.file) ?? 0) + this.rows);
    this.rows = 0;
  }
}

function sameBytes(name: Buffer, buf: Buffer, s: number, e: number): boolean {
  if (e - s !== name.length) return false;
  for (let k = 0; k < name.length; k++) if (name[k] !== buf[s + k]) return false;
  return true;
}

/** A file name that is safe as one path segment. */
function plainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0\r\n]/.test(name);
}

function guard(step: () => void): void {
  try {
    step();
  } catch (err) {
    if (err instanceof CsvScanError) {
      throw invalid(`The predictions file is not valid CSV at line ${err.line}: ${err.message}`);
    }
    throw err;
  }
}

function invalid(message: string): PipelineError {
  return new PipelineError('PredictionsInvalid', message);
}
