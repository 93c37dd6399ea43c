import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { QueueClient } from '@azure/storage-queue';
import { POISON_QUEUE } from '../../../dev/runtime/blobWatcher';
import { storageConnection } from '../../../dev/runtime/registry';
import { testConnectionString, uniqueName } from '../../support/storage';
import { post, spawnRuntime, stateDir, waitFor, waitForStatus, type RuntimeProcess } from './support';

jest.setTimeout(40_000);

interface Delivery {
  name: string;
  attempt: number;
  text: string;
  blobTrigger: string;
  uri: string;
  properties: Record<string, unknown>;
  metadataKeys: string[];
  modelBindingData: { version: string; source: string; contentType: string; content: Record<string, string> };
  taskHub: string;
}

let rt: RuntimeProcess | undefined;
let dir: string;
let container: ContainerClient;
let env: Record<string, string>;
const hub = uniqueName('bt');

function deliveries(name?: string): Delivery[] {
  const file = join(dir, 'blobs.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Delivery)
    .filter((d) => name === undefined || d.name === name);
}

async function upload(name: string, text: string): Promise<string> {
  const r = await container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
  return r.etag!;
}

/** Uploads a marker blob and waits until it is processed: every blob uploaded before was seen by a later scan. */
async function settle(): Promise<void> {
  const marker = `marker-${uniqueName('m')}.txt`;
  await upload(marker, 'marker');
  await waitFor(async () => (deliveries(marker).length > 0 ? true : undefined), `marker ${marker}`);
}

beforeAll(async () => {
  dir = stateDir();
  const containerName = uniqueName('inbox');
  container =
    BlobServiceClient.fromConnectionString(testConnectionString()).getContainerClient(containerName);
  await container.create();
  env = {
    AzureWebJobsStorage: testConnectionString(),
    FixtureStorage: testConnectionString(),
    FIXTURE_BLOB_CONTAINER: containerName,
    FIXTURE_STATE_DIR: dir,
    DURABLE_TASK_HUB: hub,
    LOCAL_RUNTIME_BLOB_POLL_MS: '150',
    LOCAL_RUNTIME_TIME_SCALE: '200', // durable time runs 200x faster in this runtime
  };
  rt = await spawnRuntime(env);
}, 40_000);

afterAll(async () => {
  await rt?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('delivers new and changed blobs once each, as a deferred-binding reference with host-shaped metadata', async () => {
  const etag1 = await upload('a.txt', 'v1');
  const first = await waitFor(async () => deliveries('a.txt')[0], 'a.txt v1');
  expect(first).toMatchObject({
    attempt: 1,
    text: 'v1',
    blobTrigger: `${container.containerName}/a.txt`,
    uri: `${container.url}/a.txt`,
    taskHub: hub, // the blob function's durable client input works too
  });
  // BlobProperties as Newtonsoft writes it, camel-cased by @azure/functions: ETag struct `{}`, enums as numbers,
  // DateTimeOffset with offset, no `sys` in the trigger metadata.
  expect(first.metadataKeys).toEqual(['blobTrigger', 'metadata', 'name', 'properties', 'uri']);
  const props = first.properties;
  expect(props).toMatchObject({
    eTag: {},
    contentLength: 2,
    blobType: 0,
    leaseState: 0,
    leaseStatus: 1,
    leaseDuration: 0,
    copyStatus: 0,
    blobCopyStatus: null,
    metadata: {},
    copyCompletedOn: '0001-01-01T00:00:00+00:00',
  });
  expect(props.lastModified).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
  expect(Object.keys(props)).toHaveLength(46); // every public property of BlobProperties
  expect(etag1).toMatch(/^"/); // the real ETag is only in the blob's own properties
  expect(first.modelBindingData).toEqual({
    version: '1.0',
    source: 'AzureStorageBlobs',
    contentType: 'application/json',
    content: { Connection: 'FixtureStorage', ContainerName: container.containerName, BlobName: 'a.txt' },
  });

  const etag2 = await upload('a.txt', 'v2 changed');
  expect(etag2).not.toBe(etag1);
  const second = await waitFor(async () => deliveries('a.txt')[1], 'a.txt v2');
  expect(second).toMatchObject({ text: 'v2 changed' });

  await settle();
  expect(deliveries('a.txt')).toHaveLength(2);
});

it('passes the bytes to a blob trigger without deferred binding', async () => {
  await upload('bytes/b1.txt', 'raw bytes');
  const line = await waitFor(async () => {
    const file = join(dir, 'bytes.log');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').find(Boolean) : undefined;
  }, 'bytes/b1.txt');
  expect(JSON.parse(line)).toEqual({ file: 'b1.txt', isBuffer: true, text: 'raw bytes' });
});

it('falls back to the bytes where the host would: another binding has a {...} expression', async () => {
  await upload('fallback/f1.txt', 'bytes instead of a reference');
  const line = await waitFor(async () => {
    const file = join(dir, 'fallback.log');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').find(Boolean) : undefined;
  }, 'fallback/f1.txt');
  expect(JSON.parse(line)).toEqual({
    blobTrigger: `${container.containerName}/fallback/f1.txt`,
    isBuffer: true,
    text: 'bytes instead of a reference',
  });
});

it('moves a blob that keeps failing to the poison queue after 5 attempts and stops retrying it', async () => {
  await upload('fail-1.txt', 'bad');
  await rt!.waitForLine(
    /POISON blob trigger onBlob: .*\/fail-1\.txt moved to queue webjobs-blobtrigger-poison after 5 attempts/,
  );
  expect(deliveries('fail-1.txt').map((d) => d.attempt)).toEqual([1, 2, 3, 4, 5]);
  // base64-encoded JSON, as the Functions storage extension writes it
  const peeked = await new QueueClient(testConnectionString(), POISON_QUEUE).peekMessages({
    numberOfMessages: 32,
  });
  const messages = peeked.peekedMessageItems.map(
    (m) => JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')) as Record<string, string>,
  );
  expect(messages).toContainEqual(
    expect.objectContaining({
      Type: 'BlobTrigger',
      FunctionId: 'Host.Functions.onBlob',
      ContainerName: container.containerName,
      BlobName: 'fail-1.txt',
    }),
  );
  await settle();
  expect(deliveries('fail-1.txt')).toHaveLength(5);
});

it('delivers a blob again after the runtime is killed mid-invocation (at least once)', async () => {
  await upload('hang-1.txt', 'slow');
  await waitFor(async () => {
    const file = join(dir, 'hang.log');
    return existsSync(file) && readFileSync(file, 'utf8').includes('hang-1.txt') ? true : undefined;
  }, 'hang-1.txt invocation to start');
  await rt!.kill();
  rt = await spawnRuntime(env);
  const again = await waitFor(async () => deliveries('hang-1.txt')[1], 'hang-1.txt redelivery');
  expect(again.attempt).toBe(2);
  await rt.waitForLine(/blob trigger onBlob: .*\/hang-1\.txt processed/);
  // blobs finished before the crash are not delivered again
  await settle();
  expect(deliveries('a.txt')).toHaveLength(2);
  expect(deliveries('fail-1.txt')).toHaveLength(5);
});

it('runs durable timers on the scaled clock (LOCAL_RUNTIME_TIME_SCALE)', async () => {
  const id = uniqueName('scaled');
  await post(`${rt!.url}/api/orchestrators/approval/${id}`, 60_000); // a one-minute timer
  const done = await waitForStatus(rt!.url, id, ['Completed'], 15_000);
  expect(done.output).toEqual({ approved: false, timedOut: true });
});

it('leaves UseDevelopmentStorage=true to the storage SDKs, which expand it; refuses DevelopmentStorageProxyUri', () => {
  const dev = storageConnection('UseDevelopmentStorage=true');
  expect(dev).toBe('UseDevelopmentStorage=true');
  expect(BlobServiceClient.fromConnectionString(dev).url).toBe('http://127.0.0.1:10000/devstoreaccount1');
  expect(new QueueClient(dev, 'q').url).toBe('http://127.0.0.1:10001/devstoreaccount1/q');
  expect(TableClient.fromConnectionString(dev, 't').url).toBe('http://127.0.0.1:10002/devstoreaccount1');
  expect(() => storageConnection(`${dev};DevelopmentStorageProxyUri=http://other`)).toThrow(
    /DevelopmentStorageProxyUri is not supported/,
  );
});
