import type { DurationEstimate, PollSchedule } from '../domain/pollSchedule';
import type { ErrorInfo } from '../domain/errors';
import type { CancelRecord, JobState, Outage } from '../domain/jobRecord';
import type { AmlStatus } from '../domain/amlStatus';

/**
 * The data passed between the orchestrator and its activities: plain JSON, nothing else. Each activity
 * answers a Result; a failure is structured ErrorInfo whether the activity returned it (permanent) or
 * threw it and ran out of retries (transient: `retryable: true`), see activityError.ts.
 */

export interface SourceBlob {
  container: string;
  name: string;
  etag: string;
}

export interface ScoreJobInput {
  jobId: string;
  source: SourceBlob;
  /** Fixed when the job starts, so a settings change never alters a running job's replay. */
  schedule: PollSchedule;
  deadlineSeconds: number;
  /** A deployment asked for through the API (`?deployment=`); wins over the blob's metadata. */
  deployment?: string;
  /** Coalescing, when on (BATCH_WINDOW_SECONDS > 0) at the job's start. */
  batching?: BatchLimitsInput;
  /** Carried across continueAsNew: where the previous execution stopped. */
  progress?: ScoreJobProgress;
}

export interface ScoreJobProgress {
  startedAt: string;
  /** The deployment the AML job runs on; '' = the endpoint's default (absent on older progress: unknown). */
  deployment?: string;
  staged: StagedFile;
  amlJobName: string;
  /** Status checks so far, answered or not: the backoff schedule's position. */
  polls: number;
  amlStatus?: AmlStatus;
  /** Set while checks (or, once AML completed, publish attempts) cannot get through. */
  outage?: Outage;
  /** Present once the duration estimate was asked for (schedule.learned); `estimate` absent = none to be had. */
  timing?: { estimate?: DurationEstimate };
  /** Checks made at once because an AML status event arrived (bounded: events can be duplicated). */
  eventChecks?: number;
}

export interface StagedFile {
  rows: number;
  bytes: number;
  inputPath: string;
  outputPath: string;
  inputUri: string;
  outputUri: string;
  /** The input is a folder (`UriFolder`): a split file's parts, or a batch's files. */
  folder?: boolean;
  /** A split file: its parts in order (`part-00000.csv`, ...), with where each begins in the input. */
  parts?: PartInfo[];
  /** A batch: its member jobs (each file `<jobId>.csv` in the folder). */
  members?: string[];
  /** A batch member: its predictions, as regrouped from the batch's output (run files, in order). */
  predictionRuns?: string[];
}

export interface PartInfo {
  rows: number;
  /** 1-based input line of the part's first data row. */
  firstLine: number;
}

export type Result<T> = ({ ok: true } & T) | { ok: false; error: ErrorInfo };

export interface ValidateInput {
  jobId: string;
  source: SourceBlob;
  deployment?: string;
}
/** The user's file is at fault: the job ends Rejected with what the activity found (and quarantined). */
export interface Rejection {
  quarantineBlob?: string;
  problems?: unknown[];
  problemCount?: number;
}
/**
 * `deployment`: the one the file asked for (API, then blob metadata); absent = AML_DEPLOYMENT_NAME.
 * `batchable`: small enough to share an AML job with other files (and coalescing is on).
 */
export type ValidateResult =
  | { ok: true; staged: StagedFile; deployment?: string; batchable?: boolean }
  | { ok: false; error: ErrorInfo; rejected?: Rejection };

export interface SubmitInput {
  jobId: string;
  staged: StagedFile;
  deployment?: string;
}
export type SubmitResult = Result<{ amlJobName: string; amlStatus: AmlStatus }>;

export interface CheckInput {
  jobId: string;
  amlJobName: string;
  polls: number;
}
export type CheckResult = Result<{ amlStatus: AmlStatus; amlError?: string; cancelRequested: boolean }>;

/** `deployment` when the orchestration knows it; otherwise the activity reads it from the job's record. */
export interface EstimateInput {
  jobId: string;
  rows: number;
  deployment?: string;
}
export type EstimateResult = Result<{ estimate?: DurationEstimate }>;

/** What the AML events function raises (AML_STATUS_EVENT): the AML job and the status the event reported. */
export interface AmlStatusEvent {
  amlJobName: string;
  amlStatus: string;
  /** The event's own time (`eventTime`), for the logs. */
  at?: string;
}

export interface OutageInput {
  jobId: string;
  outage: Outage;
}

export interface CancelInput {
  jobId: string;
  amlJobName: string;
}
/** `confirmed`: AML accepted the request; `amlStatus`: what AML reported right after it. */
export type CancelResult = Result<{ confirmed: boolean; amlAnswer: string; amlStatus?: AmlStatus }>;

export interface PublishInput {
  jobId: string;
  source: SourceBlob;
  staged: StagedFile;
}
/**
 * Every input row is either scored (`rows`, in `outputBlob`) or failed (`rowsFailed`, listed in
 * `errorsBlob`). With no row scored there is no predictions file.
 */
export type PublishResult = Result<{
  outputBlob?: string;
  rows: number;
  rowsFailed: number;
  errorsBlob?: string;
}>;

/** Coalescing settings, fixed when a job starts (like its schedule). */
export interface BatchLimitsInput {
  windowSeconds: number;
  maxFiles: number;
  maxBytes: number;
}

export interface JoinBatchInput {
  jobId: string;
  staged: StagedFile;
  deployment?: string;
  limits: BatchLimitsInput;
}
export type JoinBatchResult = Result<{ batchId: string }>;

/** A batch's orchestration input: shaped as a job's (the AML steps are shared), plus the batch. */
export interface BatchInput extends ScoreJobInput {
  batch: { closesAt: string };
}

export interface CloseBatchInput {
  batchId: string;
  deployment?: string;
}
export type CloseBatchResult = Result<{ staged: StagedFile }>;

/** What a batch tells each member at its end (event BATCH_DONE_EVENT). */
export interface BatchDone {
  batchId: string;
  amlJobName?: string;
  /** AML scored the batch and its output was regrouped: the member publishes its own file. */
  scored: boolean;
  predictionRuns?: string[];
  status: TerminalState;
  error?: ErrorInfo;
}

export interface NotifyMembersInput {
  batchId: string;
  members: string[];
  /** Each member's `predictionRuns` are read from the batch's regroup manifest when `scored`. */
  done: Omit<BatchDone, 'predictionRuns'>;
}

export type TerminalState = Extract<JobState, 'Succeeded' | 'Rejected' | 'Failed' | 'TimedOut' | 'Canceled'>;

/** A terminal outcome, decided by the orchestrator and written by the one recording activity. */
export interface Outcome extends Rejection {
  status: TerminalState;
  error?: ErrorInfo;
  amlStatus?: AmlStatus;
  cancel?: CancelRecord;
  warnings?: string[];
  outputBlob?: string;
  rowsScored?: number;
  rowsFailed?: number;
  errorsBlob?: string;
}
export type OutcomeInput = Outcome & { jobId: string };

export interface ScoreJobOutput {
  jobId: string;
  status: JobState;
  error?: ErrorInfo;
  outputBlob?: string;
  amlJobName?: string;
  polls?: number;
}

export interface ProgressStatus {
  phase:
    'Validating' | 'Batching' | 'Submitting' | 'Waiting' | 'Publishing' | 'Canceling' | 'Recording' | 'Done';
  batchId?: string;
  amlJobName?: string;
  amlStatus?: string;
  polls?: number;
  elapsedSeconds?: number;
  nextCheckAt?: string;
  outage?: { since: string; missedChecks: number; lastError: string };
}
