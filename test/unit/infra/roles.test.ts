import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { AZD_ENV, OTHER_AML_ENV, bicep, deploy, runtimeValue, type Deployment } from './deployment';
import { INFRA_DIR } from './tools';

/**
 * Role assignments, from the compiler's dry run: every role is a known built-in role named next to its GUID in
 * the Bicep, and the set of grants is exactly the one docs/deploy.md argues for (an extra grant fails too).
 */

/**
 * Built-in role ids, checked against Microsoft's built-in roles list
 * (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles). infra/roles.json must agree.
 */
const KNOWN_BUILT_IN_ROLES: Record<string, string> = {
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe': 'Storage Blob Data Contributor',
  '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1': 'Storage Blob Data Reader',
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
  '76199698-9eea-4c19-bc75-cec21354c6b6': 'Storage Table Data Reader',
  '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
  'f6c7c914-8db3-469d-8ca1-694a8f32e121': 'AzureML Data Scientist',
  '0ad04412-c4d5-4796-b79c-f76d14c8d402': 'Durable Task Data Contributor',
  'b24988ac-6180-42a0-ab88-20f7382dd24c': 'Contributor',
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635': 'Owner',
};

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

function bicepFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? bicepFiles(p) : p.endsWith('.bicep') ? [p] : [];
  });
}

const rolesJson = JSON.parse(readFileSync(join(INFRA_DIR, 'roles.json'), 'utf8')) as {
  roles: Record<string, string>;
};

/** "<who> | <scope type> <scope name> | <role> | <principalType>" for every role assignment. */
function grants(d: Deployment): string[] {
  const identity = d.one('Microsoft.ManagedIdentity/userAssignedIdentities');
  const topic = d.one('Microsoft.EventGrid/systemTopics');
  const who: Record<string, string> = {
    [runtimeValue(identity.id).principalId as string]: 'app',
    [(runtimeValue(topic.id, true).identity as { principalId: string }).principalId]: 'event grid topic',
    [AZD_ENV.AZURE_PRINCIPAL_ID!]: 'deploying user',
  };
  return d.ofType('Microsoft.Authorization/roleAssignments').map((r) => {
    const p = r.properties as { roleDefinitionId: string; principalId: string; principalType: string };
    const scope = r.id.slice(0, r.id.indexOf('/providers/Microsoft.Authorization/roleAssignments/'));
    const [, type, name] = splitScope(scope);
    const role =
      KNOWN_BUILT_IN_ROLES[p.roleDefinitionId.split('/').pop()!] ?? `unknown ${p.roleDefinitionId}`;
    expect(p.roleDefinitionId).toMatch(
      new RegExp(
        `^/subscriptions/${AZD_ENV.AZURE_SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/`,
      ),
    );
    return `${who[p.principalId] ?? p.principalId} | ${type} ${name} | ${role} | ${p.principalType}`;
  });
}

/** "/subscriptions/s/resourceGroups/rg/providers/A.B/c/n1/d/n2" -> [rg, "A.B/c/d", "n2"]. */
function splitScope(scope: string): [string, string, string] {
  const rg = /\/resourceGroups\/([^/]+)/.exec(scope)![1]!;
  const parts = scope.slice(scope.indexOf('/providers/') + '/providers/'.length).split('/');
  const type = [`${parts[0]}/${parts[1]}`, ...parts.slice(3).filter((_, i) => i % 2 === 0)].join('/');
  return [rg, type, `${rg}/${parts[parts.length - 1]}`];
}

describe('role GUIDs in infra/', () => {
  test('infra/roles.json agrees with the known built-in role table', () => {
    for (const [guid, name] of Object.entries(rolesJson.roles)) {
      expect([guid, name]).toEqual([guid, KNOWN_BUILT_IN_ROLES[guid]]);
    }
  });

  test('every GUID in the Bicep is a known built-in role, named in a comment on its line', () => {
    const used = new Set<string>();
    for (const path of bicepFiles(INFRA_DIR)) {
      readFileSync(path, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const m of line.matchAll(GUID)) {
            const guid = m[0].toLowerCase();
            const where = `${relative(INFRA_DIR, path)}:${i + 1}`;
            const name = rolesJson.roles[guid];
            expect([where, guid, name !== undefined]).toEqual([where, guid, true]);
            const comment = /\/\/\s*(.+?)\s*$/.exec(line.slice(m.index! + m[0].length));
            expect([where, comment?.[1]]).toEqual([where, name]);
            used.add(guid);
          }
        });
    }
    expect(Object.keys(rolesJson.roles).filter((g) => !used.has(g))).toEqual([]);
  });
});

