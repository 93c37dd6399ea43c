import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EMULATOR_SAMPLE_SETTINGS,
  localAppSettings,
  localPorts,
  localStorageConnection,
} from '../../../dev/localSettings';
import { loadSettings } from '../../../src/config/settings';

/** How `npm start` and `npm run drop` assemble the app's settings from the sample, local.settings.json and the environment. */
const repo = join(__dirname, '..', '..', '..');
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'localsettings-'));
  copyFileSync(join(repo, 'local.settings.sample.json'), join(root, 'local.settings.sample.json'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const storage = {
  DataStorage: 'UseDevelopmentStorage=true',
  AmlDatastoreStorage: 'UseDevelopmentStorage=true',
};

test('the sample alone: the emulator on loopback, cancels at its origin in the sample workspace', () => {
  const s = loadSettings(localAppSettings(root, {}, {}));
  expect(s.aml.scoringUri).toBe('http://localhost:7072/jobs');
  expect(s.aml.managementUri).toBe('http://localhost:7072');
  expect(s.aml.auth.kind).toBe('emulator');
  expect(s.aml.workspace).toEqual({
    subscriptionId: '00000000-0000-0000-0000-000000000000',
    resourceGroup: 'local-rg',
    workspaceName: 'local-ws',
  });
});

test('an emulator on another loopback port: the management URI follows it', () => {
  const s = loadSettings(localAppSettings(root, {}, { AML_SCORING_URI: 'http://127.0.0.1:51000/jobs' }));
  expect(s.aml.managementUri).toBe('http://127.0.0.1:51000');
  expect(s.aml.auth.kind).toBe('emulator');
});

test('only AML_SCORING_URI set to a real endpoint: none of the emulator values of the sample follow it', () => {
  const values = localAppSettings(root, storage, {
    AML_SCORING_URI: 'https://ep.westeurope.inference.ml.azure.com/jobs',
  });
  for (const k of EMULATOR_SAMPLE_SETTINGS) expect(values).not.toHaveProperty(k);
  const s = loadSettings(values);
  expect(s.aml).toMatchObject({ managementUri: 'https://management.azure.com', auth: { kind: 'azure' } });
  expect(s.aml.workspace).toBeUndefined();
});

test('a real endpoint with its coordinates in the environment keeps them', () => {
  const s = loadSettings(
    localAppSettings(root, storage, {
      AML_SCORING_URI: 'https://ep.westeurope.inference.ml.azure.com/jobs',
      AML_SUBSCRIPTION_ID: 'sub',
      AML_RESOURCE_GROUP: 'rg',
      AML_WORKSPACE_NAME: 'ws',
    }),
  );
  expect(s.aml.workspace).toEqual({ subscriptionId: 'sub', resourceGroup: 'rg', workspaceName: 'ws' });
});

test("the user's local.settings.json is taken as written, whatever the endpoint", () => {
  writeFileSync(
    join(root, 'local.settings.json'),
    JSON.stringify({
      Values: { AML_SCORING_URI: 'https://ep.example.com/jobs', AML_WORKSPACE_NAME: 'mine' },
    }),
  );
  expect(localAppSettings(root, {}, {})).toEqual({
    AML_SCORING_URI: 'https://ep.example.com/jobs',
    AML_WORKSPACE_NAME: 'mine',
  });
});

test('ports and storage for the local stack follow the same variables as npm start', () => {
  const env = {
    AZURITE_BLOB_PORT: '20000',
    AZURITE_QUEUE_PORT: '20001',
    AZURITE_TABLE_PORT: '20002',
    FUNCTIONS_HTTP_PORT: '8080',
  };
  expect(localPorts(env)).toEqual({ blob: 20000, queue: 20001, table: 20002, aml: 7072, http: 8080 });
  expect(localStorageConnection(env)).toContain('BlobEndpoint=http://127.0.0.1:20000/devstoreaccount1');
  expect(localStorageConnection(env)).toContain('TableEndpoint=http://127.0.0.1:20002/devstoreaccount1');
  expect(localStorageConnection({ ...env, STORAGE_CONNECTION_STRING: 'X=1' })).toBe('X=1');
  expect(() => localPorts({ AZURITE_BLOB_PORT: 'ten' })).toThrow(/AZURITE_BLOB_PORT must be a port number/);
});
