import { TableClient } from '@azure/data-tables';
import { devConnectionString } from '../../dev/azurite';
import { startStack, type Stack } from '../../test/e2e/stack';
import type { BenchContext } from '../types';
import { startCountingProxy, type CountingProxy } from './countingProxy';
import type { TimelineEvent } from './phases';

/**
 * The local stack for benchmarks: `dev/start.ts` in a child process, the emulator in this process,
 * and the app's data connections (blob and table) going through counting proxies.
 */
export interface BenchStack {
  stack: Stack;
  proxies: CountingProxy[];
  transactions(): number;
  breakdown(): Record<string, number>;
  resetCounts(): void;
  /** The app's storage requests and log lines, in the order seen here (see phases.ts). */
  timeline: TimelineEvent[];
  close(): Promise<void>;
}

function ports(cs: string): { blob: number; queue: number; table: number } {
  const p = (name: string): number =>
    Number(new RegExp(`${name}=http://127\\.0\\.0\\.1:(\\d+)`).exec(cs)?.[1]);
  return { blob: p('BlobEndpoint'), queue: p('QueueEndpoint'), table: p('TableEndpoint') };
}

export async function startBenchStack(
  ctx: BenchContext,
  env: Record<string, string>,
  timings: Record<string, number>,
): Promise<BenchStack> {
  const target = ports(ctx.connectionString);
  const timeline: TimelineEvent[] = [];
  const seen = (r: TimelineEvent & { kind: 'request' }): number => timeline.push(r);
  const blob = await startCountingProxy('blob', target.blob, (r) => seen({ kind: 'request', r }));
  const table = await startCountingProxy('table', target.table, (r) => seen({ kind: 'request', r }));
  const proxied = devConnectionString({
    blobPort: blob.port,
    queuePort: target.queue,
    tablePort: table.port,
  });
  const stack = await startStack(env, {
    connectionString: ctx.connectionString,
    appDataConnectionString: proxied,
    emulatorTimings: timings,
  });
  const proxies = [blob, table];
  // Log lines join the timeline as they arrive (the stack collects the child's output into this array).
  const push = stack.output.push.bind(stack.output);
  stack.output.push = (...lines: string[]): number => {
    for (const line of lines) timeline.push({ kind: 'log', line });
    return push(...lines);
  };
  return {
    stack,
    proxies,
    transactions: () => proxies.reduce((a, p) => a + p.total(), 0),
    breakdown: () =>
      Object.fromEntries(proxies.flatMap((p) => [...p.counts.entries()]).sort((a, b) => b[1] - a[1])),
    resetCounts: () => proxies.forEach((p) => p.reset()),
    timeline,
    async close() {
      await stack.stop();
      await Promise.all(proxies.map((p) => p.close()));
    },
  };
}

export interface RecordView {
  jobId: string;
  status: string;
  sourceBlob: string;
  phases: Record<string, string>;
}

/**
 * The job records read straight from Azurite, not through the proxies or the API, so that
 * watching the benchmark does not add to what it counts.
 */
export async function records(ctx: BenchContext, stack: Stack): Promise<RecordView[]> {
  const t = TableClient.fromConnectionString(ctx.connectionString, stack.env.JOBS_TABLE!, {
    allowInsecureConnection: true,
  });
  const out: RecordView[] = [];
  for await (const e of t.listEntities<Record<string, unknown>>()) {
    out.push({
      jobId: e.rowKey!,
      status: String(e.status),
      sourceBlob: String(e.sourceBlob),
      phases: JSON.parse(String(e.phases ?? '{}')) as Record<string, string>,
    });
  }
  return out;
}

export async function waitForRecords(
  ctx: BenchContext,
  stack: Stack,
  done: (rs: RecordView[]) => boolean,
  timeoutMs: number,
  progress?: (rs: RecordView[]) => void,
): Promise<RecordView[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rs = await records(ctx, stack);
    if (done(rs)) return rs;
    progress?.(rs);
    if (Date.now() > deadline) throw new Error('timed out waiting for jobs');
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
