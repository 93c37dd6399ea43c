import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { INFRA_DIR, asResult, cached, run, tool, type Result, type Tool } from './tools';

/**
 * infra/main.bicep through the real Bicep CLI:
 *   - build():    `bicep build --stdout`, the ARM JSON Azure receives;
 *   - lint():     `bicep lint` with the committed bicepconfig.json;
 *   - deploy(env): `bicep snapshot`, the compiler's own dry run of the deployment for the parameters azd would
 *     pass (infra/main.parameters.json filled from an azd environment). It expands every module and evaluates
 *     every expression that does not need Azure. What only Azure knows (a new identity's client id, the app's
 *     host name) stays an ARM expression like [reference('<id>', '<api>').clientId]; `resolve` below fills
 *     those few in with made-up values, keyed by resource type and property, and throws on anything else.
 */

export const bicep: Tool | undefined = tool('bicep');

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
/** The same, with a named batch deployment and the workspace in another subscription. */
export const OTHER_AML_ENV: Record<string, string> = {
  ...AZD_ENV,
  AML_DEPLOYMENT_NAME: 'diamonds-mlflow',
  AML_SUBSCRIPTION_ID: '99999999-8888-7777-6666-555555555555',
};

export const TENANT_ID = '72f988bf-0000-0000-0000-000000000000';

/** azd's substitution of `${VAR}` and `${VAR=default}` in main.parameters.json. */
export function substituteAzd(text: string, env: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(?:=([^}]*))?\}/g, (_, name: string, fallback?: string) =>
    env[name] !== undefined ? env[name]! : (fallback ?? ''),
  );
}

export function readParametersFile(env: Record<string, string> = AZD_ENV): Record<string, unknown> {
  const raw = readFileSync(join(INFRA_DIR, 'main.parameters.json'), 'utf8');
  const parsed = JSON.parse(substituteAzd(raw, env)) as { parameters: Record<string, { value: unknown }> };
  return Object.fromEntries(Object.entries(parsed.parameters).map(([k, v]) => [k, v.value]));
}

function must(t: Tool | undefined): Tool {
  if (!t) throw new Error('bicep is not available (the tests using it should have been skipped)');
  return t;
}

export function build(): Result {
  const t = must(bicep);
  return cached(t, 'build', () => asResult(run(t, ['build', 'infra/main.bicep', '--stdout'])));
}

export function lint(): Result {
  const t = must(bicep);
  return cached(t, 'lint', () => asResult(run(t, ['lint', 'infra/main.bicep'])));
}

export interface ArmResource {
  id: string;
  type: string;
  name: string;
  apiVersion: string;
  location?: string;
  kind?: string;
  tags?: Record<string, string>;
  identity?: Record<string, unknown>;
  sku?: Record<string, unknown>;
  properties?: Record<string, unknown>;
}

export interface Deployment {
  resources: ArmResource[];
  outputs: Record<string, unknown>;
  /** Every resource of a type. */
  ofType(type: string): ArmResource[];
  /** The one resource of a type (whose name ends with `suffix`, if given). */
  one(type: string, suffix?: string): ArmResource;
}

const bicepString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * The deployment azd would run for this environment (plus direct parameter overrides), with runtime values
 * resolved. Cached per parameter set.
 */
export function deploy(
  env: Record<string, string> = AZD_ENV,
  overrides: Record<string, string | boolean> = {},
): Deployment {
  const t = must(bicep);
  const params = { ...readParametersFile(env), ...overrides };
  const text = [
    "using '../../../infra/main.bicep'",
    ...Object.entries(params).map(
      ([k, v]) => `param ${k} = ${typeof v === 'boolean' ? String(v) : bicepString(String(v))}`,
    ),
  ].join('\n');
  const key = `snapshot-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
  const result = cached(t, key, (dir) => {
    writeFileSync(join(dir, `${key}.bicepparam`), `${text}\n`);
    const r = asResult(
      run(t, [
        'snapshot',
        join(dir, `${key}.bicepparam`),
        '--subscription-id',
        env.AZURE_SUBSCRIPTION_ID!,
        '--tenant-id',
        TENANT_ID,
        '--location',
        String(params.location),
        '--deployment-name',
        'main',
      ]),
    );
    return r.status === 0 ? { ...r, stdout: readFileSync(join(dir, `${key}.snapshot.json`), 'utf8') } : r;
  });
  if (result.status !== 0) throw new Error(`bicep snapshot failed:\n${result.stdout}${result.stderr}`);
  const snap = JSON.parse(result.stdout) as {
    predictedResources: ArmResource[];
    outputs: Record<string, unknown>;
    diagnostics: unknown[];
  };
  if (snap.diagnostics.length)
    throw new Error(`bicep snapshot diagnostics: ${JSON.stringify(snap.diagnostics)}`);
  const resources = snap.predictedResources.map((r) => resolve(r) as ArmResource);
  const ofType = (type: string) => resources.filter((r) => r.type === type);
  return {
    resources,
    outputs: resolve(snap.outputs) as Record<string, unknown>,
    ofType,
    one(type, suffix) {
      const matches = ofType(type).filter((r) => suffix === undefined || r.name.endsWith(suffix));
      if (matches.length !== 1)
        throw new Error(`expected one ${type}${suffix ? ` *${suffix}` : ''}, got ${matches.length}`);
      return matches[0]!;
    },
  };
}

// ------------------------------------------------------------------------------------------------------------
// What only Azure knows, and the few ARM functions left in a snapshot around it
// ------------------------------------------------------------------------------------------------------------

export function fakeGuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Runtime properties by resource type, made up from the resource id. */
const RUNTIME: Record<string, (id: string, name: string) => Record<string, unknown>> = {
  'Microsoft.ManagedIdentity/userAssignedIdentities': (id) => ({
    clientId: fakeGuid(`client:${id}`),
    principalId: fakeGuid(`principal:${id}`),
  }),
  'Microsoft.Insights/components': (id) => ({
    ConnectionString: `InstrumentationKey=${fakeGuid(id)};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/`,
  }),
  'Microsoft.Web/sites': (_, name) => ({
    defaultHostName: `${name}-abcd1234.westeurope-01.azurewebsites.net`,
  }),
  'Microsoft.DurableTask/schedulers': (_, name) => ({
    endpoint: `https://${name}.westeurope.durabletask.io`,
  }),
  'Microsoft.DurableTask/schedulers/taskHubs': (_, name) => ({
    dashboardUrl: `https://dashboard.durabletask.io/${name}`,
  }),
  'Microsoft.EventGrid/systemTopics': () => ({}),
};

