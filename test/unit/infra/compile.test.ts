import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AZD_ENV,
  bicep,
  build,
  deploy,
  lint,
  readParametersFile,
  type ArmResource,
  type Deployment,
} from './deployment';
import { REPO_ROOT } from './tools';

/**
 * infra/ compiled and linted by the real Bicep CLI, and the resources of the compiler's dry run of the
 * deployment (both Durable backends) checked where a wrong value would only show in Azure.
 */

(bicep ? describe : describe.skip)('infra/main.bicep with the Bicep CLI', () => {
  test('builds with no error and no warning (every type and API version known to the compiler)', () => {
    const r = build();
    expect(r.stderr.trim()).toBe('');
    expect(r.status).toBe(0);
    const arm = JSON.parse(r.stdout) as { $schema: string; resources: Record<string, unknown> | unknown[] };
    expect(arm.$schema).toContain('subscriptionDeploymentTemplate');
  });

  test('lints clean with the committed bicepconfig.json (security rules are errors)', () => {
    const r = lint();
    expect(r.stdout.trim() + r.stderr.trim()).toBe('');
    expect(r.status).toBe(0);
    const config = JSON.parse(readFileSync(join(REPO_ROOT, 'bicepconfig.json'), 'utf8')) as {
      analyzers: { core: { rules: Record<string, { level: string }> } };
    };
    const rules = config.analyzers.core.rules;
    for (const rule of [
      'secure-parameter-default',
      'outputs-should-not-contain-secrets',
      'use-resource-id-functions',
      'no-unused-params',
      'no-unused-vars',
      'no-hardcoded-env-urls',
    ]) {
      expect([rule, rules[rule]?.level]).toEqual([rule, 'error']);
    }
  });

  test('the location allows only Flex Consumption regions, and azd asks for it', () => {
    const arm = JSON.parse(build().stdout) as {
      parameters: Record<string, { allowedValues?: string[]; metadata?: { azd?: { type: string } } }>;
    };
    const allowed = arm.parameters.location!.allowedValues!;
    expect(allowed).toEqual(
      expect.arrayContaining(['westeurope', 'eastus', 'swedencentral', 'australiaeast']),
    );
    // Regions without Flex Consumption (or restricted ones) are refused before anything is created.
    for (const r of ['westindia', 'chinaeast2', 'usgovvirginia', 'eastus2euap'])
      expect(allowed).not.toContain(r);
    expect(arm.parameters.location!.metadata?.azd?.type).toBe('location');
  });

  test('main.parameters.json gives every required parameter and only declared ones', () => {
    const arm = JSON.parse(build().stdout) as { parameters: Record<string, { defaultValue?: unknown }> };
    const given = readParametersFile();
    expect(Object.keys(given).filter((k) => !(k in arm.parameters))).toEqual([]);
    const required = Object.entries(arm.parameters)
      .filter(([, p]) => !('defaultValue' in p))
      .map(([k]) => k);
    expect(required.filter((k) => !(k in given))).toEqual([]);
  });
});

