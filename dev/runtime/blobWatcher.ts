import { createHash } from 'node:crypto';
import { odata, TableClient } from '@azure/data-tables';
import {
  BlobServiceClient,
  type BlobGetPropertiesResponse,
  type BlobItem,
  type ContainerClient,
} from '@azure/storage-blob';
import type { RpcParameterBinding, RpcTypedData } from './functionsCore';
import type { Invoker, LineLog } from './invoke';
import { MiniQueueClient } from './queue';
import type { RegisteredFunction } from './registry';

/**
 * Blob trigger by container scan, the way the host's polling blob listener behaves: every blob version (name +
 * ETag) that matches the trigger path is delivered at least once. Receipts (attempts, state) live in a table of the
 * runtime's storage, written before the function runs, so a crash mid-invocation means the blob is delivered again
 * after restart. After 5 failed attempts (crashes included) the blob goes to the `webjobs-blobtrigger-poison` queue
 * and is not retried. `source: 'EventGrid'` is emulated by the same scan (no Event Grid locally).
 */

export const POISON_QUEUE = 'webjobs-blobtrigger-poison';
export const MAX_ATTEMPTS = 5;

type ReceiptState = 'running' | 'failed' | 'done' | 'poison';

interface Receipt {
  rowKey: string;
  state: ReceiptState;
  attempts: number;
  container: string;
  blobName: string;
  etag: string;
}

export interface BlobWatcherOptions {
  fn: RegisteredFunction;
  /** Connection string of the account the trigger watches (resolved from the binding's `connection`). */
  connectionString: string;
  /** The runtime's own storage (AzureWebJobsStorage), where receipts are kept. */
  runtimeConnectionString: string;
  receiptsTable: string;
  intervalMs: number;
  concurrency: number;
  invoker: Invoker;
  log: LineLog;
  extraInputs: (fn: RegisteredFunction) => RpcParameterBinding[];
}

interface PathPattern {
  container: string;
  prefix: string;
  regex: RegExp;
  params: string[];
}

