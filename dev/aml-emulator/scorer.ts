import { pipeline } from 'node:stream';
import type { BlobClient, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { parse } from 'csv-parse';
import { FeatureError, predict } from '../model/predict';
import type { ModelParams } from '../model/types';
import { BlockWriter } from './blocks';
import { completionOrder, modelJob, type ModelledJob } from './costModel';
import { miniBatchFails, type DeploymentSettings } from './deployments';
import { sleep } from './sleep';
import { JobFailure } from './errors';
import { baseName, extensionOf } from './uris';

export interface ScoreTask {
  /** The input: one file, or every file directly inside a folder (nested folders are not scanned, as in Azure ML). */
  input: { type: 'UriFile' | 'UriFolder'; container: ContainerClient; path: string };
  output: BlockBlobClient;
  model: ModelParams;
  /** Mini-batches, their failures, error_threshold and the cost model (deployments.ts). */
  deployment: Omit<DeploymentSettings, 'model'>;
  signal: AbortSignal;
  /** Read per row so a fault set while a job runs takes effect at once. */
  delayMsPerRow: () => number;
  onRow: () => void;
}

const CHUNK = 64 * 1024;

function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

async function inputFiles(task: ScoreTask): Promise<BlobClient[]> {
  const { container, path } = task.input;
  if (task.input.type === 'UriFile') {
    const blob = container.getBlobClient(path);
    if (!(await blob.exists({ abortSignal: task.signal }))) {
      throw new JobFailure('UserError', `Input file not found: ${container.containerName}/${path}`);
    }
    return [blob];
  }
  const files: BlobClient[] = [];
  for await (const item of container.listBlobsByHierarchy('/', {
    prefix: `${path}/`,
    abortSignal: task.signal,
  })) {
    if (item.kind === 'blob') files.push(container.getBlobClient(item.name));
  }
  if (files.length === 0)
    throw new JobFailure(
      'UserError',
      `Input folder is empty or missing: ${container.containerName}/${path}/`,
    );
  for (const f of files) {
    const ext = extensionOf(f.name);
    if (ext === 'parquet')
      throw new JobFailure(
        'UserError',
        `${baseName(f.name)}: parquet input is not supported by the emulator.`,
      );
    // AML's own words (Learn "Deploy MLflow models in batch deployments", File's types support): "any
    // unsupported file that may be present in the input data will make the job to fail".
    if (ext !== 'csv')
      throw new JobFailure(
        'UserError',
        `Error processing input file: '${baseName(f.name)}'. File type '${ext || '(none)'}' is not supported.`,
      );
  }
  return files;
}

/** A failure writing the output (not reading the input), carried out of the parse loop as it is. */
class OutputFailure extends Error {
  constructor(readonly error: unknown) {
    super('output write failed');
  }
}

async function write(writer: BlockWriter, text: string): Promise<void> {
  try {
    await writer.write(Buffer.from(text));
  } catch (err) {
    throw new OutputFailure(err);
  }
}

/** The legacy `rowsPerMiniBatch` mode: row chunks fail, counted over the job (not an AML setting). */
class ChunkFailures {
  private chunk = -1;
  private failed = 0;
  skipping = false;
  constructor(private readonly d: ScoreTask['deployment']) {}

  /** Called at each row: a new chunk starts every `rowsPerMiniBatch` rows of a file. */
  row(fileName: string, row: number): void {
    if (this.d.rowsPerMiniBatch === 0 || row % this.d.rowsPerMiniBatch !== 0) return;
    this.chunk++;
    this.skipping = miniBatchFails(this.chunk, this.d.failMiniBatchRate);
    if (!this.skipping) return;
    this.failed++;
    if (this.d.errorThreshold >= 0 && this.failed > this.d.errorThreshold) {
      throw new JobFailure(
        'UserError',
        `${this.failed} mini-batches failed, over error_threshold ${this.d.errorThreshold} (the latest: ${fileName} from row ${row}; injected by failMiniBatchRate).`,
      );
    }
  }
}

/**
 * Scores one file into `writer` as lines `row,prediction,file_name` (MLflow batch format, no header),
 * streaming: the CSV is parsed as it downloads and lines go out in 64 KiB chunks, so memory stays
 * bounded. Rows of a failed mini-batch (`skip`) or chunk are read, for the cost model, but not written.
 * Returns the number of data rows in the file.
 */
async function scoreFile(
  task: ScoreTask,
  file: BlobClient,
  writer: BlockWriter,
  skip: boolean,
  chunks: ChunkFailures,
): Promise<number> {
  // `file_name` is the base name: the MLflow batch output lists files as e.g. "heart-unlabeled-0.csv"
  // (Learn "Deploy MLflow models in batch deployments", Analyzing the outputs), and the generated
  // scoring scripts shown there write os.path.basename(file_path).
  const fileName = baseName(file.name);
  const download = await file.download(0, undefined, { abortSignal: task.signal });
  const parser = parse({
    bom: true,
    columns: (h: string[]) => h.map((c) => c.trim()),
    skip_empty_lines: true,
  });
  // pipeline destroys both streams when either fails or the loop below stops early.
  pipeline(download.readableStreamBody!, parser, () => undefined);
  let pending = '';
  let row = 0;
  try {
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      if (task.signal.aborted) throw task.signal.reason;
      chunks.row(fileName, row);
      if (skip || chunks.skipping) {
        // A failed mini-batch's rows are simply missing from the output.
        row++;
        continue;
      }
      let price: number;
      try {
        price = predict(task.model, record);
      } catch (err) {
        if (err instanceof FeatureError)
          throw new JobFailure('UserError', `Row ${row} of ${fileName}: ${err.message}`);
        throw err;
      }
      pending += `${row},${price.toFixed(2)},${csvField(fileName)}\n`;
      row++;
      task.onRow();
      const delay = task.delayMsPerRow();
      if (delay > 0) await sleep(delay, task.signal);
      if (pending.length >= CHUNK) {
        await write(writer, pending);
        pending = '';
      }
    }
  } catch (err) {
    if (err instanceof JobFailure || err instanceof OutputFailure || task.signal.aborted) throw err;
    // csv-parse errors carry the line; storage errors their status. Either way the job cannot go on.
    throw new JobFailure(
      'UserError',
      `${fileName}: cannot read the input after ${row} rows: ${(err as Error).message}`,
    );
  }
  if (pending) await write(writer, pending);
  return row;
}

