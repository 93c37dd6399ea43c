import { Readable } from 'node:stream';
import { BlobStore } from '../../../src/adapters/blobStore';
import { PipelineError } from '../../../src/domain/errors';
import { testConnectionString, uniqueName } from '../../support/storage';
import { startCountingProxy, type CountingProxy } from '../../../bench/stack/countingProxy';

const store = BlobStore.fromConnection({
  kind: 'connectionString',
  connectionString: testConnectionString(),
});
let src: string;
let dst: string;

async function text(s: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

const copy = (from: BlobStore, name: string, etag: string, to: string) =>
  store.copyFrom(from, { container: src, name, etag }, { container: dst, name: to });

beforeEach(async () => {
  src = uniqueName('src');
  dst = uniqueName('dst');
  await store.ensureContainer(src);
  await store.ensureContainer(dst);
});

test('upload streams, info reports the version, openRead pins it', async () => {
  const up = await store.upload(src, 'f/a.csv', Readable.from([Buffer.from('a,b\n'), Buffer.from('1,2\n')]));
  const info = await store.info(src, 'f/a.csv');
  expect(info).toMatchObject({ etag: up.etag, size: 8 });
  expect(await text(await store.openRead(src, 'f/a.csv', info.etag))).toBe('a,b\n1,2\n');
  await store.putText(src, 'f/a.csv', 'changed');
  await expect(store.openRead(src, 'f/a.csv', info.etag)).rejects.toMatchObject({
    code: 'InputChanged',
    retryable: false,
  });
});

test('copyFrom copies server-side, is repeatable, and refuses a changed source', async () => {
  await store.putText(src, 'in put.csv', 'x,y\n1,2\n', 'text/csv');
  const info = await store.info(src, 'in put.csv');
  expect(await copy(store, 'in put.csv', info.etag, 'job/in put.csv')).toBe('server-side');
  expect(await copy(store, 'in put.csv', info.etag, 'job/in put.csv')).toBe('server-side');
  expect(await text(await store.openRead(dst, 'job/in put.csv'))).toBe('x,y\n1,2\n');
  await store.putText(src, 'in put.csv', 'new');
  await expect(copy(store, 'in put.csv', info.etag, 'other.csv')).rejects.toMatchObject({
    code: 'InputChanged',
  });
});

test('missing blobs and unreachable accounts are typed errors', async () => {
  await expect(store.info(src, 'nope.csv')).rejects.toMatchObject({
    code: 'InputNotFound',
    retryable: false,
  });
  const down = BlobStore.fromConnection({
    kind: 'connectionString',
    connectionString: testConnectionString().replace(
      /BlobEndpoint=http:\/\/127\.0\.0\.1:\d+/,
      'BlobEndpoint=http://127.0.0.1:1',
    ),
  });
  const err = await down.info(src, 'x.csv').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PipelineError);
  expect(err).toMatchObject({ code: 'StorageUnavailable', retryable: true });
}, 60_000);

test('a server-side copy that cannot be made falls back to a streamed copy of the same version', async () => {
  await store.putText(src, 'x.csv', 'a,b\n1,2\n', 'text/csv');
  const info = await store.info(src, 'x.csv');
  // Another account (by URL) whose copy source cannot be authorized: the SAS step fails.
  const other = new (class extends BlobStore {
    override async readUrl(): Promise<string> {
      throw new PipelineError('StorageUnavailable', 'cannot mint a SAS here', { retryable: true });
    }
  })(
    BlobStore.fromConnection({
      kind: 'connectionString',
      connectionString: testConnectionString().replace(/127\.0\.0\.1/g, 'localhost'),
    }).service,
  );
  expect(await copy(other, 'x.csv', info.etag, 'y.csv')).toBe('streamed');
  expect(await text(await store.openRead(dst, 'y.csv'))).toBe('a,b\n1,2\n');
  // A changed source stays an error on the streamed path too.
  await store.putText(src, 'x.csv', 'changed');
  await expect(copy(other, 'x.csv', info.etag, 'z.csv')).rejects.toMatchObject({ code: 'InputChanged' });
});

