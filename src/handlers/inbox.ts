import type { Deps } from '../app/deps';
import type { Orchestrations } from '../adapters/orchestrations';
import { startJob, type StartedJob } from './startJob';

/** What the blob trigger's deferred binding names: the blob, not its bytes. */
export interface BlobReference {
  connection: string;
  containerName: string;
  blobName: string;
}

interface TriggerMetadata {
  properties?: { eTag?: string; ETag?: string; lastModified?: string; LastModified?: string };
}

/**
 * The inbox trigger: the host hands over a reference (deferred binding), never the bytes, so a file
 * of any size costs nothing here. The version delivered is pinned by the ETag of the trigger's
 * metadata when the host sends it.
 */
export async function onInboxBlob(
  d: Deps,
  orch: Orchestrations,
  ref: BlobReference,
  metadata: TriggerMetadata | undefined,
): Promise<StartedJob> {
  const p = metadata?.properties;
  const etag = p?.eTag ?? p?.ETag;
  const lm = p?.lastModified ?? p?.LastModified;
  const lastModified = lm ? new Date(lm) : undefined;
  return startJob(d, orch, {
    container: ref.containerName,
    name: ref.blobName,
    ...(etag && lastModified && !Number.isNaN(lastModified.getTime()) ? { etag, lastModified } : {}),
  });
}
