/**
 * Posts the workspace's run events to one Event Grid webhook subscription, as Azure Event Grid delivers
 * them (round 3 contract; issue #15 item 4). Sources:
 * - Learn "Azure Machine Learning as an Event Grid source" (event-grid/event-schema-machine-learning.md):
 *   event types RunStatusChanged / RunCompleted, subject `experiments/<experimentId>/runs/<runId>`, topic
 *   the workspace id, data {experimentId, experimentName, runId, runType, runTags, runProperties} plus
 *   `runStatus` on RunStatusChanged only, `dataVersion: ""`, `metadataVersion: "1"`. Its RunStatusChanged
 *   example has `"runStatus": "failed"`, so failed runs do raise events there...
 * - ...while Learn "Trigger applications ... based on Azure Machine Learning events"
 *   (machine-learning/how-to-use-event-grid.md) says RunStatusChanged is "currently only raised when a run
 *   status is 'failed'" and that "failed or cancelled Azure Machine Learning operations will not trigger an
 *   event". The sources disagree, hence `failureEvents` and `statuses`.
 * - Learn "Endpoint validation with Event Grid event schema": the SubscriptionValidationEvent (header
 *   `aeg-event-type: SubscriptionValidation`, array with only that event), answered by 200 with
 *   `{"validationResponse": code}` (202 is not accepted), or 200 and a later GET on `validationUrl`
 *   (manual validation, valid 10 minutes). Events follow only after validation.
 * - Learn "Event Grid message delivery and retry" (event-grid/delivery-and-retry.md): one event per
 *   request by default (an array of one), success = 200..204, retries after 10 s, 30 s, 1 min, 5 min,
 *   10 min, 30 min, 1 h, then hourly, at most 30 attempts; 400/401/403/404 wait 5 min or more, 408 2 min,
 *   503 30 s; duplicates are possible. Learn "Webhook event delivery": headers `aeg-event-type:
 *   Notification`, `aeg-subscription-name`, `aeg-delivery-count`, `aeg-data-version`,
 *   `aeg-metadata-version`.
 * Not emulated: dead-lettering, batching, delayed delivery to unhealthy endpoints, CloudEvents schema.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { EmulatorJob, JobStatus } from './jobs';
import type { Workspace } from './resource';
import { sleep } from './sleep';

export interface EventGridSettings {
  /**
   * The subscription's webhook, e.g. http://127.0.0.1:7071/runtime/webhooks/eventgrid?functionName=amlEvents;
   * null = no subscription: no events are sent.
   */
  url: string | null;
  /** Subscription name, sent as `aeg-subscription-name` (upper case, as Event Grid sends it). */
  subscriptionName: string;
  /** Statuses whose change raises RunStatusChanged: 'all' or a list (e.g. ['Failed'], the AML guide's note). */
  statuses: 'all' | JobStatus[];
  /** Whether Failed and Canceled runs raise events at all (the schema example says yes; the AML guide no). */
  failureEvents: boolean;
  /** Share (0..1) of events never delivered: event i is dropped when ⌊(i+1)·rate⌋ > ⌊i·rate⌋. */
  dropRate: number;
  /** Share (0..1) of events delivered twice (same id), counted the same way. */
  duplicateRate: number;
  /** Wait before each event's first delivery attempt. */
  delayMs: number;
  /** Multiplies Event Grid's retry schedule and the 5 s handshake retry (1 = real time; 0.001 for tests). */
  retryScale: number;
  /** Delivery attempts per event before it is dropped (Event Grid's default: 30). */
  maxDeliveryAttempts: number;
}

export const DEFAULT_EVENT_GRID: EventGridSettings = {
  url: null,
  subscriptionName: 'aml-emulator-runs',
  statuses: 'all',
  failureEvents: true,
  dropRate: 0,
  duplicateRate: 0,
  delayMs: 0,
  retryScale: 1,
  maxDeliveryAttempts: 30,
};

const STATUSES: readonly JobStatus[] = [
  'NotStarted',
  'Queued',
  'Preparing',
  'Running',
  'Finalizing',
  'Completed',
  'Failed',
  'CancelRequested',
  'Canceled',
];

