import { testConnectionString, uniqueName } from '../../support/storage';
import { post, spawnRuntime, waitForStatus, type RuntimeProcess } from './support';

jest.setTimeout(40_000);

/**
 * The Event Grid webhook as the host serves it (dev/runtime/eventGrid.ts; azure-sdk-for-net
 * Microsoft.Azure.WebJobs.Extensions.EventGrid `HttpRequestProcessor.cs`, `EventGridExtensionConfigProvider.cs`).
 */
let rt: RuntimeProcess;
let hook: string;

beforeAll(async () => {
  rt = await spawnRuntime(
    { AzureWebJobsStorage: testConnectionString(), DURABLE_TASK_HUB: uniqueName('eg') },
    { entry: 'test/integration/runtime/fixtures/eventgrid/index.ts' },
  );
  hook = `${rt.url}/runtime/webhooks/eventgrid?functionName=onEvent`;
}, 40_000);

afterAll(async () => {
  expect(await rt?.stop()).toBe(0);
});

const send = (url: string, type: string | undefined, body: unknown): Promise<Response> =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(type ? { 'aeg-event-type': type } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const event = (id: string, data: Record<string, unknown>) => ({
  id,
  topic: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws',
  subject: `experiments/e1/runs/${id}`,
  eventType: 'Microsoft.MachineLearningServices.RunStatusChanged',
  eventTime: '2026-01-01T00:00:00.0000000Z',
  data,
  dataVersion: '2',
  metadataVersion: '1',
});

/** What the function logged for one event id: the event it received and its trigger metadata `data`. */
async function received(id: string): Promise<{ event: Record<string, unknown>; data: unknown }> {
  const line = await rt.waitForLine(new RegExp(`EG .*"id":"${id}"`));
  return JSON.parse(line.slice(line.indexOf('EG ') + 3)) as { event: Record<string, unknown>; data: unknown };
}

test('the validation handshake answers the code, without running the function', async () => {
  const r = await send(hook, 'SubscriptionValidation', [
    {
      id: 'v1',
      topic: '/subscriptions/s',
      subject: '',
      eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
      eventTime: '2026-01-01T00:00:00Z',
      data: { validationCode: 'ABC-123', validationUrl: 'https://example.invalid/validate' },
      dataVersion: '2',
      metadataVersion: '1',
    },
  ]);
  expect(r.status).toBe(200);
  expect(await r.json()).toEqual({ validationResponse: 'ABC-123' });
  expect(rt.lines.some((l) => l.includes('"id":"v1"'))).toBe(false);
});

test('a notification runs the function once per event, with the event as its input and `data` as metadata', async () => {
  const r = await send(hook, 'Notification', [
    event('n1', { runStatus: 'Running' }),
    event('n2', { runStatus: 'Completed' }),
  ]);
  expect(r.status).toBe(202);
  const [a, b] = await Promise.all([received('n1'), received('n2')]);
  expect(a.event).toEqual(event('n1', { runStatus: 'Running' }));
  expect(a.data).toEqual({ runStatus: 'Running' });
  expect(b.event).toMatchObject({ id: 'n2', data: { runStatus: 'Completed' } });
});

test('a single event object (not an array) is accepted as one event', async () => {
  expect((await send(hook, 'Notification', event('one', {}))).status).toBe(202);
  await received('one');
});

test('the function raises an event to an orchestration through its durable client binding', async () => {
  const id = uniqueName('w');
  expect((await post(`${rt.url}/runtime/webhooks/durabletask/orchestrators/waiter/${id}`)).status).toBe(202);
  expect((await send(hook, 'Notification', [event('r1', { instanceId: id })])).status).toBe(202);
  const s = await waitForStatus(rt.url, id, ['Completed']);
  expect(s.output).toBe('experiments/e1/runs/r1');
});

test('any failed invocation answers 500 with its message (Event Grid redelivers the batch)', async () => {
  const r = await send(hook, 'Notification', [event('ok1', {}), event('bad1', { fail: true })]);
  expect(r.status).toBe(500);
  expect(await r.text()).toContain('told to fail (bad1)');
  await received('ok1'); // the others ran all the same
});

test('unknown function 404, Unsubscribe 202, no or another event type 400, bad JSON 500', async () => {
  const other = `${rt.url}/runtime/webhooks/eventgrid?functionName=nope`;
  const nf = await send(other, 'Notification', []);
  expect(nf.status).toBe(404);
  expect(await nf.text()).toBe("cannot find function: 'nope'");
  expect((await send(`${rt.url}/runtime/webhooks/eventgrid`, 'Notification', [])).status).toBe(404);
  expect((await send(hook, 'Unsubscribe', [])).status).toBe(202);
  expect((await send(hook, undefined, [event('x', {})])).status).toBe(400);
  expect((await send(hook, 'Other', [event('x', {})])).status).toBe(400);
  expect((await send(hook, 'Notification', '{not json')).status).toBe(500);
});
