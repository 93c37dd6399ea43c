import { Readable } from 'node:stream';
import { BlobStore } from '../../../src/adapters/blobStore';
import { PipelineError } from '../../../src/domain/errors';
import { testConnectionString, uniqueName } from '../../support/storage';

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
