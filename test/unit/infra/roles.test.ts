import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { INFRA_DIR, modules, property, readBicep, resources, vars, type BicepFile } from './bicep';
import { mainDeployment } from './deployment';

/**
 * Role assignments: every role GUID is a known built-in role named next to it, every assignment is built the
 * same way, and the set of grants is exactly the one docs/deploy.md argues for (an extra grant fails too).
 */

/**
 * Built-in role ids, checked against Microsoft's built-in roles list
 * (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles) and independent public templates.
 * infra/roles.json must agree with this table.
 */
const KNOWN_BUILT_IN_ROLES: Record<string, string> = {
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe': 'Storage Blob Data Contributor',
  '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1': 'Storage Blob Data Reader',
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
  '19e7f393-937e-4f77-808e-94535e297925': 'Storage Queue Data Reader',
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
  '76199698-9eea-4c19-bc75-cec21354c6b6': 'Storage Table Data Reader',
  '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
  'f6c7c914-8db3-469d-8ca1-694a8f32e121': 'AzureML Data Scientist',
  'b24988ac-6180-42a0-ab88-20f7382dd24c': 'Contributor',
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635': 'Owner',
  'acdd72a7-3385-48ef-bd42-f606fba81ae7': 'Reader',
};

/** Roles too broad for this app: it must never hold them. */
const FORBIDDEN_ROLES = ['Contributor', 'Owner'];

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

function bicepFiles(dir: string): string[] {
  let out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) out = out.concat(bicepFiles(p));
    else if (p.endsWith('.bicep')) out.push(p);
  }
  return out;
}

const files = bicepFiles(INFRA_DIR).map(readBicep);
const rolesJson = JSON.parse(readFileSync(join(INFRA_DIR, 'roles.json'), 'utf8')) as {
  roles: Record<string, string>;
};

interface Grant {
  file: string;
  scopeType: string;
  principal: string;
  role: string;
  condition?: string;
}

function roleVarGuid(file: BicepFile, varName: string): string {
  const v = vars(file).get(varName);
  if (!v?.expr) throw new Error(`${file.path}: role variable ${varName} is not declared`);
  const m = /^'([0-9a-f-]{36})'$/i.exec(v.expr);
  if (!m) throw new Error(`${file.path}: ${varName} must be a role GUID literal, got ${v.expr}`);
  return m[1]!.toLowerCase();
}

/** Reads every role assignment and checks the shape they all share. */
function grants(): Grant[] {
  const out: Grant[] = [];
  for (const file of files) {
    const all = resources(file);
    for (const r of all.filter((x) => x.type === 'Microsoft.Authorization/roleAssignments')) {
      const where = `${relative(INFRA_DIR, file.path)}:${r.line} (${r.symbol})`;
      const name = property(r.body, 'name');
      const scope = property(r.body, 'scope');
      const principalId = property(r.body, 'properties.principalId');
      const principalType = property(r.body, 'properties.principalType');
      const roleDefinitionId = property(r.body, 'properties.roleDefinitionId');
      const nameMatch = /^guid\((\w+)\.id,\s*(\w+),\s*(\w+)\)$/.exec(name ?? '');
      expect([where, nameMatch !== null]).toEqual([where, true]); // name: guid(<scope>.id, <principal>, <role>)
      const [, scopeSymbol, principal, roleVar] = nameMatch!;
      expect([where, scope]).toEqual([where, scopeSymbol]);
      expect([where, principalId]).toEqual([where, principal]);
      expect([where, roleDefinitionId]).toEqual([
        where,
        `subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ${roleVar})`,
      ]);
      expect([where, principalType !== undefined]).toEqual([where, true]);
      const scopeResource = all.find((x) => x.symbol === scopeSymbol);
      expect([where, scopeResource !== undefined]).toEqual([where, true]);
      const role = KNOWN_BUILT_IN_ROLES[roleVarGuid(file, roleVar!)];
      expect([where, role !== undefined]).toEqual([where, true]);
      out.push({
        file: relative(INFRA_DIR, file.path),
        scopeType: scopeResource!.type,
        principal: principal!,
        role: role!,
        ...(r.condition ? { condition: r.condition } : {}),
      });
    }
  }
  return out;
}

