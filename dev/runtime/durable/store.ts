import { randomBytes, randomUUID } from 'node:crypto';
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
 *   bookkeeping); a block append is atomic, so an episode is either fully recorded or not at all;
 * - container `<hub>-large`: payloads too big for a table property or an append block.
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
const EVENT_FIELD_LIMIT = 512 * 1024; // characters per event field kept inside an append block
const BLOB_MARK = '\u0000blob:';
const SPILLED_FIELDS = ['Input', 'Result', 'Reason', 'Details'];

let counter = 0;
/** Sortable message ids: arrival order within the process, time order across restarts. */
export function newMessageId(): string {
  counter = (counter + 1) % 1_000_000;
  return `${Date.now().toString().padStart(15, '0')}-${counter.toString().padStart(6, '0')}-${randomBytes(3).toString('hex')}`;
}

function isNotFound(err: unknown): boolean {
  return (err as { statusCode?: number }).statusCode === 404;
}

export class DurableStore {
  readonly hub: string;
  private readonly instances: TableClient;
  private readonly inbox: TableClient;
  private readonly history: ContainerClient;
  private readonly large: ContainerClient;
  private readonly createdBlobs = new Set<string>();

  constructor(connectionString: string, hub: string) {
    this.hub = hub;
    const opts = { allowInsecureConnection: true };
    this.instances = TableClient.fromConnectionString(connectionString, `${hub}Instances`, opts);
    this.inbox = TableClient.fromConnectionString(connectionString, `${hub}Inbox`, opts);
    const blobs = BlobServiceClient.fromConnectionString(connectionString);
    this.history = blobs.getContainerClient(`${hub.toLowerCase()}-history`);
    this.large = blobs.getContainerClient(`${hub.toLowerCase()}-large`);
  }

  async init(): Promise<void> {
    await Promise.all([
      this.instances.createTable(),
      this.inbox.createTable(),
      this.history.createIfNotExists(),
      this.large.createIfNotExists(),
    ]);
  }

  // ---- large values ------------------------------------------------------------------------------------------

  private async spill(instanceId: string, text: string): Promise<string> {
    const name = `${encodeKey(instanceId)}/${randomUUID()}`;
    await this.large.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
    return name;
  }

  private async unspill(name: string): Promise<string> {
    return (await this.large.getBlobClient(name).downloadToBuffer()).toString('utf8');
  }

  private async putText(
    instanceId: string,
    entity: Record<string, unknown>,
    field: string,
    text: string | null,
  ): Promise<void> {
    if (text !== null && text.length > INLINE_LIMIT) {
      entity[`${field}Blob`] = await this.spill(instanceId, text);
      entity[field] = null;
    } else {
      entity[field] = text;
      entity[`${field}Blob`] = null;
    }
  }

  private async getText(entity: Record<string, unknown>, field: string): Promise<string | null> {
    const blob = entity[`${field}Blob`];
    if (typeof blob === 'string' && blob) return this.unspill(blob);
    const v = entity[field];
    return typeof v === 'string' ? v : null;
  }

  // ---- instances ---------------------------------------------------------------------------------------------

  private async toRecord(e: TableEntityResult<Record<string, unknown>>): Promise<InstanceRecord> {
    return {
      instanceId: String(e.InstanceId),
      name: String(e.Name),
      runtimeStatus: e.RuntimeStatus as RuntimeStatus,
      input: await this.getText(e, 'Input'),
      output: await this.getText(e, 'Output'),
      customStatus: await this.getText(e, 'CustomStatus'),
      createdTime: String(e.CreatedTime),
      lastUpdatedTime: String(e.LastUpdatedTime),
      executionId: String(e.ExecutionId),
      ...(e.etag ? { etag: e.etag } : {}),
    };
  }