/** Checks a partial settings object (from JSON or env); throws a message naming the bad field. */
export function checkEventGrid(input: unknown): Partial<EventGridSettings> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new Error('event grid settings must be a JSON object');
  const out: Partial<EventGridSettings> = {};
  for (const [k, v] of Object.entries(input as Record<string, unknown>)) {
    switch (k) {
      case 'url':
        if (v !== null && (typeof v !== 'string' || !/^https?:\/\//.test(v)))
          throw new Error('url must be an http(s) URL or null');
        out.url = v;
        break;
      case 'subscriptionName':
        if (typeof v !== 'string' || !v.trim())
          throw new Error('subscriptionName must be a non-empty string');
        out.subscriptionName = v;
        break;
      case 'statuses':
        if (v === 'all') out.statuses = 'all';
        else if (Array.isArray(v) && v.every((s) => STATUSES.includes(s as JobStatus)))
          out.statuses = v as JobStatus[];
        else throw new Error(`statuses must be "all" or a list of ${STATUSES.join(', ')}`);
        break;
      case 'failureEvents':
        if (typeof v !== 'boolean') throw new Error('failureEvents must be true or false');
        out.failureEvents = v;
        break;
      case 'dropRate':
      case 'duplicateRate':
        if (typeof v !== 'number' || !(v >= 0 && v <= 1))
          throw new Error(`${k} must be a number from 0 to 1`);
        out[k] = v;
        break;
      case 'delayMs':
        if (typeof v !== 'number' || !(v >= 0 && v <= 3_600_000))
          throw new Error('delayMs must be a number of ms from 0 to 3600000');
        out.delayMs = v;
        break;
      case 'retryScale':
        if (typeof v !== 'number' || !(v > 0 && v <= 1))
          throw new Error('retryScale must be a number in (0, 1]');
        out.retryScale = v;
        break;
      case 'maxDeliveryAttempts':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 30)
          throw new Error('maxDeliveryAttempts must be an integer from 1 to 30');
        out.maxDeliveryAttempts = v;
        break;
      default:
        throw new Error(
          `unknown event grid setting "${k}" (known: ${Object.keys(DEFAULT_EVENT_GRID).join(', ')})`,
        );
    }
  }
  return out;
}

export interface GridEvent {
  id: string;
  topic: string;
  subject: string;
  eventType: string;
  eventTime: string;
  data: Record<string, unknown>;
  dataVersion: string;
  metadataVersion: string;
}

/** What happened to one event, for GET /_emulator/eventgrid and tests. */
export interface DeliveryRecord {
  id: string;
  eventType: string;
  runId: string;
  runStatus: string;
  /** 'pending' | 'delivered' | 'dropped' (the drop fault) | 'expired' (attempts used up) | 'abandoned' (closing). */
  outcome: 'pending' | 'delivered' | 'dropped' | 'expired' | 'abandoned';
  attempts: number;
  /** Deliveries of this event that succeeded: 2 for a duplicated one. */
  delivered: number;
  lastStatus: number | null;
}

/** Event Grid's retry schedule, seconds after a failed attempt (delivery-and-retry.md). */
const RETRY_SECONDS = [10, 30, 60, 300, 600, 1800, 3600];
const HOUR = 3600;

function retrySeconds(attempt: number, status: number | null): number {
  const base = RETRY_SECONDS[attempt - 1] ?? HOUR;
  const floor =
    status === 400 || status === 401 || status === 403 || status === 404
      ? 300
      : status === 408
        ? 120
        : status === 503
          ? 30
          : 10;
  return Math.max(base, floor);
}

/** Event i of a sequence is picked under `rate` when ⌊(i+1)·rate⌋ > ⌊i·rate⌋: exact and repeatable. */
function picked(i: number, rate: number): boolean {
  return Math.floor((i + 1) * rate + 1e-9) > Math.floor(i * rate + 1e-9);
}

