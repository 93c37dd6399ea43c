import type { TableClient } from '@azure/data-tables';
import type { FinishedJob } from '../domain/durationEstimate';
import type { AmlStatusEntry } from '../domain/jobRecord';
import { partitionOf } from './jobTable';
import { translateStorageError } from './storageErrors';

/** How far back the history reaches, how much of it is read, and how long one read is reused. */
export const HISTORY_DAYS = 7;
const MAX_ROWS = 1000;
const CACHE_MS = 60_000;
const MAX_MS = 9_999_999_999_999; // as in domain/jobId: ids carry the inverted arrival time

/**
 * The deployment's recent successful jobs, newest first, as sizes and durations (submit to Completed seen),
 * read from the jobs table. One query over the partitions of the last HISTORY_DAYS (job ids, and so keys,
 * begin with the inverted arrival time), only the columns needed, and reused for a minute per deployment:
 * a burst of jobs costs one read, not one each.
 */
export class JobHistory {
  private readonly cache = new Map<string, { at: number; jobs: Promise<FinishedJob[]> }>();

  constructor(private readonly client: TableClient) {}

  async finished(deployment: string | undefined, now: Date): Promise<FinishedJob[]> {
    const key = deployment ?? '';
    const hit = this.cache.get(key);
    if (hit && now.getTime() - hit.at < CACHE_MS) return hit.jobs;
    const jobs = this.read(deployment, now);
    this.cache.set(key, { at: now.getTime(), jobs });
    jobs.catch(() => this.cache.delete(key)); // a failed read is not cached
    return jobs;
  }

  private async read(deployment: string | undefined, now: Date): Promise<FinishedJob[]> {
    const newest = partitionOf(jobIdPrefix(now));
    const oldest = partitionOf(jobIdPrefix(new Date(now.getTime() - HISTORY_DAYS * 86_400_000)));
    // A record without `deployment` ran on the endpoint's default: Table filters cannot ask for a missing
    // property, so those are picked out below.
    const filter = [
      `PartitionKey ge '${newest}' and PartitionKey le '${oldest}'`,
      `status eq 'Succeeded'`,
      ...(deployment ? [`deployment eq '${deployment.replace(/'/g, "''")}'`] : []),
    ].join(' and ');
    const out: FinishedJob[] = [];
    let seen = 0;
    try {
      const pages = this.client
        .listEntities<Record<string, unknown>>({
          queryOptions: { filter, select: ['rowCount', 'phases', 'amlStatusHistory', 'deployment'] },
        })
        .byPage({ maxPageSize: MAX_ROWS });
      for await (const page of pages) {
        for (const e of page) {
          if (!deployment && e.deployment !== undefined) continue;
          const job = finishedJob(e);
          if (job) out.push(job);
        }
        if ((seen += page.length) >= MAX_ROWS) break;
      }
    } catch (err) {
      throw translateStorageError(err, 'read the job history');
    }
    return out;
  }
}

/** The first characters of the ids of jobs arriving at `at` (ids sort newest first). */
function jobIdPrefix(at: Date): string {
  return `j${String(MAX_MS - at.getTime()).padStart(13, '0')}`;
}

function finishedJob(e: Record<string, unknown>): FinishedJob | undefined {
  const rows = typeof e.rowCount === 'number' ? e.rowCount : undefined;
  const history = parse<AmlStatusEntry[]>(e.amlStatusHistory) ?? [];
  const phases = parse<Record<string, string>>(e.phases) ?? {};
  const from = Date.parse(phases.Submitted ?? history[0]?.since ?? '');
  const to = Date.parse(history.find((h) => h.status === 'Completed')?.since ?? '');
  if (!rows || !Number.isFinite(from) || !Number.isFinite(to) || to <= from) return undefined;
  return { rows, seconds: (to - from) / 1000 };
}

function parse<T>(v: unknown): T | undefined {
  if (typeof v !== 'string') return undefined;
  try {
    return JSON.parse(v) as T;
  } catch {
    return undefined;
  }
}