/** The identity a resource would get from Azure (reference(id, api, 'full').identity). */
const runtimeIdentity = (id: string) => ({ principalId: fakeGuid(`principal:${id}`), tenantId: TENANT_ID });

export function runtimeValue(id: string, full = false): Record<string, unknown> {
  const m = /\/providers\/(.+)$/.exec(id);
  const parts = m ? m[1]!.split('/') : [];
  // Microsoft.X/a/nameA/b/nameB -> type Microsoft.X/a/b, name nameB
  const type = [`${parts[0]}/${parts[1]}`, ...parts.slice(3).filter((_, i) => i % 2 === 0)].join('/');
  const make = RUNTIME[type];
  if (!make) throw new Error(`no made-up runtime values for ${type} (${id})`);
  const props = make(id, parts[parts.length - 1]!);
  return full ? { properties: props, identity: runtimeIdentity(id) } : props;
}

const FUNCTIONS: Record<string, (...args: unknown[]) => unknown> = {
  format: (fmt, ...args) => String(fmt).replace(/\{(\d+)\}/g, (_, i: string) => String(args[Number(i)])),
  concat: (...args) => (Array.isArray(args[0]) ? args.flat() : args.join('')),
  reference: (id, _api, full) => runtimeValue(String(id), full === 'full'),
  environment: () => ({
    name: 'AzureCloud',
    resourceManager: 'https://management.azure.com/',
    suffixes: { storage: 'core.windows.net' },
  }),
  createObject: (...kv) =>
    Object.fromEntries(Array.from({ length: kv.length / 2 }, (_, i) => [kv[2 * i], kv[2 * i + 1]])),
  union: (...objs) => Object.assign({}, ...(objs as object[])),
  if: (c, a, b) => (c ? a : b),
  empty: (v) => v === '' || v == null || (typeof v === 'object' && Object.keys(v).length === 0),
  not: (v) => !v,
  equals: (a, b) => JSON.stringify(a) === JSON.stringify(b),
  string: (v) => (typeof v === 'string' ? v : JSON.stringify(v)),
  guid: (...args) => fakeGuid(args.join('|')),
  extensionResourceId: (scope, type, ...names) => `${scope}/providers/${type}/${names.join('/')}`,
};

/** Evaluates one ARM template expression (the part between [ and ]). */
export function evaluate(expr: string): unknown {
  let i = 0;
  const ws = () => {
    while (/\s/.test(expr[i] ?? '')) i++;
  };
  const value = (): unknown => {
    ws();
    let v: unknown;
    if (expr[i] === "'") {
      let s = '';
      for (i++; ; i++) {
        if (i >= expr.length) throw new Error(`unterminated string in ${expr}`);
        if (expr[i] === "'" && expr[i + 1] === "'") {
          s += "'";
          i++;
        } else if (expr[i] === "'") break;
        else s += expr[i];
      }
      i++;
      v = s;
    } else if (/[-\d]/.test(expr[i]!)) {
      const m = /^-?\d+/.exec(expr.slice(i))!;
      i += m[0].length;
      v = Number(m[0]);
    } else {
      const m = /^[A-Za-z_]\w*/.exec(expr.slice(i));
      if (!m) throw new Error(`cannot read ARM expression at ${i}: ${expr}`);
      i += m[0].length;
      ws();
      if (m[0] === 'true' || m[0] === 'false') v = m[0] === 'true';
      else {
        if (expr[i] !== '(') throw new Error(`expected ( after ${m[0]} in ${expr}`);
        i++;
        const args: unknown[] = [];
        ws();
        while (expr[i] !== ')') {
          args.push(value());
          ws();
          if (expr[i] === ',') i++;
        }
        i++;
        const fn = FUNCTIONS[m[0]];
        if (!fn) throw new Error(`ARM function ${m[0]} is not supported by the test evaluator (${expr})`);
        v = fn(...args);
      }
    }
    for (;;) {
      ws();
      if (expr[i] === '.') {
        const m = /^\.(\w+)/.exec(expr.slice(i))!;
        i += m[0].length;
        v = (v as Record<string, unknown>)[m[1]!];
      } else if (expr[i] === '[') {
        i++;
        const k = value();
        ws();
        i++; // ]
        v = (v as Record<string, unknown>)[String(k)];
      } else return v;
    }
  };
  const v = value();
  ws();
  if (i !== expr.length) throw new Error(`trailing text in ARM expression: ${expr.slice(i)}`);
  return v;
}

/** Replaces every "[expression]" string in a value by its evaluation ("[[" escapes a literal "["). */
export function resolve(v: unknown): unknown {
  if (typeof v === 'string') {
    if (v.startsWith('[[')) return v.slice(1);
    return v.startsWith('[') && v.endsWith(']') ? resolve(evaluate(v.slice(1, -1))) : v;
  }
  if (Array.isArray(v)) return v.map(resolve);
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
  return v;
}
