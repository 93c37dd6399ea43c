import { BlobServiceClient } from '@azure/storage-blob';
import { testConnectionString, uniqueName } from '../support/storage';

test('Azurite from globalSetup answers', async () => {
  const svc = BlobServiceClient.fromConnectionString(testConnectionString());
  const c = svc.getContainerClient(uniqueName('smoke'));
  await c.create();
  expect(await c.exists()).toBe(true);
});
