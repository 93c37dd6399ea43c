import { randomBytes } from 'node:crypto';
import { odata, TableClient, type TableEntityResult } from '@azure/data-tables';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import type { HistoryEvent } from './history';
import type { HostState, InboxMessage } from './replay';

/**
 * Durable state in Azurite, under one task hub (shaped like the Azure Storage provider's guarantees, not its layout):
 * - table `<hub>Instances`: one row per instance (status, input, output, custom status, times, current execution);
 * - table `<hub>Inbox`: messages waiting for an instance (start, activity results, timer fired, raised events,
 *   terminate), written before anything acts on them so a crash never loses one;
 * - container `<hub>-history`: one append blob per execution, one JSON line per episode (events + bookkeeping); a
 *   block append is atomic, so an episode is recorded completely or not at all.
 * The history is the source of truth: pending activities and timers are derived from it after a restart.
 */

export type RuntimeStatus = 'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Terminated';
export const TERMINAL: ReadonlySet<string> = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

export interface InstanceRecord {
  instanceId: string;
  name: string;
  runtimeStatus: RuntimeStatus;
  /** JSON text (or null). */
  input: string | null;
  output: string | null;
  customStatus: string | null;
  createdTime: string;
  lastUpdatedTime: string;
  executionId: string;
  etag?: string;
}

/** How an episode left the instance; re-applied to the instance row after a crash between the two writes. */
export interface EpisodeOutcome {
  status: RuntimeStatus;
  output: string | null;
  customStatus: string | null;
  continueAsNew?: { executionId: string; messageId: string; input: string | null };
}

export interface EpisodeRecord {
  events: HistoryEvent[];
  consumed: string[];
  host: HostState;
  outcome: EpisodeOutcome;
}

const INLINE_LIMIT = 30_000; // characters: a table string property holds 64 KiB of UTF-16
const key = encodeURIComponent; // instance ids become table keys and blob name prefixes

let counter = 0;
/** Sortable message ids: arrival order within the process, time order across restarts. */
export function newMessageId(): string {
  counter = (counter + 1) % 1_000_000;
  const time = Date.now().toString().padStart(15, '0');
  return `${time}-${counter.toString().padStart(6, '0')}-${randomBytes(3).toString('hex')}`;
}

/** Ignores the listed storage status codes (not found, already exists, precondition failed). */
async function unless<T>(statuses: number[], p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (statuses.includes((err as { statusCode?: number }).statusCode ?? 0)) return undefined;
    throw err;
  }
}

/** Payloads stay inside a table property; larger ones are refused loudly rather than spilled (the app's are small). */
function fits(field: string, text: string | null): string | null {
  if (text !== null && text.length > INLINE_LIMIT)
    throw new Error(
      `the local runtime keeps durable payloads under ${INLINE_LIMIT} characters (${field}: ${text.length})`,
    );
  return text;
}

export class DurableStore {
  private readonly instances: TableClient;
  private readonly inbox: TableClient;
  private readonly history: ContainerClient;
  private readonly createdBlobs = new Set<string>();

  constructor(
    connectionString: string,
    readonly hub: string,
  ) {
    const opts = { allowInsecureConnection: true };
    this.instances = TableClient.fromConnectionString(connectionString, `${hub}Instances`, opts);
    this.inbox = TableClient.fromConnectionString(connectionString, `${hub}Inbox`, opts);
    const blobs = BlobServiceClient.fromConnectionString(connectionString);
    this.history = blobs.getContainerClient(`${hub.toLowerCase()}-history`);
  }

  async init(): Promise<void> {
    await Promise.all([
      this.instances.createTable(),
      this.inbox.createTable(),
      this.history.createIfNotExists(),
    ]);
  }

  private toRecord(e: TableEntityResult<Record<string, unknown>>): InstanceRecord {
    const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
    return {
      instanceId: String(e.InstanceId),
      name: String(e.Name),
      runtimeStatus: e.RuntimeStatus as RuntimeStatus,
      input: text(e.Input),
      output: text(e.Output),
      customStatus: text(e.CustomStatus),
      createdTime: String(e.CreatedTime),
      lastUpdatedTime: String(e.LastUpdatedTime),
      executionId: String(e.ExecutionId),
      etag: e.etag,
    };
  }