  async getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    try {
      return await this.toRecord(await this.instances.getEntity(encodeKey(instanceId), ''));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async listInstances(): Promise<InstanceRecord[]> {
    const out: InstanceRecord[] = [];
    for await (const e of this.instances.listEntities<Record<string, unknown>>())
      out.push(await this.toRecord(e));
    return out;
  }

  /**
   * Writes an instance row. `expect`: 'new' = must not exist, an etag = must be unchanged, undefined = overwrite.
   * Returns false when the condition failed.
   */
  async putInstance(rec: InstanceRecord, expect?: 'new' | string): Promise<boolean> {
    const entity: Record<string, unknown> = {
      partitionKey: encodeKey(rec.instanceId),
      rowKey: '',
      InstanceId: rec.instanceId,
      Name: rec.name,
      RuntimeStatus: rec.runtimeStatus,
      CreatedTime: rec.createdTime,
      LastUpdatedTime: rec.lastUpdatedTime,
      ExecutionId: rec.executionId,
    };
    await this.putText(rec.instanceId, entity, 'Input', rec.input);
    await this.putText(rec.instanceId, entity, 'Output', rec.output);
    await this.putText(rec.instanceId, entity, 'CustomStatus', rec.customStatus);
    const e = entity as { partitionKey: string; rowKey: string };
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

  // ---- inbox -------------------------------------------------------------------------------------------------

  /** Adds a message; adding the same message id twice is a no-op (idempotent re-delivery after a crash). */
  async addMessage(msg: InboxMessage): Promise<void> {
    const text = JSON.stringify(msg.payload);
    const entity: Record<string, unknown> = {
      partitionKey: encodeKey(msg.instanceId),
      rowKey: msg.id,
      Kind: msg.kind,
      ExecutionId: msg.executionId ?? '',
    };
    await this.putText(msg.instanceId, entity, 'Payload', text);
    try {
      await this.inbox.createEntity(entity as { partitionKey: string; rowKey: string });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409) throw err;
    }
  }

  async listMessages(instanceId: string): Promise<InboxMessage[]> {
    const out: InboxMessage[] = [];
    const filter = odata`PartitionKey eq ${encodeKey(instanceId)}`;
    for await (const e of this.inbox.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      const text = await this.getText(e, 'Payload');
      out.push({
        id: String(e.rowKey),
        instanceId,
        kind: e.Kind as InboxKind,
        ...(e.ExecutionId ? { executionId: String(e.ExecutionId) } : {}),
        payload: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Instance ids that have messages waiting (used at start-up to wake them). */
  async instancesWithMessages(): Promise<string[]> {
    const ids = new Set<string>();
    for await (const e of this.inbox.listEntities<Record<string, unknown>>({
      queryOptions: { select: ['PartitionKey'] },
    })) {
      ids.add(decodeURIComponent(String(e.partitionKey)));
    }
    return [...ids];
  }

  async deleteMessages(instanceId: string, ids: string[]): Promise<void> {
    const pk = encodeKey(instanceId);
    await Promise.all(
      ids.map(async (id) => {
        try {
          await this.inbox.deleteEntity(pk, id);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }),
    );
  }

  // ---- history -----------------------------------------------------------------------------------------------

  private historyBlob(instanceId: string, executionId: string): string {
    return `${encodeKey(instanceId)}/${executionId}.jsonl`;
  }

  /**
   * Appends one episode. The action signatures (which only grow) are written incrementally: `sigsRecorded` of them
   * are already in earlier lines of this execution.
   */
  async appendEpisode(
    instanceId: string,
    executionId: string,
    episode: EpisodeRecord,
    sigsRecorded: number,
  ): Promise<void> {
    const events = await Promise.all(
      episode.events.map(async (ev) => {
        let out = ev;
        for (const f of SPILLED_FIELDS) {
          const v = ev[f];
          if (typeof v === 'string' && v.length > EVENT_FIELD_LIMIT) {
            out = { ...out, [f]: BLOB_MARK + (await this.spill(instanceId, v)) };
          }
        }
        return out;
      }),
    );
    const { actionSigs, ...host } = episode.host;
    const line = `${JSON.stringify({ ...episode, events, host, newSigs: actionSigs.slice(sigsRecorded) })}\n`;
    const name = this.historyBlob(instanceId, executionId);
    const blob = this.history.getAppendBlobClient(name);
    if (!this.createdBlobs.has(name)) {
      await blob.createIfNotExists();
      this.createdBlobs.add(name);
    }
    await blob.appendBlock(line, Buffer.byteLength(line));
  }

  async readExecution(instanceId: string, executionId: string): Promise<EpisodeRecord[]> {
    let text: string;
    try {
      text = (
        await this.history.getBlobClient(this.historyBlob(instanceId, executionId)).downloadToBuffer()
      ).toString('utf8');
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    const episodes: EpisodeRecord[] = [];
    const sigs: string[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const ep = JSON.parse(line) as EpisodeRecord & { newSigs?: string[] };
      sigs.push(...(ep.newSigs ?? []));
      delete ep.newSigs;
      ep.host.actionSigs = [];
      for (const ev of ep.events) {
        for (const f of SPILLED_FIELDS) {
          const v = ev[f];
          if (typeof v === 'string' && v.startsWith(BLOB_MARK))
            ev[f] = await this.unspill(v.slice(BLOB_MARK.length));
        }
      }
      episodes.push(ep);
    }
    const last = episodes.at(-1);
    if (last) last.host.actionSigs = sigs;
    return episodes;
  }

  /** Deletes history (all executions, or all but `keepExecutionId`) and spilled payloads of an instance. */
  async deleteHistory(instanceId: string, keepExecutionId?: string): Promise<void> {
    const prefix = `${encodeKey(instanceId)}/`;
    const keep = keepExecutionId ? this.historyBlob(instanceId, keepExecutionId) : undefined;
    for await (const b of this.history.listBlobsFlat({ prefix })) {
      if (b.name === keep) continue;
      this.createdBlobs.delete(b.name);
      await this.history.getBlobClient(b.name).deleteIfExists();
    }
    if (!keepExecutionId) {
      for await (const b of this.large.listBlobsFlat({ prefix }))
        await this.large.getBlobClient(b.name).deleteIfExists();
    }
  }
}
