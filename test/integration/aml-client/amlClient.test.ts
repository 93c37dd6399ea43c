import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AmlClient, ML_SCOPE, tokenSource, type TokenSource } from '../../../src/adapters/amlClient';
import { BlobStore } from '../../../src/adapters/blobStore';
import { datastoreUri } from '../../../src/domain/amlUris';
import { PipelineError, toErrorInfo } from '../../../src/domain/errors';
import { startAmlEmulator, type AmlEmulator } from '../../../dev/aml-emulator';
import { eventually } from '../../support/eventually';
import { testConnectionString, uniqueName } from '../../support/storage';

/** The app's AML client against the local batch endpoint emulator, over real HTTP. */
let emu: AmlEmulator;
let container: string;
const store = BlobStore.fromConnection({
  kind: 'connectionString',
  connectionString: testConnectionString(),
});
const tokens = (t = 'any-token'): TokenSource => ({ token: async () => t });
const workspace = {
  subscriptionId: '00000000-0000-0000-0000-000000000000',
  resourceGroup: 'local-rg',
  workspaceName: 'local-ws',
};

function client(opts: Partial<ConstructorParameters<typeof AmlClient>[0]> = {}): AmlClient {
  return new AmlClient({
    scoringUri: `${emu.url}/jobs`,
    managementUri: emu.url,
    workspace,
    requestTimeoutMs: 10_000,
    tokens: tokens(),
    sleep: async () => undefined, // no real waiting for the quick 429 retry in tests
    ...opts,
  });
}

function waitFor(c: AmlClient, name: string, done: (s: string) => boolean): Promise<string> {
  return eventually(
    async () => {
      const { status } = await c.get(name);
      return done(status) ? status : undefined;
    },
    { everyMs: 50, what: `job ${name} to reach the expected status` },
  );
}

beforeAll(async () => {
  container = uniqueName('ds');
  emu = await startAmlEmulator({
    port: 0,
    storageConnectionString: testConnectionString(),
    datastores: { workspaceblobstore: container },
    timings: {
      notStartedMs: 20,
      queuedMs: 20,
      preparingMs: 20,
      runningMs: 20,
      finalizingMs: 20,
      cancelMs: 20,
    },
    requiredToken: 'good-token',
    forbiddenToken: 'no-role-token',
  });
});
afterAll(async () => emu.close());

async function stage(
  name: string,
  body: string,
): Promise<{ inputUri: string; outputUri: string; outputPath: string }> {
  await store.putText(container, `in/${name}`, body, 'text/csv');
  const outputPath = `out/${uniqueName('o')}/predictions.csv`;
  return {
    inputUri: datastoreUri('workspaceblobstore', `in/${name}`, workspace),
    outputUri: datastoreUri('workspaceblobstore', outputPath),
    outputPath,
  };
}

test('submit, poll to Completed, read MLflow-format predictions', async () => {
  const c = client({ tokens: tokens('good-token') });
  const f = await stage('a.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n1.5,Premium,G,VS2\n');
  const job = await c.submit({ ...f, requestId: 'req-1' });
  expect(job.status).toBe('NotStarted');
  expect(await waitFor(c, job.name, (s) => s === 'Completed' || s === 'Failed')).toBe('Completed');
  const chunks: Buffer[] = [];
  for await (const ch of await store.openRead(container, f.outputPath))
    chunks.push(Buffer.from(ch as Buffer));
  const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n');
  expect(lines).toHaveLength(2);
  expect(lines.map((l) => l.split(',')[0])).toEqual(['0', '1']);
  expect(Number(lines[1]!.split(',')[1])).toBeGreaterThan(Number(lines[0]!.split(',')[1]));
  expect(emu.jobs().find((j) => j.name === job.name)).toMatchObject({ repeatabilityRequestId: 'req-1' });
});

test('the deployment header routes to another model', async () => {
  const f1 = await stage('b.csv', 'carat,cut,color,clarity\n1.0,Good,H,SI2\n');
  const f2 = await stage('b2.csv', 'carat,cut,color,clarity\n1.0,Good,H,SI2\n');
  const v1 = await client({ tokens: tokens('good-token'), deploymentName: 'diamond-v1' }).submit({
    ...f1,
    requestId: 'r',
  });
  const v2 = await client({ tokens: tokens('good-token') }).submit({ ...f2, requestId: 'r' });
  expect(emu.jobs().find((j) => j.name === v1.name)?.deployment).toBe('diamond-v1');
  expect(emu.jobs().find((j) => j.name === v2.name)?.deployment).toBe('diamond-v2');
});

