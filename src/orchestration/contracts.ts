import type { PollSchedule } from '../domain/pollSchedule';
import type { ErrorInfo } from '../domain/errors';
import type { JobState } from '../domain/jobRecord';
import type { AmlStatus } from '../domain/amlStatus';

/** The data passed between the orchestrator and its activities: plain JSON, nothing else. */

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
  /** Carried across continueAsNew: where the previous execution stopped. */
  progress?: ScoreJobProgress;
}

export interface ScoreJobProgress {
  startedAt: string;
  staged: StagedFile;
  amlJobName: string;
  polls: number;
  amlStatus?: AmlStatus;
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
}
export type ValidateResult = Result<{ staged: StagedFile }>;

export interface SubmitInput {
  jobId: string;
  staged: StagedFile;
}
export type SubmitResult = Result<{ amlJobName: string; amlStatus: AmlStatus }>;

export interface CheckInput {
  jobId: string;
  amlJobName: string;
  polls: number;
}
export type CheckResult = Result<{ amlStatus: AmlStatus; amlError?: string; cancelRequested: boolean }>;

export interface CancelInput {
  jobId: string;
  amlJobName: string;
}
export type CancelResult = Result<{ requested: boolean }>;

export interface PublishInput {
  jobId: string;
  source: SourceBlob;
  staged: StagedFile;
}
export type PublishResult = Result<{ outputBlob: string; rows: number }>;

export interface OutcomeInput {
  jobId: string;
  status: Extract<JobState, 'Failed' | 'TimedOut' | 'Canceled'>;
  error: ErrorInfo;
  amlStatus?: AmlStatus;
}

export interface ScoreJobOutput {
  jobId: string;
  status: JobState;
  error?: ErrorInfo;
  outputBlob?: string;
  amlJobName?: string;
  polls?: number;
}

export interface ProgressStatus {
  phase: 'Validating' | 'Submitting' | 'Waiting' | 'Publishing' | 'Done';
  amlJobName?: string;
  amlStatus?: string;
  polls?: number;
  elapsedSeconds?: number;
  nextCheckAt?: string;
}
