import type { ErrorInfo } from './errors';

/**
 * Coalescing small files into one AML job (README, "Shaping the input"). Pure rules; the table adapter
 * (adapters/batchHeads.ts) applies them under optimistic concurrency, so every decision below is taken
 * on a snapshot and written only if nobody changed the head in between.
 *
 * Per deployment there is one *head*: the batch currently open for it. A file joins the head if the head
 * is open, its window has not passed and the file fits; otherwise the head is closed (frozen: its member
 * list never changes again) and the file opens the next batch. Only a closed head is replaced, and only
 * after its batch record exists, so no member list is ever lost.
 */

export interface BatchMember {
  jobId: string;
  rows: number;
  bytes: number;
  /** The member's staged input in the datastore (copied into the batch's folder at close). */
  input: string;
}

export interface BatchHead {
  batchId: string;
  deployment?: string;
  state: 'open' | 'closed';
  openedAt: string;
  closesAt: string;
  closedAt?: string;
  files: BatchMember[];
}

export interface BatchLimits {
  windowSeconds: number;
  maxFiles: number;
  maxBytes: number;
}

export type JoinStep =
  | { kind: 'already' }
  | { kind: 'join'; head: BatchHead }
  | { kind: 'close'; head: BatchHead }
  | { kind: 'replace' }
  | { kind: 'create' };

export function bytesOf(head: Pick<BatchHead, 'files'>): number {
  return head.files.reduce((n, f) => n + f.bytes, 0);
}

/** What a file that wants to join should do next, given the head as read (undefined: none yet). */
export function nextJoinStep(
  head: BatchHead | undefined,
  member: BatchMember,
  limits: BatchLimits,
  now: Date,
): JoinStep {
  if (!head) return { kind: 'create' };
  if (head.files.some((f) => f.jobId === member.jobId)) return { kind: 'already' };
  if (head.state === 'closed') return { kind: 'replace' };
  const expired = now.getTime() >= Date.parse(head.closesAt);
  const fits = head.files.length < limits.maxFiles && bytesOf(head) + member.bytes <= limits.maxBytes;
  if (expired || !fits) return { kind: 'close', head: closed(head, now) };
  const files = [...head.files, member];
  const full = files.length >= limits.maxFiles || bytesOf({ files }) >= limits.maxBytes;
  return { kind: 'join', head: full ? closed({ ...head, files }, now) : { ...head, files } };
}

/** A new batch opened by `member` at `now`; its id is derived from the member's, so a retry opens the same one. */
export function openBatch(
  member: BatchMember,
  deployment: string | undefined,
  limits: BatchLimits,
  now: Date,
): BatchHead {
  const files = [member];
  const head: BatchHead = {
    batchId: batchIdFor(member.jobId),
    ...(deployment ? { deployment } : {}),
    state: 'open',
    openedAt: now.toISOString(),
    closesAt: new Date(now.getTime() + limits.windowSeconds * 1000).toISOString(),
    files,
  };
  return files.length >= limits.maxFiles || member.bytes >= limits.maxBytes ? closed(head, now) : head;
}

export function closed(head: BatchHead, now: Date): BatchHead {
  return head.state === 'closed' ? head : { ...head, state: 'closed', closedAt: now.toISOString() };
}

/** Whether a file of this size may be coalesced at all (bigger ones, and split ones, get a job of their own). */
export function isBatchable(rows: number, bytes: number, limits: BatchLimits, splitRows: number): boolean {
  return limits.windowSeconds > 0 && bytes <= limits.maxBytes && (splitRows === 0 || rows <= splitRows);
}

/** `b` + the first member's job id without its `j`: unique, sortable like job ids, valid everywhere an id goes. */
export function batchIdFor(firstJobId: string): string {
  return `b${firstJobId.slice(1)}`;
}

const BATCH_ID = /^b\d{13}-[0-9a-f]{20}$/;

export function isBatchId(s: string): boolean {
  return BATCH_ID.test(s);
}

/** The member's file name in the batch folder: unique within it, whatever the inbox paths were. */
export function memberFileName(jobId: string): string {
  return `${jobId}.csv`;
}

/**
 * Whether AML scored the batch and its output was regrouped per file: then each member publishes its own
 * file, even when no row got a prediction (each member accounts for its own rows).
 */
export function batchScored(status: string, errorCode: string | undefined): boolean {
  return status === 'Succeeded' || errorCode === 'AllRowsFailed';
}

/**
 * The batch record's end when its orchestration can no longer end the batch (the reconciler's finding,
 * by the instance's runtime status; `missing`: never started or purged). Each member receives it as
 * "Batch <id>: <message>", so it says what to do with the member's file.
 */
export function lostBatchError(runtimeStatus: string, amlJobName?: string): ErrorInfo {
  const why =
    runtimeStatus === 'missing'
      ? 'its orchestration is gone (never started or purged)'
      : runtimeStatus === 'Completed'
        ? 'its orchestration completed without recording the outcome'
        : runtimeStatus === 'Failed'
          ? 'its orchestration failed (see the function logs)'
          : `its orchestration was ${runtimeStatus.toLowerCase()} outside the app`;
  const aml = amlJobName ? ` Its AML job ${amlJobName} may still be running.` : '';
  return {
    code: 'BatchLost',
    message: `The batch stopped before it ended: ${why}. Retry the file's job (POST /api/jobs/{id}/retry).${aml}`,
    retryable: true,
  };
}
