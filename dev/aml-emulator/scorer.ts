import { pipeline } from 'node:stream';
import type { BlobClient, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { parse } from 'csv-parse';
import { FeatureError, predict } from '../model/predict';
import type { ModelParams } from '../model/types';
import { BlockWriter } from './blocks';
import { miniBatchFails, type DeploymentSettings } from './deployments';
import { sleep } from './sleep';
import { JobFailure } from './errors';
import { baseName, extensionOf } from './uris';

export interface ScoreTask {
  /** The input: one file, or every file directly inside a folder (nested folders are not scanned, as in Azure ML). */
  input: { type: 'UriFile' | 'UriFolder'; container: ContainerClient; path: string };
  output: BlockBlobClient;
  model: ModelParams;
  /** Mini-batches, their failures and error_threshold (deployments.ts). */
  deployment: Pick<DeploymentSettings, 'errorThreshold' | 'failMiniBatchRate' | 'rowsPerMiniBatch'>;
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
    if (ext !== 'csv')
      throw new JobFailure(
        'UserError',
        `${baseName(f.name)}: unsupported file type; input files must be .csv or .parquet.`,
      );
  }
  return files;
}

/**
 * Output lines `row,prediction,file_name` (MLflow batch format, no header), produced as the input is read:
 * the CSV is parsed as a stream and lines are handed over in 64 KiB chunks, so memory stays bounded.
 */
async function* outputChunks(task: ScoreTask, files: BlobClient[]): AsyncGenerator<Buffer> {
  let pending = '';
  const { errorThreshold, failMiniBatchRate, rowsPerMiniBatch } = task.deployment;
  let miniBatch = -1;
  let failed = 0;
  let skipping = false;
  /** A mini-batch starts: does it fail, and does that end the job (error_threshold)? */
  const nextMiniBatch = (fileName: string, row: number): void => {
    miniBatch++;
    skipping = miniBatchFails(miniBatch, failMiniBatchRate);
    if (!skipping) return;
    failed++;
    if (errorThreshold >= 0 && failed > errorThreshold) {
      throw new JobFailure(
        'UserError',
        `${failed} mini-batches failed, over error_threshold ${errorThreshold} (the latest: ${fileName} from row ${row}; injected by failMiniBatchRate).`,
      );
    }
  };
  for (const file of files) {
    const fileName = baseName(file.name);
    const download = await file.download(0, undefined, { abortSignal: task.signal });
    const parser = parse({
      bom: true,
      columns: (h: string[]) => h.map((c) => c.trim()),
      skip_empty_lines: true,
    });
    // pipeline destroys both streams when either fails or the loop below stops early.
    pipeline(download.readableStreamBody!, parser, () => undefined);
    let row = 0;
    if (rowsPerMiniBatch === 0) nextMiniBatch(fileName, 0);
    try {
      for await (const record of parser as AsyncIterable<Record<string, string>>) {
        if (task.signal.aborted) throw task.signal.reason;
        if (rowsPerMiniBatch > 0 && row % rowsPerMiniBatch === 0) nextMiniBatch(fileName, row);
        if (skipping) {
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
          yield Buffer.from(pending);
          pending = '';
        }
      }
    } catch (err) {
      if (err instanceof JobFailure || task.signal.aborted) throw err;
      // csv-parse errors carry the line; storage errors their status. Either way the job cannot go on.
      throw new JobFailure(
        'UserError',
        `${fileName}: cannot read the input after ${row} rows: ${(err as Error).message}`,
      );
    }
  }
  if (pending) yield Buffer.from(pending);
}

/**
 * Scores the input into the output blob and returns the number of rows. The output is committed only after
 * the last row, so a failed or canceled job leaves no output file; the commit is conditional (If-None-Match: *)
 * so an output that appeared meanwhile is never overwritten.
 */
export async function scoreToBlob(task: ScoreTask): Promise<number> {
  const files = await inputFiles(task);
  let rows = 0;
  const counted: ScoreTask = {
    ...task,
    onRow: () => {
      rows++;
      task.onRow();
    },
  };
  const writer = new BlockWriter(task.output, task.signal);
  try {
    for await (const chunk of outputChunks(counted, files)) await writer.write(chunk);
    await writer.commit('text/csv');
  } catch (err) {
    await writer.settle();
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
  return rows;
}
