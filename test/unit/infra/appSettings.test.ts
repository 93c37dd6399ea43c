import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadSettings, SETTING_NAMES } from '../../../src/config/settings';
import { REPO_ROOT } from './bicep';
import { AZD_ENV, appSettings, mainDeployment } from './deployment';

/**
 * The function app's settings, as infra/main.bicep would set them for a plausible azd environment, against
 * what the app (src/config/settings.ts) and the Functions host (host.json, binding expressions) read.
 */

const main = mainDeployment();
const settings = appSettings(main);
const env = settings as Record<string, string>;

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
const isIdentityConnection = (name: string) => Object.keys(env).some((k) => k.startsWith(`${name}__`));

function filesUnder(dir: string, ext: string): string[] {
  let out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) out = out.concat(filesUnder(p, ext));
    else if (p.endsWith(ext)) out.push(p);
  }
  return out;
}

describe('function app settings in infra/', () => {
  test('every value is a string (Bicep app settings must be; ints need string())', () => {
    for (const [name, value] of Object.entries(settings)) {
      expect([name, typeof value]).toEqual([name, 'string']);
    }
  });

  test.each([...SETTING_NAMES.required])(
    'required setting %s is set (connections identity-based)',
    (name) => {
      if (isIdentityConnection(name)) {
        // A connection string would carry an account key; the identity form needs a service URI.
        expect(env[name]).toBeUndefined();
        expect(env[`${name}__blobServiceUri`] ?? env[`${name}__accountName`]).toBeTruthy();
        expect(env[`${name}__credential`]).toBe('managedidentity');
        expect(env[`${name}__clientId`]).toBe(env.AzureWebJobsStorage__clientId);
      } else {
        expect(env[name]).toBeTruthy();
      }
    },
  );

  test('no setting is set that neither the app nor the host reads', () => {
    const allowed = new Set<string>([...allNames, ...HOST_SETTINGS]);
    for (const name of allNames) for (const s of CONNECTION_SUFFIXES) allowed.add(`${name}__${s}`);
    const unknown = Object.keys(env).filter((k) => !allowed.has(k));
    expect(unknown).toEqual([]);
  });

  test('nothing Flex Consumption rejects, and no key-based storage connection', () => {
    expect(Object.keys(env).filter((k) => FLEX_FORBIDDEN.includes(k))).toEqual([]);
    expect(env.AzureWebJobsStorage).toBeUndefined();
    for (const [name, value] of Object.entries(env)) {
      expect([name, /AccountKey|SharedAccessSignature|UseDevelopmentStorage/i.test(value)]).toEqual([
        name,
        false,
      ]);
    }
  });

  test("host storage is identity-based with the app's user-assigned identity", () => {
    expect(env.AzureWebJobsStorage__credential).toBe('managedidentity');
    expect(env.AzureWebJobsStorage__clientId).toBe(main.module('identity').output('clientId'));
    for (const s of ['blob', 'queue', 'table']) {
      expect(env[`AzureWebJobsStorage__${s}ServiceUri`]).toBe(
        main.module('runtimeStorage').output(`${s}Endpoint`),
      );
      expect(env[`DataStorage__${s}ServiceUri`]).toBe(main.module('dataStorage').output(`${s}Endpoint`));
    }
    // Runtime state and pipeline data are different accounts (see the comment at the top of main.bicep).
    expect(env.AzureWebJobsStorage__blobServiceUri).not.toBe(env.DataStorage__blobServiceUri);
  });

  test('Application Insights authenticates with the identity (Entra ID, not the instrumentation key)', () => {
    expect(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toBe(
      `ClientId=${env.AML_CLIENT_ID};Authorization=AAD`,
    );
    expect(env.APPLICATIONINSIGHTS_CONNECTION_STRING).toMatch(/^InstrumentationKey=/);
  });

  test('the blob trigger source is EventGrid (the only one Flex Consumption supports)', () => {
    expect(env.INBOX_TRIGGER_SOURCE).toBe('EventGrid');
  });

  test('loadSettings() accepts what the Bicep provides, with the Azure values', () => {
    const s = loadSettings(env);
    expect(s.inboxTriggerSource).toBe('EventGrid');
    expect(s.dataStorage).toEqual({
      kind: 'identity',
      blobServiceUri: env.DataStorage__blobServiceUri,
      queueServiceUri: env.DataStorage__queueServiceUri,
      tableServiceUri: env.DataStorage__tableServiceUri,
      clientId: env.AzureWebJobsStorage__clientId,
    });
    expect(s.aml.datastoreStorage).toEqual({
      kind: 'identity',
      blobServiceUri: `https://${AZD_ENV.AML_DATASTORE_ACCOUNT}.blob.core.windows.net`,
      clientId: env.AzureWebJobsStorage__clientId,
    });
    expect(s.aml.auth).toEqual({ kind: 'azure', clientId: env.AzureWebJobsStorage__clientId });
    expect(s.aml.scoringUri).toBe(AZD_ENV.AML_SCORING_URI);
    expect(s.aml.deploymentName).toBeUndefined(); // AML_DEPLOYMENT_NAME left empty: the endpoint's default
    expect(s.aml.workspace).toEqual({
      subscriptionId: AZD_ENV.AZURE_SUBSCRIPTION_ID,
      resourceGroup: AZD_ENV.AML_RESOURCE_GROUP,
      workspaceName: AZD_ENV.AML_WORKSPACE_NAME,
    });
    expect(s.aml.managementUri).toBe('https://management.azure.com');
    expect(s.aml.datastoreName).toBe('workspaceblobstore');
    expect(s.aml.datastoreContainer).toBe(AZD_ENV.AML_DATASTORE_CONTAINER);
    expect(s.poll).toEqual({ firstDelaySeconds: 30, factor: 1.5, maxDelaySeconds: 300 });
    expect(s.jobDeadlineSeconds).toBe(86400);
    expect(s.publishMode).toBe('join');
  });

  test('a deployment name and another AML subscription flow through to the app', () => {
    const other = mainDeployment({
      ...AZD_ENV,
      AML_DEPLOYMENT_NAME: 'diamonds-mlflow',
      AML_SUBSCRIPTION_ID: '99999999-8888-7777-6666-555555555555',
    });
    const s = loadSettings(appSettings(other) as Record<string, string>);
    expect(s.aml.deploymentName).toBe('diamonds-mlflow');
    expect(s.aml.workspace?.subscriptionId).toBe('99999999-8888-7777-6666-555555555555');
  });

  test('container and table names are the config defaults', () => {
    const defaults = loadSettings({
      AML_SCORING_URI: 'https://example.invalid/jobs',
      DataStorage: 'UseDevelopmentStorage=true',
      AmlDatastoreStorage: 'UseDevelopmentStorage=true',
    });
    const expected = {
      inbox: defaults.inboxContainer,
      outbox: defaults.outboxContainer,
      quarantine: defaults.quarantineContainer,
      jobs: defaults.jobsTable,
    };
    expect(expected).toEqual({ inbox: 'inbox', outbox: 'outbox', quarantine: 'quarantine', jobs: 'jobs' });
    expect({
      inbox: env.INBOX_CONTAINER,
      outbox: env.OUTBOX_CONTAINER,
      quarantine: env.QUARANTINE_CONTAINER,
      jobs: env.JOBS_TABLE,
    }).toEqual(expected);
    // ...and those are the containers and table the data account is created with.
    const data = main.module('dataStorage');
    expect(data.scope.identifier('containers')).toEqual([
      expected.inbox,
      expected.outbox,
      expected.quarantine,
    ]);
    expect(data.scope.identifier('tables')).toEqual([expected.jobs]);
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
  });

  test('every binding connection under src/ is an identity-based connection the Bicep sets', () => {
    const connections = new Set<string>();
    for (const file of filesUnder(join(REPO_ROOT, 'src'), '.ts')) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\bconnection:\s*'(\w+)'/g)) connections.add(m[1]!);
    }
    for (const name of connections) {
      expect([name, env[`${name}__blobServiceUri`] !== undefined]).toEqual([name, true]);
    }
  });
});
