import type { IncomingMessage, ServerResponse } from 'node:http';
import { ClientError, type DurableEngine } from './engine';
import { EventType, EventTypeNames, type HistoryEvent } from './history';
import { TERMINAL, type InstanceRecord, type RuntimeStatus } from './store';

/**
 * The Durable extension's HTTP API (HttpApiHandler), which `df.getClient(context)` calls: the same handler serves
 * the public webhook base `/runtime/webhooks/durabletask/` (the URLs in `managementUrls`/`creationUrls` and in
 * `createCheckStatusResponse`) and the local RPC base `/durabletask/` (`rpcBaseUrl`, which durable-functions v3
 * prefers for every client call). Status codes and payloads follow the extension.
 */

export const WEBHOOK_PREFIX = '/runtime/webhooks/durabletask';
export const RPC_PREFIX = '/durabletask';
const CONNECTION_NAME = 'Storage';

/** The durable client binding data (`OrchestrationClientInputData`) the extension passes to client functions. */
export function clientBindingData(baseUrl: string, hub: string): Record<string, unknown> {
  const webhook = `${baseUrl}${WEBHOOK_PREFIX}`;
  const q = `taskHub=${encodeURIComponent(hub)}&connection=${CONNECTION_NAME}`;
  const instance = `${webhook}/instances/INSTANCEID`;
  return {
    taskHubName: hub,
    creationUrls: {
      createNewInstancePostUri: `${webhook}/orchestrators/{functionName}[/{instanceId}]`,
      createAndWaitOnNewInstancePostUri: `${webhook}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}`,
    },
    managementUrls: managementUrls(webhook, 'INSTANCEID', q, instance),
    baseUrl: webhook,
    requiredQueryStringParameters: '',
    rpcBaseUrl: `${baseUrl}${RPC_PREFIX}/`,
    httpBaseUrl: '',
    maxGrpcMessageSizeInBytes: 0,
    grpcHttpClientTimeout: '00:01:40',
  };
}

function managementUrls(
  webhook: string,
  id: string,
  q: string,
  instance = `${webhook}/instances/${encodeURIComponent(id)}`,
): Record<string, string> {
  return {
    id,
    statusQueryGetUri: `${instance}?${q}`,
    sendEventPostUri: `${instance}/raiseEvent/{eventName}?${q}`,
    terminatePostUri: `${instance}/terminate?reason={text}&${q}`,
    rewindPostUri: `${instance}/rewind?reason={text}&${q}`,
    purgeHistoryDeleteUri: `${instance}?${q}`,
    restartPostUri: `${instance}/restart?${q}`,
    suspendPostUri: `${instance}/suspend?reason={text}&${q}`,
    resumePostUri: `${instance}/resume?reason={text}&${q}`,
  };
}

/** "s" format + Z, as the extension's StatusResponsePayload (second precision). */
function seconds(isoTime: string): string {
  return `${new Date(isoTime).toISOString().slice(0, 19)}Z`;
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export interface StatusOptions {
  showInput: boolean;
  showHistory: boolean;
  showHistoryOutput: boolean;
}

/** DurableOrchestrationStatus as the extension's HTTP API returns it. */
export function statusPayload(
  row: InstanceRecord,
  opts: StatusOptions,
  history?: HistoryEvent[],
): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    name: row.name,
    instanceId: row.instanceId,
    runtimeStatus: row.runtimeStatus,
    input: opts.showInput ? parseJson(row.input) : null,
    customStatus: parseJson(row.customStatus),
    output: parseJson(row.output),
    createdTime: seconds(row.createdTime),
    lastUpdatedTime: seconds(row.lastUpdatedTime),
  };
  if (opts.showHistory && history) payload.historyEvents = historyView(history, opts.showHistoryOutput);
  return payload;
}

/** The extension's summarized history: scheduling events are folded into their completions. */
function historyView(history: HistoryEvent[], withOutput: boolean): Record<string, unknown>[] {
  const scheduled = new Map<number, HistoryEvent>();
  const out: Record<string, unknown>[] = [];
  for (const ev of history) {
    const type = EventTypeNames[ev.EventType] ?? String(ev.EventType);
    switch (ev.EventType) {
      case EventType.OrchestratorStarted:
      case EventType.OrchestratorCompleted:
        break;
      case EventType.TaskScheduled:
        scheduled.set(ev.EventId, ev);
        break;
      case EventType.ExecutionStarted:
        out.push({
          EventType: type,
          FunctionName: ev.Name,
          Timestamp: ev.Timestamp,
          ...(withOutput ? { Input: parseJson(ev.Input as string | null) } : {}),
        });
        break;
      case EventType.TaskCompleted:
      case EventType.TaskFailed: {
        const s = scheduled.get(Number(ev.TaskScheduledId));
        out.push({
          EventType: type,
          FunctionName: s?.Name,
          ScheduledTime: s?.Timestamp,
          Timestamp: ev.Timestamp,
          ...(withOutput && ev.EventType === EventType.TaskCompleted
            ? { Result: parseJson(ev.Result as string) }
            : {}),
          ...(ev.EventType === EventType.TaskFailed ? { Reason: ev.Reason, Details: ev.Details } : {}),
        });
        break;
      }
      case EventType.TimerCreated:
      case EventType.TimerFired:
        out.push({ EventType: type, FireAt: ev.FireAt, Timestamp: ev.Timestamp });
        break;
      case EventType.EventRaised:
        out.push({
          EventType: type,
          Name: ev.Name,
          Timestamp: ev.Timestamp,
          ...(withOutput ? { Input: parseJson(ev.Input as string | null) } : {}),
        });
        break;
      case EventType.ExecutionCompleted:
        out.push({
          EventType: type,
          OrchestrationStatus: ev.OrchestrationStatus,
          Timestamp: ev.Timestamp,
          ...(withOutput ? { Result: parseJson(ev.Result as string | null) } : {}),
        });
        break;
      default:
        out.push({ EventType: type, Timestamp: ev.Timestamp });
    }
  }
  return out;
}

