/**
 * The child process of the large-file figures: `node --import tsx bench/large/pipelineChild.ts <mode> <json>`
 * with BENCH_CONNECTION_STRING set (see `spawn.ts`, `protocol.ts`). Modes:
 *
 * - `upload`: streams a local file into a blob (setup, kept out of the pipeline's process);
 * - `pipeline`: the app's path for one file, in this one process, as the Functions host runs it:
 *   the job record (`startJob`, with a stub in place of Durable Functions), the real
 *   `validateAndStage` activity, then (in another process: Azure ML is not this app's memory) a
 *   synthetic predictions file, then the real `publishPredictions` activity. Reports peak RSS and
 *   time per phase;
 * - `predictions`: writes the synthetic predictions file (the Azure ML stand-in);
 * - `copyref`: the copy references: a plain SDK download → upload, and `BlobStore.copyFrom` when a
 *   server-side copy is not possible (streamed); plus a probe of a same-account server-side copy
 *   with the source's plain URL (no SAS), which the app does not do today.
 *
 * Peak RSS is the kernel's VmHWM from /proc/self/status, reset between phases through
 * /proc/self/clear_refs. Not `process.resourceUsage().maxRSS`: on Linux that survives exec, so a
 * freshly spawned child starts with its parent's RSS at fork as its "peak" (a parent holding 1 GiB
 * gives a child a 1 GiB maxRSS before it does anything). maxRSS is used only where /proc is missing.
 */
import { BlobServiceClient } from '@azure/storage-blob';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { buildDeps } from '../../src/app/deps';
import { publishPredictions } from '../../src/activities/publishPredictions';
import { validateAndStage } from '../../src/activities/validateAndStage';
import { BlobStore, type CopyMethod } from '../../src/adapters/blobStore';
import type { Orchestrations } from '../../src/adapters/orchestrations';
import { loadSettings } from '../../src/config/settings';
import { outboxName } from '../../src/domain/amlUris';
import { PipelineError } from '../../src/domain/errors';
import { startJob } from '../../src/handlers/startJob';
import type { ScoreJobInput } from '../../src/orchestration/contracts';
import type {
  CopyRefArgs,
  CopyRefReport,
  PhaseTiming,
  PipelineArgs,
  PipelineReport,
  PredictionsArgs,
  PredictionsReport,
  UploadArgs,
  UploadReport,
} from './protocol';
import { runChild } from './spawn';

const cs = process.env.BENCH_CONNECTION_STRING ?? '';
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const seconds = (t0: number): number => (performance.now() - t0) / 1000;

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat; undefined elsewhere. */
function machineBusy(): number | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    if (!cpu.startsWith('cpu ')) return undefined;
    // user nice system idle iowait irq softirq steal, in USER_HZ (100) ticks; busy = all but idle and iowait.
    const t = cpu.trim().split(/\s+/).slice(1, 9).map(Number);
    const busy = t.reduce((a, b) => a + b, 0) - (t[3] ?? 0) - (t[4] ?? 0);
    return busy / 100;
  } catch {
    return undefined;
  }
}

/** Starts timing a phase: wall time, this process's CPU, the machine's busy CPU. */
function phase(): { end(): PhaseTiming } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const m0 = machineBusy();
  return {
    end() {
      const c = process.cpuUsage(c0);
      const m1 = machineBusy();
      return {
        seconds: seconds(t0),
        cpuSeconds: (c.user + c.system) / 1e6,
        ...(m0 !== undefined && m1 !== undefined ? { machineCpuSeconds: m1 - m0 } : {}),
      };
    },
  };
}

function vmHwm(): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Peak RSS per phase: `take()` returns the peak since the last take (or since exec) in KiB. */
class PeakRss {
  source: PipelineReport['peakSource'] = vmHwm() === undefined ? 'maxRSS' : 'VmHWM';

  take(): number {
    if (this.source === 'maxRSS') return process.resourceUsage().maxRSS;
    const v = vmHwm() as number;
    try {
      writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
    } catch {
      this.source = 'maxRSS'; // cannot reset: the peaks are cumulative; still right for the overall peak
    }
    return v;
  }
}

/**
 * Another account (the same Azurite, reached as `localhost` instead of 127.0.0.1) that cannot hand out
 * a read SAS: copyFrom falls back to streaming, as between accounts that forbid a server-side copy.
 */
class NoServerSideCopy extends BlobStore {
  constructor() {
    super(
      BlobStore.fromConnection({
        kind: 'connectionString',
        connectionString: cs.replace(/127\.0\.0\.1/g, 'localhost'),
      }).service,
    );
  }
  override readUrl(): Promise<string> {
    return Promise.reject(new PipelineError('StorageAuth', 'bench: server-side copy disabled'));
  }
}

function settingsFor(names: PipelineArgs['names']): ReturnType<typeof loadSettings> {
  return loadSettings({
    DataStorage: cs,
    AmlDatastoreStorage: cs,
    AML_SCORING_URI: 'http://127.0.0.1:9/jobs',
    AML_AUTH: 'emulator',
    INBOX_CONTAINER: names.inbox,
    OUTBOX_CONTAINER: names.outbox,
    QUARANTINE_CONTAINER: names.quarantine,
    AML_DATASTORE_CONTAINER: names.datastore,
    JOBS_TABLE: names.table,
  });
}