test('a file’s own deployment is sent instead of the configured one', async () => {
  const f = await stage('b3.csv', 'carat,cut,color,clarity\n1.0,Good,H,SI2\n');
  const c = client({ tokens: tokens('good-token'), deploymentName: 'diamond-v2' });
  const job = await c.submit({ ...f, requestId: 'r', deployment: 'diamond-v1' });
  expect(emu.jobs().find((j) => j.name === job.name)?.deployment).toBe('diamond-v1');
});

test('a 429 with a short Retry-After is retried once inside the call, and only once', async () => {
  const slept: number[] = [];
  const c = client({ tokens: tokens('good-token'), sleep: async (ms) => void slept.push(ms) });
  emu.setFaults({ throttleRate: 1 });
  try {
    const err = await c.get('whatever').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect(err).toMatchObject({ code: 'AmlThrottled', retryable: true, retryAfterMs: 1000 });
  } finally {
    emu.setFaults({ throttleRate: 0 });
  }
  expect(slept).toEqual([1000]); // the emulator's Retry-After: 1; then the retry policy takes over
});

test('503 and an unreachable AML surface at once as retryable errors: backoff is the retry policy’s', async () => {
  const slept: number[] = [];
  const c = client({ tokens: tokens('good-token'), sleep: async (ms) => void slept.push(ms) });
  emu.setFaults({ unavailableRate: 1 });
  try {
    await expect(c.get('whatever')).rejects.toMatchObject({ code: 'AmlUnavailable', retryable: true });
  } finally {
    emu.setFaults({ unavailableRate: 0 });
  }
  emu.setFaults({ unreachable: true });
  try {
    await expect(c.get('whatever')).rejects.toMatchObject({
      code: 'AmlUnavailable',
      retryable: true,
      message: expect.stringMatching(/^Could not reach AML to read job whatever \(.+\)\.$/),
    });
  } finally {
    emu.setFaults({ unreachable: false });
  }
  expect(slept).toEqual([]);
});

test('auth failures are not retried and say what is missing', async () => {
  const f = await stage('auth.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n');
  await expect(client({ tokens: tokens('wrong') }).submit({ ...f, requestId: 'x' })).rejects.toMatchObject({
    code: 'AmlAuth',
    retryable: false,
    message: expect.stringContaining('https://ml.azure.com'),
  });
  await expect(
    client({ tokens: tokens('no-role-token') }).submit({ ...f, requestId: 'x' }),
  ).rejects.toMatchObject({
    code: 'AmlAuth',
    message: expect.stringContaining('AzureML Data Scientist'),
  });
});

test('a token Entra ID refuses is final; no answer from the identity endpoint is transient', async () => {
  const failing = (e: unknown) =>
    tokenSource({ kind: 'azure' } as never, { getToken: async () => Promise.reject(e) });
  const refused = Object.assign(new Error('AADSTS700016: application not found'), { statusCode: 400 });
  const busy = Object.assign(new Error('Service Unavailable'), { statusCode: 503 });
  const unreachable = new Error('ManagedIdentityCredential: connect ECONNREFUSED 169.254.169.254:80');
  await expect(failing(refused).token(ML_SCOPE)).rejects.toMatchObject({ code: 'AmlAuth', retryable: false });
  await expect(failing(busy).token(ML_SCOPE)).rejects.toMatchObject({ code: 'AmlAuth', retryable: true });
  await expect(failing(unreachable).token(ML_SCOPE)).rejects.toMatchObject({
    code: 'AmlAuth',
    retryable: true,
    message: expect.stringMatching(/^Could not get an Entra ID token .*AML_CLIENT_ID.*ECONNREFUSED/),
  });
});

test('the record’s short message keeps what to fix, ahead of the service text', async () => {
  const f = await stage('auth2.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n');
  const err = await client({ tokens: tokens('no-role-token') })
    .submit({ ...f, requestId: 'y' })
    .catch((e: unknown) => e);
  const info = toErrorInfo(err);
  expect(info).toMatchObject({ code: 'AmlAuth', retryable: false });
  expect(info.message).toMatch(
    /^AML denied access \(403\) to submit the batch job\. .*AzureML Data Scientist/,
  );
  const missing = await new AmlClient({
    scoringUri: `${emu.url}/nothing-here`,
    managementUri: emu.url,
    requestTimeoutMs: 10_000,
    tokens: tokens('good-token'),
  })
    .submit({ ...f, requestId: 'z' })
    .catch((e: unknown) => e);
  expect(toErrorInfo(missing)).toMatchObject({
    code: 'AmlNotFound',
    retryable: false,
    message: expect.stringContaining('Check AML_SCORING_URI.'),
  });
});