export interface ScoreResult {
  rows: number;
  /** The cost model's account of the job (costModel.ts), from the rows actually read. */
  modelled: ModelledJob;
}

/**
 * Scores the input into the output blob. Files go, in name order, into mini-batches of `miniBatchSize`
 * files (AML: "mini_batch_size" counts files; Learn "Deploy MLflow models in batch deployments", How work
 * is distributed on workers). Each mini-batch's lines are one section of staged blocks, and the sections
 * are committed in the order the cost model completes the mini-batches (mini-batches finish in any order
 * on several instances), so the output is NOT in input order when instanceCount > 1; within a file the
 * lines stay contiguous and in row order. The output is committed only after the last row, so a failed
 * or canceled job leaves no output file; the commit is conditional (If-None-Match: *) so an output that
 * appeared meanwhile is never overwritten.
 */
export async function scoreToBlob(task: ScoreTask): Promise<ScoreResult> {
  const files = await inputFiles(task);
  const d = task.deployment;
  let rows = 0;
  const counted: ScoreTask = {
    ...task,
    onRow: () => {
      rows++;
      task.onRow();
    },
  };
  const writer = new BlockWriter(task.output, task.signal);
  const chunks = new ChunkFailures(d);
  const fileRows: { rows: number }[] = [];
  const sections: string[][] = [];
  let failedFiles = 0;
  try {
    for (let first = 0, k = 0; first < files.length; first += d.miniBatchSize, k++) {
      const batch = files.slice(first, first + d.miniBatchSize);
      const fails = d.rowsPerMiniBatch === 0 && miniBatchFails(k, d.failMiniBatchRate);
      if (fails) {
        // error_threshold counts failed files for file inputs (see deployments.ts).
        failedFiles += batch.length;
        if (d.errorThreshold >= 0 && failedFiles > d.errorThreshold) {
          throw new JobFailure(
            'UserError',
            `${failedFiles} files failed, over error_threshold ${d.errorThreshold} (the latest: mini-batch ${k}, ${batch.map((f) => baseName(f.name)).join(', ')}; injected by failMiniBatchRate).`,
          );
        }
      }
      for (const file of batch)
        fileRows.push({ rows: await scoreFile(counted, file, writer, fails, chunks) });
      sections.push(await writer.cut());
    }
    const modelled = modelJob(fileRows, d);
    await writer.commit(
      'text/csv',
      completionOrder(modelled).flatMap((i) => sections[i]!),
    );
    return { rows, modelled };
  } catch (caught) {
    await writer.settle();
    const err = caught instanceof OutputFailure ? caught.error : caught;
    if (err instanceof JobFailure || task.signal.aborted) throw err;
    const status = (err as { statusCode?: number }).statusCode;
    if (status === 409 || status === 412) {
      throw new JobFailure(
        'UserError',
        `Output path already exists: ${task.output.containerName}/${task.output.name}`,
      );
    }
    throw new JobFailure('SystemError', `Writing the output failed: ${(err as Error).message}`);
  }
}
