import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EventGridSettings, GridEvent } from '../../../dev/aml-emulator';
import { experimentId } from '../../../dev/aml-emulator/eventGrid';
import { eventually } from '../../support/eventually';
import { SAMPLE_CSV, startHarness, submitOk, type Harness } from './harness';

jest.setTimeout(30_000);

/** What the webhook answers: to the validation event, and to a notification, given its aeg-delivery-count. */
interface Behaviour {
  validation: 'echo' | 'manual' | number;
  notification: (deliveryCount: number) => number;
}

interface Received {
  headers: IncomingHttpHeaders;
  url: string;
  events: GridEvent[];
}

/** A small Event Grid webhook receiver, as the local runtime serves one. */
class Receiver {
  readonly received: Received[] = [];
  private server: Server;
  url = '';

  constructor(public behaviour: Behaviour) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const events = JSON.parse(Buffer.concat(chunks).toString('utf8')) as GridEvent[];
        this.received.push({ headers: req.headers, url: req.url ?? '', events });
        if (req.headers['aeg-event-type'] === 'SubscriptionValidation') {
          const v = this.behaviour.validation;
          const code = (events[0]!.data as { validationCode: string }).validationCode;
          if (v === 'echo') return void res.writeHead(200).end(JSON.stringify({ validationResponse: code }));
          if (v === 'manual') return void res.writeHead(200).end('{}');
          return void res.writeHead(v).end();
        }
        res.writeHead(this.behaviour.notification(Number(req.headers['aeg-delivery-count']))).end();
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/runtime/webhooks/eventgrid?functionName=amlEvents`;
    return this;
  }

  validations(): Received[] {
    return this.received.filter((r) => r.headers['aeg-event-type'] === 'SubscriptionValidation');
  }

  notified(): Received[] {
    return this.received.filter((r) => r.headers['aeg-event-type'] === 'Notification');
  }

  /** Waits until an event of `type` (and run status) about `runId` has arrived, and returns every notification. */
  async waitFor(runId: string, type: string, runStatus?: string): Promise<Received[]> {
    return eventually(
      () => {
        const n = this.notified();
        const hit = n.some((r) =>
          r.events.some(
            (e) =>
              e.eventType === type &&
              e.data.runId === runId &&
              (runStatus === undefined || e.data.runStatus === runStatus),
          ),
        );
        if (!hit) throw new Error(`no ${type} ${runStatus ?? ''} for ${runId} yet`);
        return n;
      },
      { everyMs: 20, what: `${type} of ${runId}` },
    );
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

const TYPE = 'Microsoft.MachineLearningServices.';

async function setup(
  behaviour: Partial<Behaviour> = {},
  eventGrid: Partial<EventGridSettings> = {},
  deployments = {},
): Promise<{ h: Harness; rx: Receiver }> {
  const rx = await new Receiver({ validation: 'echo', notification: () => 200, ...behaviour }).start();
  open.push(rx);
  const h = await startHarness({
    eventGrid: { url: rx.url, retryScale: 0.001, ...eventGrid },
    deployments,
  });
  open.push(h); // closed first: it abandons its pending deliveries
  return { h, rx };
}

async function runJob(h: Harness, deployment?: string): Promise<string> {
  const input = h.path('in.csv');
  await h.upload(input, SAMPLE_CSV);
  const job = await submitOk(
    h,
    h.short(input),
    h.short(h.path('out.csv')),
    deployment ? { 'azureml-model-deployment': deployment } : {},
  );
  return job.name;
}

const statusesOf = (rs: Received[], runId: string): string[] =>
  rs
    .flatMap((r) => r.events)
    .filter((e) => e.data.runId === runId && e.eventType === `${TYPE}RunStatusChanged`)
    .map((e) => e.data.runStatus as string);

test('the handshake comes first, then one event per request in the Event Grid schema', async () => {
  const { h, rx } = await setup();
  const name = await runJob(h);
  const got = await rx.waitFor(name, `${TYPE}RunCompleted`);
  await rx.waitFor(name, `${TYPE}RunStatusChanged`, 'Completed');

  const [first] = rx.received;
  expect(first!.headers['aeg-event-type']).toBe('SubscriptionValidation');
  expect(rx.validations()).toHaveLength(1);
  const v = first!.events;
  expect(v).toHaveLength(1);
  expect(v[0]).toMatchObject({
    eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
    subject: '',
    metadataVersion: '1',
    data: {
      validationCode: expect.any(String),
      validationUrl: expect.stringContaining('/_emulator/eventgrid/validate?code='),
    },
  });
  expect(first!.url).toBe('/runtime/webhooks/eventgrid?functionName=amlEvents');

  for (const r of got) {
    expect(r.events).toHaveLength(1);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(r.headers['aeg-subscription-name']).toBe('AML-EMULATOR-RUNS');
    expect(r.headers['aeg-delivery-count']).toBe('0');
    expect(r.headers['aeg-metadata-version']).toBe('1');
  }
  expect(new Set(statusesOf(rx.received, name))).toEqual(
    new Set(['Queued', 'Preparing', 'Running', 'Finalizing', 'Completed']),
  );
  const completed = got.flatMap((r) => r.events).find((e) => e.eventType === `${TYPE}RunCompleted`)!;
  const exp = experimentId('local-endpoint');
  expect(completed).toEqual({
    id: expect.any(String),
    topic:
      '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local-rg/providers/Microsoft.MachineLearningServices/workspaces/local-ws',
    subject: `experiments/${exp}/runs/${name}`,
    eventType: `${TYPE}RunCompleted`,
    eventTime: h.emu
      .jobs()
      .find((j) => j.name === name)!
      .history.at(-1)!.at,
    data: {
      experimentId: exp,
      experimentName: 'local-endpoint',
      runId: name,
      runType: 'azureml.PipelineRun',
      runTags: {},
      runProperties: expect.objectContaining({
        'azureml.batchrun': 'true',
        'azureml.deploymentname': 'diamond-v2',
        'emulator.miniBatches': '1',
      }),
    },
    dataVersion: '',
    metadataVersion: '1',
  });
  expect(h.emu.eventGrid.get().validated).toBe(true);
});

test('a failed job raises RunStatusChanged "Failed" by default; failureEvents: false raises none', async () => {
  const { h, rx } = await setup();
  h.emu.setFaults({ failJobs: 'boom' });
  const failed = await runJob(h);
  await rx.waitFor(failed, `${TYPE}RunStatusChanged`, 'Failed');

  h.emu.eventGrid.set({ failureEvents: false });
  const quiet = await runJob(h);
  await h.waitFor(quiet, ['Failed']);
  // The decision is taken when the status changes, so it is final once GET shows Failed.
  const records = h.emu.eventGrid.get().deliveries.filter((d) => d.runId === quiet);
  expect(records.map((d) => d.runStatus)).toEqual(['Queued', 'Preparing', 'Running']);
});

test('statuses ["Failed"] (the AML guide’s note): a completed job raises only RunCompleted', async () => {
  const { h, rx } = await setup({}, { statuses: ['Failed'] });
  const name = await runJob(h);
  await rx.waitFor(name, `${TYPE}RunCompleted`);
  expect(
    h.emu.eventGrid
      .get()
      .deliveries.filter((d) => d.runId === name)
      .map((d) => d.eventType),
  ).toEqual([`${TYPE}RunCompleted`]);
});

test('faults: dropRate 0.5 drops every second event; duplicateRate 1 delivers each twice, same id', async () => {
  const { h, rx } = await setup({}, { dropRate: 0.5, duplicateRate: 1 });
  const name = await runJob(h);
  await h.waitFor(name, ['Completed']);
  const records = h.emu.eventGrid.get().deliveries.filter((d) => d.runId === name);
  // Queued, Preparing, Running, Finalizing, Completed, RunCompleted: events 1, 3, 5 (0-based) are dropped.
  expect(records.map((d) => d.outcome === 'dropped')).toEqual([false, true, false, true, false, true]);
  const sent = records.filter((d) => d.outcome !== 'dropped');
  await eventually(() => {
    for (const d of sent) {
      const copies = rx.notified().filter((r) => r.events[0]!.id === d.id);
      if (copies.length !== 2) throw new Error(`${d.id}: ${copies.length} copies`);
    }
    return true;
  });
  const ids = rx.notified().map((r) => r.events[0]!.id);
  for (const d of records.filter((x) => x.outcome === 'dropped')) expect(ids).not.toContain(d.id);
});

test('a failed delivery is retried on Event Grid’s schedule (scaled), counting deliveries', async () => {
  // Every event's first attempt fails with 500, its second with 503; the third succeeds.
  const { h, rx } = await setup({ notification: (n) => (n === 0 ? 500 : n === 1 ? 503 : 200) }, {});
  h.emu.eventGrid.set({ statuses: ['Completed'] });
  const name = await runJob(h);
  const records = await eventually(() => {
    const r = h.emu.eventGrid.get().deliveries.filter((d) => d.runId === name);
    if (r.length !== 2 || r.some((d) => d.outcome !== 'delivered')) throw new Error('not delivered yet');
    return r;
  });
  const counts = rx.notified().map((r) => Number(r.headers['aeg-delivery-count']));
  expect(counts.sort()).toEqual([0, 0, 1, 1, 2, 2]);
  expect(records.map((d) => d.attempts)).toEqual([3, 3]);
});

test('delayMs holds events back: pending while the job is already Completed', async () => {
  const { h, rx } = await setup({}, { delayMs: 3_600_000 });
  const name = await runJob(h);
  await h.waitFor(name, ['Completed']);
  const records = h.emu.eventGrid.get().deliveries.filter((d) => d.runId === name);
  expect(records.length).toBe(6);
  expect(records.every((d) => d.outcome === 'pending')).toBe(true);
  expect(rx.received).toHaveLength(0);
});

test('manual validation: 200 without the code, then a GET on the validationUrl', async () => {
  const { h, rx } = await setup({ validation: 'manual' }, { statuses: ['Completed'] });
  const name = await runJob(h);
  const [v] = await eventually(() => (rx.validations().length ? rx.validations() : undefined));
  expect(rx.notified()).toHaveLength(0);
  const res = await fetch((v!.events[0]!.data as { validationUrl: string }).validationUrl);
  expect(res.status).toBe(200);
  await rx.waitFor(name, `${TYPE}RunCompleted`);
  expect(rx.validations()).toHaveLength(1);
});

test('a refused handshake (202 is not accepted) is retried; no event goes out before it succeeds', async () => {
  const { h, rx } = await setup({ validation: 202 }, { statuses: ['Completed'] });
  const name = await runJob(h);
  await eventually(() => {
    if (rx.validations().length < 2) throw new Error('not retried yet');
    return true;
  });
  expect(rx.notified()).toHaveLength(0);
  rx.behaviour.validation = 'echo';
  await rx.waitFor(name, `${TYPE}RunCompleted`);
  // Every notification came after the successful handshake.
  const lastValidation = rx.received
    .map((r) => r.headers['aeg-event-type'])
    .lastIndexOf('SubscriptionValidation');
  expect(
    rx.received.slice(lastValidation + 1).every((r) => r.headers['aeg-event-type'] === 'Notification'),
  ).toBe(true);
});

test('without a url no events are sent; bad settings are refused', async () => {
  const h = await startHarness();
  open.push(h);
  const name = await runJob(h);
  await h.waitFor(name, ['Completed']);
  expect(h.emu.eventGrid.get().deliveries).toHaveLength(0);
  expect(() => h.emu.eventGrid.set({ dropRate: 2 })).toThrow('dropRate');
  const res = await fetch(`${h.emu.url}/_emulator/eventgrid`, {
    method: 'PUT',
    body: JSON.stringify({ statuses: ['Bogus'] }),
  });
  expect(res.status).toBe(400);
});
