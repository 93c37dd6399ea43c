/**
 * The inbox trigger invoked the way the real Functions host does it, through the registered function
 * and the real @azure/functions programming model (which camel-cases the trigger metadata), with the
 * trigger metadata built exactly as the host sends it:
 * - `Properties` is the .NET `BlobProperties` (blobs extension `BlobTriggerBinding.CreateBindingData`),
 *   serialised by Newtonsoft with default settings (azure-functions-host `GrpcMessageConversionExtensions.ToRpcDefault`):
 *   PascalCase names, the `Azure.ETag` and `AccessTier` structs as `{}`, enums as numbers, DateTimeOffset
 *   as ISO with an offset, byte[] as base64; `Uri` as a JSON string; `BlobTrigger` and the path's `{name}` as strings;
 * - no `sys` (host `ScriptInvocationContextExtensions.ShouldSkipBindingData`);
 * - the trigger itself as `ModelBindingData` (source `AzureStorageBlobs`) or, when the host falls back, as bytes
 *   (host `WorkerFunctionDescriptorProvider.cs`).
 * The Durable client talks HTTP to a fake of the extension's client API (test/support/durableApiFake.ts).
 */
import type { BlobServiceClient } from '@azure/storage-blob';
import { buildDeps, type Deps } from '../../../src/app/deps';
import { loadSettings } from '../../../src/config/settings';
import { deriveJobId, normalizeEtag } from '../../../src/domain/jobId';
import { startDurableApiFake, type DurableApiFake } from '../../support/durableApiFake';
import { invoke, logs } from '../../support/programmingModel';
import { testConnectionString, uniqueName } from '../../support/storage';

jest.mock('@azure/functions-core', () => jest.requireActual('../../support/programmingModel').core, {
  virtual: true,
});

let d: Deps;
let blobs: BlobServiceClient;
let durable: DurableApiFake;
const inbox = uniqueName('inbox');

beforeAll(async () => {
  const env = {
    DataStorage: testConnectionString(),
    AmlDatastoreStorage: testConnectionString(),
    AML_SCORING_URI: 'http://127.0.0.1:9/jobs',
    AML_AUTH: 'emulator',
    INBOX_CONTAINER: inbox,
    JOBS_TABLE: uniqueName('jobs'),
  };
  Object.assign(process.env, env);
  d = buildDeps(loadSettings(process.env));
  await d.data.ensureContainer(inbox);
  await d.jobs.ensureTable();
  blobs = d.data.service;
  durable = await startDurableApiFake();
  // The app entry, as the worker loads it: its module-level app.* calls register every function.
  jest.requireActual('../../../src/index');
});
afterAll(async () => durable?.close());

async function drop(name: string, text = 'carat,cut,color,clarity\n0.3,Ideal,E,SI1\n') {
  const c = blobs.getContainerClient(inbox).getBlockBlobClient(name);
  await c.upload(text, Buffer.byteLength(text), { blobHTTPHeaders: { blobContentType: 'text/csv' } });
  return c.getProperties();
}

/** DateTimeOffset as Newtonsoft writes it by default: ISO 8601 with the offset, 7 fraction digits when not whole seconds. */
const dto = (t: Date | undefined) =>
  t
    ? t
        .toISOString()
        .replace(/\.000Z$/, '+00:00')
        .replace(/Z$/, '+00:00')
    : '0001-01-01T00:00:00+00:00';

/** Trigger metadata for one blob, exactly as the host puts it on the invocation request. */
function hostMetadata(name: string, p: Awaited<ReturnType<typeof drop>> | null) {
  const properties =
    p === null
      ? null
      : {
          LastModified: dto(p.lastModified),
          CreatedOn: dto(p.createdOn),
          Metadata: {},
          ObjectReplicationDestinationPolicyId: null,
          ObjectReplicationSourceProperties: [],
          BlobType: 0, // BlobType.Block
          CopyCompletedOn: dto(undefined),
          CopyStatusDescription: null,
          CopyId: null,
          CopyProgress: null,
          CopySource: null,
          CopyStatus: 0,
          BlobCopyStatus: null,
          IsIncrementalCopy: false,
          DestinationSnapshot: null,
          LeaseDuration: 0,
          LeaseState: 0,
          LeaseStatus: 1, // Unlocked
          ContentLength: p.contentLength,
          ContentType: p.contentType,
          ETag: {}, // Azure.ETag: a struct with no public members and no Newtonsoft converter
          ContentHash: p.contentMD5 ? Buffer.from(p.contentMD5).toString('base64') : null,
          ContentEncoding: null,
          ContentDisposition: null,
          ContentLanguage: null,
          CacheControl: null,
          BlobSequenceNumber: 0,
          AcceptRanges: 'bytes',
          BlobCommittedBlockCount: 0,
          IsServerEncrypted: true,
          EncryptionKeySha256: null,
          EncryptionScope: null,
          AccessTier: {}, // a struct too
          AccessTierInferred: true,
          ArchiveStatus: {},
          AccessTierChangedOn: dto(undefined),
          VersionId: null,
          IsLatestVersion: false,
          TagCount: 0,
          ExpiresOn: dto(undefined),
          IsSealed: false,
          RehydratePriority: null,
          LastAccessed: dto(undefined),
          ImmutabilityPolicy: { ExpiresOn: null, PolicyMode: null },
          HasLegalHold: false,
        };
  const url = blobs.getContainerClient(inbox).getBlobClient(name).url;
  return {
    BlobTrigger: { string: `${inbox}/${name}` },
    Uri: { json: JSON.stringify(url) },
    Properties: { json: JSON.stringify(properties) },
    Metadata: { json: JSON.stringify(properties ? {} : null) },
    name: { string: name },
  };
}

