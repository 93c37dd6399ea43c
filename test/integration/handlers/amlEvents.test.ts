import { AmlJobIndex } from '../../../src/adapters/amlJobIndex';
import {
  endpointNameOf,
  onAmlEvent,
  RUN_COMPLETED,
  RUN_STATUS_CHANGED,
  type AmlEventDeps,
  type AmlRunEvent,
} from '../../../src/handlers/amlEvents';
import type { AmlStatusEvent } from '../../../src/orchestration/contracts';
import { testConnectionString, uniqueName } from '../../support/storage';

/** AML run events → the owning orchestration, with the index in Azurite; the raise is recorded. */
let index: AmlJobIndex;
let raised: { instanceId: string; event: AmlStatusEvent }[];
let deps: AmlEventDeps;

beforeEach(() => {
  index = AmlJobIndex.fromConnection(
    { kind: 'connectionString', connectionString: testConnectionString() },
    uniqueName('jobs'),
  );
  raised = [];
  deps = {
    endpointName: 'diamonds',
    instanceFor: (name) => index.get(name),
    raise: async (instanceId, event) => {
      raised.push({ instanceId, event });
      return 'raised';
    },
  };
});

/** In the shape AML publishes (Learn event-schema-machine-learning; the emulator posts the same). */
const ev = (eventType: string, data: Record<string, unknown>): AmlRunEvent => ({
  id: 'e1',
  eventType,
  eventTime: '2026-01-01T00:10:00Z',
  subject: 'experiments/x/runs/aml-1',
  data: { experimentName: 'diamonds', runId: 'aml-1', ...data },
});

test('the index is created on first write, and a write is safe to repeat', async () => {
  expect(await index.get('aml-1')).toBeUndefined(); // no table yet: not ours
  await index.put('aml-1', 'j1');
  await index.put('aml-1', 'j1');
  expect(await index.get('aml-1')).toBe('j1');
  await index.put('odd/name#?', 'j2'); // characters table keys refuse
  expect(await index.get('odd/name#?')).toBe('j2');
});

test('RunCompleted and a terminal RunStatusChanged raise the status on the owning instance', async () => {
  await index.put('aml-1', 'j1');
  expect(await onAmlEvent(ev(RUN_COMPLETED, {}), deps)).toMatchObject({ action: 'raised', instanceId: 'j1' });
  expect(await onAmlEvent(ev(RUN_STATUS_CHANGED, { runStatus: 'Failed' }), deps)).toMatchObject({
    action: 'raised',
  });
  expect(raised).toEqual([
    { instanceId: 'j1', event: { amlJobName: 'aml-1', amlStatus: 'Completed', at: '2026-01-01T00:10:00Z' } },
    { instanceId: 'j1', event: { amlJobName: 'aml-1', amlStatus: 'Failed', at: '2026-01-01T00:10:00Z' } },
  ]);
});

test('everything else is ignored, with the reason: no raise', async () => {
  await index.put('aml-1', 'j1');
  const reasons = [];
  for (const e of [
    ev(RUN_STATUS_CHANGED, { runStatus: 'Running' }),
    ev(RUN_STATUS_CHANGED, { runStatus: 'Whatever' }),
    ev('Microsoft.MachineLearningServices.ModelRegistered', {}),
    ev(RUN_COMPLETED, { experimentName: 'another-endpoint' }),
    ev(RUN_COMPLETED, { runId: 'not-ours' }),
    ev(RUN_COMPLETED, { runId: undefined }),
  ])
    reasons.push(await onAmlEvent(e, deps));
  expect(reasons.map((r) => (r.action === 'ignored' ? r.reason : r.action))).toEqual([
    'status Running is not an end',
    'status Whatever is not an end',
    'event type Microsoft.MachineLearningServices.ModelRegistered',
    'experiment another-endpoint is not endpoint diamonds',
    'AML job not-ours is not one of ours',
    'no runId',
  ]);
  expect(raised).toEqual([]);
});

test('without a known endpoint name (the emulator’s URI) the index alone decides', async () => {
  await index.put('aml-1', 'j1');
  const r = await onAmlEvent(ev(RUN_COMPLETED, { experimentName: 'local-endpoint' }), {
    ...deps,
    endpointName: undefined,
  });
  expect(r).toMatchObject({ action: 'raised' });
});

test('a finished or unknown instance is not an error (a late or duplicate event)', async () => {
  await index.put('aml-1', 'gone-1');
  const r = await onAmlEvent(ev(RUN_COMPLETED, {}), { ...deps, raise: async () => 'gone' });
  expect(r).toMatchObject({ action: 'gone', instanceId: 'gone-1' });
});

test('the endpoint name is the scoring URI’s first label on Azure', () => {
  expect(endpointNameOf('https://diamonds.westeurope.inference.ml.azure.com/jobs')).toBe('diamonds');
  expect(endpointNameOf('http://127.0.0.1:5000/jobs')).toBeUndefined();
});
