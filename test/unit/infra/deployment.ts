import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  INFRA_DIR,
  entries,
  evaluate,
  fileScope,
  modules,
  property,
  readBicep,
  resources,
  type BicepFile,
  type Module,
  type Resource,
  type Scope,
  type Value,
} from './bicep';

/**
 * A dry run of infra/main.bicep for the tests: parameters come from infra/main.parameters.json with the
 * placeholders filled from a plausible azd environment, module parameters are evaluated from main.bicep's
 * expressions, and module outputs from the modules' own output expressions. Only what Azure computes at
 * deployment time is made up (client ids, host names, ids), by the table below.
 */

/** What `azd env` would hold for someone pointing this template at an existing batch endpoint. */
export const AZD_ENV: Record<string, string> = {
  AZURE_ENV_NAME: 'dev',
  AZURE_LOCATION: 'westeurope',
  AZURE_SUBSCRIPTION_ID: '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0',
  AZURE_PRINCIPAL_ID: '11111111-2222-3333-4444-555555555555',
  AML_RESOURCE_GROUP: 'rg-ml-diamonds',
  AML_WORKSPACE_NAME: 'mlw-diamonds',
  AML_SCORING_URI: 'https://diamonds-batch.westeurope.inference.ml.azure.com/jobs',
  AML_DATASTORE_ACCOUNT: 'stmlwdiamonds0123',
  AML_DATASTORE_CONTAINER: 'azureml-blobstore-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b',
};

export const DEPLOYMENT: Scope['deployment'] = {
  subscriptionId: AZD_ENV.AZURE_SUBSCRIPTION_ID!,
  tenantId: '72f988bf-0000-0000-0000-000000000000',
  storageSuffix: 'core.windows.net',
};

export function fakeGuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Properties Azure computes; keyed by resource type and property path. */
const COMPUTED: Record<string, (name: string) => Value> = {
  'Microsoft.ManagedIdentity/userAssignedIdentities properties.clientId': (n) => fakeGuid(`client:${n}`),
  'Microsoft.ManagedIdentity/userAssignedIdentities properties.principalId': (n) =>
    fakeGuid(`principal:${n}`),
  'Microsoft.Insights/components properties.ConnectionString': (n) =>
    `InstrumentationKey=${fakeGuid(n)};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/`,
  'Microsoft.Web/sites properties.defaultHostName': (n) => `${n}.azurewebsites.net`,
};

/** azd's substitution of `${VAR}` and `${VAR=default}` in main.parameters.json. */
export function substituteAzd(text: string, env: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(?:=([^}]*))?\}/g, (_, name: string, fallback?: string) =>
    env[name] !== undefined ? env[name]! : (fallback ?? ''),
  );
}

export function readParametersFile(env: Record<string, string> = AZD_ENV): Record<string, Value> {
  const raw = readFileSync(join(INFRA_DIR, 'main.parameters.json'), 'utf8');
  const parsed = JSON.parse(substituteAzd(raw, env)) as { parameters: Record<string, { value: Value }> };
  return Object.fromEntries(Object.entries(parsed.parameters).map(([k, v]) => [k, v.value]));
}

export class Instance {
  readonly scope: Scope;
  readonly resources: Resource[];
  readonly modules: Module[];
  private readonly children = new Map<string, Instance>();

  constructor(
    readonly file: BicepFile,
    param: (name: string) => Value | undefined,
  ) {
    this.resources = resources(file);
    this.modules = modules(file);
    this.scope = fileScope(file, {
      param,
      deployment: DEPLOYMENT,
      path: (p) => this.resolvePath(p),
    });
  }

  /** Evaluates an expression of this file. */
  eval(expr: string): Value {
    return evaluate(expr, this.scope);
  }

  resource(symbol: string): Resource {
    const r = this.resources.find((x) => x.symbol === symbol);
    if (!r) throw new Error(`${this.file.path}: no resource ${symbol}`);
    return r;
  }

  resourcesOfType(type: string): Resource[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** The evaluated value of a resource property (`properties.x.y`). */
  resourceProperty(symbol: string, path: string): Value {
    const text = property(this.resource(symbol).body, path);
    if (text === undefined) throw new Error(`${this.file.path}: ${symbol} has no ${path}`);
    return this.eval(text);
  }

  module(symbol: string): Instance {
    const existing = this.children.get(symbol);
    if (existing) return existing;
    const m = this.modules.find((x) => x.symbol === symbol);
    if (!m) throw new Error(`${this.file.path}: no module ${symbol}`);
    const path = join(dirname(this.file.path), m.path);
    if (!existsSync(path)) throw new Error(`${this.file.path}: module ${symbol} points at missing ${m.path}`);
    const paramsText = property(m.body, 'params');
    const passed = new Map(paramsText ? entries(paramsText.slice(1, paramsText.lastIndexOf('}'))) : []);
    const child = new Instance(readBicep(path), (name) =>
      passed.has(name) ? this.eval(passed.get(name)!) : undefined,
    );
    this.children.set(symbol, child);
    return child;
  }

  /** Text of the expressions a module is given, by parameter name. */
  moduleParams(symbol: string): Map<string, string> {
    const m = this.modules.find((x) => x.symbol === symbol);
    if (!m) throw new Error(`${this.file.path}: no module ${symbol}`);
    const paramsText = property(m.body, 'params') ?? '{}';
    return new Map(entries(paramsText.slice(1, paramsText.lastIndexOf('}'))));
  }

  output(name: string): Value {
    const decl = /^output\s+(\w+)\s+\w+\s*=\s*(.+)$/gm;
    for (const m of this.file.code.matchAll(decl)) {
      if (m[1] === name) return this.eval(m[2]!);
    }
    throw new Error(`${this.file.path}: no output ${name}`);
  }

  private resolvePath(p: string): Value | undefined {
    const [head, ...rest] = p.split('.');
    const mod = this.modules.find((m) => m.symbol === head);
    if (mod) {
      if (rest.length === 2 && rest[0] === 'outputs') return this.module(head!).output(rest[1]!);
      return undefined;
    }
    const res = this.resources.find((r) => r.symbol === head);
    if (!res) return undefined;
    const nameText = property(res.body, 'name');
    if (nameText === undefined) throw new Error(`${this.file.path}: resource ${res.symbol} has no name`);
    const name = this.eval(nameText);
    const rp = rest.join('.');
    if (rp === 'name') return name;
    if (rp === 'id')
      return `/subscriptions/${DEPLOYMENT.subscriptionId}/providers/${res.type}/${String(name)}`;
    const computed = COMPUTED[`${res.type} ${rp}`];
    if (computed) return computed(String(name));
    return undefined;
  }
}

/** main.bicep with the parameters azd would pass for AZD_ENV. */
export function mainDeployment(env: Record<string, string> = AZD_ENV): Instance {
  const values = readParametersFile(env);
  return new Instance(readBicep(join(INFRA_DIR, 'main.bicep')), (name) => values[name]);
}

/** The function app's app settings as the deployment above would set them. */
export function appSettings(main: Instance = mainDeployment()): Record<string, Value> {
  const fa = main.module('functionApp');
  const config = fa
    .resourcesOfType('Microsoft.Web/sites/config')
    .find((r) => property(r.body, 'name') === "'appsettings'");
  if (!config) throw new Error('function-app.bicep has no sites/config appsettings resource');
  const props = property(config.body, 'properties');
  if (!props) throw new Error('the appsettings resource has no properties');
  return Object.fromEntries(entries(props.slice(1, props.lastIndexOf('}'))).map(([k, v]) => [k, fa.eval(v)]));
}
