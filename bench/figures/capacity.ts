import { loadavg } from 'node:os';
import { FAST_TIMINGS, type Stack } from '../../test/e2e/stack';
import { REALISTIC, RECOMMENDED } from './shaping';
import { startBenchStack, waitForRecords, type BenchStack, type RecordView } from '../stack/appStack';
import type { BenchContext, BenchRow, Figure } from '../types';

/**
 * #15 item 5: where the design stops. Part one is a load test of the local stack (`dev/start.ts`, the
 * emulator with quick jobs): files dropped in the inbox at a steady rate, stepping the rate up until a step
 * loses, duplicates or fails a file, or the backlog no longer drains within `DRAIN_LIMIT_SECONDS` of the
 * step's last upload. Part two turns the documented limits of each Azure component into files per hour,
 * using the storage requests per job counted on the wire in part one.
 */
const CSV = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n1.01,Premium,G,VS2\n0.7,Very Good,F,VS1\n';
const TERMINAL = new Set(['Succeeded', 'Rejected', 'Failed', 'TimedOut', 'Canceled']);
const DRAIN_LIMIT_SECONDS = 20;

interface Step {
  rate: number;
  files: number;
  succeeded: number;
  lost: number;
  duplicated: number;
  drainSeconds: number;
  sustained: boolean;
  tablePerJob: number;
  storagePerJob: number;
}

async function step(ctx: BenchContext, b: BenchStack, rate: number, seconds: number): Promise<Step> {
  const stack: Stack = b.stack;
  const prefix = `load-${rate}`;
  const n = Math.max(1, Math.round(rate * seconds));
  b.resetCounts();
  const t0 = Date.now();
  const uploads: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    // A steady stream: file i lands at i / rate seconds, whatever the previous upload's latency.
    const due = t0 + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const name = `${prefix}/${String(i).padStart(5, '0')}.csv`;
    uploads.push(stack.inbox.getBlockBlobClient(name).upload(CSV, CSV.length));
  }
  await Promise.all(uploads);
  const lastUpload = Date.now();
  const mine = (rs: RecordView[]): RecordView[] => rs.filter((r) => r.sourceBlob.startsWith(`${prefix}/`));
  let rs: RecordView[];
  try {
    rs = await waitForRecords(
      ctx,
      stack,
      (all) =>
        new Set(mine(all).map((r) => r.sourceBlob)).size >= n &&
        mine(all).every((r) => TERMINAL.has(r.status)),
      Math.max(120_000, seconds * 4000),
    );
  } catch {
    rs = await waitForRecords(ctx, stack, () => true, 1000);
  }
  const drainSeconds = (Date.now() - lastUpload) / 1000;
  const ofMine = mine(rs);
  const perBlob = new Map<string, number>();
  for (const r of ofMine) perBlob.set(r.sourceBlob, (perBlob.get(r.sourceBlob) ?? 0) + 1);
  // Every AML input is one staged folder or file: two AML jobs on one input would be a file scored twice.
  const inputs = stack.emulator.jobs().map((j) => j.inputUri);
  const amlDuplicates = inputs.length - new Set(inputs).size;
  let outboxFiles = 0;
  for await (const blob of stack.outbox.listBlobsFlat({ prefix: `${prefix}/` }))
    if (blob.name.endsWith('_predictions.csv')) outboxFiles++;
  const succeeded = ofMine.filter((r) => r.status === 'Succeeded').length;
  const duplicated =
    [...perBlob.values()].filter((c) => c > 1).length + amlDuplicates + Math.max(0, outboxFiles - n);
  const lost = n - perBlob.size + Math.max(0, succeeded - outboxFiles);
  const counts = b.breakdown();
  const table = Object.entries(counts)
    .filter(([k]) => k.startsWith('table '))
    .reduce((a, [, v]) => a + v, 0);
  return {
    rate,
    files: n,
    succeeded,
    lost,
    duplicated,
    drainSeconds,
    sustained: succeeded === n && lost === 0 && duplicated === 0 && drainSeconds <= DRAIN_LIMIT_SECONDS,
    tablePerJob: table / n,
    storagePerJob: b.transactions() / n,
  };
}

/**
 * Documented limits, each with its source, as files per hour for the defaults. `perJob` figures come from
 * the load test; a coalesced batch is one AML job for up to `BATCH_MAX_FILES` files.
 */
