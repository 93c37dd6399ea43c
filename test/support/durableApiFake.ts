import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The Durable extension's client HTTP API (azure-functions-durable-extension `HttpApiHandler.cs`), reduced
 * to the calls the app's `DurableClient` makes on its `rpcBaseUrl`: get status, start, raise event.
 * Shaped like the extension: an unknown instance is 404; the status payload is `StatusResponsePayload`
 * (name, instanceId, runtimeStatus, input, customStatus, output, createdTime, lastUpdatedTime); starting
 * an instance that is still running fails (the extension throws, which the webhook turns into a 500;
 * there is no 409), while starting over a finished one replaces it, as the extension's default
 * `OverridableExistingInstanceStates.NonRunningStates` does. Tests set instance states directly.
 */

export type RuntimeStatus =
  'Pending' | 'Running' | 'ContinuedAsNew' | 'Suspended' | 'Completed' | 'Failed' | 'Terminated' | 'Canceled';

export interface FakeInstance {
  name: string;
  input: unknown;
  runtimeStatus: RuntimeStatus;
  output?: unknown;
  createdTime: string;
  lastUpdatedTime: string;
}

const RUNNING = new Set<RuntimeStatus>(['Pending', 'Running', 'ContinuedAsNew', 'Suspended']);

export interface DurableApiFake {
  instances: Map<string, FakeInstance>;
  /** Every start request, including refused ones. */
  starts: { instanceId: string; name: string; input: unknown; refused: boolean }[];
  events: { instanceId: string; name: string }[];
  /** Instances whose status read fails with a 500, as during a storage outage behind the extension. */
  failingStatus: Set<string>;
  /** Instances to which raising an event fails with a 500 (the same outage, on the event path). */
  failingEvents: Set<string>;
  /** The durable client binding data (`OrchestrationClientInputData`) pointing at this server. */
  clientData: Record<string, unknown>;
  close(): Promise<void>;
}

function body(req: import('node:http').IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startDurableApiFake(hub = 'testhub'): Promise<DurableApiFake> {
  const instances = new Map<string, FakeInstance>();
  const starts: DurableApiFake['starts'] = [];
  const events: DurableApiFake['events'] = [];
  const failingStatus = new Set<string>();
  const failingEvents = new Set<string>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent); // durabletask/...
      const send = (status: number, payload?: unknown): void => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(payload === undefined ? '' : JSON.stringify(payload));
      };
      const text = await body(req);
      if (req.method === 'GET' && parts[1] === 'instances' && parts[2]) {
        if (failingStatus.has(parts[2])) return send(500, { Message: 'An error has occurred.' });
        const i = instances.get(parts[2]);
        if (!i) return send(404);
        return send(200, { instanceId: parts[2], customStatus: null, ...i, output: i.output ?? null });
      }
      if (req.method === 'POST' && parts[1] === 'orchestrators' && parts[2] && parts[3]) {
        const [name, id] = [parts[2], parts[3]];
        const input = text ? JSON.parse(text) : undefined;
        const existing = instances.get(id);
        if (existing && RUNNING.has(existing.runtimeStatus)) {
          starts.push({ instanceId: id, name, input, refused: true });
          return send(500, {
            Message: 'An error has occurred.',
            ExceptionMessage: `An Orchestration instance with the status ${existing.runtimeStatus} already exists.`,
          });
        }
        const now = new Date().toISOString();
        instances.set(id, { name, input, runtimeStatus: 'Pending', createdTime: now, lastUpdatedTime: now });
        starts.push({ instanceId: id, name, input, refused: false });
        return send(202, { id, statusQueryGetUri: `${base}/instances/${id}` });
      }
      if (
        req.method === 'POST' &&
        parts[1] === 'instances' &&
        parts[2] &&
        parts[3] === 'raiseEvent' &&
        parts[4]
      ) {
        if (failingEvents.has(parts[2])) return send(500, { Message: 'An error has occurred.' });
        const i = instances.get(parts[2]);
        if (!i) return send(404);
        if (!RUNNING.has(i.runtimeStatus)) return send(410);
        events.push({ instanceId: parts[2], name: parts[4] });
        return send(202);
      }
      send(400, { Message: `fake does not serve ${req.method} ${url.pathname}` });
    })().catch((err: unknown) => {
      res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/durabletask`;
  const webhook = `${base.replace('/durabletask', '')}/runtime/webhooks/durabletask`;
  const clientData = {
    taskHubName: hub,
    creationUrls: {
      createNewInstancePostUri: `${webhook}/orchestrators/{functionName}[/{instanceId}]`,
      createAndWaitOnNewInstancePostUri: `${webhook}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}`,
    },
    managementUrls: {
      id: 'INSTANCEID',
      statusQueryGetUri: `${webhook}/instances/INSTANCEID?taskHub=${hub}&connection=Storage`,
      sendEventPostUri: `${webhook}/instances/INSTANCEID/raiseEvent/{eventName}?taskHub=${hub}&connection=Storage`,
      terminatePostUri: `${webhook}/instances/INSTANCEID/terminate?reason={text}&taskHub=${hub}&connection=Storage`,
      rewindPostUri: `${webhook}/instances/INSTANCEID/rewind?reason={text}&taskHub=${hub}&connection=Storage`,
      purgeHistoryDeleteUri: `${webhook}/instances/INSTANCEID?taskHub=${hub}&connection=Storage`,
      restartPostUri: `${webhook}/instances/INSTANCEID/restart?taskHub=${hub}&connection=Storage`,
      suspendPostUri: `${webhook}/instances/INSTANCEID/suspend?reason={text}&taskHub=${hub}&connection=Storage`,
      resumePostUri: `${webhook}/instances/INSTANCEID/resume?reason={text}&taskHub=${hub}&connection=Storage`,
    },
    baseUrl: webhook,
    requiredQueryStringParameters: '',
    rpcBaseUrl: `${base}/`,
    httpBaseUrl: '',
    maxGrpcMessageSizeInBytes: 0,
    grpcHttpClientTimeout: '00:01:40',
  };
  return {
    instances,
    starts,
    events,
    failingStatus,
    failingEvents,
    clientData,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
