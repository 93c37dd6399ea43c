import type { DurableClient } from 'durable-functions';
import { batchDoneOf, notifyMembers } from '../../../src/activities/notifyMembers';
import type { JobRecord } from '../../../src/domain/jobRecord';
import { durableOrchestrations, type Orchestrations } from '../../../src/adapters/orchestrations';
import type { Deps } from '../../../src/app/deps';
import { BATCH_DONE_EVENT } from '../../../src/orchestration/names';
import type { NotifyMembersInput } from '../../../src/orchestration/contracts';
import { startDurableApiFake, type DurableApiFake, type RuntimeStatus } from '../../support/durableApiFake';

/**
 * Telling the members through the real durable-functions DurableClient, against a fake of the
 * extension's client API (test/support/durableApiFake.ts): a member that has ended (410, which the
 * client resolves) or is gone (404, which it rejects) is skipped; any other failure must fail the
 * activity so that the retry policy raises again: a member never told waits a day for its lost-batch
 * timer. Not scored, so no manifest is read (the datastore is not needed here).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DurableClient: Client } = require('durable-functions/lib/src/durableClient/DurableClient') as {
  DurableClient: new (data: unknown) => DurableClient;
};

const BATCH = 'b7000000000000-00000000000000000001';
const M = ['j7000000000000-00000000000000000001', 'j7000000000001-00000000000000000002'];
const GONE = 'j7000000000002-00000000000000000003';
const ENDED = 'j7000000000003-00000000000000000004';
const notScored: NotifyMembersInput = {
  batchId: BATCH,
  members: [...M, GONE, ENDED],
  done: {
    batchId: BATCH,
    scored: false,
    status: 'Failed',
    error: { code: 'AmlAuth', message: 'needs AzureML Data Scientist', retryable: false },
  },
};
const noDeps = {} as Deps;

let durable: DurableApiFake;
let orch: Orchestrations;
beforeAll(async () => {
  durable = await startDurableApiFake();
  orch = durableOrchestrations(new Client(durable.clientData));
});
afterAll(async () => durable?.close());
beforeEach(() => {
  durable.instances.clear();
  durable.events.length = 0;
  durable.failingEvents.clear();
  const at = new Date().toISOString();
  const put = (id: string, runtimeStatus: RuntimeStatus) =>
    durable.instances.set(id, {
      name: 'scoreJobOrchestrator',
      input: {},
      runtimeStatus,
      createdTime: at,
      lastUpdatedTime: at,
    });
  for (const id of M) put(id, 'Running');
  put(ENDED, 'Completed'); // canceled while it waited: it no longer listens
});

test('every member still running is told; one that ended (410) or is gone (404) is skipped', async () => {
  await expect(notifyMembers(notScored, noDeps, orch)).resolves.toEqual({ ok: true });
  expect(durable.events.map((e) => e.instanceId).sort()).toEqual([...M].sort());
  expect(new Set(durable.events.map((e) => e.name))).toEqual(new Set([BATCH_DONE_EVENT]));
});

test('a member the Durable API cannot reach (500) fails the activity, so the policy raises again', async () => {
  durable.failingEvents.add(M[1]!);
  await expect(notifyMembers(notScored, noDeps, orch)).rejects.toThrow(/unexpected status code: 500/);
  // The retry: the outage is over; everyone is told (a member takes the first BatchDone it gets).
  durable.failingEvents.clear();
  await expect(notifyMembers(notScored, noDeps, orch)).resolves.toEqual({ ok: true });
  expect(durable.events.filter((e) => e.instanceId === M[1])).toHaveLength(1);
});

describe('batchDoneOf: what an ended batch record tells its members (the reconciler sends it again)', () => {
  const rec = (over: Partial<JobRecord>): JobRecord => ({
    jobId: BATCH,
    status: 'Submitted',
    sourceContainer: 'ds',
    sourceBlob: `p/${BATCH}/input/`,
    sourceEtag: '',
    receivedAt: '2026-01-01T00:00:00.000Z',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    phases: {},
    ...over,
  });

  test('not ended: nothing to tell', () => {
    for (const status of ['Received', 'Validating', 'Submitted', 'Running', 'Publishing'] as const)
      expect(batchDoneOf(rec({ status }))).toBeUndefined();
  });

  test('Succeeded: scored, with the AML job; the error as ErrorInfo only (no time, no problems)', () => {
    expect(batchDoneOf(rec({ status: 'Succeeded', amlJobName: 'aml-b' }))).toEqual({
      batchId: BATCH,
      amlJobName: 'aml-b',
      scored: true,
      status: 'Succeeded',
    });
    const error = {
      code: 'BatchLost' as const,
      message: 'The batch stopped before it ended.',
      retryable: true,
    };
    expect(
      batchDoneOf(
        rec({ status: 'Failed', error: { ...error, at: '2026-01-01T01:00:00.000Z', problems: [] } }),
      ),
    ).toEqual({ batchId: BATCH, scored: false, status: 'Failed', error });
  });

  test('AllRowsFailed: scored (each member publishes its own errors file), as the batch orchestration says', () => {
    const error = { code: 'AllRowsFailed' as const, message: 'No row got a prediction.', retryable: false };
    expect(batchDoneOf(rec({ status: 'Failed', amlJobName: 'aml-b', error: { ...error, at: 'x' } }))).toEqual(
      {
        batchId: BATCH,
        amlJobName: 'aml-b',
        scored: true,
        status: 'Failed',
        error,
      },
    );
  });
});
