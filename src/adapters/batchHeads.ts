import type { TableClient } from '@azure/data-tables';
import type { BatchHead } from '../domain/batch';
import { translateStorageError } from './storageErrors';

/**
 * The open batch of each deployment, one row per deployment in the jobs table (partition `heads`, which
 * sorts before every job and batch partition and is left out of job listings). Every write is
 * conditional: a create fails if the row exists, an update fails if anyone wrote since our read; the
 * caller then reads again and decides again (domain/batch.ts).
 */
/** The jobs table's partition of open batches (one row per deployment). */
export const HEADS_PARTITION = 'heads';
const DEFAULT_KEY = '(default)';

export interface HeadSnapshot {
  head?: BatchHead;
  etag?: string;
}

export class BatchHeads {
  constructor(private readonly client: TableClient) {}

  async read(deployment: string | undefined): Promise<HeadSnapshot> {
    try {
      const e = await this.client.getEntity<{ head: string }>(HEADS_PARTITION, deployment ?? DEFAULT_KEY);
      return { head: JSON.parse(e.head) as BatchHead, etag: e.etag };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return {};
      throw translateStorageError(err, `read the open batch of ${deployment ?? 'the default deployment'}`);
    }
  }

  /** The head of batch `batchId`, if it is some deployment's current head (an open batch has no record yet). */
  async find(batchId: string): Promise<BatchHead | undefined> {
    return (await this.list()).find((s) => s.head.batchId === batchId)?.head;
  }

  /** Every deployment's current head (one row per deployment: one query). */
  async list(): Promise<Required<HeadSnapshot>[]> {
    try {
      const out: Required<HeadSnapshot>[] = [];
      for await (const e of this.client.listEntities<{ head: string }>({
        queryOptions: { filter: `PartitionKey eq '${HEADS_PARTITION}'` },
      }))
        out.push({ head: JSON.parse(e.head) as BatchHead, etag: e.etag });
      return out;
    } catch (err) {
      throw translateStorageError(err, 'list the open batches');
    }
  }

  /** Writes `head` if nobody wrote since the read that gave `etag` (none: the row must not exist). */
  async write(head: BatchHead, etag: string | undefined): Promise<boolean> {
    const entity = {
      partitionKey: HEADS_PARTITION,
      rowKey: head.deployment ?? DEFAULT_KEY,
      head: JSON.stringify(head),
    };
    try {
      if (etag) await this.client.updateEntity(entity, 'Replace', { etag });
      else await this.client.createEntity(entity);
      return true;
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 412 || status === 409) return false;
      throw translateStorageError(err, `write batch ${head.batchId}`);
    }
  }
}
