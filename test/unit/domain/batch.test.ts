import {
  batchIdFor,
  batchScored,
  bytesOf,
  closed,
  isBatchable,
  isBatchId,
  lostBatchError,
  memberFileName,
  nextJoinStep,
  openBatch,
  type BatchHead,
  type BatchLimits,
  type BatchMember,
} from '../../../src/domain/batch';
import { deriveJobId, isJobId } from '../../../src/domain/jobId';

/** The pure coalescing rules (the table adapter applies them under optimistic concurrency). */
const t0 = new Date('2026-01-01T00:00:00.000Z');
const at = (seconds: number): Date => new Date(t0.getTime() + seconds * 1000);
const limits: BatchLimits = { windowSeconds: 60, maxFiles: 3, maxBytes: 1000 };
const jobId = (n: number): string =>
  deriveJobId({ container: 'inbox', name: `f${n}.csv`, etag: `"e${n}"`, lastModified: at(n) });
const member = (n: number, bytes = 100, rows = 10): BatchMember => ({
  jobId: jobId(n),
  rows,
  bytes,
  input: `p/${jobId(n)}/input/f${n}.csv`,
});
const openHead = (files: BatchMember[], deployment?: string): BatchHead => ({
  batchId: batchIdFor(files[0]!.jobId),
  ...(deployment ? { deployment } : {}),
  state: 'open',
  openedAt: t0.toISOString(),
  closesAt: at(60).toISOString(),
  files,
});

describe('nextJoinStep', () => {
  test('no head yet: create one', () => {
    expect(nextJoinStep(undefined, member(1), limits, t0)).toEqual({ kind: 'create' });
  });

  test('already a member (a retried join): already, whether the head is open or closed, even past the window', () => {
    const head = openHead([member(1), member(2)]);
    expect(nextJoinStep(head, member(2), limits, at(10))).toEqual({ kind: 'already' });
    expect(nextJoinStep(closed(head, at(5)), member(2), limits, at(10))).toEqual({ kind: 'already' });
    expect(nextJoinStep(head, member(1), limits, at(3600))).toEqual({ kind: 'already' });
  });

  test('a closed head that is not ours: replace it (its record is written first, by the caller)', () => {
    const head = closed(openHead([member(1)]), at(5));
    expect(nextJoinStep(head, member(2), limits, at(10))).toEqual({ kind: 'replace' });
    // Even when the file would fit and the window has not passed: a closed member list never changes.
    expect(nextJoinStep(head, member(2, 1), { ...limits, maxFiles: 100 }, at(1))).toEqual({
      kind: 'replace',
    });
  });

  test('window passed (at closesAt exactly, and after): close the head as it is, without the file', () => {
    const head = openHead([member(1)]);
    for (const now of [at(60), at(61), at(86_400)]) {
      const step = nextJoinStep(head, member(2), limits, now);
      expect(step).toEqual({
        kind: 'close',
        head: { ...head, state: 'closed', closedAt: now.toISOString() },
      });
    }
    // One millisecond before closesAt the file still joins.
    const before = new Date(at(60).getTime() - 1);
    expect(nextJoinStep(head, member(2), limits, before)).toMatchObject({ kind: 'join' });
  });

  test('no room by files: close without the file', () => {
    // Three open files can only happen with a larger limit at the time; the rule still closes.
    const head = openHead([member(1), member(2), member(3)]);
    const step = nextJoinStep(head, member(4), limits, at(10));
    expect(step).toEqual({
      kind: 'close',
      head: { ...head, state: 'closed', closedAt: at(10).toISOString() },
    });
    if (step.kind === 'close') expect(step.head.files.map((f) => f.jobId)).not.toContain(jobId(4));
  });

  test('no room by bytes: close without the file; a file that exactly fills still joins', () => {
    const head = openHead([member(1, 400), member(2, 300)]);
    const over = nextJoinStep(head, member(3, 301), limits, at(10));
    expect(over).toEqual({
      kind: 'close',
      head: { ...head, state: 'closed', closedAt: at(10).toISOString() },
    });
    const exact = nextJoinStep(head, member(3, 300), limits, at(10));
    expect(exact).toMatchObject({ kind: 'join', head: { state: 'closed' } });
  });

  test('a join with room to spare: the head stays open, the file appended, nothing else changed', () => {
    const head = openHead([member(1)], 'blue');
    const step = nextJoinStep(head, member(2), limits, at(10));
    expect(step).toEqual({ kind: 'join', head: { ...head, files: [member(1), member(2)] } });
    expect(head.files).toHaveLength(1); // the snapshot read is not mutated
  });

  test('a join that fills the batch by files closes it with the file in', () => {
    const head = openHead([member(1), member(2)]);
    const step = nextJoinStep(head, member(3), limits, at(10));
    expect(step).toEqual({
      kind: 'join',
      head: {
        ...head,
        files: [member(1), member(2), member(3)],
        state: 'closed',
        closedAt: at(10).toISOString(),
      },
    });
  });

  test('a join that fills the batch by bytes closes it with the file in', () => {
    const head = openHead([member(1, 600)]);
    const step = nextJoinStep(head, member(2, 400), limits, at(10));
    expect(step).toEqual({
      kind: 'join',
      head: {
        ...head,
        files: [member(1, 600), member(2, 400)],
        state: 'closed',
        closedAt: at(10).toISOString(),
      },
    });
    if (step.kind === 'join') expect(bytesOf(step.head)).toBe(1000);
  });
});

