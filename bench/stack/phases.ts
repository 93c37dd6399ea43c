import type { SeenRequest } from './countingProxy';

/**
 * Storage requests of one job, attributed to the step that made them. The proxies and the app's log
 * lines go into one timeline in the order this process sees them. The local runtime logs
 * `activity <name> completed|failed (...)` after an activity's last request has been answered, and the
 * next activity starts only after that (the orchestrator replays in between), so every request belongs
 * to the next activity line after it. What comes before the first activity is the trigger's or the API's
 * handler: up to and including the insert of the job's record, that is the `received` phase.
 * A job's slice must hold only its own steps: run jobs one after another and end the slice at the
 * orchestration's `completed` line.
 */
export type TimelineEvent = { kind: 'request'; r: SeenRequest } | { kind: 'log'; line: string };

export interface PhaseCount {
  requests: number;
  /** How often the step ran (activity executions; 1 for `received`). */
  runs: number;
  byOperation: Record<string, number>;
}

/**
 * Requests not made for this job: the local container scan (Event Grid in Azure), the reconciler's
 * listing of unfinished jobs (a query across partitions), and reads of other jobs' records (the
 * reconciler looking up the inbox's older blobs). A query within one partition (a batch's members) is
 * the job's.
 */
export function background(r: SeenRequest, jobId: string): string | undefined {
  if (r.key === 'blob GET list') return 'container scan';
  if (!r.key.startsWith('table')) return undefined;
  const row = /RowKey='([^']*)'/.exec(r.path)?.[1];
  if (row !== undefined) return row === jobId ? undefined : 'other jobs';
  if (r.key === 'table GET' && !(r.query.get('$filter') ?? '').includes('PartitionKey')) return 'table query';
  return undefined;
}

const ACTIVITY_LINE = /activity (\S+) (completed|failed)/;

export function phasesOf(events: readonly TimelineEvent[], jobId: string): Map<string, PhaseCount> {
  const out = new Map<string, PhaseCount>();
  const add = (phase: string, rs: SeenRequest[], runs: number): void => {
    const p = out.get(phase) ?? { requests: 0, runs: 0, byOperation: {} };
    p.runs += runs;
    for (const r of rs) {
      p.requests++;
      p.byOperation[r.key] = (p.byOperation[r.key] ?? 0) + 1;
    }
    out.set(phase, p);
  };
  let pending: SeenRequest[] = [];
  let received = false;
  for (const e of events) {
    if (e.kind === 'request') {
      const bg = background(e.r, jobId);
      if (bg) add(bg, [e.r], 0);
      else pending.push(e.r);
      if (!received && e.r.key === 'table POST' && !e.r.path.endsWith('$batch')) {
        add('received', pending, 1);
        pending = [];
        received = true;
      }
      continue;
    }
    const m = ACTIVITY_LINE.exec(e.line);
    if (!m) continue;
    add(m[1]!, pending, 1);
    pending = [];
  }
  if (pending.length) add('unattributed', pending, 0);
  return out;
}
