import type { Deps } from '../app/deps';
import type { Orchestrations } from '../adapters/orchestrations';
import { PipelineError } from '../domain/errors';
import { startJob, type StartedJob } from './startJob';

/** What the blob trigger's deferred binding names: the blob, not its bytes. */
export interface BlobReference {
  connection: string;
  containerName: string;
  blobName: string;
}

function isBlobReference(v: unknown): v is BlobReference {
  const r = v as Partial<BlobReference> | null;
  return typeof r?.containerName === 'string' && typeof r.blobName === 'string' && r.blobName !== '';
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v : undefined);

/**
 * Which blob a delivery is about. With deferred binding the host sends a reference; when it falls
 * back to the bytes (azure-functions-host `WorkerFunctionDescriptorProvider.cs` disables deferred
 * binding when another binding uses a `{...}` expression) the blob is named only by the trigger
 * metadata's `BlobTrigger` (`<container>/<name>`, blobs extension `BlobTriggerBinding.CreateBindingData`),
 * camel-cased to `blobTrigger` by @azure/functions. Anything else fails loudly: a job that names no
 * blob must never start.
 */
export function identifyBlob(
  blob: unknown,
  metadata: unknown,
  inbox: string,
): { container: string; name: string } {
  if (isBlobReference(blob)) return { container: blob.containerName, name: blob.blobName };
  const path = text((metadata as { blobTrigger?: unknown } | null)?.blobTrigger);
  const slash = path?.indexOf('/') ?? -1;
  if (!path || slash <= 0 || slash === path.length - 1) {
    throw new PipelineError(
      'Internal',
      `The blob trigger delivered ${Buffer.isBuffer(blob) ? 'the blob bytes' : 'no blob reference'} and no usable triggerMetadata.blobTrigger (got ${JSON.stringify(path ?? null)}); no job started.`,
    );
  }
  const container = path.slice(0, slash);
  if (container !== inbox) {
    throw new PipelineError(
      'Internal',
      `The blob trigger named container "${container}", not the inbox "${inbox}"; no job started.`,
    );
  }
  return { container, name: path.slice(slash + 1) };
}

/**
 * The version in the trigger metadata, only when it has the expected types. The host serialises the
 * .NET `BlobProperties` with Newtonsoft defaults (azure-functions-host `GrpcMessageConversionExtensions.ToRpcDefault`):
 * the `Azure.ETag` struct arrives as `{}`, `LastModified` as an ISO date with an offset. So in Azure the
 * ETag is never usable here and the blob's own properties are read instead; a string ETag (another
 * host, a future serialiser) is used as is.
 */
export function versionFromMetadata(metadata: unknown): { etag: string; lastModified: Date } | undefined {
  const p = (metadata as { properties?: Record<string, unknown> | null } | null)?.properties;
  if (!p || typeof p !== 'object') return undefined;
  const etag = text(p.eTag) ?? text(p.ETag) ?? text(p.etag);
  const lm = text(p.lastModified) ?? text(p.LastModified);
  const lastModified = lm ? new Date(lm) : undefined;
  if (!etag || !lastModified || Number.isNaN(lastModified.getTime())) return undefined;
  return { etag, lastModified };
}

/**
 * The inbox trigger: one job per blob version, however often the version is delivered. Trigger
 * metadata is untrusted: each value is used only when it has the expected type. Returns undefined
 * when the blob is gone (deleted after its event): there is nothing left to score.
 */
export async function onInboxBlob(
  d: Deps,
  orch: Orchestrations,
  blob: unknown,
  metadata: unknown,
): Promise<StartedJob | undefined> {
  const { container, name } = identifyBlob(blob, metadata, d.settings.inboxContainer);
  const version = versionFromMetadata(metadata);
  try {
    return await startJob(d, orch, { container, name, ...(version ?? {}) });
  } catch (err) {
    if (err instanceof PipelineError && err.code === 'InputNotFound') return undefined;
    throw err;
  }
}