  async getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    const e = await unless([404], this.instances.getEntity<Record<string, unknown>>(key(instanceId), ''));
    return e && this.toRecord(e);
  }

  async listInstances(): Promise<InstanceRecord[]> {
    const out: InstanceRecord[] = [];
    for await (const e of this.instances.listEntities<Record<string, unknown>>()) out.push(this.toRecord(e));
    return out;
  }

  /** `expect`: 'new' = must not exist, an etag = must be unchanged, undefined = overwrite. False when it failed. */
  async putInstance(rec: InstanceRecord, expect?: string): Promise<boolean> {
    const e = {
      partitionKey: key(rec.instanceId),
      rowKey: '',
      InstanceId: rec.instanceId,
      Name: rec.name,
      RuntimeStatus: rec.runtimeStatus,
      CreatedTime: rec.createdTime,
      LastUpdatedTime: rec.lastUpdatedTime,
      ExecutionId: rec.executionId,
      Input: fits('input', rec.input),
      Output: fits('output', rec.output),
      CustomStatus: fits('custom status', rec.customStatus),
    };
    const write =
      expect === 'new'
        ? this.instances.createEntity(e)
        : expect
          ? this.instances.updateEntity(e, 'Replace', { etag: expect })
          : this.instances.upsertEntity(e, 'Replace');
    return (
      (await unless(
        [409, 412],
        write.then(() => true),
      )) ?? false
    );
  }

  /** Adding the same message id twice is a no-op (idempotent re-delivery after a crash). */
  async addMessage(msg: InboxMessage): Promise<void> {
    const Payload = fits(`${msg.kind} message`, JSON.stringify(msg.payload));
    const entity = {
      partitionKey: key(msg.instanceId),
      rowKey: msg.id,
      Kind: msg.kind,
      ExecutionId: msg.executionId ?? '',
      Payload,
    };
    await unless([409], this.inbox.createEntity(entity));
  }

  async listMessages(instanceId: string): Promise<InboxMessage[]> {
    const out: InboxMessage[] = [];
    const filter = odata`PartitionKey eq ${key(instanceId)}`;
    for await (const e of this.inbox.listEntities<Record<string, string>>({ queryOptions: { filter } })) {
      const executionId = e.ExecutionId ? { executionId: e.ExecutionId } : {};
      const payload = JSON.parse(e.Payload ?? '{}') as Record<string, unknown>;
      out.push({
        id: String(e.rowKey),
        instanceId,
        kind: e.Kind as InboxMessage['kind'],
        ...executionId,
        payload,
      });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Instance ids that have messages waiting (woken at start-up). */
  async instancesWithMessages(): Promise<string[]> {
    const ids = new Set<string>();
    for await (const e of this.inbox.listEntities({ queryOptions: { select: ['PartitionKey'] } }))
      ids.add(decodeURIComponent(String(e.partitionKey)));
    return [...ids];
  }

  async deleteMessages(instanceId: string, ids: string[]): Promise<void> {
    await Promise.all(ids.map((id) => unless([404], this.inbox.deleteEntity(key(instanceId), id))));
  }

  /** Appends one episode as one block: it is recorded completely or not at all. */
  async appendEpisode(instanceId: string, executionId: string, episode: EpisodeRecord): Promise<void> {
    const line = `${JSON.stringify(episode)}\n`;
    const name = `${key(instanceId)}/${executionId}.jsonl`;
    const blob = this.history.getAppendBlobClient(name);
    if (!this.createdBlobs.has(name)) await blob.createIfNotExists();
    this.createdBlobs.add(name);
    await blob.appendBlock(line, Buffer.byteLength(line));
  }

  async readExecution(instanceId: string, executionId: string): Promise<EpisodeRecord[]> {
    const blob = this.history.getBlobClient(`${key(instanceId)}/${executionId}.jsonl`);
    const text = (await unless([404], blob.downloadToBuffer()))?.toString('utf8') ?? '';
    return text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as EpisodeRecord);
  }

  /** Deletes the history of an instance's executions (all, or all but `keepExecutionId`). */
  async deleteHistory(instanceId: string, keepExecutionId?: string): Promise<void> {
    for await (const b of this.history.listBlobsFlat({ prefix: `${key(instanceId)}/` })) {
      if (b.name === `${key(instanceId)}/${keepExecutionId}.jsonl`) continue;
      this.createdBlobs.delete(b.name);
      await this.history.getBlobClient(b.name).deleteIfExists();
    }
  }
}