async function upload(a: UploadArgs): Promise<UploadReport> {
  const store = new BlobStore(BlobServiceClient.fromConnectionString(cs));
  const t0 = performance.now();
  await store.upload(a.container, a.name, createReadStream(a.file, { highWaterMark: 4 * 1024 * 1024 }));
  const info = await store.info(a.container, a.name);
  return { bytes: info.size, seconds: seconds(t0) };
}

async function pipeline(a: PipelineArgs): Promise<PipelineReport> {
  const peak = new PeakRss();
  const s = settingsFor(a.names);
  const d = buildDeps(s);
  const startup = { peakKiB: peak.take() };

  // The inbox trigger's part: the job record, created the way startJob does; Durable is stubbed.
  const validating = phase();
  let input: ScoreJobInput | undefined;
  const orch: Orchestrations = {
    state: () => Promise.resolve('none'),
    start: (_id, i) => {
      input = i;
      return Promise.resolve();
    },
    requestCancel: () => Promise.resolve(),
    startBatch: async () => undefined,
    raise: async () => undefined,
  };
  const { jobId } = await startJob(d, orch, { container: s.inboxContainer, name: a.blob });
  if (!input) throw new Error('startJob did not start the job');

  // Times the copy inside validateAndStage by wrapping the datastore's copyFrom: a timer, and one
  // stand-in: when the server-side copy fails with a transient error (Azurite answers 500 for
  // sources over ~512 MiB: its check of a SAS copy source reads the whole blob into one string),
  // the app would throw and Durable would retry it to the end; the bench records the failure and
  // runs copyFrom's own streamed path instead, so that staging and the rest can still be measured.
  // With `skipServerSideCopy` the streamed path runs straight away (see PipelineArgs).
  const realCopy = d.datastore.copyFrom.bind(d.datastore);
  let validate: PipelineReport['validate'] | undefined;
  let staging = phase();
  let method = '';
  let serverSideFailure: { seconds: number; message: string } | undefined;
  d.datastore.copyFrom = async (source, src, dst) => {
    validate = { ...validating.end(), peakKiB: peak.take() };
    staging = phase();
    if (a.skipServerSideCopy) {
      method = await realCopy(new NoServerSideCopy(), src, dst);
      return method as CopyMethod;
    }
    try {
      method = await realCopy(source, src, dst);
    } catch (err) {
      if (!(err instanceof PipelineError && err.retryable)) throw err;
      const status = (err.cause as { statusCode?: number } | undefined)?.statusCode;
      const message = `${err.code}${status ? ` (HTTP ${status})` : ''}: ${err.message.slice(0, 200)}`;
      serverSideFailure = { seconds: staging.end().seconds, message };
      log(
        `server-side copy failed after ${serverSideFailure.seconds.toFixed(1)} s: ${serverSideFailure.message}`,
      );
      staging = phase();
      method = await realCopy(new NoServerSideCopy(), src, dst);
    }
    return method as CopyMethod;
  };
  const staged = await validateAndStage({ jobId, source: input.source }, d);
  if (!staged.ok) throw new Error(`validateAndStage: ${staged.error.code}: ${staged.error.message}`);
  if (!validate) throw new Error('validateAndStage did not copy');
  const stage: PipelineReport['stage'] = {
    ...staging.end(),
    peakKiB: peak.take(),
    method,
    ...(serverSideFailure ? { serverSideFailure } : {}),
    ...(a.skipServerSideCopy ? { serverSideSkipped: a.skipServerSideCopy } : {}),
  };
  log(
    `validated ${staged.staged.rows} rows in ${validate.seconds.toFixed(1)} s, staged (${method}) in ${stage.seconds.toFixed(2)} s`,
  );

  // Azure ML's part, in another process.
  const waiting = phase();
  const pred = await runChild<PredictionsReport>(
    'predictions',
    {
      container: s.aml.datastoreContainer,
      name: staged.staged.outputPath,
      rows: staged.staged.rows,
      fileName: basename(staged.staged.inputPath),
    } satisfies PredictionsArgs,
    { connectionString: cs, log },
  );
  const predictions = { seconds: waiting.end().seconds, bytes: pred.bytes, peakKiB: peak.take() };

  const publishing = phase();
  const published = await publishPredictions({ jobId, source: input.source, staged: staged.staged }, d);
  if (!published.ok)
    throw new Error(`publishPredictions: ${published.error.code}: ${published.error.message}`);
  const publishTiming = publishing.end();
  const publishPeak = peak.take();
  if (published.rows !== staged.staged.rows)
    throw new Error(`published ${published.rows} rows of ${staged.staged.rows}`);
  const record = await d.jobs.get(jobId);
  // The activity leaves the record in Publishing; the orchestrator records Succeeded from its answer.
  if (record?.status !== 'Publishing' && record?.status !== 'Succeeded')
    throw new Error(`job ended ${record?.status}`);
  const out = await d.data.info(s.outboxContainer, outboxName(a.blob));
  log(`published ${published.rows} rows (${out.size} bytes) in ${publishTiming.seconds.toFixed(1)} s`);

  const phases = [startup.peakKiB, validate.peakKiB, stage.peakKiB, predictions.peakKiB, publishPeak];
  return {
    peakSource: peak.source,
    peakKiB: Math.max(...phases),
    maxRssKiB: process.resourceUsage().maxRSS,
    cores: cpus().length,
    rows: staged.staged.rows,
    inputBytes: staged.staged.bytes,
    startup,
    validate,
    stage,
    predictions,
    publish: { ...publishTiming, peakKiB: publishPeak, outputBytes: out.size },
  };
}

