import { odata, TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
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
/** Batch records' partitions (`b…`, domain/batch.ts `batchIdFor`): for the reconciler. */
const BATCHES_ONLY = "PartitionKey ge 'b' and PartitionKey lt 'c'";

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

/** The record after one step: the patch, the new status, and the first time each state was reached. */
function stepped(rec: JobRecord, status: JobState, patch: JobPatch, at: Date): JobRecord {
  const iso = at.toISOString();
  return {
    ...rec,
    ...patch,
    status,
    updatedAt: iso,
    phases: rec.phases[status] ? rec.phases : { ...rec.phases, [status]: iso },
  };
}

function patchFor(p: PatchOf, rec: JobRecord): JobPatch {
  return typeof p === 'function' ? p(rec) : p;
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

/** How many jobs' last known record and ETag one process keeps (a job that has not ended: a few KB). */
const CACHE_SIZE = 2_000;

/** The record and ETag this process last wrote or read; a write with a stale ETag gets a 412. */
interface Known {
  etag: string;
  record: JobRecord;
}

/** A patch, or one computed from the record it is applied to (e.g. appending to a history). */
export type PatchOf = JobPatch | ((current: JobRecord) => JobPatch);

export class JobTable {
  /**
   * ETag cache: a transition writes with the ETag of this process's last write or read of the job, and
   * reads only when that write is refused (412: someone else wrote since) or when the cached record says
   * there is nothing to do (confirmed on a fresh read). Another instance's cache going stale costs one
   * 412 and one read; it can never make a write land on a record it did not decide on.
   */
  private readonly known = new Map<string, Known>();

  constructor(readonly client: TableClient) {}

  private remember(jobId: string, etag: string | undefined, record: JobRecord): void {
    this.known.delete(jobId);
    // An ended job is rarely written again (a retry link), and its record can be large (a rejection's problems).
    if (!etag || isTerminal(record.status)) return;
    // A copy: a caller changing the record it got back must not change what the next write decides on.
    this.known.set(jobId, { etag, record: structuredClone(record) });
    if (this.known.size > CACHE_SIZE) this.known.delete(this.known.keys().next().value!);
  }

  /** A fresh read (remembered), undefined when there is no such job. */
  private async read(jobId: string): Promise<Known | undefined> {
    try {
      const e = await this.client.getEntity<Record<string, unknown>>(partitionOf(jobId), jobId);
      const record = fromEntity(e);
      this.remember(jobId, e.etag, record);
      return { etag: e.etag, record };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) {
        this.known.delete(jobId);
        return undefined;
      }
      throw translateStorageError(err, `read job ${jobId}`);
    }
  }

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

  /** The record as stored now: always a read (another process may have written). */
  async get(jobId: string): Promise<JobRecord | undefined> {
    return (await this.read(jobId))?.record;
  }

  /** Inserts the first record of a job; if it exists already (a redelivered trigger), returns the existing one. */
  async create(record: JobRecord): Promise<{ created: boolean; record: JobRecord }> {
    try {
      const res = await this.client.createEntity(toEntity(record));
      this.remember(record.jobId, res.etag, record);
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
  async transition(jobId: string, status: JobState, patch: PatchOf, at: Date): Promise<JobRecord> {
    return this.update(
      jobId,
      (rec) => (canTransition(rec.status, status) ? { status, patch: patchFor(patch, rec) } : undefined),
      at,
    );
  }

  /**
   * Decides on the record whether to write at all: `decide` answers a step (forward, or to the same
   * state) or undefined for "nothing to write". On the remembered record that costs one write and no
   * read when there is something to write; "nothing" is confirmed on a read. Either way the answer is
   * the record as stored now: e.g. a status check learns `cancelRequested` from it without a read of
   * its own when it writes.
   */
  async change(
    jobId: string,
    decide: (rec: JobRecord) => { status: JobState; patch: JobPatch } | undefined,
    at: Date,
  ): Promise<JobRecord> {
    return this.update(
      jobId,
      (rec) => {
        const step = decide(rec);
        return step && canTransition(rec.status, step.status) ? step : undefined;
      },
      at,
    );
  }

  /**
   * One step for jobs that move together (a batch's members): one entity group transaction per
   * partition and 100 jobs instead of a write each, every entity written with its own ETag, so a group
   * lands whole or not at all. One stale ETag refuses the whole group (412): its records are read again
   * (one query) and decided again. Jobs for which the step is not forward are left as they are.
   * Returns the records as stored, in the order of `jobIds`.
   */
  async transitionMany(
    jobIds: readonly string[],
    status: JobState,
    patch: PatchOf,
    at: Date,
  ): Promise<JobRecord[]> {
    const groups = new Map<string, string[]>();
    for (const id of new Set(jobIds))
      groups.set(partitionOf(id), [...(groups.get(partitionOf(id)) ?? []), id]);
    const done = new Map<string, JobRecord>();
    for (const [partition, ids] of groups)
      for (let i = 0; i < ids.length; i += 100)
        for (const r of await this.transitionGroup(partition, ids.slice(i, i + 100), status, patch, at))
          done.set(r.jobId, r);
    return jobIds.map((id) => done.get(id)!);
  }

  private async transitionGroup(
    partition: string,
    ids: string[],
    status: JobState,
    patch: PatchOf,
    at: Date,
  ): Promise<JobRecord[]> {
    const fresh = new Map<string, Known>();
    for (let attempt = 0; attempt < 10; attempt++) {
      const missing = ids.filter((id) => !fresh.has(id) && !this.known.has(id));
      if (missing.length) for (const [id, k] of await this.readMany(partition, missing)) fresh.set(id, k);
      const unchanged: JobRecord[] = [];
      const writes: JobRecord[] = [];
      const actions: TransactionAction[] = [];
      const unsure: string[] = [];
      for (const id of ids) {
        const cur = fresh.get(id) ?? this.known.get(id);
        if (!cur) throw new PipelineError('InputNotFound', `read job ${id}: there is no such job`);
        const rec = structuredClone(cur.record);
        if (!canTransition(rec.status, status)) {
          // As for one job: "nothing to do" on a remembered record is confirmed on a read.
          if (fresh.has(id)) unchanged.push(rec);
          else unsure.push(id);
          continue;
        }
        const next = stepped(rec, status, patchFor(patch, rec), at);
        writes.push(next);
        actions.push(['update', toEntity(next), 'Replace', { etag: cur.etag }]);
      }
      if (unsure.length) {
        for (const id of unsure) this.known.delete(id);
        continue;
      }
      if (await this.submitInSlices(partition, writes, actions)) return [...unchanged, ...writes];
      fresh.clear();
    }
    throw new PipelineError(
      'StorageConflict',
      `jobs in partition ${partition} kept changing under concurrent updates`,
      { retryable: true },
    );
  }

  /**
   * Submits the updates as transactions of at most 100 entities and about 3 MiB each (the service's
   * limits are 100 and 4 MiB: Learn, "Performing entity group transactions"). Remembers what landed;
   * answers false when one was refused for a stale ETag (its jobs are forgotten, to be read again).
   */
  private async submitInSlices(
    partition: string,
    writes: JobRecord[],
    actions: TransactionAction[],
  ): Promise<boolean> {
    for (let start = 0; start < actions.length;) {
      let end = start;
      for (let bytes = 0; end < actions.length && end - start < 100; end++) {
        bytes += JSON.stringify(actions[end]![1]).length;
        if (bytes > 3 * 1024 * 1024 && end > start) break;
      }
      const slice = writes.slice(start, end);
      try {
        const res = await this.client.submitTransaction(actions.slice(start, end));
        // A change set's responses come in the order of its operations; an update's names no row key.
        const subs = res.subResponses.length === slice.length ? res.subResponses : [];
        slice.forEach((w, i) => this.remember(w.jobId, subs[i]?.etag, w));
      } catch (err) {
        for (const w of slice) this.known.delete(w.jobId);
        if ((err as { statusCode?: number }).statusCode === 412) return false;
        throw translateStorageError(err, `update ${slice.length} jobs in partition ${partition}`);
      }
      start = end;
    }
    return true;
  }

  /**
   * Reads jobs of one partition (and remembers them) with one query (a page holds up to 1,000): by id for a
   * few (a filter may hold at most 15 comparisons), by key range for more.
   */
  private async readMany(partition: string, ids: string[]): Promise<Map<string, Known>> {
    const sorted = [...ids].sort();
    const filter =
      ids.length <= 14
        ? `PartitionKey eq '${partition}' and (${sorted.map((id) => odata`RowKey eq ${id}`).join(' or ')})`
        : odata`PartitionKey eq ${partition} and RowKey ge ${sorted[0]!} and RowKey le ${sorted.at(-1)!}`;
    const wanted = new Set(ids);
    const found = new Map<string, Known>();
    try {
      for await (const e of this.client.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
        if (!wanted.has(e.rowKey!)) continue;
        const record = fromEntity(e);
        this.remember(e.rowKey!, e.etag, record);
        found.set(e.rowKey!, { etag: e.etag, record });
      }
      return found;
    } catch (err) {
      throw translateStorageError(err, `read jobs in partition ${partition}`);
    }
  }

  /** Adds facts to a job that has not ended, in whatever state it is. */
  async mark(jobId: string, patch: PatchOf, at: Date): Promise<JobRecord> {
    return this.update(
      jobId,
      (rec) => (isTerminal(rec.status) ? undefined : { status: rec.status, patch: patchFor(patch, rec) }),
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
   * One page of jobs (or, with `batches`, batch records) that have not ended and whose record has not
   * changed since `updatedBefore`: the reconciler's candidates. Newest first, like `list`.
   */
  async listUnfinished(opts: {
    updatedBefore: Date;
    top: number;
    continuationToken?: string;
    batches?: boolean;
  }): Promise<{ jobs: JobRecord[]; continuationToken?: string }> {
    const open = JOB_STATES.filter((s) => !isTerminal(s))
      .map((s) => `status eq '${s}'`)
      .join(' or ');
    const which = opts.batches ? BATCHES_ONLY : JOBS_ONLY;
    const filter = `${which} and (${open}) and updatedAt lt '${opts.updatedBefore.toISOString()}'`;
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
      throw translateStorageError(err, `list unfinished ${opts.batches ? 'batches' : 'jobs'}`);
    }
  }

  /**
   * Decide on the last known record, write with its ETag; on a 412 (someone else wrote), read and decide
   * again. A "nothing to do" decided on a remembered record is confirmed on a fresh read, so an answer
   * never rests on a record that may be stale. Returns the record as written (or as read, if unchanged).
   */
  private async update(
    jobId: string,
    decide: (rec: JobRecord) => { status: JobState; patch: JobPatch } | undefined,
    at: Date,
  ): Promise<JobRecord> {
    let cur: Known | undefined = this.known.get(jobId);
    let fresh = false;
    for (let attempt = 0; attempt < 10; attempt++) {
      if (!cur) {
        cur = await this.read(jobId);
        fresh = true;
        if (!cur) throw new PipelineError('InputNotFound', `read job ${jobId}: there is no such job`);
      }
      const rec = structuredClone(cur.record);
      const step = decide(rec);
      if (!step && !fresh) {
        cur = undefined;
        continue;
      }
      if (!step) return rec;
      const next = stepped(rec, step.status, step.patch, at);
      try {
        const res = await this.client.updateEntity(toEntity(next), 'Replace', { etag: cur.etag });
        this.remember(jobId, res.etag, next);
        return next;
      } catch (err) {
        this.known.delete(jobId);
        const status = (err as { statusCode?: number }).statusCode;
        if (status !== 412) throw translateStorageError(err, `update job ${jobId}`);
        cur = undefined;
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