/** The grants docs/deploy.md argues for, with this deployment's names. */
function expectedGrants(d: Deployment): string[] {
  const rt = String(d.outputs.AZURE_RUNTIME_STORAGE_ACCOUNT_NAME);
  const data = String(d.outputs.AZURE_STORAGE_ACCOUNT_NAME);
  const account = 'Microsoft.Storage/storageAccounts';
  return [
    // Function app identity, runtime account (AzureWebJobsStorage + Durable Functions)
    `app | ${account} rg-dev/${rt} | Storage Blob Data Owner | ServicePrincipal`,
    `app | ${account} rg-dev/${rt} | Storage Queue Data Contributor | ServicePrincipal`,
    `app | ${account} rg-dev/${rt} | Storage Table Data Contributor | ServicePrincipal`,
    // Function app identity, data account: blob trigger connection, jobs table, and Get User Delegation Key for
    // the upload SAS (generateUserDelegationKey/action is part of Storage Blob Data Owner and Contributor).
    `app | ${account} rg-dev/${data} | Storage Blob Data Owner | ServicePrincipal`,
    `app | ${account} rg-dev/${data} | Storage Queue Data Contributor | ServicePrincipal`,
    `app | ${account} rg-dev/${data} | Storage Table Data Contributor | ServicePrincipal`,
    // Deploying user, data account
    `deploying user | ${account} rg-dev/${data} | Storage Blob Data Contributor | User`,
    `deploying user | ${account} rg-dev/${data} | Storage Table Data Reader | User`,
    // Event Grid writes undeliverable events to the dead-letter container only
    `event grid topic | ${account}/blobServices/containers rg-dev/deadletter | Storage Blob Data Contributor | ServicePrincipal`,
    // Telemetry with Entra ID
    `app | Microsoft.Insights/components rg-dev/appi-${rt.slice(4)} | Monitoring Metrics Publisher | ServicePrincipal`,
    // Azure ML: the workspace itself, and the datastore CONTAINER (not the account), in the AML resource group
    'app | Microsoft.MachineLearningServices/workspaces rg-ml-diamonds/mlw-diamonds | AzureML Data Scientist | ServicePrincipal',
    `app | ${account}/blobServices/containers rg-ml-diamonds/${AZD_ENV.AML_DATASTORE_CONTAINER} | Storage Blob Data Contributor | ServicePrincipal`,
  ];
}

(bicep ? describe : describe.skip)('role assignments the deployment makes', () => {
  let storage: Deployment;
  let expected: string[];
  beforeAll(() => {
    storage = deploy();
    expected = expectedGrants(storage);
  }, 300_000);

  test('exactly the grants the docs argue for, at the narrowest scope', () => {
    expect(grants(storage).sort()).toEqual([...expected].sort());
  });

  test('the app never gets Contributor or Owner', () => {
    expect(grants(storage).filter((g) => / \| (Contributor|Owner) \| /.test(g))).toEqual([]);
  });

  test('with the Durable Task Scheduler: Durable Task Data Contributor on the task hub for the app and the user', () => {
    const dts = deploy(AZD_ENV, { durableBackend: 'DurableTaskScheduler' });
    const scheduler = dts.one('Microsoft.DurableTask/schedulers').name;
    expect(
      grants(dts)
        .filter((g) => !expected.includes(g))
        .sort(),
    ).toEqual([
      `app | Microsoft.DurableTask/schedulers/taskHubs rg-dev/amlbatch | Durable Task Data Contributor | ServicePrincipal`,
      `deploying user | Microsoft.DurableTask/schedulers/taskHubs rg-dev/amlbatch | Durable Task Data Contributor | User`,
    ]);
    expect(scheduler).toMatch(/^dts-/);
  });

  test('without a principal id, the deploying user gets nothing', () => {
    const none = deploy({ ...AZD_ENV, AZURE_PRINCIPAL_ID: '' });
    expect(grants(none).filter((g) => !g.startsWith('app |') && !g.startsWith('event grid topic |'))).toEqual(
      [],
    );
  });

  test('the AML grants use the AML subscription when it differs', () => {
    const other = deploy(OTHER_AML_ENV);
    const aml = other
      .ofType('Microsoft.Authorization/roleAssignments')
      .filter((r) => /Microsoft.MachineLearningServices|rg-ml-diamonds/.test(r.id));
    expect(aml).toHaveLength(2);
    for (const r of aml)
      expect(r.id).toMatch(
        /^\/subscriptions\/99999999-8888-7777-6666-555555555555\/resourceGroups\/rg-ml-diamonds\//,
      );
  });
});