describe('requests on the wire', () => {
  let proxy: CountingProxy;
  let counted: BlobStore;
  const port = Number(/BlobEndpoint=http:\/\/127\.0\.0\.1:(\d+)/.exec(testConnectionString())![1]);
  beforeAll(async () => {
    proxy = await startCountingProxy('blob', port);
    counted = BlobStore.fromConnection({
      kind: 'connectionString',
      connectionString: testConnectionString().replace(
        /BlobEndpoint=http:\/\/127\.0\.0\.1:\d+/,
        `BlobEndpoint=http://127.0.0.1:${proxy.port}`,
      ),
    });
  });
  afterAll(() => proxy.close());
  beforeEach(() => proxy.reset());
  const sent = (): Record<string, number> => Object.fromEntries(proxy.counts);

  test('openReadWithInfo reads the bytes and the same properties as info, in one request', async () => {
    await store
      .container(src)
      .getBlockBlobClient('m.csv')
      .upload('a,b\n', 4, {
        metadata: { Deployment: 'blue' },
        blobHTTPHeaders: { blobContentType: 'text/csv' },
      });
    const info = await store.info(src, 'm.csv');
    proxy.reset();
    const got = await counted.openReadWithInfo(src, 'm.csv', info.etag);
    expect(await text(got.body)).toBe('a,b\n');
    expect(got.info).toEqual(info);
    expect(sent()).toEqual({ 'blob GET': 1 });
    await store.putText(src, 'm.csv', 'new');
    await expect(counted.openReadWithInfo(src, 'm.csv', info.etag)).rejects.toMatchObject({
      code: 'InputChanged',
    });
    await expect(counted.openReadWithInfo(src, 'gone.csv')).rejects.toMatchObject({ code: 'InputNotFound' });
  });

  test('a small upload is one Put Blob; a large one is blocks and a block list; both land the bytes', async () => {
    const meta = { metadata: { jobid: 'j1' }, contentType: 'text/plain' };
    await counted.upload(dst, 'small.csv', Readable.from([Buffer.from('x,'), 'y\n']), meta);
    expect(sent()).toEqual({ 'blob PUT': 1 });
    expect(await store.info(dst, 'small.csv')).toMatchObject({
      size: 4,
      contentType: 'text/plain',
      metadata: { jobid: 'j1' },
    });
    expect(await text(await store.openRead(dst, 'small.csv'))).toBe('x,y\n');

    proxy.reset();
    const mib = Buffer.alloc(1024 * 1024, 'abcdefgh');
    const big = Array.from({ length: 20 }, (_, i) => Buffer.concat([Buffer.from(`${i}`), mib]));
    await counted.upload(dst, 'big.csv', Readable.from(big), meta);
    expect(sent()).toEqual({ 'blob PUT block': 3, 'blob PUT blocklist': 1 });
    const back = Buffer.from(await text(await store.openRead(dst, 'big.csv')));
    expect(back.equals(Buffer.concat(big))).toBe(true);
    expect(await store.info(dst, 'big.csv')).toMatchObject({ metadata: { jobid: 'j1' } });
  });
});

test('an upload whose source fails writes nothing, small or large', async () => {
  async function* failing(n: number): AsyncGenerator<Buffer> {
    for (let i = 0; i < n; i++) yield Buffer.alloc(1024 * 1024, 'z');
    throw new Error('source broke');
  }
  await expect(store.upload(dst, 's.csv', Readable.from(failing(1)))).rejects.toThrow(/source broke/);
  await expect(store.upload(dst, 'l.csv', Readable.from(failing(12)))).rejects.toThrow(/source broke/);
  expect(await store.exists(dst, 's.csv')).toBe(false);
  expect(await store.exists(dst, 'l.csv')).toBe(false);
});
