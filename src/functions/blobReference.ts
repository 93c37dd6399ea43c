import { ResourceFactoryResolver, type ModelBindingData } from '@azure/functions-extensions-base';
import type { BlobReference } from '../handlers/inbox';

/**
 * With `sdkBinding: true` the host sends a reference to the blob (ModelBindingData from the
 * `AzureStorageBlobs` source) instead of its bytes. This factory turns it into a plain reference;
 * the app then streams the blob through its own client and identity.
 */
export type { BlobReference };

export const BLOB_SOURCE = 'AzureStorageBlobs';

export function parseBlobReference(data: ModelBindingData | ModelBindingData[]): BlobReference {
  const one = Array.isArray(data) ? data[0] : data;
  const raw = one?.content ? Buffer.from(one.content).toString('utf8') : '';
  let json: { Connection?: string; ContainerName?: string; BlobName?: string };
  try {
    json = JSON.parse(raw) as typeof json;
  } catch {
    throw new Error(`Blob trigger reference is not JSON: ${raw.slice(0, 200)}`);
  }
  if (!json.ContainerName || !json.BlobName)
    throw new Error(`Blob trigger reference lacks ContainerName/BlobName: ${raw.slice(0, 200)}`);
  return { connection: json.Connection ?? '', containerName: json.ContainerName, blobName: json.BlobName };
}

export function registerBlobReferenceFactory(): void {
  const resolver = ResourceFactoryResolver.getInstance();
  if (!resolver.hasResourceFactory(BLOB_SOURCE))
    resolver.registerResourceFactory(BLOB_SOURCE, parseBlobReference);
}
