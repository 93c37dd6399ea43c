import type { BatchMember } from './batch';
import type { ErrorInfo } from './errors';

/**
 * A job's life: one record from the moment the file arrives to one terminal state. States only move
 * forward, so a replayed or retried update that arrives late can never move a job backwards.
 */
export const JOB_STATES = [
  'Received',
  'Validating',
  'Submitted',
  'Running',
  'Publishing',
  'Succeeded',
  'Rejected',
  'Failed',
  'TimedOut',
  'Canceled',
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<JobState> = new Set([
  'Succeeded',
  'Rejected',
  'Failed',
  'TimedOut',
  'Canceled',
]);

const RANK: Record<JobState, number> = {
  Received: 0,
  Validating: 1,
  Submitted: 2,
  Running: 3,
  Publishing: 4,
  Succeeded: 5,
  Rejected: 5,
  Failed: 5,
  TimedOut: 5,
  Canceled: 5,
};

/** The ends a job can be retried from (POST /api/jobs/{id}/retry): our side gave up, the file was fine. */
export const RETRYABLE_STATES: ReadonlySet<JobState> = new Set(['Failed', 'TimedOut', 'Canceled']);

export function isTerminal(s: JobState): boolean {
  return TERMINAL_STATES.has(s);
}

export function isJobState(s: string): s is JobState {
  return (JOB_STATES as readonly string[]).includes(s);
}

/**
 * Whether moving from `from` to `to` is a real step. The same state again is allowed (a retried
 * activity re-writes the same facts); terminal states are final.
 */
export function canTransition(from: JobState, to: JobState): boolean {
  if (isTerminal(from)) return false;
  return RANK[to] >= RANK[from];
}

export interface JobRecord {
  jobId: string;
  status: JobState;
  sourceContainer: string;
  sourceBlob: string;
  sourceEtag: string;
  /** When the file was received (blob Last-Modified). */
  receivedAt: string;
  createdAt: string;
  updatedAt: string;
  /** Timestamps per phase, ISO strings keyed by state. */
  phases: Partial<Record<JobState, string>>;
  rowCount?: number;
  byteCount?: number;
  stagedInputUri?: string;
  outputUri?: string;
  amlJobName?: string;
  amlStatus?: string;
  amlPolls?: number;
  outputBlob?: string;
  /** Rows written with a prediction to `outputBlob`, and rows without one (listed in `errorsBlob`). */
  rowsScored?: number;
  rowsFailed?: number;
  /** `outbox/<name>_errors.csv`: each row AML gave no prediction for, with its input line and the reason. */
  errorsBlob?: string;
  /** The deployment the file asked for (API or blob metadata), else AML_DEPLOYMENT_NAME; absent = the endpoint's default. */
  deployment?: string;
  /** How the file reached the datastore: `server-side` copy or `streamed`. */
  stagedBy?: string;
  quarantineBlob?: string;
  /** Set by the cancel API; the orchestrator acts on it at its next wake-up even if the event was missed. */
  cancelRequested?: boolean;
  error?: RecordedError;
  /** Each AML status with the time it was first seen: the time spent in each is the gap to the next. */
  amlStatusHistory?: AmlStatusEntry[];
  /** Set while AML (status checks) or storage (publishing) cannot be reached; cleared by the next answer. */
  outage?: Outage;
  /** What happened when our side asked AML to cancel its job. */
  cancel?: CancelRecord;
  /** Things a person should know about a job that ended, e.g. an AML job that may still be running. */
  warnings?: string[];
  /** The job in AML Studio (the invoke response's `interactionEndpoints.Studio.endpoint`). */
  amlStudioUrl?: string;
  /** 0 for the first job of a blob version, n for its n-th retry (absent only on records older than retries). */
  attempt?: number;
  /** The job this one retries. */
  retryOf?: string;
  /** The job that retried this one (set once; a second retry request finds it). */
  retriedBy?: string;
  /** A file coalesced with others: the batch whose AML job scored it. */
  batchId?: string;
  /** A file staged as parts (more rows than SPLIT_ROWS): how many. */
  parts?: number;
  /**
   * Only on a batch's record (id `b…`; same table and shape, so the AML steps are shared): its files,
   * when it stopped taking more, and when it was to close at the latest.
   */
  files?: BatchMember[];
  closesAt?: string;
  closedAt?: string;
}

export type RecordedError = ErrorInfo & { at: string; problems?: unknown[]; problemCount?: number };

export interface AmlStatusEntry {
  status: string;
  since: string;
}

export interface Outage {
  /** When the first check (or publish attempt) that could not get through ran. */
  since: string;
  lastError: ErrorInfo;
  /** Checks (or publish attempts) that ran out of retries since then. */
  missedChecks: number;
}

export interface CancelRecord {
  requestedAt: string;
  /** True only when AML accepted the cancel request (2xx). */
  confirmed: boolean;
  /** AML's answer, or why no request was sent. */
  amlAnswer?: string;
}

/** The history with `status` appended if it differs from the last one seen. */
export function withAmlStatus(
  history: readonly AmlStatusEntry[] | undefined,
  status: string,
  at: Date,
): AmlStatusEntry[] {
  const h = history ?? [];
  return h.at(-1)?.status === status ? [...h] : [...h, { status, since: at.toISOString() }];
}

/** The fields an update may carry besides the status. */
export type JobPatch = Partial<Omit<JobRecord, 'jobId' | 'status' | 'createdAt' | 'updatedAt' | 'phases'>>;