test('validation errors come back as non-retryable AmlValidation with the service text', async () => {
  const c = client({ tokens: tokens('good-token') });
  const f = await stage('v.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n');
  await expect(
    c.submit({
      inputUri: 'azureml://datastores/nosuchstore/paths/x.csv',
      outputUri: f.outputUri,
      requestId: 'x',
    }),
  ).rejects.toMatchObject({
    code: 'AmlValidation',
    retryable: false,
    message: expect.stringContaining('validation errors'),
  });
  await c.submit({ ...f, requestId: 'first' });
  // The output path exists once the first job has written it: a second job to it is refused.
  await waitFor(c, emu.jobs().at(-1)!.name, (s) => s === 'Completed');
  await expect(c.submit({ ...f, requestId: 'second' })).rejects.toMatchObject({ code: 'AmlValidation' });
});

test('cancel goes to the management plane and the job ends Canceled', async () => {
  const c = client({ tokens: tokens('good-token') });
  emu.setFaults({ hangInQueued: true });
  try {
    const f = await stage('hang.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n');
    const job = await c.submit({ ...f, requestId: 'h' });
    expect(await waitFor(c, job.name, (s) => s === 'Queued')).toBe('Queued');
    expect(await c.cancel(job.name)).toEqual({ requested: true, answer: 'AML accepted the cancel (202).' });
    expect(await waitFor(c, job.name, (s) => s === 'Canceled')).toBe('Canceled');
  } finally {
    emu.setFaults({ hangInQueued: false });
  }
  expect(
    await new AmlClient({
      scoringUri: `${emu.url}/jobs`,
      managementUri: emu.url,
      requestTimeoutMs: 1000,
      tokens: tokens(),
    }).cancel('x'),
  ).toEqual({ requested: false, answer: expect.stringContaining('AML_SUBSCRIPTION_ID') });
});

test('a refused cancel throws with AML’s own answer, and nothing is cancelled', async () => {
  const c = client({ tokens: tokens('good-token') });
  emu.setFaults({ hangInQueued: true, refuseCancel: true });
  try {
    const f = await stage('refused.csv', 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n');
    const job = await c.submit({ ...f, requestId: 'r' });
    await expect(c.cancel(job.name)).rejects.toMatchObject({
      code: 'AmlNotFound',
      retryable: false,
      message: expect.stringMatching(/404 to cancel job .*not found/),
    });
    expect(await waitFor(c, job.name, (s) => s === 'Queued')).toBe('Queued');
  } finally {
    emu.setFaults({ hangInQueued: false, refuseCancel: false });
  }
});

test('the AML Studio link of the invoke response is kept', async () => {
  // The data-plane client's BatchJobResource shape (properties.interactionEndpoints.Studio.endpoint).
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify({
        id: '/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/jobs/j-1',
        name: 'j-1',
        properties: {
          status: 'NotStarted',
          interactionEndpoints: { Studio: { endpoint: 'https://ml.azure.com/runs/j-1?wsid=x' } },
        },
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    const c = client({ scoringUri: `http://127.0.0.1:${port}/jobs` });
    expect(await c.submit({ inputUri: 'azureml://x', outputUri: 'azureml://y', requestId: 'q' })).toEqual({
      name: 'j-1',
      status: 'NotStarted',
      studioUrl: 'https://ml.azure.com/runs/j-1?wsid=x',
    });
  } finally {
    server.close();
  }
});

test('a failed job reports its error', async () => {
  const c = client({ tokens: tokens('good-token') });
  const f = await stage('bad.csv', 'carat,cut,color,clarity\nabc,Ideal,E,SI1\n');
  const job = await c.submit({ ...f, requestId: 'b' });
  expect(await waitFor(c, job.name, (s) => s === 'Completed' || s === 'Failed')).toBe('Failed');
  expect((await c.get(job.name)).error).toMatch(/carat/);
});
