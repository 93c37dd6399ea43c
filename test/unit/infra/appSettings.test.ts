import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadSettings, SETTING_NAMES } from '../../../src/config/settings';
import { AZD_ENV, OTHER_AML_ENV, bicep, deploy, runtimeValue, type Deployment } from './deployment';
import { REPO_ROOT } from './tools';

/**
 * The function app's settings, from the compiler's dry run of infra/main.bicep for a plausible azd environment,
 * against what the app (src/config/settings.ts) and the Functions host (host.json, binding expressions) read.
 */

/** Suffixes of an identity-based connection the Functions host and readStorageConnection understand. */
const CONNECTION_SUFFIXES = [
  'blobServiceUri',
  'queueServiceUri',
  'tableServiceUri',
  'accountName',
  'clientId',
  'credential',
];

/** Host settings the app does not read but the platform needs. */
const HOST_SETTINGS = [
  'AzureWebJobsStorage__blobServiceUri',
  'AzureWebJobsStorage__queueServiceUri',
  'AzureWebJobsStorage__tableServiceUri',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
];

/** Only with durableBackend=DurableTaskScheduler: host.json overrides and the connection they name. */
const DTS_SETTINGS = [
  'AzureFunctionsJobHost__extensions__durableTask__storageProvider__type',
  'AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName',
  'DURABLE_TASK_SCHEDULER_CONNECTION_STRING',
];

/** Flex Consumption rejects these (runtime and package come from functionAppConfig). */
const FLEX_FORBIDDEN = [
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_CONTENTSHARE',
  'WEBSITE_NODE_DEFAULT_VERSION',
];

const allNames: string[] = [...SETTING_NAMES.required, ...SETTING_NAMES.optional];

function appSettings(d: Deployment): Record<string, string> {
  return d.one('Microsoft.Web/sites/config', '/appsettings').properties as Record<string, string>;
}

function filesUnder(dir: string, ext: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? filesUnder(p, ext) : p.endsWith(ext) ? [p] : [];
  });
}

