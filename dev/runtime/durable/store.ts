import { randomBytes } from 'node:crypto';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { odata, TableClient, type TableEntityResult } from '@azure/data-tables';
import type { HistoryEvent } from './history';
import type { HostState, InboxKind, InboxMessage } from './replay';

export type { HostState, InboxKind, InboxMessage, RetryGroup } from './replay';
export { emptyHostState } from './replay';

/**
 * Durable state in Azurite, under one task hub:
 * - table `<hub>Instances`: one row per instance (status, input, output, custom status, times, current execution);
 * - table `<hub>Inbox`: messages waiting for an instance (start, activity results, timer fired, raised events,
 *   terminate), written before anything acts on them so a crash never loses one;
 * - container `<hub>-history`: one append blob per execution, one JSON line per episode (events + the runtime's
 *   bookkeeping); a block append is atomic, so an episode is either fully recorded or not at all.
 * The history is the source of truth: pending activities and timers are derived from it after a restart.
 */

export type RuntimeStatus =
  'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Terminated' | 'Suspended' | 'Canceled';

export const TERMINAL: ReadonlySet<RuntimeStatus> = new Set([
  'Completed',
  'Failed',
  'Terminated',
  'Canceled',
]);

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

/** Instance ids become table keys and blob name prefixes: no '/', '\\', '#', '?' or control characters. */
export function encodeKey(id: string): string {
  return encodeURIComponent(id);
}

const INLINE_LIMIT = 30_000; // characters: a table string property holds 64 KiB of UTF-16

let counter = 0;
/** Sortable message ids: arrival order within the process, time order across restarts. */
export function newMessageId(): string {
  counter = (counter + 1) % 1_000_000;
  return `${Date.now().toString().padStart(15, '0')}-${counter.toString().padStart(6, '0')}-${randomBytes(3).toString('hex')}`;
}

function isNotFound(err: unknown): boolean {
  return (err as { statusCode?: number }).statusCode === 404;
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
    this.history = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(
      `${hub.toLowerCase()}-history`,
    );
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
      ...(e.etag ? { etag: e.etag } : {}),
    };
  }

  async getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    try {
      return this.toRecord(await this.instances.getEntity(encodeKey(instanceId), ''));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async listInstances(): Promise<InstanceRecord[]> {
    const out: InstanceRecord[] = [];
    for await (const e of this.instances.listEntities<Record<string, unknown>>()) out.push(this.toRecord(e));
    return out;
  }

  /**
   * Writes an instance row. `expect`: 'new' = must not exist, an etag = must be unchanged, undefined = overwrite.
   * Returns false when the condition failed.
   */
  async putInstance(rec: InstanceRecord, expect?: 'new' | string): Promise<boolean> {
    const e = {
      partitionKey: encodeKey(rec.instanceId),
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
    try {
      if (expect === 'new') await this.instances.createEntity(e);
      else if (expect) await this.instances.updateEntity(e, 'Replace', { etag: expect });
      else await this.instances.upsertEntity(e, 'Replace');
      return true;
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 409 || status === 412) return false;
      throw err;
    }
  }

  /** Adds a message; adding the same message id twice is a no-op (idempotent re-delivery after a crash). */
  async addMessage(msg: InboxMessage): Promise<void> {
    try {
      await this.inbox.createEntity({
        partitionKey: encodeKey(msg.instanceId),
        rowKey: msg.id,
        Kind: msg.kind,
        ExecutionId: msg.executionId ?? '',
        Payload: fits(`${msg.kind} message`, JSON.stringify(msg.payload)),
      });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409) throw err;
    }
  }

  async listMessages(instanceId: string): Promise<InboxMessage[]> {
    const out: InboxMessage[] = [];
    const filter = odata`PartitionKey eq ${encodeKey(instanceId)}`;
    for await (const e of this.inbox.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      out.push({
        id: String(e.rowKey),
        instanceId,
        kind: e.Kind as InboxKind,
        ...(e.ExecutionId ? { executionId: String(e.ExecutionId) } : {}),
        payload: typeof e.Payload === 'string' ? (JSON.parse(e.Payload) as Record<string, unknown>) : {},
      });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Instance ids that have messages waiting (used at start-up to wake them). */
  async instancesWithMessages(): Promise<string[]> {
    const ids = new Set<string>();
    for await (const e of this.inbox.listEntities({ queryOptions: { select: ['PartitionKey'] } }))
      ids.add(decodeURIComponent(String(e.partitionKey)));
    return [...ids];
  }

  async deleteMessages(instanceId: string, ids: string[]): Promise<void> {
    await Promise.all(
      ids.map((id) =>
        this.inbox.deleteEntity(encodeKey(instanceId), id).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        }),
      ),
    );
  }

  private historyBlob(instanceId: string, executionId: string): string {
    return `${encodeKey(instanceId)}/${executionId}.jsonl`;
  }

  /** Appends one episode as one block: it is recorded completely or not at all. */
  async appendEpisode(instanceId: string, executionId: string, episode: EpisodeRecord): Promise<void> {
    const line = `${JSON.stringify(episode)}\n`;
    const name = this.historyBlob(instanceId, executionId);
    const blob = this.history.getAppendBlobClient(name);
    if (!this.createdBlobs.has(name)) {
      await blob.createIfNotExists();
      this.createdBlobs.add(name);
    }
    await blob.appendBlock(line, Buffer.byteLength(line));
  }

  async readExecution(instanceId: string, executionId: string): Promise<EpisodeRecord[]> {
    try {
      const blob = this.history.getBlobClient(this.historyBlob(instanceId, executionId));
      const text = (await blob.downloadToBuffer()).toString('utf8');
      return text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as EpisodeRecord);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  /** Deletes the history of an instance's executions (all, or all but `keepExecutionId`). */
  async deleteHistory(instanceId: string, keepExecutionId?: string): Promise<void> {
    const keep = keepExecutionId ? this.historyBlob(instanceId, keepExecutionId) : undefined;
    for await (const b of this.history.listBlobsFlat({ prefix: `${encodeKey(instanceId)}/` })) {
      if (b.name === keep) continue;
      this.createdBlobs.delete(b.name);
      await this.history.getBlobClient(b.name).deleteIfExists();
    }
  }
}
