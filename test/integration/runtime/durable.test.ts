import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { EventType } from '../../../dev/runtime/durable/history';
import { testConnectionString, uniqueName } from '../../support/storage';
import {
  getStatus,
  post,
  spawnRuntime,
  stateDir,
  waitFor,
  waitForStatus,
  type RuntimeProcess,
  type Status,
} from './support';

jest.setTimeout(30_000);

/** One runtime (child process) for HTTP routing and every durable scenario; each test uses its own instance ids. */
let rt: RuntimeProcess;
let api: string;
let dir: string;
const hub = uniqueName('rt');

beforeAll(async () => {
  dir = stateDir();
  rt = await spawnRuntime({
    AzureWebJobsStorage: testConnectionString(),
    FixtureStorage: testConnectionString(),
    FIXTURE_BLOB_CONTAINER: uniqueName('unused'),
    FIXTURE_STATE_DIR: dir,
    DURABLE_TASK_HUB: hub,
  });
  api = `${rt.url}/api`;
}, 40_000);

afterAll(async () => {
  const code = await rt?.stop();
  rmSync(dir, { recursive: true, force: true });
  expect(code).toBe(0);
});

async function start(name: string, id: string, input?: unknown): Promise<Response> {
  return post(`${api}/orchestrators/${name}/${id}`, input);
}

const typeName = Object.fromEntries(Object.entries(EventType).map(([name, type]) => [type, name]));

/** The instance's history as the runtime persisted it (one blob per instance), event types by name, without the
 * episode markers (OrchestratorStarted/Completed). */
async function history(id: string): Promise<{ EventType: string }[]> {
  const blobs = BlobServiceClient.fromConnectionString(testConnectionString());
  const blob = blobs.getContainerClient(`${hub.toLowerCase()}-instances`).getBlobClient(`${id}.json`);
  const inst = JSON.parse(String(await blob.downloadToBuffer())) as { history: { EventType: number }[] };
  return inst.history
    .map((e) => ({ EventType: typeName[e.EventType]! }))
    .filter((e) => !/^Orchestrator(Started|Completed)$/.test(e.EventType));
}

async function appStatus(
  id: string,
  query = '',
): Promise<{ status: number; body: Status & { error?: string } }> {
  const r = await fetch(`${api}/instances/${id}${query}`);
  return { status: r.status, body: (await r.json()) as Status & { error?: string } };
}

