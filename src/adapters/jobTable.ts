import { TableClient, type TableEntityResult } from '@azure/data-tables';
import type { StorageConnection } from '../config/settings';
import { PipelineError } from '../domain/errors';
import {
  canTransition,
  isJobState,
  isTerminal,
  JOB_STATES,
  type JobPatch,
  type JobRecord,
  type JobState,
} from '../domain/jobRecord';
import { azureCredential } from './credentials';
import { translateStorageError } from './storageErrors';

/**
 * Job records in Table Storage. Job ids begin with an inverted timestamp, so:
 * - PartitionKey = the id's first 6 characters (about a day of arrivals per partition): no single hot
 *   partition, yet derivable from the id, so "one job by id" is a point read;
 * - RowKey = the id: a plain scan in key order is "newest jobs first".
 */
export function partitionOf(jobId: string): string {
  return jobId.slice(0, 6);
}

/** Job partitions only: the table also holds batch records (`b…`) and the open batches (`heads`). */
const JOBS_ONLY = "PartitionKey ge 'j' and PartitionKey lt 'k'";

type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

const JSON_FIELDS = ['phases', 'error', 'amlStatusHistory', 'outage', 'cancel', 'warnings', 'files'] as const;
const MAX_STRING = 30_000; // Table string properties are limited to 64 KiB (32k UTF-16 chars).

function toEntity(r: JobRecord): Entity {
  const e: Entity = { partitionKey: partitionOf(r.jobId), rowKey: r.jobId };
  for (const [k, v] of Object.entries(r)) {
    if (v === undefined) continue;
    if ((JSON_FIELDS as readonly string[]).includes(k)) {
      const json = JSON.stringify(v);
      e[k] = json.length > MAX_STRING ? JSON.stringify(truncateError(v)) : json;
    } else e[k] = v;
  }
  return e;
}

function truncateError(v: unknown): unknown {
  const err = v as { problems?: unknown[] };
  return { ...err, problems: (err.problems ?? []).slice(0, 5) };
}

function fromEntity(e: TableEntityResult<Record<string, unknown>>): JobRecord {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'partitionKey' || k === 'rowKey' || k === 'etag' || k === 'timestamp' || k.startsWith('odata'))
      continue;
    out[k] = (JSON_FIELDS as readonly string[]).includes(k) && typeof v === 'string' ? JSON.parse(v) : v;
  }
  out.jobId = e.rowKey;
  if (!isJobState(String(out.status)))
    throw new PipelineError('Internal', `record ${e.rowKey} has unknown status ${String(out.status)}`);
  return out as unknown as JobRecord;
}

export interface ListOptions {
  status?: JobState;
  top: number;
  continuationToken?: string;
}

export class JobTable {
  constructor(readonly client: TableClient) {}

  static fromConnection(conn: StorageConnection, table: string): JobTable {
    if (conn.kind === 'connectionString') {
      return new JobTable(
        TableClient.fromConnectionString(conn.connectionString, table, { allowInsecureConnection: true }),
      );
    }
    if (!conn.tableServiceUri)
      throw new PipelineError(
        'ConfigInvalid',
        'Setting DataStorage__tableServiceUri is required for the jobs table',
      );
    return new JobTable(new TableClient(conn.tableServiceUri, table, azureCredential(conn.clientId)));
  }

