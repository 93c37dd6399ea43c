import { BlobServiceClient } from '@azure/storage-blob';
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { localAppSettings, localPorts, localStorageConnection } from './localSettings';

/**
 * `npm run drop -- <file.csv> [name-in-inbox]`: uploads a file into the inbox of the local stack,
 * the way any storage client would. The pipeline takes it from there.
 */
async function main(): Promise<void> {
  const [file, name] = process.argv.slice(2);
  if (!file) {
    console.error('usage: npm run drop -- <file.csv> [name-in-inbox]');
    process.exit(2);
  }
  const size = statSync(file).size;
  const s = localAppSettings(process.cwd());
  // The sample's UseDevelopmentStorage=true means the standard ports; `npm start` honours
  // STORAGE_CONNECTION_STRING and AZURITE_*_PORT, and so does this.
  const cs =
    !s.DataStorage || s.DataStorage === 'UseDevelopmentStorage=true'
      ? localStorageConnection()
      : s.DataStorage;
  const container = s.INBOX_CONTAINER || 'inbox';
  const blobName = name ?? basename(file);
  const blob = BlobServiceClient.fromConnectionString(cs)
    .getContainerClient(container)
    .getBlockBlobClient(blobName);
  const res = await blob.uploadStream(createReadStream(file), 8 * 1024 * 1024, 4, {
    blobHTTPHeaders: { blobContentType: 'text/csv' },
  });
  console.log(`uploaded ${file} (${size} bytes) to ${container}/${blobName} (ETag ${res.etag})`);
  console.log(`watch the job: curl -s "http://localhost:${localPorts().http}/api/jobs?top=5"`);
}

main().catch((err: unknown) => {
  console.error(`drop failed: ${(err as Error).message}`);
  if (/ECONNREFUSED/.test(String((err as Error).message) + String((err as { code?: string }).code))) {
    console.error('Is the local stack running? Start it with `npm start` in another terminal.');
  }
  process.exit(1);
});
