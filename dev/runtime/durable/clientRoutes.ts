import type { IncomingMessage, ServerResponse } from 'node:http';
import { ClientError, type DurableEngine } from './engine';
import { EventType, EventTypeNames } from './history';
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

/** DurableOrchestrationStatus as the extension's HTTP API returns it. */
export function statusPayload(row: InstanceRecord, showInput: boolean): Record<string, unknown> {
  return {
    name: row.name,
    instanceId: row.instanceId,
    runtimeStatus: row.runtimeStatus,
    input: showInput ? parseJson(row.input) : null,
    customStatus: parseJson(row.customStatus),
    output: parseJson(row.output),
    createdTime: seconds(row.createdTime),
    lastUpdatedTime: seconds(row.lastUpdatedTime),
  };
}

function boolParam(q: URLSearchParams, name: string, fallback: boolean): boolean {
  const v = q.get(name);
  return v === null ? fallback : /^true$/i.test(v) ? true : /^false$/i.test(v) ? false : fallback;
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

/** `request.CreateErrorResponse(status, message, exception)`: ASP.NET's HttpError JSON. */
function error(res: ServerResponse, status: number, message: string, err?: ClientError): void {
  send(res, status, {
    Message: message,
    ...(err ? { ExceptionMessage: err.message, ExceptionType: err.exceptionType } : {}),
  });
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
        if (method !== 'POST') send(res, 404);
        else
          this.checkStatusResponse(
            res,
            await this.engine.startNew(a, b, validJsonOrNull(await readBody(req))),
          );
        return true;
      }
      if (head === 'instances' && a !== undefined) {
        if (b === undefined && method === 'GET') await this.status(res, a, query);
        else if (
          b?.toLowerCase() === 'raiseevent' &&
          c !== undefined &&
          segments.length === 4 &&
          method === 'POST'
        )
          await this.raise(req, res, a, c);
        else if (b?.toLowerCase() === 'terminate' && segments.length === 3 && method === 'POST') {
          await this.engine.terminate(a, query.get('reason'));
          send(res, 202);
        } else
          error(
            res,
            501,
            `${method} ${path} is not supported by the local runtime (the app does not use it).`,
          );
        return true;
      }
      if (head === 'instances' || head === 'entities') {
        error(res, 501, `${method} ${path} is not supported by the local runtime (the app does not use it).`);
        return true;
      }
      return false;
    } catch (err) {
      // HttpApiHandler.HandleRequestAsync: ArgumentException → 400, anything else (e.g. DTFx's
      // OrchestrationAlreadyExistsException from StartNewAsync) → 500; there is no 409.
      if (err instanceof ClientError && err.status === 400)
        error(res, 400, 'One or more of the arguments submitted is incorrect', err);
      else if (err instanceof ClientError && err.status === 500)
        error(res, 500, 'Something went wrong while processing your request', err);
      else if (err instanceof ClientError) error(res, err.status, err.message);
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

  private async status(res: ServerResponse, instanceId: string, query: URLSearchParams): Promise<void> {
    const row = await this.engine.getInstance(instanceId);
    if (!row) return send(res, 404);
    const payload = statusPayload(row, boolParam(query, 'showInput', true));
    if (boolParam(query, 'showHistory', false)) {
      // Not the extension's summarized view (the app never asks for history): the raw events, type names spelled out.
      payload.historyEvents = (await this.engine.getHistory(row))
        .filter(
          (e) =>
            e.EventType !== EventType.OrchestratorStarted && e.EventType !== EventType.OrchestratorCompleted,
        )
        .map((e) => ({ ...e, EventType: EventTypeNames[e.EventType] }));
    }
    const running: RuntimeStatus[] = ['Running', 'Pending', 'ContinuedAsNew', 'Suspended'];
    if (running.includes(row.runtimeStatus)) {
      const self = `${this.baseUrl()}${WEBHOOK_PREFIX}/instances/${encodeURIComponent(instanceId)}`;
      return send(res, 202, payload, { Location: self, 'Retry-After': '5' });
    }
    const failed500 =
      row.runtimeStatus === 'Failed' && boolParam(query, 'returnInternalServerErrorOnFailure', false);
    send(res, failed500 ? 500 : 200, payload);
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
