import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import {
  INFRA_DIR,
  REPO_ROOT,
  checkBalanced,
  entries,
  modules,
  outputs,
  params,
  property,
  readBicep,
  resources,
  targetScope,
  vars,
} from './bicep';
import { AZD_ENV, mainDeployment, readParametersFile } from './deployment';

/** The resources infra/ creates: security settings, Flex Consumption shape, wiring between the files. */

function filesUnder(dir: string): string[] {
  let out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) out = out.concat(filesUnder(p));
    else out.push(p);
  }
  return out;
}

const bicepPaths = filesUnder(INFRA_DIR).filter((p) => p.endsWith('.bicep'));
const bicep = bicepPaths.map(readBicep);
const main = mainDeployment();
const mainFile = readBicep(join(INFRA_DIR, 'main.bicep'));

describe('infra/ Bicep files', () => {
  test.each(bicepPaths.map((p) => relative(INFRA_DIR, p)))(
    '%s has balanced brackets and closed strings',
    (p) => {
      expect(() => checkBalanced(readBicep(join(INFRA_DIR, p)))).not.toThrow();
    },
  );

  test('main.bicep is an azd subscription-scope template that creates its resource group', () => {
    expect(targetScope(mainFile)).toBe('subscription');
    expect(vars(mainFile).get('resourceToken')?.expr).toBe(
      'toLower(uniqueString(subscription().id, environmentName, location))',
    );
    expect(vars(mainFile).get('abbrs')?.expr).toBe("loadJsonContent('abbreviations.json')");
    expect(main.eval('tags')).toEqual({ 'azd-env-name': AZD_ENV.AZURE_ENV_NAME });
    expect(main.resourcesOfType('Microsoft.Resources/resourceGroups')).toHaveLength(1);
    expect(main.output('RESOURCE_GROUP')).toBe('rg-dev');
    // Every module but the AML ones goes into the new resource group.
    for (const m of modules(mainFile)) {
      const scope = property(m.body, 'scope');
      if (m.symbol.startsWith('rbacAml')) expect(scope).toMatch(/^resourceGroup\(/);
      else expect([m.symbol, scope]).toEqual([m.symbol, 'rg']);
    }
  });

  test('every abbrs.<name> used exists in abbreviations.json', () => {
    const abbrs = JSON.parse(readFileSync(join(INFRA_DIR, 'abbreviations.json'), 'utf8')) as Record<
      string,
      string
    >;
    const used = [...mainFile.code.matchAll(/\babbrs\.(\w+)/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(5);
    expect(used.filter((u) => !(u in abbrs))).toEqual([]);
  });

  test('modules are given exactly the parameters they declare, and the outputs used exist', () => {
    for (const m of modules(mainFile)) {
      const file = readBicep(join(INFRA_DIR, m.path));
      const declared = params(file);
      const passed = main.moduleParams(m.symbol);
      expect([m.symbol, [...passed.keys()].filter((k) => !declared.has(k))]).toEqual([m.symbol, []]);
      const missing = [...declared.values()]
        .filter((p) => p.expr === undefined && !passed.has(p.name))
        .map((p) => p.name);
      expect([m.symbol, missing]).toEqual([m.symbol, []]);
    }
    for (const [, mod, out] of mainFile.code.matchAll(/\b(\w+)\.outputs\.(\w+)/g)) {
      const m = modules(mainFile).find((x) => x.symbol === mod);
      expect([mod, m !== undefined]).toEqual([mod, true]);
      expect([`${mod}.${out}`, outputs(readBicep(join(INFRA_DIR, m!.path))).has(out!)]).toEqual([
        `${mod}.${out}`,
        true,
      ]);
    }
  });

  test('every param and var of every file is used (Bicep would warn; here it usually means a wiring slip)', () => {
    for (const file of bicep) {
      for (const name of [...params(file).keys(), ...vars(file).keys()]) {
        const uses = [...file.code.matchAll(new RegExp(`\\b${name}\\b`, 'g'))].length;
        expect([relative(INFRA_DIR, file.path), name, uses > 1]).toEqual([
          relative(INFRA_DIR, file.path),
          name,
          true,
        ]);
      }
    }
  });

  test('main.parameters.json maps the azd environment onto the parameters', () => {
    const declared = params(mainFile);
    const raw = JSON.parse(readFileSync(join(INFRA_DIR, 'main.parameters.json'), 'utf8')) as {
      parameters: Record<string, { value: unknown }>;
    };
    const given = raw.parameters;
    expect(Object.keys(given).filter((k) => !declared.has(k))).toEqual([]);
    const required = [...declared.values()].filter((p) => p.expr === undefined).map((p) => p.name);
    expect(required.filter((r) => !(r in given))).toEqual([]);
    // Only string parameters come from the environment: azd substitutes text, an int would arrive as "30".
    for (const name of Object.keys(given)) expect([name, declared.get(name)!.type]).toEqual([name, 'string']);
    expect(given.environmentName!.value).toBe('${AZURE_ENV_NAME}');
    expect(given.location!.value).toBe('${AZURE_LOCATION}');
    expect(given.principalId!.value).toBe('${AZURE_PRINCIPAL_ID}');
    for (const [param, variable] of [
      ['amlWorkspaceName', 'AML_WORKSPACE_NAME'],
      ['amlResourceGroup', 'AML_RESOURCE_GROUP'],
      ['amlScoringUri', 'AML_SCORING_URI'],
      ['amlDeploymentName', 'AML_DEPLOYMENT_NAME='],
      ['amlDatastoreName', 'AML_DATASTORE_NAME=workspaceblobstore'],
      ['amlDatastoreAccount', 'AML_DATASTORE_ACCOUNT'],
      ['amlDatastoreContainer', 'AML_DATASTORE_CONTAINER'],
    ] as const) {
      expect([param, given[param]?.value]).toEqual([param, `\${${variable}}`]);
    }
    const values = readParametersFile();
    expect(values.amlDatastoreName).toBe('workspaceblobstore');
    expect(values.amlDeploymentName).toBe('');
  });

  test('resource names are valid for their resource types', () => {
    const names = {
      runtime: main.output('AZURE_RUNTIME_STORAGE_ACCOUNT_NAME') as string,
      data: main.output('AZURE_STORAGE_ACCOUNT_NAME') as string,
      app: main.output('AZURE_FUNCTION_APP_NAME') as string,
    };
    expect(names.runtime).toMatch(/^[a-z0-9]{3,24}$/);
    expect(names.data).toMatch(/^[a-z0-9]{3,24}$/);
    expect(names.runtime).not.toBe(names.data);
    expect(names.app).toMatch(/^[a-z0-9][a-z0-9-]{0,58}[a-z0-9]$/);
    for (const c of [
      ...(main.module('runtimeStorage').scope.identifier('containers') as string[]),
      ...(main.module('dataStorage').scope.identifier('containers') as string[]),
    ]) {
      expect(c).toMatch(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/);
    }
  });
});

describe('storage accounts', () => {
  const created = bicep.flatMap((file) =>
    resources(file)
      .filter((r) => r.type === 'Microsoft.Storage/storageAccounts' && !r.existing)
      .map((r) => ({ file: relative(INFRA_DIR, file.path), r })),
  );

  test('there is exactly one storage account definition (used for the runtime and data accounts)', () => {
    expect(created.map((c) => c.file)).toEqual(['app/storage.bicep']);
    expect(
      modules(mainFile)
        .filter((m) => m.path === 'app/storage.bicep')
        .map((m) => m.symbol),
    ).toEqual(['runtimeStorage', 'dataStorage']);
  });

  test.each([
    ['properties.allowSharedKeyAccess', 'false'],
    ['properties.allowBlobPublicAccess', 'false'],
    ['properties.minimumTlsVersion', "'TLS1_2'"],
    ['properties.supportsHttpsTrafficOnly', 'true'],
    ['properties.defaultToOAuthAuthentication', 'true'],
  ])('every storage account created sets %s: %s', (path, value) => {
    for (const { file, r } of created)
      expect([file, r.symbol, property(r.body, path)]).toEqual([file, r.symbol, value]);
  });

  test('containers are private', () => {
    const storage = readBicep(join(INFRA_DIR, 'app/storage.bicep'));
    const containers = resources(storage).filter(
      (r) => r.type === 'Microsoft.Storage/storageAccounts/blobServices/containers',
    );
    expect(containers).toHaveLength(1);
    expect(property(containers[0]!.body, 'properties.publicAccess')).toBe("'None'");
  });

  test('a lifecycle rule deletes inbox blobs after inboxRetentionDays, and only inbox blobs', () => {
    const data = main.module('dataStorage');
    expect(data.scope.identifier('expireBlobsPrefix')).toBe('inbox/');
    expect(data.scope.identifier('expireBlobsAfterDays')).toBe(main.eval('inboxRetentionDays'));
    expect(main.eval('inboxRetentionDays')).toBe(30);
    expect(main.module('runtimeStorage').scope.identifier('expireBlobsPrefix')).toBe('');

    const lifecycle = data.resourcesOfType('Microsoft.Storage/storageAccounts/managementPolicies');
    expect(lifecycle).toHaveLength(1);
    const body = lifecycle[0]!.body;
    expect(lifecycle[0]!.condition).toBe('!empty(expireBlobsPrefix)');
    const rules = property(body, 'properties.policy.rules')!;
    const rule = rules.slice(rules.indexOf('{') + 1, rules.lastIndexOf('}'));
    expect(data.eval(property(rule, 'definition.filters.prefixMatch')!)).toEqual(['inbox/']);
    expect(
      data.eval(property(rule, 'definition.actions.baseBlob.delete.daysAfterModificationGreaterThan')!),
    ).toBe(30);
    expect(property(rule, 'enabled')).toBe('true');
    expect(property(rule, 'name')).toMatch(/^'[A-Za-z0-9]+'$/); // lifecycle rule names: letters and digits
  });
});

describe('function app', () => {
  const fa = main.module('functionApp');

  test('runs on the Flex Consumption plan, Linux, Node 20', () => {
    expect(fa.resourceProperty('plan', 'sku.tier')).toBe('FlexConsumption');
    expect(fa.resourceProperty('plan', 'sku.name')).toBe('FC1');
    expect(fa.resourceProperty('plan', 'properties.reserved')).toBe(true);
    expect(fa.resourceProperty('site', 'kind')).toBe('functionapp,linux');
    expect(fa.resourceProperty('site', 'properties.functionAppConfig.runtime.name')).toBe('node');
    expect(fa.resourceProperty('site', 'properties.functionAppConfig.runtime.version')).toBe('20');
    expect(
      fa.resourceProperty('site', 'properties.functionAppConfig.scaleAndConcurrency.maximumInstanceCount'),
    ).toBe(100);
    expect(
      fa.resourceProperty('site', 'properties.functionAppConfig.scaleAndConcurrency.instanceMemoryMB'),
    ).toBe(2048);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    expect(pkg.engines.node).toBe('>=20');
  });

  test('HTTPS only, TLS 1.2', () => {
    expect(fa.resourceProperty('site', 'properties.httpsOnly')).toBe(true);
    expect(fa.resourceProperty('site', 'properties.siteConfig.minTlsVersion')).toBe('1.2');
  });

  test('runs as the user-assigned identity, which also pulls the deployment package', () => {
    const identityId = main.module('identity').output('id');
    expect(fa.resourceProperty('site', 'identity.type')).toBe('UserAssigned');
    const assigned = property(fa.resource('site').body, 'identity.userAssignedIdentities')!;
    expect(entries(assigned.slice(1, -1)).map(([k]) => k)).toEqual(['${identityId}']);
    expect(fa.scope.identifier('identityId')).toBe(identityId);
    const deployment = 'properties.functionAppConfig.deployment.storage';
    expect(fa.resourceProperty('site', `${deployment}.type`)).toBe('blobContainer');
    expect(fa.resourceProperty('site', `${deployment}.authentication.type`)).toBe('UserAssignedIdentity');
    expect(fa.resourceProperty('site', `${deployment}.authentication.userAssignedIdentityResourceId`)).toBe(
      identityId,
    );
    // The package container is in the runtime account, and that account creates it.
    expect(fa.resourceProperty('site', `${deployment}.value`)).toBe(
      `${main.module('runtimeStorage').output('blobEndpoint') as string}/app-package`,
    );
    expect(main.module('runtimeStorage').scope.identifier('containers')).toEqual(['app-package']);
  });

  test('is tagged with the azd service name from azure.yaml', () => {
    const tags = fa.scope.identifier('tags') as Record<string, string>;
    expect(tags['azd-service-name']).toBe('pipeline');
    expect(tags['azd-env-name']).toBe(AZD_ENV.AZURE_ENV_NAME);
    expect(readFileSync(join(REPO_ROOT, 'azure.yaml'), 'utf8')).toMatch(/^ {2}pipeline:$/m);
  });

  test('is created after the runtime storage roles (the host needs them at start)', () => {
    const fnModule = modules(mainFile).find((m) => m.symbol === 'functionApp')!;
    expect(property(fnModule.body, 'dependsOn')?.replace(/\s+/g, ' ')).toBe('[ rbacData ]');
  });
});

describe('monitoring', () => {
  test('Application Insights is workspace-based with local auth disabled', () => {
    const mon = main.module('monitoring');
    expect(mon.resourceProperty('applicationInsights', 'properties.DisableLocalAuth')).toBe(true);
    expect(property(mon.resource('applicationInsights').body, 'properties.WorkspaceResourceId')).toBe(
      'logAnalytics.id',
    );
    expect(mon.resource('logAnalytics').type).toBe('Microsoft.OperationalInsights/workspaces');
  });
});

describe('event grid', () => {
  test('a system topic on the data storage account (the subscription is made by the postdeploy hook)', () => {
    const eg = main.module('eventGrid');
    const topics = eg.resourcesOfType('Microsoft.EventGrid/systemTopics');
    expect(topics).toHaveLength(1);
    expect(eg.resourceProperty('systemTopic', 'properties.topicType')).toBe(
      'Microsoft.Storage.StorageAccounts',
    );
    expect(property(eg.resource('systemTopic').body, 'properties.source')).toBe('storage.id');
    expect(eg.resource('storage').existing).toBe(true);
    expect(eg.resourceProperty('storage', 'name')).toBe(main.output('AZURE_STORAGE_ACCOUNT_NAME'));
    expect(eg.resourceProperty('systemTopic', 'location')).toBe(AZD_ENV.AZURE_LOCATION);
    expect(main.output('EVENT_GRID_SYSTEM_TOPIC_NAME')).toBe(eg.output('name'));
    // Event subscriptions need the deployed app's key: none in Bicep.
    for (const file of bicep) {
      expect(resources(file).filter((r) => r.type.includes('eventSubscriptions'))).toEqual([]);
    }
  });
});

describe('no secrets in infra/', () => {
  const scanned = [
    ...filesUnder(INFRA_DIR),
    join(REPO_ROOT, 'azure.yaml'),
    ...(existsSync(join(REPO_ROOT, '.github/workflows'))
      ? filesUnder(join(REPO_ROOT, '.github/workflows'))
      : []),
  ];
  const patterns: Array<[string, RegExp]> = [
    ['storage account key in a connection string', /AccountKey\s*=/i],
    ['connection string', /DefaultEndpointsProtocol/i],
    ['key listing in Bicep', /\blist(Keys|AccountSas|ServiceSas)\s*\(/i],
    ['SAS token', /SharedAccessSignature|[?&]sig=/i],
    ['storage key via the CLI', /storage account keys|--account-key|show-connection-string/i],
    ['@secure parameter or secret output', /@secure\(\)/],
    ['development storage', /UseDevelopmentStorage/i],
  ];

  test.each(patterns)('no %s', (_, pattern) => {
    const hits = scanned
      .filter((f) => pattern.test(readFileSync(f, 'utf8')))
      .map((f) => relative(REPO_ROOT, f));
    expect(hits).toEqual([]);
  });

  test('outputs hold names and endpoints only', () => {
    const names = [...outputs(mainFile).keys()];
    expect(names.filter((n) => /KEY|SECRET|PASSWORD|CONNECTION_STRING/i.test(n))).toEqual([]);
  });

  test('scanned the files this suite is about', () => {
    expect(scanned.map((f) => relative(REPO_ROOT, f))).toEqual(
      expect.arrayContaining([
        'infra/main.bicep',
        'infra/hooks/postdeploy.sh',
        'infra/hooks/postdeploy.ps1',
        'azure.yaml',
      ]),
    );
    expect(dirname(scanned[0]!)).toContain('infra');
  });
});
