import type { Stack } from '../../test/e2e/stack';
import { startBenchStack, waitForRecords, type RecordView } from '../stack/appStack';
import type { BenchContext, BenchRow, Figure } from '../types';

/**
 * A burst of small CSVs dropped at once: every job must end Succeeded with exactly one AML job each,
 * with and without 5% of AML requests answering 429.
 */
const CSV = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n1.01,Premium,G,VS2\n0.7,Very Good,F,VS1\n';
const TERMINAL = new Set(['Succeeded', 'Rejected', 'Failed', 'TimedOut', 'Canceled']);

async function burstOnce(
  ctx: BenchContext,
  stack: Stack,
  prefix: string,
  n: number,
  log: (l: string) => void,
): Promise<{ seconds: number; succeeded: number; amlJobs: number; duplicates: number }> {
  const t0 = Date.now();
  const names = Array.from({ length: n }, (_, i) => `${prefix}/${String(i).padStart(4, '0')}.csv`);
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(
      names.slice(i, i + 50).map((name) => stack.inbox.getBlockBlobClient(name).upload(CSV, CSV.length)),
    );
  }
  log(`${n} files uploaded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const ofMine = (rs: RecordView[]): RecordView[] => rs.filter((j) => j.sourceBlob.startsWith(`${prefix}/`));
  let lastLog = 0;
  const all = await waitForRecords(
    ctx,
    stack,
    (rs) => ofMine(rs).length >= n && ofMine(rs).every((j) => TERMINAL.has(j.status)),
    30 * 60_000,
    (rs) => {
      if (Date.now() - lastLog < 10_000) return;
      lastLog = Date.now();
      log(`${ofMine(rs).filter((j) => TERMINAL.has(j.status)).length}/${n} ended`);
    },
  );
  const mine = ofMine(all);
  const seconds = (Date.now() - t0) / 1000;
  const ids = new Set(mine.map((j) => j.jobId));
  const amlJobs = stack.emulator.jobs().filter((j) => [...ids].some((id) => j.inputUri.includes(id)));
  const perJob = new Map<string, number>();
  for (const j of amlJobs) {
    const id = [...ids].find((x) => j.inputUri.includes(x))!;
    perJob.set(id, (perJob.get(id) ?? 0) + 1);
  }
  return {
    seconds,
    succeeded: mine.filter((j) => j.status === 'Succeeded').length,
    amlJobs: amlJobs.length,
    duplicates: [...perJob.values()].filter((c) => c > 1).length,
  };
}

export const burst: Figure = async (ctx) => {
  const n = Math.max(20, Math.round(500 * ctx.scale));
  // One AML job per file (the e2e stack's BATCH_WINDOW_SECONDS=0), staged as the default SPLIT_ROWS stages it.
  const env = {
    POLL_FIRST_DELAY_SECONDS: '1',
    POLL_BACKOFF_FACTOR: '1.5',
    POLL_MAX_DELAY_SECONDS: '5',
    SPLIT_ROWS: '50000',
  };
  const timings = {
    notStartedMs: 200,
    queuedMs: 500,
    preparingMs: 500,
    runningMs: 300,
    finalizingMs: 200,
    cancelMs: 100,
  };
  const b = await startBenchStack(ctx, env, timings);
  const rows: BenchRow[] = [];
  try {
    for (const [label, rate] of [
      ['no faults', 0],
      ['5% of AML requests 429', 0.05],
    ] as const) {
      b.stack.emulator.setFaults({ throttleRate: rate });
      b.resetCounts();
      const r = await burstOnce(ctx, b.stack, `burst-${rate}`, n, ctx.log);
      const breakdown = b.breakdown();
      // The local container scan lists the inbox (Event Grid in Azure): not the jobs' own requests.
      const own = b.transactions() - (breakdown['blob GET list'] ?? 0);
      ctx.log(`storage requests by operation (${label}): ${JSON.stringify(breakdown)}`);
      const ok = r.succeeded === n && r.amlJobs === n && r.duplicates === 0;
      rows.push({
        figure: `burst of ${n} files (${label}): time until the last job ended`,
        value: r.seconds,
        unit: 's',
        compare: `${r.succeeded}/${n} Succeeded, ${r.amlJobs} AML jobs submitted, ${r.duplicates} duplicated`,
        target: ok ? 'met' : 'missed',
      });
      rows.push({
        figure: `burst of ${n} files (${label}): storage requests per job`,
        value: own / n,
        unit: 'requests',
        compare: 'counted on the wire, without the local container scan; jobs run side by side',
      });
    }
  } finally {
    await b.close();
  }
  return rows;
};
