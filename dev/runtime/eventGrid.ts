import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from './httpServer';
import type { Invoke, RegisteredFunction } from './registry';
import type { LineLog } from './worker';

/**
 * The Event Grid extension's webhook, `/runtime/webhooks/eventgrid?functionName=<name>` (azure-sdk-for-net
 * `Microsoft.Azure.WebJobs.Extensions.EventGrid`: `Config/EventGridExtensionConfigProvider.cs`,
 * `TriggerBinding/HttpRequestProcessor.cs`, `EventGridTriggerAttributeBindingProvider.cs`; the README table has the
 * rule each answer follows). Not emulated: the system key (`code`), Event Grid's retries and dead-lettering.
 */
export class EventGridWebhook {
  constructor(
    private readonly functions: RegisteredFunction[],
    private readonly invoke: Invoke,
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
    if (type !== 'subscriptionvalidation' && type !== 'notification')
      return text(res, type === 'unsubscribe' ? 202 : 400, '');
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
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
    if (!parsed || typeof parsed !== 'object')
      return text(res, 500, 'The request content should be parseable into a JSON object or array');
    const events = (Array.isArray(parsed) ? parsed : [parsed]) as { data?: unknown }[];
    const json = (value: unknown) => ({ json: JSON.stringify(value) });
    const results = await Promise.allSettled(
      events.map((e) => this.invoke(fn, json(e), e.data === undefined ? {} : { data: json(e.data) })),
    );
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []))[0];
    this.log(`eventgrid: ${events.length} event(s) -> ${fn.name} ${failed ? 500 : 202}`);
    if (failed) this.log(`[${fn.name}] ERROR ${failed.stack ?? String(failed)}`);
    return text(res, failed ? 500 : 202, failed?.message ?? '');
  }
}

function text(res: ServerResponse, status: number, body: string): true {
  res.writeHead(status, body ? { 'Content-Type': 'text/plain; charset=utf-8' } : {}).end(body);
  return true;
}