export function parseBlobPath(path: string): PathPattern {
  const slash = path.indexOf('/');
  const container = slash < 0 ? path : path.slice(0, slash);
  const rest = slash < 0 ? '' : path.slice(slash + 1);
  if (!container || container.includes('{'))
    throw new Error(`Blob trigger path "${path}" must start with a literal container name`);
  const params: string[] = [];
  let regex = '^';
  for (const token of rest.split(/(\{[^}]*\})/).filter((t) => t !== '')) {
    if (token.startsWith('{')) {
      params.push(token.slice(1, -1));
      regex += '(.+?)';
    } else {
      regex += token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  regex += '$';
  const brace = rest.indexOf('{');
  return {
    container,
    prefix: brace < 0 ? rest : rest.slice(0, brace),
    regex: new RegExp(rest === '' ? '^.+$' : regex),
    params,
  };
}

/** ETags as the host sees them (response header form, quoted); blob listings return them unquoted. */
function quotedEtag(etag: string | undefined): string {
  if (!etag) return '';
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

function receiptKey(container: string, name: string, etag: string): string {
  return createHash('sha256').update(`${container}\n${name}\n${etag}`).digest('hex');
}

const NEVER = '0001-01-01T00:00:00+00:00'; // default(DateTimeOffset) as Newtonsoft writes it

/** DateTimeOffset as Newtonsoft writes it by default: ISO 8601 with the offset, trailing zero fractions dropped. */
function dto(d: Date | undefined): string {
  if (!d) return NEVER;
  return d.toISOString().replace(/\.?0*Z$/, '+00:00');
}

const ENUMS = {
  blobType: { BlockBlob: 0, PageBlob: 1, AppendBlob: 2 },
  leaseDuration: { infinite: 0, fixed: 1 },
  leaseState: { available: 0, leased: 1, expired: 2, breaking: 3, broken: 4 },
  leaseStatus: { locked: 0, unlocked: 1 },
  copyStatus: { pending: 0, success: 1, aborted: 2, failed: 3 },
} as const;

function num<T extends Record<string, number>>(map: T, v: string | undefined): number {
  return v !== undefined && v in map ? map[v as keyof T]! : 0;
}

/**
 * The trigger data `Properties`: Azure.Storage.Blobs `BlobProperties` from Get Blob Properties (BlobTriggerBinding.cs
 * `FetchPropertiesOrNullIfNotExistAsync`), serialized by the host with Newtonsoft's default settings
 * (GrpcMessageConversionExtensions.ToRpcDefault): PascalCase .NET names in declaration order (Azure.Storage.Blobs
 * `Models/BlobProperties.cs`), enums as numbers, DateTimeOffset ISO with offset, byte[] as base64, and the `Azure.ETag`
 * struct (no public members, no converter) as `{}`.
 */
export function hostBlobProperties(p: BlobGetPropertiesResponse): Record<string, unknown> {
  const copy = p.copyStatus === undefined ? null : num(ENUMS.copyStatus, p.copyStatus);
  return {
    LastModified: dto(p.lastModified),
    CreatedOn: dto(p.createdOn),
    Metadata: p.metadata ?? {},
    ObjectReplicationDestinationPolicyId: p.objectReplicationDestinationPolicyId ?? null,
    ObjectReplicationSourceProperties: null,
    BlobType: num(ENUMS.blobType, p.blobType),
    CopyCompletedOn: dto(p.copyCompletedOn),
    CopyStatusDescription: p.copyStatusDescription ?? null,
    CopyId: p.copyId ?? null,
    CopyProgress: p.copyProgress ?? null,
    CopySource: p.copySource ?? null,
    CopyStatus: copy ?? 0,
    BlobCopyStatus: copy,
    IsIncrementalCopy: p.isIncrementalCopy ?? false,
    DestinationSnapshot: p.destinationSnapshot ?? null,
    LeaseDuration: num(ENUMS.leaseDuration, p.leaseDuration),
    LeaseState: num(ENUMS.leaseState, p.leaseState),
    LeaseStatus: num(ENUMS.leaseStatus, p.leaseStatus),
    ContentLength: p.contentLength ?? 0,
    ContentType: p.contentType ?? null,
    ETag: {},
    ContentHash: p.contentMD5 ? Buffer.from(p.contentMD5).toString('base64') : null,
    ContentEncoding: p.contentEncoding ?? null,
    ContentDisposition: p.contentDisposition ?? null,
    ContentLanguage: p.contentLanguage ?? null,
    CacheControl: p.cacheControl ?? null,
    BlobSequenceNumber: p.blobSequenceNumber ?? 0,
    AcceptRanges: p.acceptRanges ?? null,
    BlobCommittedBlockCount: p.blobCommittedBlockCount ?? 0,
    IsServerEncrypted: p.isServerEncrypted ?? false,
    EncryptionKeySha256: p.encryptionKeySha256 ?? null,
    EncryptionScope: p.encryptionScope ?? null,
    AccessTier: p.accessTier ?? null, // a string in BlobProperties (the AccessTier struct is BlobItemProperties')
    AccessTierInferred: p.accessTierInferred ?? false,
    ArchiveStatus: p.archiveStatus ?? null,
    AccessTierChangedOn: dto(p.accessTierChangedOn),
    SmartAccessTier: null,
    VersionId: p.versionId ?? null,
    IsLatestVersion: p.isCurrentVersion ?? false,
    TagCount: p.tagCount ?? 0,
    ExpiresOn: dto(p.expiresOn),
    IsSealed: p.isSealed ?? false,
    RehydratePriority: p.rehydratePriority ?? null,
    LastAccessed: dto(p.lastAccessed),
    ImmutabilityPolicy: {
      ExpiresOn: p.immutabilityPolicyExpiresOn ? dto(p.immutabilityPolicyExpiresOn) : null,
      PolicyMode: null,
    },
    HasLegalHold: p.legalHold ?? false,
  };
}

/**
 * Whether the host passes a ModelBindingData reference: only when the trigger supports deferred binding and the
 * function's first non-trigger binding has no `{...}` expression in a string property; otherwise the bytes
 * (azure-functions-host WorkerFunctionDescriptorProvider.cs `BindingAttributeContainsExpression`, which looks at the
 * first non-trigger binding only).
 */
export function usesDeferredBinding(fn: RegisteredFunction): boolean {
  if (!fn.blob?.sdkBinding) return false;
  const first = [...fn.extraInputs, ...fn.outputs][0];
  if (!first) return true;
  return !Object.entries(first.info).some(
    ([k, v]) => !['name', 'type', 'direction'].includes(k) && typeof v === 'string' && /{(.*?)\}/.test(v),
  );
}

export class BlobWatcher {
  private readonly pattern: PathPattern;
  private readonly container: ContainerClient;
  private readonly receiptsTable: TableClient;
  private readonly queue: MiniQueueClient;
  private readonly receipts = new Map<string, Receipt>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private stopped = false;
  private readonly partition: string;

  constructor(private readonly opts: BlobWatcherOptions) {
    const blob = opts.fn.blob!;
    this.pattern = parseBlobPath(blob.path);
    this.container = BlobServiceClient.fromConnectionString(opts.connectionString).getContainerClient(
      this.pattern.container,
    );
    this.receiptsTable = TableClient.fromConnectionString(opts.runtimeConnectionString, opts.receiptsTable, {
      allowInsecureConnection: true,
    });
    this.queue = new MiniQueueClient(opts.connectionString);
    this.partition = encodeURIComponent(opts.fn.name);
  }

  get name(): string {
    return this.opts.fn.name;
  }

  async start(): Promise<void> {
    await this.receiptsTable.createTable();
    const filter = odata`PartitionKey eq ${this.partition}`;
    for await (const e of this.receiptsTable.listEntities<Record<string, unknown>>({
      queryOptions: { filter },
    })) {
      this.receipts.set(String(e.rowKey), {
        rowKey: String(e.rowKey),
        state: e.State as ReceiptState,
        attempts: Number(e.Attempts ?? 0),
        container: String(e.Container),
        blobName: String(e.BlobName),
        etag: String(e.ETag),
      });
    }
    const source = this.opts.fn.blob!.source;
    this.opts.log(
      `blob trigger ${this.opts.fn.name}: scanning ${this.pattern.container}/${this.pattern.prefix}* every ${this.opts.intervalMs} ms` +
        (source === 'EventGrid' ? ' (source EventGrid is emulated by the container scan)' : ''),
    );
    this.schedule(0);
  }

  /** Stops scanning; waits (up to `timeoutMs`) for running invocations. Unfinished ones are delivered again next start. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const drained = (async () => {
      await this.scanning?.catch(() => undefined);
      await Promise.allSettled([...this.inFlight.values()]);
    })();
    await Promise.race([drained, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /** Runs one scan now (tests and benchmarks use it to avoid waiting for the interval). */
  async scanNow(): Promise<void> {
    await (this.scanning ??= this.scan().finally(() => (this.scanning = undefined)));
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.scanNow()
        .catch((err: unknown) =>
          this.opts.log(`ERROR blob trigger ${this.opts.fn.name}: scan failed: ${(err as Error).message}`),
        )
        .finally(() => this.schedule(this.opts.intervalMs));
    }, delay);
  }

  private async scan(): Promise<void> {
    try {
      for await (const b of this.container.listBlobsFlat({
        prefix: this.pattern.prefix || undefined,
        includeMetadata: true,
      })) {
        if (this.stopped) return;
        if (this.inFlight.size >= this.opts.concurrency) return; // the rest waits for the next scan
        const m = this.pattern.regex.exec(b.name);
        if (!m) continue;
        const etag = quotedEtag(b.properties.etag);
        const key = receiptKey(this.pattern.container, b.name, etag);
        if (this.inFlight.has(key)) continue;
        const r = this.receipts.get(key);
        if (r && (r.state === 'done' || r.state === 'poison')) continue;
        const params: Record<string, string> = {};
        this.pattern.params.forEach((p, i) => (params[p] = m[i + 1] ?? ''));
        const p = this.deliver(b, key, params).finally(() => this.inFlight.delete(key));
        this.inFlight.set(key, p);
      }
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return; // container does not exist (yet)
      throw err;
    }
  }

  private async saveReceipt(r: Receipt, extra: Record<string, unknown> = {}): Promise<void> {
    this.receipts.set(r.rowKey, r);
    await this.receiptsTable.upsertEntity(
      {
        partitionKey: this.partition,
        rowKey: r.rowKey,
        State: r.state,
        Attempts: r.attempts,
        Container: r.container,
        BlobName: r.blobName,
        ETag: r.etag,
        UpdatedAt: new Date().toISOString(),
        ...extra,
      },
      'Replace',
    );
  }

  /** The admin API's "run now" (`{"input": "<container>/<name>"}`): one invocation, no receipt. */
  async invokeNow(path: string): Promise<void> {
    const m = this.pattern.regex.exec(path.slice(this.pattern.container.length + 1));
    if (!path.startsWith(`${this.pattern.container}/`) || !m)
      throw new Error(`"${path}" does not match the trigger path of ${this.opts.fn.name}`);
    const params: Record<string, string> = {};
    this.pattern.params.forEach((p, i) => (params[p] = m[i + 1] ?? ''));
    await this.invoke(path.slice(this.pattern.container.length + 1), params);
  }

  private async invoke(name: string, params: Record<string, string>): Promise<void> {
    const fn = this.opts.fn;
    const container = this.pattern.container;
    const blobClient = this.container.getBlobClient(name);
    const props = await blobClient.getProperties();
    const data: RpcTypedData = usesDeferredBinding(fn)
      ? {
          modelBindingData: {
            version: '1.0',
            source: 'AzureStorageBlobs',
            contentType: 'application/json',
            content: Buffer.from(
              JSON.stringify({ Connection: fn.blob!.connection, ContainerName: container, BlobName: name }),
            ),
          },
        }
      : { bytes: await blobClient.downloadToBuffer() };
    // Binding data as the host sends it: no `sys` (ScriptInvocationContextExtensions.ShouldSkipBindingData),
    // non-string values as Newtonsoft JSON, path parameters last (they win on a name clash: BlobTriggerBinding.cs).
    const triggerMetadata: Record<string, RpcTypedData> = {
      BlobTrigger: { string: `${container}/${name}` },
      Uri: { json: JSON.stringify(blobClient.url) },
      Properties: { json: JSON.stringify(hostBlobProperties(props)) },
      Metadata: { json: JSON.stringify(props.metadata ?? {}) },
    };
    for (const [k, v] of Object.entries(params)) triggerMetadata[k] = { string: v };

    await this.opts.invoker.invoke(fn, {
      inputData: [{ name: fn.trigger.name, data }, ...this.opts.extraInputs(fn)],
      triggerMetadata,
    });
  }

  private async deliver(b: BlobItem, key: string, params: Record<string, string>): Promise<void> {
    const fn = this.opts.fn;
    const container = this.pattern.container;
    const etag = quotedEtag(b.properties.etag);
    const previous = this.receipts.get(key);
    const receipt: Receipt = {
      rowKey: key,
      state: 'running',
      attempts: previous?.attempts ?? 0,
      container,
      blobName: b.name,
      etag,
    };
    if (receipt.attempts >= MAX_ATTEMPTS) {
      await this.poison(receipt, 'the runtime stopped during every attempt');
      return;
    }
    receipt.attempts += 1;
    await this.saveReceipt(receipt);

    const started = Date.now();
    try {
      await this.invoke(b.name, params);
      receipt.state = 'done';
      await this.saveReceipt(receipt);
      this.opts.log(`blob trigger ${fn.name}: ${container}/${b.name} processed (${Date.now() - started} ms)`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (receipt.attempts >= MAX_ATTEMPTS) {
        await this.poison(receipt, message);
      } else {
        receipt.state = 'failed';
        await this.saveReceipt(receipt, { LastError: message.slice(0, 4000) });
        this.opts.log(
          `blob trigger ${fn.name}: ${container}/${b.name} failed (attempt ${receipt.attempts}/${MAX_ATTEMPTS}): ${message.split('\n')[0]}`,
        );
      }
    }
  }

  private async poison(receipt: Receipt, reason: string): Promise<void> {
    const fn = this.opts.fn;
    await this.queue.createIfNotExists(POISON_QUEUE);
    await this.queue.sendMessage(
      POISON_QUEUE,
      JSON.stringify({
        Type: 'BlobTrigger',
        FunctionId: `Host.Functions.${fn.name}`,
        BlobType: 'BlockBlob',
        ContainerName: receipt.container,
        BlobName: receipt.blobName,
        ETag: receipt.etag,
      }),
    );
    receipt.state = 'poison';
    await this.saveReceipt(receipt, { LastError: reason.slice(0, 4000) });
    this.opts.log(
      `POISON blob trigger ${fn.name}: ${receipt.container}/${receipt.blobName} moved to queue ${POISON_QUEUE} after ${receipt.attempts} attempts: ${reason.split('\n')[0]}`,
    );
  }
}