/** MLflow batch output: `row,prediction,file_name` per data row, no header, in ~256 KiB chunks. */
async function* predictionLines(rows: number, fileName: string): AsyncGenerator<Buffer> {
  const suffix = `,${fileName}\n`;
  let parts: string[] = [];
  let size = 0;
  for (let i = 0; i < rows; i++) {
    const price = 326 + ((Math.imul(i, 2654435761) >>> 0) % 1_800_000) / 100;
    const line = `${i},${price}${suffix}`;
    parts.push(line);
    size += line.length;
    if (size >= 256 * 1024) {
      yield Buffer.from(parts.join(''));
      parts = [];
      size = 0;
    }
  }
  if (parts.length) yield Buffer.from(parts.join(''));
}

async function predictions(a: PredictionsArgs): Promise<PredictionsReport> {
  const store = new BlobStore(BlobServiceClient.fromConnectionString(cs));
  const t0 = performance.now();
  await store.upload(
    a.container,
    a.name,
    Readable.from(predictionLines(a.rows, a.fileName), { objectMode: false }),
  );
  const info = await store.info(a.container, a.name);
  return { bytes: info.size, seconds: seconds(t0) };
}

async function copyref(a: CopyRefArgs): Promise<CopyRefReport> {
  const service = BlobServiceClient.fromConnectionString(cs);
  const store = new BlobStore(service);
  const source = new NoServerSideCopy();
  const info = await store.info(a.names.inbox, a.blob);
  const plain: PhaseTiming[] = [];
  const streamed: PhaseTiming[] = [];
  for (let pass = 0; pass < a.passes; pass++) {
    let p = phase();
    const res = await service.getContainerClient(a.names.inbox).getBlobClient(a.blob).download(0);
    await service
      .getContainerClient(a.names.outbox)
      .getBlockBlobClient(`plain-copy-${pass}.csv`)
      .uploadStream(res.readableStreamBody as Readable);
    plain.push(p.end());

    p = phase();
    const method = await store.copyFrom(
      source,
      { container: a.names.inbox, name: a.blob, etag: info.etag },
      { container: a.names.datastore, name: `streamed-copy-${pass}.csv` },
    );
    if (method !== 'streamed') throw new Error(`expected a streamed copy, got ${method}`);
    streamed.push(p.end());
    log(
      `pass ${pass + 1}: plain copy ${plain[pass]!.seconds.toFixed(1)} s, streamed copyFrom ${streamed[pass]!.seconds.toFixed(1)} s`,
    );
    // Free the space before the next pass (Azurite reclaims it later, in its own time).
    await service.getContainerClient(a.names.outbox).getBlobClient(`plain-copy-${pass}.csv`).delete();
    await service.getContainerClient(a.names.datastore).getBlobClient(`streamed-copy-${pass}.csv`).delete();
  }

  let sameAccountNoSas: CopyRefReport['sameAccountNoSas'];
  const t0 = performance.now();
  try {
    const url = service.getContainerClient(a.names.inbox).getBlobClient(a.blob).url;
    const target = service.getContainerClient(a.names.datastore).getBlockBlobClient('no-sas-copy.csv');
    const poller = await target.beginCopyFromURL(url, { sourceConditions: { ifMatch: info.etag } });
    const done = await poller.pollUntilDone();
    if (done.copyStatus !== 'success') throw new Error(`copy ended ${done.copyStatus}`);
    sameAccountNoSas = { seconds: seconds(t0) };
    await target.delete();
  } catch (err) {
    sameAccountNoSas = { error: (err as Error).message.slice(0, 200) };
  }
  log(
    `probe, server-side copy with the plain source URL (same account, no SAS): ${JSON.stringify(sameAccountNoSas)}`,
  );
  return { bytes: info.size, cores: cpus().length, plain, streamed, sameAccountNoSas };
}

const MODES: Record<string, (arg: never) => Promise<unknown>> = { upload, pipeline, predictions, copyref };

async function main(): Promise<void> {
  const [mode, json] = process.argv.slice(2);
  const run = mode ? MODES[mode] : undefined;
  if (!run || json === undefined)
    throw new Error(`usage: pipelineChild.ts <${Object.keys(MODES).join('|')}> <json>`);
  if (!cs) throw new Error('BENCH_CONNECTION_STRING is not set');
  const result = await run(JSON.parse(json) as never);
  // Exit once written: idle keep-alive sockets would otherwise hold the process for a while.
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