function boolParam(q: URLSearchParams, name: string, fallback: boolean): boolean {
  const v = q.get(name);
  if (v === null) return fallback;
  if (/^true$/i.test(v)) return true;
  if (/^false$/i.test(v)) return false;
  return fallback;
}

function dateParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

function statusesParam(q: URLSearchParams): Set<string> | undefined {
  const all = q
    .getAll('runtimeStatus')
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  return all.length > 0 ? new Set(all) : undefined;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers }).end(text);
}

function error(res: ServerResponse, status: number, message: string): void {
  send(res, status, { Message: message });
}

function validJsonOrNull(text: string): string | null {
  if (text.trim() === '') return null;
  JSON.parse(text);
  return text;
}

export class DurableHttpApi {
  constructor(
    private readonly engine: DurableEngine,
    private readonly hub: string,
    private readonly baseUrl: () => string,
  ) {}

  /** Handles a request under one of the prefixes; `path` is what follows the prefix. Returns false if unmatched. */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    query: URLSearchParams,
  ): Promise<boolean> {
    const method = (req.method ?? 'GET').toUpperCase();
    const segments = path
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
    const taskHub = query.get('taskHub');
    try {
      if (taskHub && taskHub.toLowerCase() !== this.hub.toLowerCase()) {
        throw new ClientError(
          400,
          `The local runtime serves task hub '${this.hub}' only (request asked for '${taskHub}').`,
        );
      }
      const [head, a, b, c] = segments;
      if (head === 'orchestrators' && a !== undefined && segments.length <= 3) {
        if (method === 'POST') await this.start(req, res, a, b, query);
        else send(res, 404);
        return true;
      }
      if (head === 'instances') {
        if (a === undefined) {
          if (method === 'GET') await this.list(res, query);
          else if (method === 'DELETE') await this.purgeBy(res, query);
          else send(res, 404);
          return true;
        }
        if (b === undefined) {
          if (method === 'GET') await this.status(res, a, query);
          else if (method === 'DELETE') await this.purge(res, a);
          else send(res, 404);
          return true;
        }
        if (method !== 'POST') {
          send(res, 404);
          return true;
        }
        if (b.toLowerCase() === 'raiseevent' && c !== undefined && segments.length === 4) {
          await this.raise(req, res, a, c);
          return true;
        }
        if (segments.length === 3 && b.toLowerCase() === 'terminate') {
          await this.engine.terminate(a, query.get('reason'));
          send(res, 202);
          return true;
        }
        if (segments.length === 3 && ['rewind', 'restart', 'suspend', 'resume'].includes(b.toLowerCase())) {
          error(res, 501, `The ${b} operation is not supported by the local runtime.`);
          return true;
        }
        send(res, 404);
        return true;
      }
      if (head === 'entities') {
        error(res, 501, 'Durable entities are not supported by the local runtime.');
        return true;
      }
      return false;
    } catch (err) {
      if (err instanceof ClientError) error(res, err.status, err.message);
      else if (err instanceof SyntaxError) error(res, 400, 'Invalid JSON content');
      else error(res, 500, `Something went wrong while processing your request: ${(err as Error).message}`);
      return true;
    }
  }

  /** The 202 "check status" response of the extension. */
  checkStatusResponse(res: ServerResponse, instanceId: string): void {
    const webhook = `${this.baseUrl()}${WEBHOOK_PREFIX}`;
    const q = `taskHub=${encodeURIComponent(this.hub)}&connection=${CONNECTION_NAME}`;
    const urls = managementUrls(webhook, instanceId, q);
    const body = {
      id: instanceId,
      statusQueryGetUri: urls.statusQueryGetUri,
      sendEventPostUri: urls.sendEventPostUri,
      terminatePostUri: urls.terminatePostUri,
      purgeHistoryDeleteUri: urls.purgeHistoryDeleteUri,
      restartPostUri: urls.restartPostUri,
      suspendPostUri: urls.suspendPostUri,
      resumePostUri: urls.resumePostUri,
    };
    send(res, 202, body, { Location: urls.statusQueryGetUri!, 'Retry-After': '10' });
  }

  private async start(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    instanceId: string | undefined,
    query: URLSearchParams,
  ): Promise<void> {
    const input = validJsonOrNull(await readBody(req));
    const id = await this.engine.startNew(name, instanceId, input);
    const timeout = Number(query.get('timeout'));
    const interval = Number(query.get('pollingInterval'));
    if (timeout > 0 && interval > 0) {
      const deadline = Date.now() + timeout * 1000;
      for (;;) {
        const row = await this.engine.getInstance(id);
        if (row && TERMINAL.has(row.runtimeStatus)) {
          if (row.runtimeStatus === 'Completed') send(res, 200, parseJson(row.output));
          else
            send(
              res,
              200,
              statusPayload(row, { showInput: true, showHistory: false, showHistoryOutput: false }),
            );
          return;
        }
        if (Date.now() >= deadline) break;
        await new Promise((r) =>
          setTimeout(r, Math.min(interval * 1000, Math.max(0, deadline - Date.now()))),
        );
      }
    }
    this.checkStatusResponse(res, id);
  }

  private async status(res: ServerResponse, instanceId: string, query: URLSearchParams): Promise<void> {
    const row = await this.engine.getInstance(instanceId);
    if (!row) return send(res, 404);
    const opts: StatusOptions = {
      showInput: boolParam(query, 'showInput', true),
      showHistory: boolParam(query, 'showHistory', false),
      showHistoryOutput: boolParam(query, 'showHistoryOutput', false),
    };
    const history = opts.showHistory ? await this.engine.getHistory(row) : undefined;
    const payload = statusPayload(row, opts, history);
    const running: RuntimeStatus[] = ['Running', 'Pending', 'ContinuedAsNew', 'Suspended'];
    if (running.includes(row.runtimeStatus)) {
      const self = `${this.baseUrl()}${WEBHOOK_PREFIX}/instances/${encodeURIComponent(instanceId)}`;
      return send(res, 202, payload, { Location: self, 'Retry-After': '5' });
    }
    const failed500 =
      row.runtimeStatus === 'Failed' && boolParam(query, 'returnInternalServerErrorOnFailure', false);
    send(res, failed500 ? 500 : 200, payload);
  }

  private async filtered(query: URLSearchParams, terminalOnly: boolean): Promise<InstanceRecord[]> {
    const from = dateParam(query, 'createdTimeFrom');
    const to = dateParam(query, 'createdTimeTo');
    const statuses = statusesParam(query);
    const prefix = query.get('instanceIdPrefix');
    const rows = await this.engine.listInstances();
    return rows.filter((r) => {
      const created = Date.parse(r.createdTime);
      if (from !== undefined && created < from) return false;
      if (to !== undefined && created > to) return false;
      if (statuses && !statuses.has(r.runtimeStatus)) return false;
      if (!statuses && terminalOnly && !TERMINAL.has(r.runtimeStatus)) return false;
      if (prefix && !r.instanceId.startsWith(prefix)) return false;
      return true;
    });
  }

  private async list(res: ServerResponse, query: URLSearchParams): Promise<void> {
    const opts: StatusOptions = {
      showInput: boolParam(query, 'showInput', true),
      showHistory: false,
      showHistoryOutput: false,
    };
    const rows = await this.filtered(query, false);
    const top = Number(query.get('top'));
    const page = top > 0 ? rows.slice(0, top) : rows;
    send(
      res,
      200,
      page.map((r) => statusPayload(r, opts)),
    );
  }

  private async purge(res: ServerResponse, instanceId: string): Promise<void> {
    const deleted = await this.engine.purge(instanceId);
    if (!deleted) return send(res, 404);
    send(res, 200, { instancesDeleted: 1 });
  }

  private async purgeBy(res: ServerResponse, query: URLSearchParams): Promise<void> {
    if (dateParam(query, 'createdTimeFrom') === undefined) {
      return error(res, 400, "Please provide value for 'createdTimeFrom' parameter.");
    }
    let deleted = 0;
    for (const row of await this.filtered(query, true)) {
      if (!TERMINAL.has(row.runtimeStatus)) continue;
      if (await this.engine.purge(row.instanceId)) deleted++;
    }
    if (deleted === 0) return send(res, 404);
    send(res, 200, { instancesDeleted: deleted });
  }

  private async raise(
    req: IncomingMessage,
    res: ServerResponse,
    instanceId: string,
    eventName: string,
  ): Promise<void> {
    const row = await this.engine.getInstance(instanceId);
    if (!row) return send(res, 404);
    if (TERMINAL.has(row.runtimeStatus)) return send(res, 410);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const body = await readBody(req);
    if (type !== 'application/json' && body.trim() !== '') {
      return error(res, 400, 'Only application/json request content is supported');
    }
    await this.engine.raiseEvent(instanceId, eventName, validJsonOrNull(body));
    send(res, 202);
  }
}
