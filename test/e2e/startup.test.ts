import { BlobServiceClient } from '@azure/storage-blob';
import { freePort } from '../support/azurite';
import { testConnectionString, uniqueName } from '../support/storage';
import { launch, ready, type Launched } from './startScript';
import { isolatedNames } from './stack';

/**
 * `npm start` pointed at an AML endpoint other than its own emulator: it prepares what the app needs
 * (the datastore container too, on a fresh storage), and the AML settings follow the endpoint, not the sample.
 */
jest.setTimeout(120_000);

let running: Launched | undefined;
afterEach(async () => {
  if (running && running.child.exitCode === null) {
    running.child.kill('SIGTERM');
    await running.exited;
  }
});

async function startWith(scoringUri: string): Promise<{ datastore: string; printed: string }> {
  const http = await freePort();
  const datastore = uniqueName('ds');
  running = launch('node', {
    STORAGE_CONNECTION_STRING: testConnectionString(),
    AML_SCORING_URI: scoringUri,
    AML_MANAGEMENT_URI: undefined,
    AML_AUTH: undefined,
    FUNCTIONS_HTTP_PORT: String(http),
    AML_DATASTORE_CONTAINER: datastore,
    ...isolatedNames(),
    LOCAL_PROGRESS: 'off',
  });
  await ready(running, http);
  return { datastore, printed: running.output.join('\n') };
}

const exists = (container: string): Promise<boolean> =>
  BlobServiceClient.fromConnectionString(testConnectionString()).getContainerClient(container).exists();

test('an external endpoint on this machine: datastore container created, cancels at its origin', async () => {
  const port = await freePort(); // nothing listens: start-up must not need the endpoint
  const { datastore, printed } = await startWith(`http://127.0.0.1:${port}/jobs`);
  expect(await exists(datastore)).toBe(true);
  expect(printed).toMatch(new RegExp(`AML endpoint +http://127\\.0\\.0\\.1:${port}/jobs\\n`));
  expect(printed).toMatch(new RegExp(`AML cancels +http://127\\.0\\.0\\.1:${port}, workspace local-ws`));
});

test('a real endpoint: datastore container created, no emulator values from the sample, cancels off until set', async () => {
  const { datastore, printed } = await startWith('https://ep.westeurope.inference.ml.azure.com/jobs');
  expect(await exists(datastore)).toBe(true);
  expect(printed).toMatch(
    /AML cancels +off: set AML_SUBSCRIPTION_ID, AML_RESOURCE_GROUP and AML_WORKSPACE_NAME/,
  );
});