const reference = (name: string) => ({
  modelBindingData: {
    content: Buffer.from(JSON.stringify({ Connection: 'DataStorage', ContainerName: inbox, BlobName: name })),
    contentType: 'application/json',
    source: 'AzureStorageBlobs',
    version: '1.0',
  },
});
const durableClient = () => ({ durableClient: { string: JSON.stringify(durable.clientData) } });
const startsFor = (id: string) => durable.starts.filter((s) => s.instanceId === id && !s.refused);

test('a host-shaped delivery (ETag {}, numeric enums, no sys) starts exactly one job for that blob version', async () => {
  const p = await drop('host shaped/ünï.csv');
  await invoke('inboxTrigger', {
    trigger: reference('host shaped/ünï.csv'),
    triggerMetadata: hostMetadata('host shaped/ünï.csv', p),
    inputs: durableClient(),
  });
  const jobId = deriveJobId({
    container: inbox,
    name: 'host shaped/ünï.csv',
    etag: p.etag!,
    lastModified: p.lastModified!,
  });
  expect(startsFor(jobId)).toHaveLength(1);
  expect(startsFor(jobId)[0]!.input).toMatchObject({
    jobId,
    source: { container: inbox, name: 'host shaped/ünï.csv', etag: `"${normalizeEtag(p.etag!)}"` },
  });
  expect(await d.jobs.get(jobId)).toMatchObject({
    status: 'Received',
    sourceBlob: 'host shaped/ünï.csv',
    sourceEtag: normalizeEtag(p.etag!),
    attempt: 0,
  });
});

test('a redelivery of the same version starts nothing', async () => {
  const p = await drop('twice.csv');
  const delivery = {
    trigger: reference('twice.csv'),
    triggerMetadata: hostMetadata('twice.csv', p),
    inputs: durableClient(),
  };
  await invoke('inboxTrigger', delivery);
  const jobId = deriveJobId({
    container: inbox,
    name: 'twice.csv',
    etag: p.etag!,
    lastModified: p.lastModified!,
  });
  durable.instances.get(jobId)!.runtimeStatus = 'Completed'; // even once the first run has finished
  await invoke('inboxTrigger', delivery);
  await invoke('inboxTrigger', delivery);
  expect(durable.starts.filter((s) => s.instanceId === jobId)).toHaveLength(1);
  expect(logs.filter((l) => l.includes(`job ${jobId} already exists`))).toHaveLength(2);
});

test('a new upload under the same name is a new job', async () => {
  const p1 = await drop('again.csv', 'carat\n1\n');
  await invoke('inboxTrigger', {
    trigger: reference('again.csv'),
    triggerMetadata: hostMetadata('again.csv', p1),
    inputs: durableClient(),
  });
  const p2 = await drop('again.csv', 'carat\n2\n');
  await invoke('inboxTrigger', {
    trigger: reference('again.csv'),
    triggerMetadata: hostMetadata('again.csv', p2),
    inputs: durableClient(),
  });
  const ids = [p1, p2].map((p) =>
    deriveJobId({ container: inbox, name: 'again.csv', etag: p.etag!, lastModified: p.lastModified! }),
  );
  expect(ids[0]).not.toBe(ids[1]);
  for (const id of ids) expect(startsFor(id)).toHaveLength(1);
});

test('bytes instead of a reference: the blob is recovered from triggerMetadata.blobTrigger', async () => {
  const text = 'carat,cut,color,clarity\n0.5,Good,F,VS1\n';
  const p = await drop('sub/bytes.csv', text);
  await invoke('inboxTrigger', {
    trigger: { bytes: Buffer.from(text) },
    triggerMetadata: hostMetadata('sub/bytes.csv', p),
    inputs: durableClient(),
  });
  const jobId = deriveJobId({
    container: inbox,
    name: 'sub/bytes.csv',
    etag: p.etag!,
    lastModified: p.lastModified!,
  });
  expect(startsFor(jobId)).toHaveLength(1);
  expect(await d.jobs.get(jobId)).toMatchObject({ sourceContainer: inbox, sourceBlob: 'sub/bytes.csv' });
});

test('bytes with no usable blobTrigger fail clearly and create no job', async () => {
  const before = durable.starts.length;
  const { BlobTrigger: _dropped, ...noPath } = hostMetadata('x.csv', null);
  await expect(
    invoke('inboxTrigger', {
      trigger: { bytes: Buffer.from('a\n1\n') },
      triggerMetadata: noPath,
      inputs: durableClient(),
    }),
  ).rejects.toThrow(/delivered the blob bytes and no usable triggerMetadata.blobTrigger.*no job started/);
  await expect(
    invoke('inboxTrigger', {
      trigger: { bytes: Buffer.from('a\n1\n') },
      triggerMetadata: { ...noPath, BlobTrigger: { string: 'other-container/x.csv' } },
      inputs: durableClient(),
    }),
  ).rejects.toThrow(/not the inbox/);
  expect(durable.starts.length).toBe(before);
  expect((await d.jobs.list({ top: 1000 })).jobs.filter((j) => !j.sourceBlob)).toEqual([]);
});

test('a blob deleted before its delivery (Properties null) starts nothing and does not fail', async () => {
  const before = durable.starts.length;
  await invoke('inboxTrigger', {
    trigger: reference('gone.csv'),
    triggerMetadata: hostMetadata('gone.csv', null),
    inputs: durableClient(),
  });
  expect(durable.starts.length).toBe(before);
});