(bicep ? describe : describe.skip)('the deployment azd would run', () => {
  let storage: Deployment;
  let dts: Deployment;
  beforeAll(() => {
    storage = deploy();
    dts = deploy(AZD_ENV, { durableBackend: 'DurableTaskScheduler' });
  }, 300_000);

  test('no preview API versions', () => {
    for (const r of [...storage.resources, ...dts.resources]) {
      expect([r.type, /preview/.test(r.apiVersion)]).toEqual([r.type, false]);
    }
  });

  test('storage accounts: Entra only, HTTPS, TLS 1.2, no public blobs; containers private', () => {
    const accounts = storage.ofType('Microsoft.Storage/storageAccounts');
    expect(accounts.map((a) => a.name).sort()).toEqual(
      [storage.outputs.AZURE_RUNTIME_STORAGE_ACCOUNT_NAME, storage.outputs.AZURE_STORAGE_ACCOUNT_NAME].sort(),
    );
    for (const a of accounts) {
      expect(a.properties).toMatchObject({
        allowSharedKeyAccess: false,
        allowBlobPublicAccess: false,
        supportsHttpsTrafficOnly: true,
        minimumTlsVersion: 'TLS1_2',
        defaultToOAuthAuthentication: true,
      });
      expect(a.name).toMatch(/^[a-z0-9]{3,24}$/);
    }
    const containers = storage.ofType('Microsoft.Storage/storageAccounts/blobServices/containers');
    expect(containers.map((c) => c.name.split('/').pop()).sort()).toEqual(
      ['app-package', 'deadletter', 'inbox', 'outbox', 'quarantine'].sort(),
    );
    for (const c of containers) expect(c.properties).toEqual({ publicAccess: 'None' });
  });

  test('a lifecycle rule deletes inbox blobs after 30 days, and only inbox blobs', () => {
    const [policy] = storage.ofType('Microsoft.Storage/storageAccounts/managementPolicies');
    expect(policy!.name.startsWith(String(storage.outputs.AZURE_STORAGE_ACCOUNT_NAME))).toBe(true);
    const rules = (policy!.properties as { policy: { rules: Array<{ definition: unknown }> } }).policy.rules;
    expect(rules).toHaveLength(1);
    expect(rules[0]!.definition).toEqual({
      filters: { blobTypes: ['blockBlob'], prefixMatch: ['inbox/'] },
      actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: 30 } } },
    });
  });

  test('function app: Flex Consumption, Linux, Node 22, HTTPS, the identity pulls the package', () => {
    const plan = storage.one('Microsoft.Web/serverfarms');
    const site = storage.one('Microsoft.Web/sites');
    const identity = storage.one('Microsoft.ManagedIdentity/userAssignedIdentities');
    expect(plan.sku).toEqual({ tier: 'FlexConsumption', name: 'FC1' });
    expect(plan.properties).toEqual({ reserved: true });
    expect(site.kind).toBe('functionapp,linux');
    const p = site.properties as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(p.httpsOnly).toBe(true);
    expect(p.siteConfig.minTlsVersion).toBe('1.2');
    expect(p.functionAppConfig.runtime).toEqual({ name: 'node', version: '22' });
    expect(site.identity).toEqual({ type: 'UserAssigned', userAssignedIdentities: { [identity.id]: {} } });
    expect(p.functionAppConfig.deployment.storage).toEqual({
      type: 'blobContainer',
      value: `https://${storage.outputs.AZURE_RUNTIME_STORAGE_ACCOUNT_NAME}.blob.core.windows.net/app-package`,
      authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id },
    });
    // engines stays >=20: our machines run Node 20, the app runs on 22; CI tests both.
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    expect(pkg.engines.node).toBe('>=20');
  });

  test('azd-service-name is on the function app only', () => {
    const tagged = storage.resources.filter((r) => r.tags?.['azd-service-name'] !== undefined);
    expect(tagged.map((r) => [r.type, r.tags!['azd-service-name']])).toEqual([
      ['Microsoft.Web/sites', 'pipeline'],
    ]);
    for (const r of storage.resources.filter((x) => x.tags)) expect(r.tags!['azd-env-name']).toBe('dev');
  });

  test('the Event Grid system topic has its own identity, for dead-lettering', () => {
    const topic = storage.one('Microsoft.EventGrid/systemTopics');
    expect(topic.identity).toEqual({ type: 'SystemAssigned' });
    expect(topic.properties).toEqual({
      source: storage.outputs.AZURE_STORAGE_ACCOUNT_ID,
      topicType: 'Microsoft.Storage.StorageAccounts',
    });
    expect(storage.outputs.DEADLETTER_CONTAINER).toBe('deadletter');
  });

  test('the data account lets only the app origin PUT blobs from a browser (SAS uploads)', () => {
    const services = storage.ofType('Microsoft.Storage/storageAccounts/blobServices');
    expect(services.map((s) => s.name)).toEqual([`${storage.outputs.AZURE_STORAGE_ACCOUNT_NAME}/default`]);
    const rules = (services[0]!.properties as { cors: { corsRules: Array<Record<string, string[]>> } }).cors
      .corsRules;
    expect(rules).toHaveLength(1);
    expect(rules[0]!.allowedOrigins).toEqual([`https://${storage.outputs.AZURE_FUNCTION_APP_HOSTNAME}`]);
    expect(rules[0]!.allowedMethods).toEqual(['PUT', 'OPTIONS']);
  });

  test('durableBackend=AzureStorage deploys no scheduler; DurableTaskScheduler deploys one with its task hub', () => {
    expect(storage.ofType('Microsoft.DurableTask/schedulers')).toEqual([]);
    const scheduler: ArmResource = dts.one('Microsoft.DurableTask/schedulers');
    expect(scheduler.properties).toEqual({ sku: { name: 'Consumption' }, ipAllowlist: ['0.0.0.0/0'] });
    expect(dts.one('Microsoft.DurableTask/schedulers/taskHubs').name).toBe(`${scheduler.name}/amlbatch`);
    expect(storage.outputs.DURABLE_TASK_SCHEDULER_DASHBOARD).toBe('');
    expect(dts.outputs.DURABLE_TASK_SCHEDULER_DASHBOARD).toMatch(/^https:\/\//);
  });

  test('outputs hold no secret (no keys, no connection strings with keys)', () => {
    for (const d of [storage, dts]) {
      for (const [name, value] of Object.entries(d.outputs)) {
        expect([name, /AccountKey|SharedAccessSignature|sig=|password|secret/i.test(String(value))]).toEqual([
          name,
          false,
        ]);
      }
    }
  });
});
