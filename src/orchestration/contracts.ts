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
  /** Carried across continueAsNew: where the previous execution stopped. */
  progress?: ScoreJobProgress;
}

export interface ScoreJobProgress {
  startedAt: string;
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
/** `deployment`: the one the file asked for (API, then blob metadata); absent = AML_DEPLOYMENT_NAME. */
export type ValidateResult =
  | { ok: true; staged: StagedFile; deployment?: string }
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
  phase: 'Validating' | 'Submitting' | 'Waiting' | 'Publishing' | 'Canceling' | 'Recording' | 'Done';
  amlJobName?: string;
  amlStatus?: string;
  polls?: number;
  elapsedSeconds?: number;
  nextCheckAt?: string;
  outage?: { since: string; missedChecks: number; lastError: string };
}