  async ensureTable(): Promise<void> {
    try {
      await this.client.createTable();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409)
        throw translateStorageError(err, `create table ${this.client.tableName}`);
    }
  }

  async get(jobId: string): Promise<JobRecord | undefined> {
    try {
      const e = await this.client.getEntity<Record<string, unknown>>(partitionOf(jobId), jobId);
      return fromEntity(e);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw translateStorageError(err, `read job ${jobId}`);
    }
  }

  /** Inserts the first record of a job; if it exists already (a redelivered trigger), returns the existing one. */
  async create(record: JobRecord): Promise<{ created: boolean; record: JobRecord }> {
    try {
      await this.client.createEntity(toEntity(record));
      return { created: true, record };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409)
        throw translateStorageError(err, `create job ${record.jobId}`);
      const existing = await this.get(record.jobId);
      if (!existing)
        throw new PipelineError('StorageConflict', `job ${record.jobId} conflicted but cannot be read`, {
          retryable: true,
        });
      return { created: false, record: existing };
    }
  }

  /**
   * Moves a job to `status` with `patch`. A step that is not forward (a late retry, a replay after the
   * job ended) changes nothing and returns the current record, so every update is safe to repeat.
   */
  async transition(jobId: string, status: JobState, patch: JobPatch, at: Date): Promise<JobRecord> {
    return this.update(
      jobId,
      (rec) => (canTransition(rec.status, status) ? { status, patch } : undefined),
      at,
    );
  }

  /** Adds facts to a job that has not ended, in whatever state it is. */
  async mark(jobId: string, patch: JobPatch, at: Date): Promise<JobRecord> {
    return this.update(
      jobId,
      (rec) => (isTerminal(rec.status) ? undefined : { status: rec.status, patch }),
      at,
    );
  }

  /** Links an ended job to the job that retries it; the first link wins, so a repeated call changes nothing. */
  async linkRetry(jobId: string, retriedBy: string, at: Date): Promise<JobRecord> {
    return this.update(
      jobId,
      (rec) => (rec.retriedBy ? undefined : { status: rec.status, patch: { retriedBy } }),
      at,
    );
  }

  /**
   * One page of jobs that have not ended and whose record has not changed since `updatedBefore`:
   * the reconciler's candidates. Newest first, like `list`.
   */
  async listUnfinished(opts: {
    updatedBefore: Date;
    top: number;
    continuationToken?: string;
  }): Promise<{ jobs: JobRecord[]; continuationToken?: string }> {
    const open = JOB_STATES.filter((s) => !isTerminal(s))
      .map((s) => `status eq '${s}'`)
      .join(' or ');
    const filter = `${JOBS_ONLY} and (${open}) and updatedAt lt '${opts.updatedBefore.toISOString()}'`;
    try {
      const page = await this.client
        .listEntities<Record<string, unknown>>({ queryOptions: { filter } })
        .byPage({
          maxPageSize: opts.top,
          ...(opts.continuationToken ? { continuationToken: opts.continuationToken } : {}),
        })
        .next();
      if (page.done) return { jobs: [] };
      const jobs = page.value.map(fromEntity);
      return page.value.continuationToken
        ? { jobs, continuationToken: page.value.continuationToken }
        : { jobs };
    } catch (err) {
      throw translateStorageError(err, 'list unfinished jobs');
    }
  }

  /** Read, decide, write with the read's ETag; on a concurrent write, read and decide again. */
  private async update(
    jobId: string,
    decide: (rec: JobRecord) => { status: JobState; patch: JobPatch } | undefined,
    at: Date,
  ): Promise<JobRecord> {
    for (let attempt = 0; attempt < 10; attempt++) {
      let current: TableEntityResult<Record<string, unknown>>;
      try {
        current = await this.client.getEntity<Record<string, unknown>>(partitionOf(jobId), jobId);
      } catch (err) {
        throw translateStorageError(err, `read job ${jobId}`);
      }
      const rec = fromEntity(current);
      const step = decide(rec);
      if (!step) return rec;
      const iso = at.toISOString();
      const next: JobRecord = {
        ...rec,
        ...step.patch,
        status: step.status,
        updatedAt: iso,
        phases: rec.phases[step.status] ? rec.phases : { ...rec.phases, [step.status]: iso },
      };
      try {
        await this.client.updateEntity(toEntity(next), 'Replace', { etag: current.etag });
        return next;
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 412) continue;
        throw translateStorageError(err, `update job ${jobId}`);
      }
    }
    throw new PipelineError('StorageConflict', `job ${jobId} kept changing under concurrent updates`, {
      retryable: true,
    });
  }

  /** Newest first, one page. */
  async list(opts: ListOptions): Promise<{ jobs: JobRecord[]; continuationToken?: string }> {
    try {
      const iter = this.client
        .listEntities<Record<string, unknown>>({
          queryOptions: { filter: opts.status ? `${JOBS_ONLY} and status eq '${opts.status}'` : JOBS_ONLY },
        })
        .byPage({
          maxPageSize: opts.top,
          ...(opts.continuationToken ? { continuationToken: opts.continuationToken } : {}),
        });
      const jobs: JobRecord[] = [];
      let token: string | undefined = opts.continuationToken;
      // A filtered page can come back empty while more rows remain: read on until one has rows.
      for await (const page of iter) {
        for (const e of page) jobs.push(fromEntity(e));
        token = page.continuationToken;
        if (jobs.length > 0 || !token) break;
      }
      return token ? { jobs, continuationToken: token } : { jobs };
    } catch (err) {
      throw translateStorageError(err, 'list jobs');
    }
  }
}
