import type { TableClient } from '@azure/data-tables';
import { TableClient as Client } from '@azure/data-tables';
import type { StorageConnection } from '../config/settings';
import { PipelineError } from '../domain/errors';
import { azureCredential } from './credentials';
import { translateStorageError } from './storageErrors';

/**
 * AML job name → the orchestration instance that waits on it, so that an AML event (which names only the AML
 * job) reaches the right orchestration. Written at submit, before anything can complete; one entity per AML
 * job (PartitionKey = the name: point reads and writes, no hot partition). A table of its own beside the jobs
 * table (`<JOBS_TABLE>AmlJobs`), created on first write, so job listings never meet these rows.
 */
export class AmlJobIndex {
  constructor(readonly client: TableClient) {}

  static tableName(jobsTable: string): string {
    return `${jobsTable.slice(0, 56)}AmlJobs`; // table names: at most 63 characters
  }

  static fromConnection(conn: StorageConnection, jobsTable: string): AmlJobIndex {
    const table = AmlJobIndex.tableName(jobsTable);
    if (conn.kind === 'connectionString')
      return new AmlJobIndex(
        Client.fromConnectionString(conn.connectionString, table, { allowInsecureConnection: true }),
      );
    if (!conn.tableServiceUri)
      throw new PipelineError(
        'ConfigInvalid',
        'Setting DataStorage__tableServiceUri is required for the AML job index',
      );
    return new AmlJobIndex(new Client(conn.tableServiceUri, table, azureCredential(conn.clientId)));
  }

  /** Safe to repeat: the same name always maps to the same instance. */
  async put(amlJobName: string, instanceId: string): Promise<void> {
    const entity = { partitionKey: key(amlJobName), rowKey: '', instanceId };
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.upsertEntity(entity, 'Replace');
        return;
      } catch (err) {
        if (attempt === 0 && (err as { statusCode?: number }).statusCode === 404) {
          await this.client.createTable().catch((e: unknown) => {
            if ((e as { statusCode?: number }).statusCode !== 409)
              throw translateStorageError(e, 'create the AML job index');
          });
          continue;
        }
        throw translateStorageError(err, `index AML job ${amlJobName}`);
      }
    }
  }

  /** The instance waiting on this AML job, or undefined when it is not one of ours (or the table does not exist yet). */
  async get(amlJobName: string): Promise<string | undefined> {
    try {
      const e = await this.client.getEntity<{ instanceId?: string }>(key(amlJobName), '');
      return typeof e.instanceId === 'string' ? e.instanceId : undefined;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw translateStorageError(err, `look up AML job ${amlJobName}`);
    }
  }
}

/** Table keys may not hold `/ \ # ?` or control characters; AML names are plain, but names are not ours to trust. */
function key(amlJobName: string): string {
  return encodeURIComponent(amlJobName);
}