function paperLimits(
  tablePerJob: number,
  storagePerJob: number,
): { component: string; filesPerHour: number; note: string }[] {
  const c = REALISTIC.cluster;
  const amlJobSeconds = c.warmStartSeconds + c.finalizingSeconds + 5; // a small job on a warm node
  const amlJobsPerHour = (c.maxNodes * 3600) / amlJobSeconds;
  // Durable (Azure Storage provider): orchestrations are spread over `partitionCount` control queues (host.json
  // 4, at most 16), each served by one worker at a time; Learn durable-functions-perf-and-scale gives 150
  // responses/s (fan-in) per instance as the best case for one worker. A job's orchestration handles about 20
  // messages: five activity results, and a timer and a result for each of ~7 status checks (the polling figure).
  const durableJobsPerSecond = (4 * 150) / 20;
  return [
    {
      component: 'AML cluster, one job per file',
      filesPerHour: amlJobsPerHour,
      note: `${c.maxNodes} nodes, each job holds a node ≥ ${amlJobSeconds} s warm (${c.coldStartSeconds} s cold)`,
    },
    {
      component: 'AML cluster, coalesced (defaults)',
      filesPerHour: amlJobsPerHour * RECOMMENDED.maxFiles,
      note: `one job per ${RECOMMENDED.maxFiles} files when batches fill before the ${RECOMMENDED.windowSeconds} s window`,
    },
    {
      component: 'Durable task hub, partitionCount 4',
      filesPerHour: durableJobsPerSecond * 3600,
      note: '4 control queues × ~150 messages/s ÷ ~20 messages per job',
    },
    {
      component: 'Jobs table, one partition',
      filesPerHour: (2000 / Math.max(1, tablePerJob)) * 3600,
      note: `2,000 entities/s per partition ÷ ${tablePerJob.toFixed(1)} table requests per job (measured)`,
    },
    {
      component: 'Data storage account',
      filesPerHour: (20_000 / Math.max(1, storagePerJob)) * 3600,
      note: `20,000 requests/s ÷ ${storagePerJob.toFixed(1)} requests per job (measured)`,
    },
  ];
}

export const capacity: Figure = async (ctx) => {
  const seconds = Math.max(10, Math.round(30 * ctx.scale));
  // Quick AML jobs and polling, so the pipeline, not the emulator's timings, is what saturates. One job per
  // file (window off): the path with the most requests per file.
  const env = {
    POLL_FIRST_DELAY_SECONDS: '1',
    POLL_BACKOFF_FACTOR: '1.5',
    POLL_MAX_DELAY_SECONDS: '2',
    BATCH_WINDOW_SECONDS: '0',
  };
  const b = await startBenchStack(ctx, env, FAST_TIMINGS);
  const rows: BenchRow[] = [];
  const steps: Step[] = [];
  try {
    for (const rate of [1, 2, 3, 4, 6, 8, 12]) {
      const s = await step(ctx, b, rate, seconds);
      steps.push(s);
      ctx.log(
        `${rate} files/s for ${seconds} s: ${s.succeeded}/${s.files} Succeeded, ${s.lost} lost, ${s.duplicated} duplicated, drained ${s.drainSeconds.toFixed(1)} s after the last upload, ${s.storagePerJob.toFixed(1)} storage requests per job (${s.tablePerJob.toFixed(1)} table)`,
      );
      if (!s.sustained) break;
    }
  } finally {
    await b.close();
  }
  const best = [...steps].reverse().find((s) => s.sustained);
  const last = steps[steps.length - 1]!;
  rows.push({
    figure: `load test, local stack (${seconds} s per step): highest sustained file rate`,
    value: best?.rate ?? 0,
    unit: 'files/s',
    compare: `machine load average ${loadavg()[1]!.toFixed(1)} over the last 5 min; steps ${steps.map((s) => `${s.rate}/s: ${s.succeeded}/${s.files} ok, ${s.lost} lost, ${s.duplicated} dup, drain ${s.drainSeconds.toFixed(0)} s`).join('; ')}`,
    target: steps.every((s) => s.lost === 0 && s.duplicated === 0) ? 'met' : 'missed',
  });
  const ref = best ?? last;
  const limits = paperLimits(ref.tablePerJob, ref.storagePerJob).sort(
    (a, b) => a.filesPerHour - b.filesPerHour,
  );
  for (const l of limits)
    rows.push({
      figure: `capacity on paper: ${l.component}`,
      value: l.filesPerHour,
      unit: 'files/h',
      compare: l.note,
    });
  return rows;
};