describe('HTTP triggers', () => {
  it('routes by template and method, passes params, query, headers and body, returns status and headers', async () => {
    const r = await fetch(`${api}/echo/one/two?x=1&status=201`, {
      method: 'PUT',
      headers: { 'x-test': 'hi' },
      body: 'payload',
    });
    expect(r.status).toBe(201);
    expect(r.headers.get('x-echo')).toBe('yes');
    const body = (await r.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      method: 'PUT',
      params: { a: 'one', rest: 'two' },
      query: { x: '1', status: '201' },
      header: 'hi',
      body: 'payload',
      url: `${api}/echo/one/two?x=1&status=201`,
    });
    // an empty catch-all, case-insensitive literal segment
    const opt = (await (await fetch(`${rt.url}/API/Echo/only`)).json()) as { params: Record<string, string> };
    expect(opt.params).toEqual({ a: 'only' });
    // a method that is not registered for the route
    expect((await fetch(`${api}/echo/one`, { method: 'DELETE' })).status).toBe(404);
    await rt.waitForLine(/\[echo\] echo PUT one/); // the app's context.log, with the function name
  });

  it('distinguishes jobs/{id} from jobs/{id}/cancel, 404s unknown routes, 204 for no response, 500 for a throw', async () => {
    expect(await (await fetch(`${api}/jobs/42`)).json()).toEqual({ job: 42 });
    expect(await (await fetch(`${api}/jobs/abc/cancel`, { method: 'POST' })).json()).toEqual({
      cancelled: 'abc',
    });
    expect((await fetch(`${api}/jobs/abc`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${api}/nowhere`)).status).toBe(404);
    expect((await fetch(`${api}/nothing`)).status).toBe(204);
    expect((await fetch(`${api}/boom`)).status).toBe(500);
  });

  it('answers a body over FUNCTIONS_REQUEST_BODY_SIZE_LIMIT (default 100 MiB) with a bare 500, without running the function', async () => {
    const payload = Buffer.alloc(101 * 1024 * 1024, 1);
    const r = await fetch(`${api}/upload`, { method: 'POST', body: payload });
    expect(r.status).toBe(500);
    expect(await r.text()).toBe('');
    await rt.waitForLine(/POST \/api\/upload -> 500: request body larger than 104857600 bytes/);
    expect(rt.lines.some((l) => /-> upload 200/.test(l))).toBe(false);
  });

  it('takes a multi-megabyte body', async () => {
    const payload = randomBytes(8 * 1024 * 1024);
    const r = await fetch(`${api}/upload`, { method: 'POST', body: payload });
    expect(await r.json()).toEqual({
      bytes: payload.length,
      sha256: createHash('sha256').update(payload).digest('hex'),
    });
  });
});

describe('durable functions', () => {
  it('runs an orchestration to completion: activities, retry, timer, Task.all, a caught activity failure, custom status', async () => {
    const id = uniqueName('full');
    const key = uniqueName('k');
    const r = await start('fullFlow', id, { name: 'Ann', key, failTimes: 2, timerMs: 400 });
    expect(r.status).toBe(202);
    const check = (await r.json()) as { id: string; statusQueryGetUri: string };
    // durable-functions' createCheckStatusResponse copies the binding data's managementUrls, which the extension
    // fills with every link (HttpApiHandler.GetClientResponseLinks; the calls the app does not make answer 501).
    expect(Object.keys(check)).toEqual([
      'id',
      'statusQueryGetUri',
      'sendEventPostUri',
      'terminatePostUri',
      'rewindPostUri',
      'purgeHistoryDeleteUri',
      'restartPostUri',
      'suspendPostUri',
      'resumePostUri',
    ]);
    expect(check.id).toBe(id);
    expect(check.statusQueryGetUri).toBe(
      `${rt.url}/runtime/webhooks/durabletask/instances/${id}?taskHub=${hub}&connection=Storage`,
    );

    const done = await waitForStatus(rt.url, id, ['Completed', 'Failed']);
    expect(done.runtimeStatus).toBe('Completed');
    expect(done.customStatus).toEqual({ stage: 'done' });
    const out = done.output as {
      hello: string;
      flaky: { attempts: number };
      waited: number;
      parallel: string[];
      caught: string;
    };
    expect(out.hello).toBe('Hello Ann');
    expect(out.flaky).toEqual({ attempts: 3 }); // failed twice, succeeded on the third attempt
    expect(Number(readFileSync(join(dir, `flaky-${key}`), 'utf8'))).toBe(3);
    expect(out.waited).toBeGreaterThanOrEqual(400); // orchestration time moved by at least the timer
    expect(out.parallel).toEqual(['Hello x', 'Hello y']);
    expect(out.caught).toMatch(
      /^Activity function 'alwaysFails' failed: Result: Failure\nException: this activity always fails\nStack: /,
    );

    // the same status through the app's durable client (getStatus over the RPC base URL)
    const viaClient = await appStatus(id);
    expect(viaClient.status).toBe(200);
    expect(viaClient.body).toMatchObject({
      instanceId: id,
      runtimeStatus: 'Completed',
      customStatus: { stage: 'done' },
    });
    expect(viaClient.body.input).toEqual({ name: 'Ann', key, failTimes: 2, timerMs: 400 });

    // history: retry timers between the attempts, every activity scheduled once per attempt
    const types = (await history(id)).map((e) => e.EventType);
    expect(types[0]).toBe('ExecutionStarted');
    expect(types.at(-1)).toBe('ExecutionCompleted');
    expect(types.filter((t) => t === 'TaskFailed')).toHaveLength(3);
    expect(types.filter((t) => t === 'TimerFired')).toHaveLength(3); // 2 retry delays + the durable timer
  });

  it('fails the task after the last retry attempt (the orchestrator sees the last error)', async () => {
    const id = uniqueName('ex');
    const key = uniqueName('k');
    await start('retryExhausted', id, key);
    const done = await waitForStatus(rt.url, id, ['Completed', 'Failed']);
    expect(done.output).toMatch(
      /^Activity function 'flaky' failed: Result: Failure\nException: flaky failure 3\n/,
    );
    expect(Number(readFileSync(join(dir, `flaky-${key}`), 'utf8'))).toBe(3);
  });

  it('binds a durable client to an activity that declares one', async () => {
    const id = uniqueName('ca');
    await start('clientInActivity', id);
    const done = await waitForStatus(rt.url, id, ['Completed', 'Failed']);
    expect(done).toMatchObject({
      runtimeStatus: 'Completed',
      output: { taskHub: hub, runtimeStatus: 'Running' },
    });
  });

  it('records an orchestrator exception as Failed with the extension message', async () => {
    const id = uniqueName('th');
    await start('throws', id);
    const done = await waitForStatus(rt.url, id, ['Completed', 'Failed']);
    expect(done.runtimeStatus).toBe('Failed');
    expect(done.output).toBe("Orchestrator function 'throws' failed: orchestrator gave up");
  });

  it('fails loudly on an unsupported action (sub-orchestration)', async () => {
    const id = uniqueName('sub');
    await start('usesSubOrchestration', id);
    const done = await waitForStatus(rt.url, id, ['Completed', 'Failed']);
    expect(done.runtimeStatus).toBe('Failed');
    expect(done.output).toMatch(/does not support the durable action CallSubOrchestrator/);
  });

  it('delivers external events raised after the wait and buffers those raised before it', async () => {
    const id = uniqueName('ev');
    await start('twoEvents', id);
    await waitForStatus(rt.url, id, ['Running']);
    // Data first: nobody waits for it yet, it must be kept until the orchestrator asks
    expect((await post(`${api}/instances/${id}/events/Data`, { n: 1 })).status).toBe(202);
    await waitFor(
      async () => ((await history(id)).some((e) => e.EventType === 'EventRaised') ? true : undefined),
      'Data recorded',
    );
    expect((await getStatus(rt.url, id))!.runtimeStatus).toBe('Running');
    expect((await post(`${api}/instances/${id}/events/Go`, 'now')).status).toBe(202);
    const done = await waitForStatus(rt.url, id, ['Completed']);
    expect(done.output).toEqual({ go: 'now', data: { n: 1 } });
  });

  it('races an event against a timer with Task.any (event wins, timer wins)', async () => {
    const fast = uniqueName('ap');
    await start('approval', fast, 60_000);
    await waitForStatus(rt.url, fast, ['Running']);
    await post(`${api}/instances/${fast}/events/Approve`, 'yes');
    expect((await waitForStatus(rt.url, fast, ['Completed'])).output).toEqual({ approved: 'yes' });

    const slow = uniqueName('ap');
    await start('approval', slow, 300);
    expect((await waitForStatus(rt.url, slow, ['Completed'])).output).toEqual({
      approved: false,
      timedOut: true,
    });
  });

  it('continueAsNew starts fresh executions; an event raised after it reaches the new execution', async () => {
    const id = uniqueName('cn');
    await start('counter', id, { n: 0, max: 6 });
    const done = await waitForStatus(rt.url, id, ['Completed']);
    expect(done.output).toBe(6);
    expect(done.customStatus).toEqual({ n: 6 });
    expect(done.input).toEqual({ n: 6, max: 6 });

    const ec = uniqueName('ec');
    await start('eventCounter', ec, { total: 0, target: 6 });
    await waitForStatus(rt.url, ec, ['Running']);
    // one event per execution: events an execution received but did not consume are dropped with continueAsNew
    // (OutOfProcOrchestrationShim), so each is raised once the previous one was consumed
    let total = 0;
    for (const n of [1, 2, 3]) {
      await waitFor(
        async () => (((await getStatus(rt.url, ec))?.customStatus ?? 0) === total ? true : undefined),
        `total ${total}`,
      );
      expect((await post(`${api}/instances/${ec}/events/Inc`, n)).status).toBe(202);
      total += n;
    }
    expect((await waitForStatus(rt.url, ec, ['Completed'])).output).toBe(6);
  });

  it('refuses events to finished or unknown instances, and client calls the app does not make', async () => {
    const id = uniqueName('tm');
    await start('waitForever', id);
    await waitForStatus(rt.url, id, ['Running']);
    expect((await post(`${api}/instances/${id}/events/Never`, 1)).status).toBe(202);
    const done = await waitForStatus(rt.url, id, ['Completed']);
    expect(done).toMatchObject({ output: 'woke', customStatus: 'waiting' });
    // raiseEvent on a finished instance: 410, which the client treats as success (no throw)
    const raw = `${rt.url}/runtime/webhooks/durabletask/instances/${id}`;
    expect((await post(`${raw}/raiseEvent/Never`, 1)).status).toBe(410);
    expect((await post(`${api}/instances/${id}/events/Never`, 1)).status).toBe(202);
    // terminate and the history view are not imitated: refused, not ignored
    expect((await post(`${raw}/terminate?reason=x`)).status).toBe(501);
    expect((await fetch(`${raw}?showHistory=true`)).status).toBe(501);
    // raiseEvent on an unknown instance: the client rejects
    const unknown = await post(`${api}/instances/${uniqueName('nope')}/events/Never`, 1);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/No instance with ID/);
  });

  it('getStatus of an unknown id is the client 404 error', async () => {
    const r = await appStatus(uniqueName('missing'));
    expect(r.status).toBe(404);
    expect(r.body.error).toMatch(/HTTP 404 response/);
  });

  it('startNew: a running id makes the client throw (the HTTP API answers 500, no 409), a finished id is overwritten', async () => {
    const id = uniqueName('sn');
    await start('waitForever', id);
    await waitForStatus(rt.url, id, ['Running']);
    const conflict = await start('waitForever', id);
    expect(conflict.status).toBe(500); // the fixture's catch
    expect(((await conflict.json()) as { error: string }).error).toMatch(/500/);
    const raw = await post(`${rt.url}/runtime/webhooks/durabletask/orchestrators/waitForever/${id}`);
    expect(raw.status).toBe(500);
    expect(await raw.json()).toEqual({
      Message: 'Something went wrong while processing your request',
      ExceptionMessage: 'An Orchestration instance with the status Running already exists.',
      ExceptionType: 'DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException',
    });

    await post(`${api}/instances/${id}/events/Never`, 1);
    await waitForStatus(rt.url, id, ['Completed']);
    const first = (await getStatus(rt.url, id))!;
    expect((await start('counter', id, { n: 0, max: 0 })).status).toBe(202);
    const second = await waitForStatus(rt.url, id, ['Completed']);
    expect(second.output).toBe(0);
    expect(second.input).toEqual({ n: 0, max: 0 });
    expect(Date.parse(second.createdTime)).toBeGreaterThanOrEqual(Date.parse(first.createdTime));

    // The extension's own start route: every link but rewind's (HttpApiHandler.CreateCheckStatusResponseMessage).
    const direct = await post(`${rt.url}/runtime/webhooks/durabletask/orchestrators/counter/${id}x`, {
      n: 0,
      max: 0,
    });
    expect(direct.status).toBe(202);
    expect(Object.keys((await direct.json()) as object)).toEqual([
      'id',
      'statusQueryGetUri',
      'sendEventPostUri',
      'terminatePostUri',
      'purgeHistoryDeleteUri',
      'restartPostUri',
      'suspendPostUri',
      'resumePostUri',
    ]);
  });
});
