import { TableClient } from '@azure/data-tables';
import { HEADS_PARTITION } from '../src/adapters/batchHeads';
import { isBatchId } from '../src/domain/batch';

/**
 * Prints one line a person can follow each time a job changes: received, validated N rows, submitted
 * as AML job X, AML status changes, published to outbox/..., or why it was rejected or failed. It reads
 * the job records, the same source of truth as the API, so what it prints is what the API would say.
 * Batch records (`b…`, several small files scored as one AML job) print as batches; each file's own job
 * prints its outbox file.
 */
export interface Row {
  partitionKey: string;
  rowKey: string;
  status?: string;
  sourceBlob?: string;
  rowCount?: number;
  amlJobName?: string;
  amlStatus?: string;
  outputBlob?: string;
  quarantineBlob?: string;
  error?: string;
  /** A batch record's members (JSON text, as the table holds it). */
  files?: string;
}

const fileCount = (r: Row): number => {
  try {
    return (JSON.parse(r.files ?? '[]') as unknown[]).length;
  } catch {
    return 0;
  }
};

/** The lines a record's change since `before` prints (none when nothing a person follows changed). */
export function describe(r: Row, before: Row | undefined): string[] {
  const batch = isBatchId(r.rowKey);
  const tag = batch
    ? `[batch ${r.rowKey.slice(-8)}] ${fileCount(r)} file(s), ${r.rowCount ?? 0} rows`
    : `[job ${r.rowKey.slice(-8)}] ${r.sourceBlob ?? ''}`;
  // A quick job can pass several states between two reads: say where it is now, not only that it came.
  if (!before)
    return [
      `${tag}: ${batch ? 'closed' : 'received'}`,
      // A batch knows its rows when it closes; a file learns them by validating.
      ...describe(r, {
        partitionKey: r.partitionKey,
        rowKey: r.rowKey,
        status: 'Received',
        ...(batch ? { rowCount: r.rowCount } : {}),
      }),
    ];
  const line = change(r, before, tag);
  return line ? [line] : [];
}

function change(r: Row, before: Row, tag: string): string | undefined {
  const err = (): string => {
    try {
      const e = JSON.parse(r.error ?? '{}') as { code?: string; message?: string };
      return `${e.code ?? ''}: ${e.message ?? ''}`;
    } catch {
      return r.error ?? '';
    }
  };
  if (r.status !== before.status) {
    switch (r.status) {
      case 'Validating':
        if (isBatchId(r.rowKey)) return `${tag}: staging its files in the AML datastore`;
        return r.rowCount !== undefined
          ? `${tag}: validated ${r.rowCount} rows, staged in the AML datastore`
          : `${tag}: validating`;
      case 'Submitted':
        return `${tag}: submitted as AML job ${r.amlJobName}`;
      case 'Running':
        return `${tag}: AML job ${r.amlJobName} is ${r.amlStatus}`;
      case 'Publishing':
        return `${tag}: AML job completed; publishing predictions`;
      case 'Succeeded':
        return `${tag}: Succeeded → ${r.outputBlob ?? "each file's own outbox file"}`;
      case 'Rejected':
        return `${tag}: Rejected (${err()})${r.quarantineBlob ? ` → ${r.quarantineBlob}` : ''}`;
      default:
        return `${tag}: ${r.status} (${err()})`;
    }
  }
  if (r.rowCount !== undefined && before.rowCount === undefined)
    return `${tag}: validated ${r.rowCount} rows, staged in the AML datastore`;
  if (r.amlStatus !== before.amlStatus) return `${tag}: AML job ${r.amlJobName} is ${r.amlStatus}`;
  return undefined;
}

export function watchJobs(
  connectionString: string,
  table: string,
  print: (line: string) => void,
  intervalMs = 1000,
): () => void {
  const client = TableClient.fromConnectionString(connectionString, table, { allowInsecureConnection: true });
  const seen = new Map<string, Row>();
  let first = true;
  let stopped = false;
  const tick = async (): Promise<void> => {
    try {
      // Newest first: the first page holds every job that is moving.
      const page = await client.listEntities<Row>().byPage({ maxPageSize: 200 }).next();
      for (const r of (page.value ?? []) as Row[]) {
        if (r.partitionKey === HEADS_PARTITION) continue; // a deployment's open batch: its files print themselves
        const before = seen.get(r.rowKey);
        if (!first) for (const line of describe(r, before)) print(line);
        seen.set(r.rowKey, { ...r });
      }
      first = false;
    } catch {
      // The table may not exist yet; the next tick tries again.
    }
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
  };
  let timer = setTimeout(() => void tick(), 0);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
