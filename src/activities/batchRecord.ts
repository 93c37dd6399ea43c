import { inputFolder } from '../domain/amlUris';
import { bytesOf, type BatchHead } from '../domain/batch';
import type { JobRecord } from '../domain/jobRecord';
import type { Deps } from '../app/deps';

/**
 * The record of a closed batch (insert-if-absent, from the frozen head, so any number of writers land
 * the same record). It has a job record's shape: its "source" is its folder in the datastore.
 */
export async function ensureBatchRecord(d: Deps, head: BatchHead): Promise<JobRecord> {
  const s = d.settings;
  const now = d.now().toISOString();
  const { record } = await d.jobs.create({
    jobId: head.batchId,
    status: 'Received',
    sourceContainer: s.aml.datastoreContainer,
    sourceBlob: `${inputFolder(s.aml.datastorePathPrefix, head.batchId)}/`,
    sourceEtag: '',
    receivedAt: head.openedAt,
    createdAt: now,
    updatedAt: now,
    phases: { Received: now },
    files: head.files,
    rowCount: head.files.reduce((n, f) => n + f.rows, 0),
    byteCount: bytesOf(head),
    closesAt: head.closesAt,
    ...(head.closedAt ? { closedAt: head.closedAt } : {}),
    ...(head.deployment ? { deployment: head.deployment } : {}),
  });
  return record;
}
