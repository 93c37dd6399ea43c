import { createHash } from 'node:crypto';
import { odata, TableClient } from '@azure/data-tables';
import { BlobServiceClient, type BlobGetPropertiesResponse } from '@azure/storage-blob';
import { QueueClient } from '@azure/storage-queue';
import { drain, newtonsoftDate } from './clock';
import type { Invoke, RegisteredFunction } from './registry';
import type { LineLog, TypedData } from './worker';

/**
 * Blob trigger by container scan, whatever the `source` (blobs `BlobTriggerExecutor.cs`, `BlobReceiptManager.cs`;
 * README rows "Blob trigger" to "Deferred binding"). Receipts are written before the function runs: a crash means
 * the blob is delivered again.
 */

export const POISON_QUEUE = 'webjobs-blobtrigger-poison';
const MAX_ATTEMPTS = 5;

/** `<container>/<literal>{param}<literal>...`: the listing prefix and a regex over blob names. */
export function parseBlobPath(path: string) {
  const [container = '', ...restParts] = path.split('/');
  const rest = restParts.join('/');
  if (!container || container.includes('{'))
    throw new Error(`Blob trigger path "${path}" must start with a literal container name`);
  const tokens = rest.split(/(\{[^}]*\})/).filter((t) => t !== '');
  const params = tokens.filter((t) => t.startsWith('{')).map((t) => t.slice(1, -1));
  const regex = tokens
    .map((t) => (t.startsWith('{') ? '(.+?)' : t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  const brace = rest.indexOf('{');
  return {
    container,
    prefix: brace < 0 ? rest : rest.slice(0, brace),
    regex: new RegExp(`^${regex || '.+'}$`),
    params,
  };
}

const ENUMS: Record<string, Record<string, number>> = {
  blobType: { BlockBlob: 0, PageBlob: 1, AppendBlob: 2 },
  leaseDuration: { infinite: 0, fixed: 1 },
  leaseState: { available: 0, leased: 1, expired: 2, breaking: 3, broken: 4 },
  leaseStatus: { locked: 0, unlocked: 1 },
  copyStatus: { pending: 0, success: 1, aborted: 2, failed: 3 },
};

/**
 * `BlobProperties` (Azure.Storage.Blobs `Models/BlobProperties.cs`) in declaration order, as `Name:kind[:sdkName]`
 * (sdkName defaults to the camel-cased name). Kinds: d DateTimeOffset, s string or null, n number, b bool,
 * e enum as a number (E: nullable), m metadata, h byte[] as base64, o the `Azure.ETag` struct (`{}`), z always null,
 * i ImmutabilityPolicy.
 */
const PROPERTIES = `LastModified:d CreatedOn:d Metadata:m ObjectReplicationDestinationPolicyId:s
  ObjectReplicationSourceProperties:z BlobType:e CopyCompletedOn:d CopyStatusDescription:s CopyId:s CopyProgress:s
  CopySource:s CopyStatus:e BlobCopyStatus:E:copyStatus IsIncrementalCopy:b DestinationSnapshot:s LeaseDuration:e
  LeaseState:e LeaseStatus:e ContentLength:n ContentType:s ETag:o ContentHash:h:contentMD5 ContentEncoding:s
  ContentDisposition:s ContentLanguage:s CacheControl:s BlobSequenceNumber:n AcceptRanges:s BlobCommittedBlockCount:n
  IsServerEncrypted:b EncryptionKeySha256:s EncryptionScope:s AccessTier:s AccessTierInferred:b ArchiveStatus:s
  AccessTierChangedOn:d SmartAccessTier:z VersionId:s IsLatestVersion:b:isCurrentVersion TagCount:n ExpiresOn:d
  IsSealed:b RehydratePriority:s LastAccessed:d ImmutabilityPolicy:i HasLegalHold:b:legalHold`;

/**
 * The trigger data `Properties`: Get Blob Properties (BlobTriggerBinding.cs), serialized by the host with
 * Newtonsoft's defaults (GrpcMessageConversionExtensions.ToRpcDefault).
 */
export function hostBlobProperties(p: BlobGetPropertiesResponse): Record<string, unknown> {
  const fields = PROPERTIES.trim().split(/\s+/);
  return Object.fromEntries(
    fields.map((f) => {
      const [name = '', kind, key = name[0]!.toLowerCase() + name.slice(1)] = f.split(':');
      const v = (p as unknown as Record<string, unknown>)[key];
      const values: Record<string, () => unknown> = {
        d: () => newtonsoftDate(v instanceof Date ? v : undefined),
        s: () => v ?? null,
        n: () => v ?? 0,
        b: () => v ?? false,
        e: () => ENUMS[key]![String(v)] ?? 0,
        E: () => (v === undefined ? null : (ENUMS[key]![String(v)] ?? 0)),
        m: () => v ?? {},
        h: () => (v ? Buffer.from(v as Uint8Array).toString('base64') : null),
        o: () => ({}),
        z: () => null,
        i: () => ({
          ExpiresOn: p.immutabilityPolicyExpiresOn ? newtonsoftDate(p.immutabilityPolicyExpiresOn) : null,
          PolicyMode: null,
        }),
      };
      return [name, values[kind!]!()];
    }),
  );
}

/** Not if the first other binding has a `{...}` expression (host `WorkerFunctionDescriptorProvider.cs`). */
function usesDeferredBinding(fn: RegisteredFunction): boolean {
  const first = [...fn.extraInputs, ...fn.outputs][0];
  const expression = Object.values(first?.info ?? {}).some(
    (v) => typeof v === 'string' && /{(.*?)\}/.test(v),
  );
  return !!fn.blob?.sdkBinding && !expression;
}

export interface BlobWatcherOptions {
  /** The account the trigger watches (resolved from the binding's `connection`). */
  connectionString: string;
  /** The runtime's own storage (AzureWebJobsStorage), where receipts are kept. */
  storage: string;
  receiptsTable: string;
  intervalMs: number;
  concurrency: number;
  invoke: Invoke;
  log: LineLog;
}

type Version = { name: string; etag: string; key: string; params: Record<string, string> };

export class BlobWatcher {
  private readonly pattern: ReturnType<typeof parseBlobPath>;
  private readonly container;
  private readonly table: TableClient;
  private readonly receipts = new Map<string, { state: string; attempts: number }>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly fn: RegisteredFunction,
    private readonly o: BlobWatcherOptions,
  ) {
    this.pattern = parseBlobPath(fn.blob!.path);
    const service = BlobServiceClient.fromConnectionString(o.connectionString);
    this.container = service.getContainerClient(this.pattern.container);
    this.table = TableClient.fromConnectionString(o.storage, o.receiptsTable, {
      allowInsecureConnection: true,
    });
  }

  async start(): Promise<void> {
    await this.table.createTable();
    const filter = odata`PartitionKey eq ${this.fn.name}`;
    for await (const e of this.table.listEntities({ queryOptions: { filter } }))
      this.receipts.set(String(e.rowKey), { state: String(e.State), attempts: Number(e.Attempts ?? 0) });
    const note = this.fn.blob!.source === 'EventGrid' ? ' (source EventGrid is emulated by the scan)' : '';
    const { container, prefix } = this.pattern;
    this.o.log(
      `blob trigger ${this.fn.name}: scanning ${container}/${prefix}* every ${this.o.intervalMs} ms${note}`,
    );
    this.schedule(0);
  }

  /** Stops scanning; waits up to 10 s for running invocations. Unfinished ones are delivered again next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await drain(Promise.allSettled([this.scanning, ...this.inFlight.values()]));
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.scanning = this.scan()
        .catch((err: Error) => this.o.log(`ERROR blob trigger ${this.fn.name}: scan failed: ${err.message}`))
        .finally(() => this.schedule(this.o.intervalMs));
    }, delay);
  }

  private async scan(): Promise<void> {
    try {
      for await (const b of this.container.listBlobsFlat({ prefix: this.pattern.prefix || undefined })) {
        if (this.stopped || this.inFlight.size >= this.o.concurrency) return; // the rest waits for the next scan
        const m = this.pattern.regex.exec(b.name);
        const etag = b.properties.etag?.startsWith('"') ? b.properties.etag : `"${b.properties.etag ?? ''}"`;
        const key = createHash('sha256')
          .update(`${this.pattern.container}\n${b.name}\n${etag}`)
          .digest('hex');
        const state = this.receipts.get(key)?.state;
        if (!m || this.inFlight.has(key) || state === 'done' || state === 'poison') continue;
        const params = Object.fromEntries(this.pattern.params.map((p, i) => [p, m[i + 1] ?? '']));
        const version = { name: b.name, etag, key, params };
        const delivery = this.deliver(version).finally(() => this.inFlight.delete(key));
        this.inFlight.set(key, delivery);
      }
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err; // no container (yet)
    }
  }

  private async save(v: Version, State: string, Attempts: number, error?: string): Promise<void> {
    this.receipts.set(v.key, { state: State, attempts: Attempts });
    const entity = { partitionKey: this.fn.name, rowKey: v.key, State, Attempts, BlobName: v.name };
    await this.table.upsertEntity({ ...entity, LastError: error?.slice(0, 4000) }, 'Replace');
  }

  private async deliver(v: Version): Promise<void> {
    const where = `blob trigger ${this.fn.name}: ${this.pattern.container}/${v.name}`;
    const attempts = (this.receipts.get(v.key)?.attempts ?? 0) + 1;
    if (attempts > MAX_ATTEMPTS)
      return this.poison(v, attempts - 1, 'the runtime stopped during every attempt');
    await this.save(v, 'running', attempts);
    const started = Date.now();
    try {
      await this.invoke(v);
      await this.save(v, 'done', attempts);
      this.o.log(`${where} processed (${Date.now() - started} ms)`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (attempts >= MAX_ATTEMPTS) return this.poison(v, attempts, message);
      await this.save(v, 'failed', attempts, message);
      this.o.log(`${where} failed (attempt ${attempts}/${MAX_ATTEMPTS}): ${message.split('\n')[0]}`);
    }
  }

  private async invoke({ name, params }: Version): Promise<void> {
    const blob = this.container.getBlobClient(name);
    const props = await blob.getProperties();
    const { container } = this.pattern;
    const reference = { Connection: this.fn.blob!.connection, ContainerName: container, BlobName: name };
    const header = { version: '1.0', source: 'AzureStorageBlobs', contentType: 'application/json' };
    const data: TypedData = usesDeferredBinding(this.fn)
      ? { modelBindingData: { ...header, content: Buffer.from(JSON.stringify(reference)) } }
      : { bytes: await blob.downloadToBuffer() };
    // No `sys` (ScriptInvocationContextExtensions.ShouldSkipBindingData); path parameters last (they win a clash).
    const triggerMetadata: Record<string, TypedData> = {
      BlobTrigger: { string: `${container}/${name}` },
      Uri: { json: JSON.stringify(blob.url) },
      Properties: { json: JSON.stringify(hostBlobProperties(props)) },
      Metadata: { json: JSON.stringify(props.metadata ?? {}) },
    };
    for (const [k, v] of Object.entries(params)) triggerMetadata[k] = { string: v };
    await this.o.invoke(this.fn, data, triggerMetadata);
  }

  private async poison(v: Version, attempts: number, reason: string): Promise<void> {
    const message = {
      Type: 'BlobTrigger',
      FunctionId: `Host.Functions.${this.fn.name}`,
      BlobType: 'BlockBlob',
      ContainerName: this.pattern.container,
      BlobName: v.name,
      ETag: v.etag,
    };
    // Base64 text, as the storage extensions' queue clients send it (`QueueServiceClientProvider.cs`, MessageEncoding
    // Base64); the JS SDK sends the text as it is.
    const queue = new QueueClient(this.o.connectionString, POISON_QUEUE);
    await queue.createIfNotExists();
    await queue.sendMessage(Buffer.from(JSON.stringify(message)).toString('base64'));
    await this.save(v, 'poison', attempts, reason);
    this.o.log(
      `POISON blob trigger ${this.fn.name}: ${this.pattern.container}/${v.name} moved to queue ${POISON_QUEUE} after ${attempts} attempts: ${reason.split('\n')[0]}`,
    );
  }
}
