import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../httpServer';
import { ClientError, TERMINAL, type DurableEngine } from './engine';

/**
 * The Durable extension's HTTP API (`HttpApiHandler.cs`), which `df.getClient(context)` calls: the same handler
 * serves the public webhook base `/runtime/webhooks/durabletask/` (the URLs in `managementUrls` and the check-status
 * response) and the RPC base `/durabletask/` (`rpcBaseUrl`, which durable-functions v3 prefers for every call). Only
 * the calls the app makes (start, status, raise event); the rest answers 501.
 */

const WEBHOOK_PREFIX = '/runtime/webhooks/durabletask';
const PREFIXES = [WEBHOOK_PREFIX, '/durabletask'];

/**
 * Management URLs for an instance, every link as the extension makes them (`GetClientResponseLinks`; calls the app
 * does not make answer 501 here); with `INSTANCEID`, the template the binding data carries.
 */
function managementUrls(baseUrl: string, hub: string, id: string) {
  const q = `taskHub=${encodeURIComponent(hub)}&connection=Storage`;
  const instance = `${baseUrl}${WEBHOOK_PREFIX}/instances/${encodeURIComponent(id)}`;
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

/**
 * The durable client binding data (`OrchestrationClientInputData`) in the extension's shape; durable-functions v3
 * sends every call the app makes to `rpcBaseUrl`.
 */
export function clientBindingData(baseUrl: string, hub: string): Record<string, unknown> {
  const create = `${baseUrl}${WEBHOOK_PREFIX}/orchestrators/{functionName}[/{instanceId}]`;
  return {
    taskHubName: hub,
    creationUrls: {
      createNewInstancePostUri: create,
      createAndWaitOnNewInstancePostUri: `${create}?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}`,
    },
    managementUrls: managementUrls(baseUrl, hub, 'INSTANCEID'),
    baseUrl: `${baseUrl}${WEBHOOK_PREFIX}`,
    requiredQueryStringParameters: '',
    rpcBaseUrl: `${baseUrl}/durabletask/`,
    httpBaseUrl: '',
    maxGrpcMessageSizeInBytes: 0,
    grpcHttpClientTimeout: '00:01:40',
  };
}

/** Stored input, output and custom status are JSON text (jsonOrNull, JSON.stringify) or null. */
const parseJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text));
/** "s" format + Z, as the extension's StatusResponsePayload (second precision). */
const seconds = (isoTime: string): string => `${new Date(isoTime).toISOString().slice(0, 19)}Z`;

function send(res: ServerResponse, code: number, body?: unknown, headers: Record<string, string> = {}): void {
  if (body === undefined) return void res.writeHead(code, headers).end();
  res
    .writeHead(code, { 'Content-Type': 'application/json; charset=utf-8', ...headers })
    .end(JSON.stringify(body));
}

/** JSON text or null for an empty body; invalid JSON throws a SyntaxError, which answers 400. */
function jsonOrNull(text: string): string | null {
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

  /** Answers a request under one of the API's prefixes; false if the path is not one of them. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const prefix = PREFIXES.find((p) => url.pathname === p || url.pathname.startsWith(`${p}/`));
    if (!prefix) return false;
    const path = url.pathname.slice(prefix.length);
    const method = (req.method ?? 'GET').toUpperCase();
    const [head, a, b, c, ...more] = path.split('/').filter(Boolean).map(decodeURIComponent);
    // instances/{id}[/raiseEvent/{name}], by method
    const shape =
      a === undefined || more.length > 0 ? '' : `${method} ${b?.toLowerCase() ?? ''}${c ? ' *' : ''}`;
    const route = `${head} ${shape}`;
    const taskHub = url.searchParams.get('taskHub');
    try {
      if (taskHub && taskHub.toLowerCase() !== this.hub.toLowerCase())
        throw new ClientError(400, `The local runtime serves task hub '${this.hub}' only, not '${taskHub}'.`);
      if (head === 'orchestrators' && a !== undefined && c === undefined && method === 'POST') {
        const id = await this.engine.startNew(a, b, jsonOrNull(await readBody(req)));
        // The start response has every link but rewind's (HttpApiHandler `CreateCheckStatusResponseMessage`).
        const { rewindPostUri: _, ...urls } = managementUrls(this.baseUrl(), this.hub, id);
        send(res, 202, urls, { Location: urls.statusQueryGetUri, 'Retry-After': '10' });
      } else if (head === 'orchestrators') {
        send(res, 404);
      } else if (route === 'instances GET ') {
        this.status(res, a!, url.searchParams);
      } else if (route === 'instances POST raiseevent *') {
        await this.raise(req, res, a!, c!);
      } else if (head === 'instances' || head === 'entities') {
        const message = `${method} ${path} is not supported by the local runtime (the app does not use it).`;
        send(res, 501, { Message: message });
      } else return false;
    } catch (err) {
      // HttpApiHandler.HandleRequestAsync: ArgumentException → 400, anything else (e.g. DTFx's
      // OrchestrationAlreadyExistsException from StartNewAsync) → 500; there is no 409.
      const wrong = 'Something went wrong while processing your request';
      if (err instanceof SyntaxError) send(res, 400, { Message: 'Invalid JSON content' });
      else if (!(err instanceof ClientError))
        send(res, 500, { Message: `${wrong}: ${(err as Error).message}` });
      else {
        const Message = err.status === 400 ? 'One or more of the arguments submitted is incorrect' : wrong;
        send(res, err.status, { Message, ExceptionMessage: err.message, ExceptionType: err.exceptionType });
      }
    }
    return true;
  }

  /** DurableOrchestrationStatus: 202 while running (with Location), 200 when done, 404 unknown. */
  private status(res: ServerResponse, instanceId: string, query: URLSearchParams): void {
    const row = this.engine.getInstance(instanceId);
    if (!row) return send(res, 404);
    // The app never asks for the history (the extension's summarized view): refused rather than imitated.
    if (query.get('showHistory')?.toLowerCase() === 'true')
      return send(res, 501, { Message: 'showHistory is not supported by the local runtime' });
    const payload = {
      name: row.name,
      instanceId,
      runtimeStatus: row.runtimeStatus,
      input: query.get('showInput')?.toLowerCase() === 'false' ? null : parseJson(row.input),
      customStatus: parseJson(row.customStatus),
      output: parseJson(row.output),
      createdTime: seconds(row.createdTime),
      lastUpdatedTime: seconds(row.lastUpdatedTime),
    };
    if (TERMINAL.has(row.runtimeStatus)) return send(res, 200, payload);
    const self = `${this.baseUrl()}${WEBHOOK_PREFIX}/instances/${encodeURIComponent(instanceId)}`;
    send(res, 202, payload, { Location: self, 'Retry-After': '5' });
  }

  /** 202, 404 unknown, 410 finished; only JSON content. */
  private async raise(req: IncomingMessage, res: ServerResponse, id: string, name: string): Promise<void> {
    const row = this.engine.getInstance(id);
    if (!row) return send(res, 404);
    if (TERMINAL.has(row.runtimeStatus)) return send(res, 410);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const body = await readBody(req);
    if (type !== 'application/json' && body.trim() !== '')
      return send(res, 400, { Message: 'Only application/json request content is supported' });
    await this.engine.raise(id, name, jsonOrNull(body));
    send(res, 202);
  }
}