/** A GUID derived from a name, so the endpoint's experiment keeps its id across restarts. */
export function experimentId(endpointName: string): string {
  const h = createHash('sha1').update(`experiment:${endpointName}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const OK = (status: number): boolean => status >= 200 && status <= 204;

export class EventGridPublisher {
  private settings: EventGridSettings;
  private readonly closing = new AbortController();
  private validated = false;
  private validation: Promise<void> | undefined;
  /** A manual validation's code, completed by GET on the validationUrl. */
  private manual: { code: string; done: () => void } | undefined;
  private sequence = 0;
  private readonly records: DeliveryRecord[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  /** Resolved by `listening()`: the validationUrl needs the emulator's address (jobs resume before it listens). */
  private ready!: () => void;
  private readonly started = new Promise<void>((r) => (this.ready = r));

  constructor(
    settings: Partial<EventGridSettings>,
    private readonly workspace: Workspace,
    /** The emulator's own base URL, for the validationUrl it serves. */
    private readonly baseUrl: () => string,
    private readonly log: (line: string) => void,
  ) {
    this.settings = { ...DEFAULT_EVENT_GRID, ...checkEventGrid(settings) };
  }

  get(): EventGridSettings & { validated: boolean; deliveries: DeliveryRecord[] } {
    return { ...this.settings, validated: this.validated, deliveries: this.records.map((r) => ({ ...r })) };
  }

  set(partial: Partial<EventGridSettings>): EventGridSettings {
    const next = checkEventGrid(partial);
    if (next.url !== undefined && next.url !== this.settings.url) {
      // A new endpoint is a new subscription: it must be validated again.
      this.validated = false;
      this.validation = undefined;
    }
    this.settings = { ...this.settings, ...next };
    return { ...this.settings };
  }

  /** The emulator listens at `baseUrl()`: deliveries may begin. */
  listening(): void {
    this.ready();
  }

  /** GET on the validationUrl: completes a manual validation whose code matches. */
  validate(code: string): boolean {
    if (!this.manual || this.manual.code !== code) return false;
    this.manual.done();
    return true;
  }

  /** A job entered `status` at `at`: queue the events it raises. */
  statusChanged(
    job: EmulatorJob,
    runProperties: Record<string, string>,
    status: JobStatus,
    at: string,
  ): void {
    const s = this.settings;
    if (!s.url) return;
    if ((status === 'Failed' || status === 'Canceled') && !s.failureEvents) return;
    const events: GridEvent[] = [];
    if (s.statuses === 'all' || s.statuses.includes(status))
      events.push(
        this.event('Microsoft.MachineLearningServices.RunStatusChanged', job, runProperties, at, status),
      );
    if (status === 'Completed')
      events.push(this.event('Microsoft.MachineLearningServices.RunCompleted', job, runProperties, at));
    for (const e of events) this.enqueue(e, status);
  }

  /** Stops every delivery and handshake where it is. */
  async close(): Promise<void> {
    this.closing.abort(new Error('emulator closing'));
    await Promise.all([...this.inFlight]);
  }

  private event(
    eventType: string,
    job: EmulatorJob,
    runProperties: Record<string, string>,
    at: string,
    runStatus?: JobStatus,
  ): GridEvent {
    const ws = this.workspace;
    const expId = experimentId(ws.endpointName);
    return {
      id: randomUUID(),
      topic: `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroup}/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspaceName}`,
      subject: `experiments/${expId}/runs/${job.name}`,
      eventType,
      eventTime: at,
      data: {
        experimentId: expId,
        experimentName: ws.endpointName,
        runId: job.name,
        // A batch endpoint job runs as a pipeline run (aml-batch-contract.md, Events instead of polling).
        runType: 'azureml.PipelineRun',
        runTags: {},
        runProperties,
        ...(runStatus ? { runStatus } : {}),
      },
      dataVersion: '',
      metadataVersion: '1',
    };
  }

  private enqueue(event: GridEvent, runStatus: JobStatus): void {
    const i = this.sequence++;
    const record: DeliveryRecord = {
      id: event.id,
      eventType: event.eventType,
      runId: event.data.runId as string,
      runStatus,
      outcome: 'pending',
      attempts: 0,
      delivered: 0,
      lastStatus: null,
    };
    this.records.push(record);
    if (picked(i, this.settings.dropRate)) {
      record.outcome = 'dropped';
      this.log(`event grid: dropped ${event.eventType} (${runStatus}) of ${record.runId} (dropRate fault)`);
      return;
    }
    const copies = picked(i, this.settings.duplicateRate) ? 2 : 1;
    const task = this.deliver(event, record, copies).catch((err: unknown) => {
      if (record.outcome === 'pending') record.outcome = 'abandoned';
      if (!this.closing.signal.aborted) this.log(`event grid: ${(err as Error).message}`);
    });
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  private async deliver(event: GridEvent, record: DeliveryRecord, copies: number): Promise<void> {
    const signal = this.closing.signal;
    await sleep(this.settings.delayMs, signal);
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      void this.started.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
    await this.ensureValidated();
    for (let copy = 0; copy < copies; copy++) {
      for (let attempt = 1; ; attempt++) {
        record.attempts++;
        const status = await this.post([event], 'Notification', record.attempts - 1).catch(() => null);
        record.lastStatus = status;
        if (status !== null && OK(status)) {
          record.delivered++;
          record.outcome = 'delivered';
          break;
        }
        if (attempt >= this.settings.maxDeliveryAttempts) {
          record.outcome = record.delivered ? 'delivered' : 'expired';
          this.log(`event grid: gave up on ${event.eventType} of ${record.runId} after ${attempt} attempts`);
          return;
        }
        await sleep(retrySeconds(attempt, status) * 1000 * this.settings.retryScale, signal);
      }
    }
  }

  /** The handshake, once per subscription; concurrent deliveries wait on the same one. */
  private ensureValidated(): Promise<void> {
    if (this.validated) return Promise.resolve();
    this.validation ??= this.handshake().then(
      () => {
        this.validated = true;
      },
      (err: unknown) => {
        this.validation = undefined;
        throw err;
      },
    );
    return this.validation;
  }

  /**
   * Posts the SubscriptionValidationEvent until the endpoint proves ownership: 200 with the code, or 200
   * and then a GET on the validationUrl within 10 minutes. Azure fails the subscription's creation when
   * the endpoint cannot be reached; the emulator instead retries every 5 s (× retryScale), since the local
   * runtime may start after it.
   */
  private async handshake(): Promise<void> {
    const signal = this.closing.signal;
    for (;;) {
      const code = randomUUID();
      const validationUrl = `${this.baseUrl()}/_emulator/eventgrid/validate?code=${code}`;
      const event: GridEvent = {
        id: randomUUID(),
        topic: `/subscriptions/${this.workspace.subscriptionId}/resourceGroups/${this.workspace.resourceGroup}/providers/Microsoft.MachineLearningServices/workspaces/${this.workspace.workspaceName}`,
        subject: '',
        eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
        eventTime: new Date().toISOString(),
        data: { validationCode: code, validationUrl },
        dataVersion: '1',
        metadataVersion: '1',
      };
      let manual: Promise<void> | undefined;
      const answer = await this.post([event], 'SubscriptionValidation', 0, true).catch((err: unknown) => ({
        status: 0,
        body: (err as Error).message,
      }));
      if (answer.status === 200) {
        let response: unknown;
        try {
          response = (JSON.parse(answer.body) as { validationResponse?: unknown }).validationResponse;
        } catch {
          response = undefined;
        }
        if (response === code) {
          this.log(`event grid: subscription ${this.settings.subscriptionName} validated (handshake)`);
          return;
        }
        // 200 without the code: the subscription awaits a GET on the validationUrl (manual validation).
        manual = new Promise<void>((done) => (this.manual = { code, done }));
        const timedOut = sleep(600_000 * this.settings.retryScale, signal).then(() => false);
        if (await Promise.race([manual.then(() => true), timedOut])) {
          this.manual = undefined;
          this.log(`event grid: subscription ${this.settings.subscriptionName} validated (validationUrl)`);
          return;
        }
        this.manual = undefined;
      }
      this.log(
        `event grid: validation handshake with ${this.settings.url} failed (${answer.status || answer.body}); retrying`,
      );
      await sleep(5000 * this.settings.retryScale, signal);
    }
  }

  /** One POST of an array of events; resolves with the status (and the body when asked). */
  private post(
    events: GridEvent[],
    type: 'Notification' | 'SubscriptionValidation',
    deliveryCount: number,
    withBody: true,
  ): Promise<{ status: number; body: string }>;
  private post(
    events: GridEvent[],
    type: 'Notification' | 'SubscriptionValidation',
    deliveryCount: number,
  ): Promise<number>;
  private async post(
    events: GridEvent[],
    type: 'Notification' | 'SubscriptionValidation',
    deliveryCount: number,
    withBody = false,
  ): Promise<number | { status: number; body: string }> {
    // Event Grid waits 30 s for an answer.
    const timeout = AbortSignal.timeout(30_000);
    const url = this.settings.url;
    if (!url) throw new Error('the subscription was removed');
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json; charset=utf-8',
        'aeg-event-type': type,
        'aeg-subscription-name': this.settings.subscriptionName.toUpperCase(),
        'aeg-delivery-count': String(deliveryCount),
        'aeg-data-version': events[0]!.dataVersion,
        'aeg-metadata-version': events[0]!.metadataVersion,
      },
      body: JSON.stringify(events),
      signal: AbortSignal.any([this.closing.signal, timeout]),
    });
    const body = await res.text();
    return withBody ? { status: res.status, body } : res.status;
  }
}