describe('openBatch', () => {
  test('opens for the window from now, with the member alone; the id is derived from the member', () => {
    const head = openBatch(member(1), 'blue', limits, at(5));
    expect(head).toEqual({
      batchId: batchIdFor(jobId(1)),
      deployment: 'blue',
      state: 'open',
      openedAt: at(5).toISOString(),
      closesAt: at(65).toISOString(),
      files: [member(1)],
    });
    // A retry opens the same batch (same id), whatever the time.
    expect(openBatch(member(1), 'blue', limits, at(9)).batchId).toBe(head.batchId);
  });

  test('without a deployment the head has no deployment field (the default deployment)', () => {
    expect(openBatch(member(1), undefined, limits, t0)).not.toHaveProperty('deployment');
  });

  test('a member that fills the batch alone (by files or by bytes) opens it closed', () => {
    expect(openBatch(member(1), undefined, { ...limits, maxFiles: 1 }, t0)).toMatchObject({
      state: 'closed',
      closedAt: t0.toISOString(),
    });
    expect(openBatch(member(1, 1000), undefined, limits, t0)).toMatchObject({
      state: 'closed',
      closedAt: t0.toISOString(),
    });
    expect(openBatch(member(1, 999), undefined, limits, t0).state).toBe('open');
  });
});

describe('closed', () => {
  test('closing keeps the first close time; the member list is untouched', () => {
    const once = closed(openHead([member(1)]), at(10));
    expect(once).toMatchObject({ state: 'closed', closedAt: at(10).toISOString(), files: [member(1)] });
    expect(closed(once, at(20))).toBe(once);
  });
});

describe('isBatchable', () => {
  test('only with a window, only files within the byte limit, only files that are not split', () => {
    expect(isBatchable(10, 100, limits, 0)).toBe(true);
    expect(isBatchable(10, 100, { ...limits, windowSeconds: 0 }, 0)).toBe(false);
    expect(isBatchable(10, 1000, limits, 0)).toBe(true);
    expect(isBatchable(10, 1001, limits, 0)).toBe(false);
    expect(isBatchable(1_000_000, 100, limits, 0)).toBe(true); // SPLIT_ROWS 0: no split
    expect(isBatchable(5, 100, limits, 5)).toBe(true);
    expect(isBatchable(6, 100, limits, 5)).toBe(false); // it will be split: a job of its own
  });
});

describe('batch ids', () => {
  test('b + the first job id without its j: the round-3 format, distinct from every job id', () => {
    const j = jobId(1);
    const b = batchIdFor(j);
    expect(b).toBe(`b${j.slice(1)}`);
    expect(b).toMatch(/^b\d{13}-[0-9a-f]{20}$/);
    expect(isBatchId(b)).toBe(true);
    expect(isJobId(b)).toBe(false);
    expect(isBatchId(j)).toBe(false);
    // Ids sort like job ids: a batch opened by a newer file sorts first.
    expect(batchIdFor(jobId(2)) < b).toBe(true);
  });

  test.each([
    '',
    'b123',
    'B8227399232109-21598ec027fde5bd109f',
    'b8227399232109-21598EC027FDE5BD109F',
    'b8227399232109-21598ec027fde5bd109fx',
    'b8227399232109-21598ec027fde5bd109',
    '../b8227399232109-21598ec027fde5bd109f',
  ])('malformed id %p is not a batch id', (s) => {
    expect(isBatchId(s)).toBe(false);
  });

  test('each member is staged as <jobId>.csv: unique in the folder whatever its inbox name', () => {
    expect(memberFileName(jobId(1))).toBe(`${jobId(1)}.csv`);
    expect(memberFileName(jobId(1))).not.toBe(memberFileName(jobId(2)));
  });
});

describe('a batch’s end as its members see it', () => {
  test('scored: Succeeded, or AllRowsFailed (each member accounts for its own rows); nothing else', () => {
    expect(batchScored('Succeeded', undefined)).toBe(true);
    expect(batchScored('Failed', 'AllRowsFailed')).toBe(true);
    for (const [status, code] of [
      ['Failed', 'AmlJobFailed'],
      ['Failed', 'BatchLost'],
      ['TimedOut', 'TimedOut'],
      ['Canceled', 'AmlJobCanceled'],
      ['Failed', undefined],
    ] as const)
      expect(batchScored(status, code)).toBe(false);
  });

  test.each([
    ['missing', 'its orchestration is gone (never started or purged)'],
    ['Failed', 'its orchestration failed (see the function logs)'],
    ['Terminated', 'its orchestration was terminated outside the app'],
    ['Canceled', 'its orchestration was canceled outside the app'],
    ['Completed', 'its orchestration completed without recording the outcome'],
  ])('lost (%s): BatchLost, retryable, saying why and how to retry', (status, why) => {
    expect(lostBatchError(status)).toEqual({
      code: 'BatchLost',
      message: `The batch stopped before it ended: ${why}. Retry the file's job (POST /api/jobs/{id}/retry).`,
      retryable: true,
    });
  });

  test('lost after its AML job started: says the AML job may still be running', () => {
    expect(lostBatchError('Failed', 'aml-b1').message).toMatch(
      /\. Its AML job aml-b1 may still be running\.$/,
    );
  });
});
