import { loadSettings, SETTING_NAMES } from '../../../src/config/settings';

const minimal = {
  AML_SCORING_URI: 'https://ep.westeurope.inference.ml.azure.com/jobs',
  DataStorage: 'UseDevelopmentStorage=true',
  AmlDatastoreStorage: 'UseDevelopmentStorage=true',
};

describe('settings', () => {
  test('defaults fill everything but the endpoint and the two storage connections', () => {
    const s = loadSettings(minimal);
    expect(s).toMatchObject({
      inboxContainer: 'inbox',
      outboxContainer: 'outbox',
      quarantineContainer: 'quarantine',
      jobsTable: 'jobs',
      inboxTriggerSource: 'EventGrid',
      publishMode: 'join',
      jobDeadlineSeconds: 86400,
      poll: { firstDelaySeconds: 30, factor: 1.5, maxDelaySeconds: 300, learned: true, events: false },
      aml: {
        datastoreName: 'workspaceblobstore',
        auth: { kind: 'azure' },
        managementUri: 'https://management.azure.com',
      },
    });
    expect(s.aml.workspace).toBeUndefined();
    expect(s.schema.columns.map((c) => c.name)).toEqual(['carat', 'cut', 'color', 'clarity']);
  });

  test.each([
    [{ AML_SCORING_URI: undefined }, /AML_SCORING_URI is required/],
    [{ AML_SCORING_URI: 'not a url' }, /AML_SCORING_URI must be an absolute http\(s\) URL/],
    [{ DataStorage: undefined }, /Setting DataStorage is required.*DataStorage__accountName/],
    [{ POLL_BACKOFF_FACTOR: '0.5' }, /POLL_BACKOFF_FACTOR must be a number >= 1 \(got "0.5"\)/],
    [{ POLL_FIRST_DELAY_SECONDS: 'soon' }, /POLL_FIRST_DELAY_SECONDS must be a positive number/],
    [{ INBOX_CONTAINER: 'Bad_Name' }, /INBOX_CONTAINER is not a valid blob container name/],
    [
      { INBOX_TRIGGER_SOURCE: 'Polling' },
      /INBOX_TRIGGER_SOURCE must be "EventGrid" or "LogsAndContainerScan"/,
    ],
    [{ AML_SUBSCRIPTION_ID: 'sub' }, /AML_RESOURCE_GROUP, AML_WORKSPACE_NAME must be set together/],
    [{ AML_AUTH: 'emulator' }, /AML_AUTH .* only allowed with a loopback AML_SCORING_URI/],
    [{ AML_AUTH: 'keys' }, /AML_AUTH must be "azure" or "emulator"/],
    [
      { INPUT_SCHEMA: '{"columns": []}' },
      /INPUT_SCHEMA is not a valid schema: "columns" must be a non-empty array/,
    ],
    [
      { INPUT_SCHEMA: '/nonexistent/schema.json' },
      /INPUT_SCHEMA must be schema JSON or the path of a JSON file/,
    ],
    [{ JOBS_TABLE: 'jobs-table' }, /JOBS_TABLE is not a valid table name/],
    [{ PUBLISH_MODE: 'merge' }, /PUBLISH_MODE must be "join" or "raw"/],
  ])('%p fails naming the setting', (patch, message) => {
    expect(() => loadSettings({ ...minimal, ...patch })).toThrow(message);
  });

  test('identity-based storage from __accountName or service URIs', () => {
    const s = loadSettings({
      ...minimal,
      DataStorage: undefined,
      DataStorage__accountName: 'acct',
      DataStorage__clientId: 'cid',
      AmlDatastoreStorage: undefined,
      AmlDatastoreStorage__blobServiceUri: 'https://ws.blob.core.windows.net',
    });
    expect(s.dataStorage).toEqual({
      kind: 'identity',
      blobServiceUri: 'https://acct.blob.core.windows.net',
      queueServiceUri: 'https://acct.queue.core.windows.net',
      tableServiceUri: 'https://acct.table.core.windows.net',
      clientId: 'cid',
    });
    expect(s.aml.datastoreStorage).toEqual({
      kind: 'identity',
      blobServiceUri: 'https://ws.blob.core.windows.net',
    });
    expect(s.aml.auth).toEqual({ kind: 'azure', clientId: 'cid' });
  });

  test('emulator auth on loopback, workspace coordinates, custom schema inline', () => {
    const s = loadSettings({
      ...minimal,
      AML_SCORING_URI: 'http://127.0.0.1:7072/jobs/',
      AML_AUTH: 'emulator',
      AML_SUBSCRIPTION_ID: 's',
      AML_RESOURCE_GROUP: 'r',
      AML_WORKSPACE_NAME: 'w',
      INPUT_SCHEMA: JSON.stringify({ columns: [{ name: 'x', type: 'integer', min: 0 }] }),
    });
    expect(s.aml.scoringUri).toBe('http://127.0.0.1:7072/jobs');
    expect(s.aml.auth).toEqual({ kind: 'emulator', token: 'local-dev-token' });
    expect(s.aml.workspace).toEqual({ subscriptionId: 's', resourceGroup: 'r', workspaceName: 'w' });
    expect(s.schema.columns).toEqual([{ name: 'x', type: 'integer', required: true, min: 0 }]);
  });

  test.each([
    ['http://127.0.0.1:51234/jobs', 'http://127.0.0.1:51234'],
    ['http://localhost:7072/jobs', 'http://localhost:7072'],
    ['http://[::1]:9000/jobs', 'http://[::1]:9000'],
    ['https://ep.westeurope.inference.ml.azure.com/jobs', 'https://management.azure.com'],
  ])('without AML_MANAGEMENT_URI, scoring URI %s cancels at %s', (scoring, management) => {
    expect(loadSettings({ ...minimal, AML_SCORING_URI: scoring }).aml.managementUri).toBe(management);
  });

  test('a set AML_MANAGEMENT_URI wins, also on loopback', () => {
    const s = loadSettings({
      ...minimal,
      AML_SCORING_URI: 'http://127.0.0.1:51234/jobs',
      AML_MANAGEMENT_URI: 'http://127.0.0.1:6000/',
    });
    expect(s.aml.managementUri).toBe('http://127.0.0.1:6000');
  });

  test('SETTING_NAMES: the required ones are exactly those without a default', () => {
    expect([...SETTING_NAMES.required].sort()).toEqual([
      'AML_SCORING_URI',
      'AmlDatastoreStorage',
      'DataStorage',
    ]);
    expect(SETTING_NAMES.optional).toContain('AML_MANAGEMENT_URI');
  });
});
