import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BlobServiceClient } from '@azure/storage-blob';
import { testConnectionString, uniqueName } from '../support/storage';
import { root } from './startScript';

/** `npm run drop` finds the local stack where `npm start` put it: the same port variables. */
jest.setTimeout(60_000);

test('drop uploads through the AZURITE_*_PORT ports and prints the API on FUNCTIONS_HTTP_PORT', async () => {
  const cs = testConnectionString();
  const port = (service: string): string =>
    new RegExp(`${service}Endpoint=http://[^:]+:(\\d+)/`).exec(cs)![1]!;
  const inbox = uniqueName('inbox');
  const blobs = BlobServiceClient.fromConnectionString(cs);
  await blobs.getContainerClient(inbox).create();
  const { JEST_WORKER_ID: _w, STORAGE_CONNECTION_STRING: _s, ...env } = process.env;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', join(root, 'dev', 'drop.ts'), 'samples/diamonds-sample.csv', 'dropped.csv'],
    {
      cwd: root,
      env: {
        ...env,
        AZURITE_BLOB_PORT: port('Blob'),
        AZURITE_QUEUE_PORT: port('Queue'),
        AZURITE_TABLE_PORT: port('Table'),
        FUNCTIONS_HTTP_PORT: '17171',
        INBOX_CONTAINER: inbox,
      },
    },
  );
  expect(stdout).toContain(`to ${inbox}/dropped.csv`);
  expect(stdout).toContain('curl -s "http://localhost:17171/api/jobs?top=5"');
  const props = await blobs.getContainerClient(inbox).getBlobClient('dropped.csv').getProperties();
  expect(props.contentType).toBe('text/csv');
});