describe('role assignments in infra/', () => {
  test('infra/roles.json agrees with the known built-in role table', () => {
    for (const [guid, name] of Object.entries(rolesJson.roles)) {
      expect([guid, name]).toEqual([guid, KNOWN_BUILT_IN_ROLES[guid]]);
    }
  });

  test('every GUID in the Bicep is a known built-in role, named in a comment on its line', () => {
    const used = new Set<string>();
    for (const file of files) {
      file.text.split('\n').forEach((line, i) => {
        for (const m of line.matchAll(GUID)) {
          const guid = m[0].toLowerCase();
          const where = `${relative(INFRA_DIR, file.path)}:${i + 1}`;
          const name = rolesJson.roles[guid];
          expect([where, guid, name !== undefined]).toEqual([where, guid, true]);
          const comment = /\/\/\s*(.+?)\s*$/.exec(line.slice(m.index! + m[0].length));
          expect([where, comment?.[1]]).toEqual([where, name]);
          used.add(guid);
        }
      });
    }
    // ...and the table holds nothing the Bicep does not use.
    expect(Object.keys(rolesJson.roles).filter((g) => !used.has(g))).toEqual([]);
  });

  test('the app never gets Contributor or Owner', () => {
    expect(grants().filter((g) => FORBIDDEN_ROLES.includes(g.role))).toEqual([]);
  });

  test('exactly the grants the docs argue for, at the narrowest scope', () => {
    const byKey = (g: Grant) =>
      `${g.file} | ${g.scopeType} | ${g.principal} | ${g.role}${g.condition ? ` | if ${g.condition}` : ''}`;
    const account = 'Microsoft.Storage/storageAccounts';
    const expected = [
      // Function app identity, runtime account (AzureWebJobsStorage + Durable Functions)
      `app/rbac-data.bicep | ${account} | appPrincipalId | Storage Blob Data Owner`,
      `app/rbac-data.bicep | ${account} | appPrincipalId | Storage Queue Data Contributor`,
      `app/rbac-data.bicep | ${account} | appPrincipalId | Storage Table Data Contributor`,
      // Function app identity, data account (blob trigger connection + jobs table); same three roles
      `app/rbac-data.bicep | ${account} | appPrincipalId | Storage Blob Data Owner`,
      `app/rbac-data.bicep | ${account} | appPrincipalId | Storage Queue Data Contributor`,
      `app/rbac-data.bicep | ${account} | appPrincipalId | Storage Table Data Contributor`,
      // Deploying user, data account, only when a principal id is given
      `app/rbac-data.bicep | ${account} | userPrincipalId | Storage Blob Data Contributor | if !empty(userPrincipalId)`,
      `app/rbac-data.bicep | ${account} | userPrincipalId | Storage Table Data Reader | if !empty(userPrincipalId)`,
      // Telemetry with Entra ID
      'app/monitoring.bicep | Microsoft.Insights/components | publisherPrincipalId | Monitoring Metrics Publisher',
      // Azure ML: the workspace itself, and the datastore CONTAINER (not the account)
      'app/rbac-aml.bicep | Microsoft.MachineLearningServices/workspaces | appPrincipalId | AzureML Data Scientist',
      'app/rbac-aml-datastore.bicep | Microsoft.Storage/storageAccounts/blobServices/containers | appPrincipalId | Storage Blob Data Contributor',
    ];
    expect(grants().map(byKey).sort()).toEqual(expected.sort());
  });

  test('the storage grants land on the runtime and data accounts, the AML grants in the AML resource groups', () => {
    const rbac = readBicep(join(INFRA_DIR, 'app/rbac-data.bicep'));
    const rs = resources(rbac);
    const scopeOf = (symbol: string) => property(rs.find((r) => r.symbol === symbol)!.body, 'scope');
    expect(['appRuntimeBlob', 'appRuntimeQueue', 'appRuntimeTable'].map(scopeOf)).toEqual(
      Array(3).fill('runtimeStorage'),
    );
    expect(
      ['appDataBlob', 'appDataQueue', 'appDataTable', 'userDataBlob', 'userDataTable'].map(scopeOf),
    ).toEqual(Array(5).fill('dataStorage'));

    const main = mainDeployment();
    const data = main.module('rbacData');
    expect(data.resourceProperty('runtimeStorage', 'name')).toBe(
      main.output('AZURE_RUNTIME_STORAGE_ACCOUNT_NAME'),
    );
    expect(data.resourceProperty('dataStorage', 'name')).toBe(main.output('AZURE_STORAGE_ACCOUNT_NAME'));

    const principal = main.module('identity').output('principalId');
    for (const m of ['rbacData', 'rbacAml', 'rbacAmlDatastore']) {
      expect([m, main.module(m).scope.identifier('appPrincipalId')]).toEqual([m, principal]);
    }
    expect(main.module('monitoring').scope.identifier('publisherPrincipalId')).toBe(principal);
    expect(data.scope.identifier('userPrincipalId')).toBe('11111111-2222-3333-4444-555555555555');

    const mainText = readBicep(join(INFRA_DIR, 'main.bicep'));
    const scopeLine = (symbol: string) =>
      property(modules(mainText).find((m) => m.symbol === symbol)!.body, 'scope');
    expect(scopeLine('rbacAml')).toBe('resourceGroup(effectiveAmlSubscriptionId, amlResourceGroup)');
    expect(scopeLine('rbacAmlDatastore')).toBe(
      'resourceGroup(effectiveAmlSubscriptionId, effectiveAmlDatastoreResourceGroup)',
    );
    expect(main.eval('effectiveAmlDatastoreResourceGroup')).toBe('rg-ml-diamonds');
    expect(main.eval('effectiveAmlSubscriptionId')).toBe('0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0');

    const ds = main.module('rbacAmlDatastore');
    expect(ds.resourceProperty('datastoreContainer', 'name')).toBe(
      'azureml-blobstore-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b',
    );
    expect(ds.resourceProperty('account', 'name')).toBe('stmlwdiamonds0123');
    expect(main.module('rbacAml').resourceProperty('workspace', 'name')).toBe('mlw-diamonds');
  });
});