(bicep ? describe : describe.skip)('function app settings in infra/', () => {
  let main: Deployment;
  let env: Record<string, string>;
  let clientId: string;
  beforeAll(() => {
    main = deploy();
    env = appSettings(main);
    clientId = runtimeValue(main.one('Microsoft.ManagedIdentity/userAssignedIdentities').id)
      .clientId as string;
  }, 300_000);
  const isIdentityConnection = (name: string) => Object.keys(env).some((k) => k.startsWith(`${name}__`));

  test('every value is a string', () => {
    for (const [name, value] of Object.entries(env)) expect([name, typeof value]).toEqual([name, 'string']);
  });

  test.each([...SETTING_NAMES.required])(
    'required setting %s is set (connections identity-based)',
    (name) => {
      if (isIdentityConnection(name)) {
        expect(env[name]).toBeUndefined(); // a connection string would carry an account key
        expect(env[`${name}__blobServiceUri`] ?? env[`${name}__accountName`]).toBeTruthy();
        expect(env[`${name}__credential`]).toBe('managedidentity');
        expect(env[`${name}__clientId`]).toBe(clientId);
      } else {
        expect(env[name]).toBeTruthy();
      }
    },
  );

  test('no setting is set that neither the app nor the host reads', () => {
    const allowed = new Set<string>([...allNames, ...HOST_SETTINGS]);
    for (const name of allNames) for (const s of CONNECTION_SUFFIXES) allowed.add(`${name}__${s}`);
    expect(Object.keys(env).filter((k) => !allowed.has(k))).toEqual([]);
  });

  test('nothing Flex Consumption rejects, and no key-based storage connection or other secret', () => {
    expect(Object.keys(env).filter((k) => FLEX_FORBIDDEN.includes(k))).toEqual([]);
    expect(env.AzureWebJobsStorage).toBeUndefined();
    for (const [name, value] of Object.entries(env)) {
      expect([name, /AccountKey|SharedAccessSignature|UseDevelopmentStorage|sig=/i.test(value)]).toEqual([
        name,
        false,
      ]);
    }
  });

  test("host storage is identity-based with the app's user-assigned identity, on its own account", () => {
    expect(env.AzureWebJobsStorage__credential).toBe('managedidentity');
    expect(env.AzureWebJobsStorage__clientId).toBe(main.outputs.AZURE_MANAGED_IDENTITY_CLIENT_ID);
    for (const s of ['blob', 'queue', 'table']) {
      expect(env[`AzureWebJobsStorage__${s}ServiceUri`]).toBe(
        `https://${main.outputs.AZURE_RUNTIME_STORAGE_ACCOUNT_NAME}.${s}.core.windows.net`,
      );
      expect(env[`DataStorage__${s}ServiceUri`]).toBe(
        `https://${main.outputs.AZURE_STORAGE_ACCOUNT_NAME}.${s}.core.windows.net`,
      );
    }
  });

  test('Application Insights authenticates with the identity (Entra ID, not the instrumentation key)', () => {
    expect(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toBe(`ClientId=${clientId};Authorization=AAD`);
    expect(env.APPLICATIONINSIGHTS_CONNECTION_STRING).toMatch(/^InstrumentationKey=/);
  });

  test('loadSettings() accepts what the Bicep provides, with the Azure values', () => {
    const s = loadSettings(env);
    expect(s.inboxTriggerSource).toBe('EventGrid'); // the only source Flex Consumption supports
    expect(s.dataStorage).toEqual({
      kind: 'identity',
      blobServiceUri: env.DataStorage__blobServiceUri,
      queueServiceUri: env.DataStorage__queueServiceUri,
      tableServiceUri: env.DataStorage__tableServiceUri,
      clientId,
    });
    expect(s.aml.datastoreStorage).toEqual({
      kind: 'identity',
      blobServiceUri: `https://${AZD_ENV.AML_DATASTORE_ACCOUNT}.blob.core.windows.net`,
      clientId,
    });
    expect(s.aml.auth).toEqual({ kind: 'azure', clientId });
    expect(s.aml.scoringUri).toBe(AZD_ENV.AML_SCORING_URI);
    expect(s.aml.deploymentName).toBeUndefined(); // AML_DEPLOYMENT_NAME left empty: the endpoint's default
    expect(s.aml.workspace).toEqual({
      subscriptionId: AZD_ENV.AZURE_SUBSCRIPTION_ID,
      resourceGroup: AZD_ENV.AML_RESOURCE_GROUP,
      workspaceName: AZD_ENV.AML_WORKSPACE_NAME,
    });
    // From environment().resourceManager, so a sovereign cloud gets its own management plane.
    expect(env.AML_MANAGEMENT_URI).toBe('https://management.azure.com/');
    expect(s.aml.managementUri).toBe('https://management.azure.com');
    expect(s.aml.datastoreName).toBe('workspaceblobstore');
    expect(s.aml.datastoreContainer).toBe(AZD_ENV.AML_DATASTORE_CONTAINER);
    expect(s.poll).toEqual({
      firstDelaySeconds: 30,
      factor: 1.5,
      maxDelaySeconds: 300,
      learned: true,
      events: false,
    });
    expect(s.jobDeadlineSeconds).toBe(86400);
    expect(s.publishMode).toBe('join');
  });

  test('a deployment name and another AML subscription flow through to the app', () => {
    const other = appSettings(deploy(OTHER_AML_ENV));
    const s = loadSettings(other);
    expect(s.aml.deploymentName).toBe('diamonds-mlflow');
    expect(s.aml.workspace?.subscriptionId).toBe('99999999-8888-7777-6666-555555555555');
  });

  test('container and table names are the config defaults, and the data account has them', () => {
    const defaults = loadSettings({
      AML_SCORING_URI: 'https://example.invalid/jobs',
      DataStorage: 'UseDevelopmentStorage=true',
      AmlDatastoreStorage: 'UseDevelopmentStorage=true',
    });
    const data = String(main.outputs.AZURE_STORAGE_ACCOUNT_NAME);
    for (const [setting, value] of [
      ['INBOX_CONTAINER', defaults.inboxContainer],
      ['OUTBOX_CONTAINER', defaults.outboxContainer],
      ['QUARANTINE_CONTAINER', defaults.quarantineContainer],
    ] as const) {
      expect([setting, env[setting]]).toEqual([setting, value]);
      main.one('Microsoft.Storage/storageAccounts/blobServices/containers', `${data}/default/${value}`);
    }
    expect(env.JOBS_TABLE).toBe(defaults.jobsTable);
    main.one(
      'Microsoft.Storage/storageAccounts/tableServices/tables',
      `${data}/default/${defaults.jobsTable}`,
    );
  });

  test('every %SETTING% in host.json and in function registrations under src/ is set', () => {
    const sources = [join(REPO_ROOT, 'host.json'), ...filesUnder(join(REPO_ROOT, 'src'), '.ts')];
    const referenced = new Set<string>();
    for (const file of sources) {
      for (const m of readFileSync(file, 'utf8').matchAll(/'%(\w+)%|"%(\w+)%/g))
        referenced.add((m[1] ?? m[2])!);
    }
    expect(referenced.has('DURABLE_TASK_HUB')).toBe(true); // host.json's hubName
    expect([...referenced].filter((name) => !env[name])).toEqual([]);
    expect(env.DURABLE_TASK_HUB).toMatch(/^[A-Za-z][A-Za-z0-9]{2,44}$/); // Durable task hub name rules
    expect(env.RECONCILE_SCHEDULE).toBe('0 */5 * * * *'); // NCRONTAB with seconds, the contract's default
  });

  test('every binding connection under src/ is an identity-based connection the Bicep sets', () => {
    const connections = new Set<string>();
    for (const file of filesUnder(join(REPO_ROOT, 'src'), '.ts')) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\bconnection:\s*'(\w+)'/g)) connections.add(m[1]!);
    }
    for (const name of connections)
      expect([name, env[`${name}__blobServiceUri`] !== undefined]).toEqual([name, true]);
  });

  test('the Azure Storage backend leaves host.json as it is: no provider override', () => {
    expect(
      Object.keys(env).filter(
        (k) => k.startsWith('AzureFunctionsJobHost__') || k.startsWith('DURABLE_TASK_SCHEDULER'),
      ),
    ).toEqual([]);
    // ...and host.json polls the Durable queues at least every 10 s, as the Flex Consumption guidance asks.
    const host = JSON.parse(readFileSync(join(REPO_ROOT, 'host.json'), 'utf8')) as {
      extensions: { durableTask: { hubName: string; storageProvider: { maxQueuePollingInterval: string } } };
    };
    const [h, m, s] = host.extensions.durableTask.storageProvider.maxQueuePollingInterval
      .split(':')
      .map(Number);
    expect(h! * 3600 + m! * 60 + s!).toBeLessThanOrEqual(10);
    expect(host.extensions.durableTask.hubName).toBe('%DURABLE_TASK_HUB%');
  });

  test('the Durable Task Scheduler backend is switched on through host.json overrides in app settings', () => {
    const dts = deploy(AZD_ENV, { durableBackend: 'DurableTaskScheduler' });
    const dtsEnv = appSettings(dts);
    const scheduler = dts.one('Microsoft.DurableTask/schedulers');
    expect(Object.fromEntries(DTS_SETTINGS.map((k) => [k, dtsEnv[k]]))).toEqual({
      AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged',
      AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName:
        'DURABLE_TASK_SCHEDULER_CONNECTION_STRING',
      DURABLE_TASK_SCHEDULER_CONNECTION_STRING: `Endpoint=https://${scheduler.name}.westeurope.durabletask.io;Authentication=ManagedIdentity;ClientID=${clientId}`,
    });
    // The task hub the scheduler hosts is the one host.json names through DURABLE_TASK_HUB.
    expect(dts.one('Microsoft.DurableTask/schedulers/taskHubs').name).toBe(
      `${scheduler.name}/${dtsEnv.DURABLE_TASK_HUB}`,
    );
    // Everything else is the same as with the Azure Storage backend.
    const rest = Object.fromEntries(Object.entries(dtsEnv).filter(([k]) => !DTS_SETTINGS.includes(k)));
    expect(rest).toEqual(env);
  });
});
