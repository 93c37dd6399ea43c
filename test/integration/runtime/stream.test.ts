import { createHash } from 'node:crypto';
import { testConnectionString, uniqueName } from '../../support/storage';
import { spawnRuntime, type RuntimeProcess } from './support';

jest.setTimeout(40_000);

/** An app that enabled HTTP streaming: bodies flow through the worker's proxy without being buffered. */
let rt: RuntimeProcess;
const LIMIT = 128 * 1024 * 1024; // above the 96 MiB upload below: the setting is honoured

beforeAll(async () => {
  rt = await spawnRuntime(
    {
      AzureWebJobsStorage: testConnectionString(),
      DURABLE_TASK_HUB: uniqueName('st'),
      FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: String(LIMIT),
      LOCAL_RUNTIME_HTTP_RESPONSE_LIMIT_MS: '1500', // stands for Azure's 230 s
    },
    { entry: 'test/integration/runtime/fixtures/stream/index.ts' },
  );
}, 40_000);

afterAll(async () => {
  expect(await rt?.stop()).toBe(0);
});

function pattern(size: number): { stream: ReadableStream<Uint8Array>; sha256: string } {
  const chunk = Buffer.alloc(1024 * 1024, 'stream!');
  const hash = createHash('sha256');
  for (let left = size; left > 0; left -= chunk.length)
    hash.update(chunk.subarray(0, Math.min(left, chunk.length)));
  let left = size;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left <= 0) return controller.close();
      const n = Math.min(left, chunk.length);
      controller.enqueue(chunk.subarray(0, n));
      left -= n;
    },
  });
  return { stream, sha256: hash.digest('hex') };
}

it('streams a large request body to the function, with route params, headers and query', async () => {
  expect(rt.lines.some((l) => l.includes('HTTP streaming'))).toBe(true);
  const size = 96 * 1024 * 1024;
  const { stream, sha256 } = pattern(size);
  const r = await fetch(`${rt.url}/api/upload/t1?q=7`, {
    method: 'POST',
    body: stream,
    headers: { 'x-test': 'streamed' },
    duplex: 'half',
  } as RequestInit);
  expect(r.status).toBe(200);
  expect(await r.json()).toEqual({ tag: 't1', bytes: size, sha256, header: 'streamed', q: '7' });
});

it('streams a large response body back', async () => {
  const size = 48 * 1024 * 1024 + 123;
  const r = await fetch(`${rt.url}/api/download/${size}`);
  expect(r.status).toBe(200);
  expect(r.headers.get('x-size')).toBe(String(size));
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    hash.update(chunk);
  }
  expect(bytes).toBe(size);
  const expected = createHash('sha256');
  const chunk = Buffer.alloc(64 * 1024, 'abcdefgh');
  for (let left = size; left > 0; left -= chunk.length)
    expected.update(chunk.subarray(0, Math.min(left, chunk.length)));
  expect(hash.digest('hex')).toBe(expected.digest('hex'));
});

it('answers 204 when the function returns nothing and 500 when it throws', async () => {
  expect((await fetch(`${rt.url}/api/nothing`)).status).toBe(204);
  expect((await fetch(`${rt.url}/api/boom`)).status).toBe(500);
  expect((await fetch(`${rt.url}/api/upload/x`)).status).toBe(404); // GET is not registered
});

it('answers a streamed body over FUNCTIONS_REQUEST_BODY_SIZE_LIMIT with a bare 500 (declared or chunked)', async () => {
  const declared = await fetch(`${rt.url}/api/upload/big`, { method: 'POST', body: Buffer.alloc(LIMIT + 1) });
  expect(declared.status).toBe(500);
  expect(await declared.text()).toBe('');
  const { stream } = pattern(LIMIT + 1024 * 1024);
  const chunked = await fetch(`${rt.url}/api/upload/big`, {
    method: 'POST',
    body: stream,
    duplex: 'half',
  } as RequestInit);
  expect(chunked.status).toBe(500);
});

it('drops a request whose response has not started within the response limit (230 s on Azure)', async () => {
  const r = await fetch(`${rt.url}/api/slow`);
  expect(r.status).toBe(502);
  await rt.waitForLine(/GET \/api\/slow -> streamSlow: no response within 1500 ms, answering 502/);
});
