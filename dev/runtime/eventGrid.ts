import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from './httpServer';
import type { Invoke, RegisteredFunction } from './registry';
import type { LineLog } from './worker';

/**
 * The Event Grid extension's webhook, `/runtime/webhooks/eventgrid?functionName=<name>`, as the host serves it
 * (azure-sdk-for-net `Microsoft.Azure.WebJobs.Extensions.EventGrid`: `Config/EventGridExtensionConfigProvider.cs`
 * `ProcessAsync`/`ProcessEventsAsync`, `TriggerBinding/HttpRequestProcessor.cs`,
 * `TriggerBinding/EventGridTriggerAttributeBindingProvider.cs`):
 * - an unknown or missing `functionName` (compared exactly, the plain function name) → 404 "cannot find function";
 * - `aeg-event-type: SubscriptionValidation` → 200 `{"validationResponse":"<data.validationCode of event 0>"}`
 *   (a CloudEvent object: its `data`, possibly a JSON string); the function does not run;
 * - `Notification` → the body, an array of events or one event object, is dispatched one event per invocation
 *   (the Node library binds one event: cardinality one), all at once; 202 when all succeed, else 500 with the
 *   first failure's message (Event Grid then redelivers the whole batch);
 * - `Unsubscribe` → 202; no or another header → 400.
 * The trigger input is the event as JSON (the host passes the JObject); trigger metadata `data` is its `data`.
 * Not emulated: the system key (`code`), Event Grid's own retries and dead-lettering (the caller's business).
 */
export class EventGridWebhook {
  constructor(
    private readonly functions: RegisteredFunction[],
    private readonly invokeFn: Invoke,
    private readonly log: LineLog,
  ) {}

  /** True when the request was for the webhook (and was answered). */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (url.pathname.replace(/\/+$/, '').toLowerCase() !== '/runtime/webhooks/eventgrid') return false;
    const name = url.searchParams.get('functionName') ?? '';
    const fn = this.functions.find((f) => f.name === name);
    const body = await readBody(req);
    if (!fn) {
      this.log(`eventgrid: cannot find function: '${name}'`);
      return text(res, 404, `cannot find function: '${name}'`);
    }
    const type = String(req.headers['aeg-event-type'] ?? '').toLowerCase();
    let parsed: unknown;
    try {
      parsed = type === 'subscriptionvalidation' || type === 'notification' ? JSON.parse(body) : undefined;
    } catch (err) {
      return text(res, 500, (err as Error).message);
    }
    if (type === 'subscriptionvalidation') {
      const first = (Array.isArray(parsed) ? parsed[0] : parsed) as { data?: unknown } | undefined;
      const data = typeof first?.data === 'string' ? (JSON.parse(first.data) as unknown) : first?.data;
      const code = (data as { validationCode?: unknown } | undefined)?.validationCode;
      if (code === undefined) return text(res, 500, 'no data.validationCode in the validation event');
      this.log(`eventgrid: perform handshake with eventGrid for function: ${fn.name}`);
      return text(res, 200, JSON.stringify({ validationResponse: String(code) }));
    }
    if (type === 'notification') {
      const events: unknown[] = Array.isArray(parsed)
        ? parsed
        : parsed && typeof parsed === 'object'
          ? [parsed]
          : [];
      if (events.length === 0 && !Array.isArray(parsed))
        return text(res, 500, 'The request content should be parseable into a JSON object or array');
      const results = await Promise.allSettled(events.map((e) => this.invoke(fn, e)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      this.log(`eventgrid: ${events.length} event(s) -> ${fn.name} ${failed ? 500 : 202}`);
      return failed ? text(res, 500, (failed.reason as Error).message) : text(res, 202, '');
    }
    return text(res, type === 'unsubscribe' ? 202 : 400, '');
  }

  private async invoke(fn: RegisteredFunction, event: unknown): Promise<void> {
    const data = (event as { data?: unknown } | null)?.data;
    try {
      await this.invokeFn(
        fn,
        { json: JSON.stringify(event) },
        data === undefined ? {} : { data: { json: JSON.stringify(data) } },
        randomUUID(),
      );
    } catch (err) {
      this.log(`[${fn.name}] ERROR ${(err as Error).stack ?? String(err)}`);
      throw err;
    }
  }
}

function text(res: ServerResponse, status: number, body: string): true {
  res.writeHead(status, body ? { 'Content-Type': 'text/plain; charset=utf-8' } : {}).end(body);
  return true;
}
