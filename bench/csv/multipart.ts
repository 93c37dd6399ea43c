/**
 * The split path's publish, timed on Azurite: a large file staged as parts (while validating, as
 * `validateAndStage` does with SPLIT_ROWS), a folder job's output (`row,prediction,file_name`, the
 * parts' mini-batches in shuffled order) uploaded as AML would leave it, then the measured part:
 * `splitPredictionsByFile` into per-file run blobs (`by-file/<file>/<run>.csv`) and
 * `joinPredictions` part by part into one outbox blob. Streams all the way (SDK download streams,
 * `uploadStream` with 8 MiB blocks × 4 as `BlobStore.upload`), in the bench process.
 */
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { mulberry32 } from '../../dev/random';
import {
  concatSources,
  joinPredictions,
  splitPredictionsByFile,
  validateCsvStream,
  type PartWriter,
} from '../../src/domain/csv';
import { parseSchema } from '../../src/domain/schema';

const BLOCK = 8 * 1024 * 1024;
const CONCURRENCY = 4;

export interface MultipartReport {
  inputBytes: number;
  rows: number;
  parts: number;
  /** Staging: validate + split into part blobs, from the local file. */
  stageSeconds: number;
  predictionsBytes: number;
  /** Runs the regroup wrote. */
  runs: number;
  regroupSeconds: number;
  joinSeconds: number;
  outputBytes: number;
  /** This process's CPU seconds over regroup + join. */
  cpuSeconds: number;
}

/** A block blob written as a stream, awaited chunk by chunk (the publish activity's Upload, in short). */
function blobWriter(container: ContainerClient, name: string): PartWriter & { size: () => number } {
  const stream = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
  let size = 0;
  const done = container.getBlockBlobClient(name).uploadStream(stream, BLOCK, CONCURRENCY);
  done.catch(() => undefined);
  return {
    size: () => size,
    async write(chunk) {
      size += chunk.length;
      if (stream.write(chunk)) return;
      await Promise.race([once(stream, 'drain'), done.then(() => undefined)]);
    },
    async end() {
      stream.end();
      await done;
    },
    async abort(err) {
      stream.destroy(err as Error);
      await done.catch(() => undefined);
    },
  };
}

async function download(container: ContainerClient, name: string): Promise<NodeJS.ReadableStream> {
  const res = await container.getBlobClient(name).download();
  return res.readableStreamBody!;
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Runs the split path's publish for `file` in `container` (which must exist), `partRows` rows per part. */
export async function benchMultipart(
  connectionString: string,
  containerName: string,
  file: string,
  partRows: number,
): Promise<MultipartReport> {
  const container =
    BlobServiceClient.fromConnectionString(connectionString).getContainerClient(containerName);
  const schema = parseSchema(
    JSON.parse(readFileSync(join(__dirname, '../../src/domain/schemas/diamonds.json'), 'utf8')),
  );
  const job = 'job1';
  const partName = (i: number): string => `part-${String(i).padStart(5, '0')}.csv`;

  // Staging with split (timed for its own row, not part of the publish figure).
  let t0 = process.hrtime.bigint();
  const rep = await validateCsvStream(createReadStream(file, { highWaterMark: 64 * 1024 }), {
    schema,
    maxBytes: Number.MAX_SAFE_INTEGER,
    maxProblems: 10,
    split: { rows: partRows, open: (i) => blobWriter(container, `${job}/input/${partName(i)}`) },
  });
  const stageSeconds = seconds(t0);
  if (!rep.ok) throw new Error(`validation failed: ${rep.summary}`);

  // AML's folder output: each part's predictions together, parts in shuffled order.
  const order = rep.parts.map((_, i) => i);
  const r = mulberry32(11);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const predictions = blobWriter(container, `${job}/output/predictions.csv`);
  for (const p of order) {
    const tail = Buffer.from(`,${partName(p)}\n`);
    const rows = rep.parts[p]!.rows;
    for (let k = 0; k < rows;) {
      const buf = Buffer.allocUnsafe(256 * 1024);
      let u = 0;
      for (; k < rows && u + 64 < buf.length; k++) {
        u += buf.write(`${k},${(1000 + (k % 9000) * 1.5).toFixed(1)}`, u, 'latin1');
        u += tail.copy(buf, u);
      }
      await predictions.write(buf.subarray(0, u));
    }
  }
  await predictions.end();
  const predictionsBytes = predictions.size();

  // The measured publish: regroup, then join part by part into one outbox blob.
  const c0 = process.cpuUsage();
  t0 = process.hrtime.bigint();
  const runs = new Map<string, number>();
  const regrouped = await splitPredictionsByFile(
    await download(container, `${job}/output/predictions.csv`),
    (f, run) => {
      runs.set(f, run + 1);
      return blobWriter(container, `${job}/output/by-file/${f}/${String(run).padStart(5, '0')}.csv`);
    },
    { files: new Set(rep.parts.map((_, i) => partName(i))) },
  );
  const regroupSeconds = seconds(t0);
  t0 = process.hrtime.bigint();
  const out = blobWriter(container, `outbox/big_predictions.csv`);
  // The next part's download is requested while the current part is joined.
  let next = download(container, `${job}/input/${partName(0)}`);
  for (let i = 0; i < rep.parts.length; i++) {
    const input = await next;
    if (i + 1 < rep.parts.length) next = download(container, `${job}/input/${partName(i + 1)}`);
    const name = partName(i);
    const n = runs.get(name) ?? 0;
    const sources = Array.from(
      { length: n },
      (_, run) => () =>
        download(container, `${job}/output/by-file/${name}/${String(run).padStart(5, '0')}.csv`),
    );
    const res = await joinPredictions(input, concatSources(sources), (c) => out.write(c), {
      header: i === 0,
    });
    if (res.rows !== rep.parts[i]!.rows)
      throw new Error(`part ${i}: joined ${res.rows} of ${rep.parts[i]!.rows} rows`);
  }
  await out.end();
  const joinSeconds = seconds(t0);
  const c = process.cpuUsage(c0);
  return {
    inputBytes: rep.bytes,
    rows: rep.rows,
    parts: rep.parts.length,
    stageSeconds,
    predictionsBytes,
    runs: regrouped.runs,
    regroupSeconds,
    joinSeconds,
    outputBytes: out.size(),
    cpuSeconds: (c.user + c.system) / 1e6,
  };
}
