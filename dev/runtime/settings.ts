import { existsSync, readFileSync } from 'node:fs';

/** App settings, connection strings and the few host.json values the runtime honours. */

type Env = Record<string, string | undefined>;

const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Resolves `%SETTING%` expressions in a binding property, as the host does for binding attributes. */
export function resolveAppSettings(value: string, env: Env, where: string): string {
  return value.replace(/%([^%]+)%/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined || v === '') {
      throw new Error(
        `${where}: binding expression %${name}% refers to app setting ${name}, which is not set`,
      );
    }
    return v;
  });
}

/** Expands `UseDevelopmentStorage=true` to the Azurite default endpoints; other strings are returned as they are. */
export function normalizeConnectionString(cs: string): string {
  const parts = parseConnectionString(cs);
  if (parts.UseDevelopmentStorage?.toLowerCase() !== 'true') return cs;
  const proxy = parts.DevelopmentStorageProxyUri;
  const host = proxy ? new URL(proxy).hostname : '127.0.0.1';
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${DEV_ACCOUNT}`,
    `AccountKey=${DEV_KEY}`,
    `BlobEndpoint=http://${host}:10000/${DEV_ACCOUNT}`,
    `QueueEndpoint=http://${host}:10001/${DEV_ACCOUNT}`,
    `TableEndpoint=http://${host}:10002/${DEV_ACCOUNT}`,
  ].join(';');
}

export function parseConnectionString(cs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of cs.split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

/**
 * The connection string a binding's `connection` names (default AzureWebJobsStorage), looked up like the host:
 * `<name>`, then `AzureWebJobs<name>`. Identity-based connections (`<name>__blobServiceUri` ...) cannot reach
 * Azurite, so they fail loudly.
 */
export function resolveConnection(connection: string | undefined, env: Env, where: string): string {
  const name = connection && connection.length > 0 ? connection : 'AzureWebJobsStorage';
  const value = env[name] ?? env[`AzureWebJobs${name}`];
  if (value && value.trim()) return normalizeConnectionString(value.trim());
  const identity = Object.keys(env).find((k) => k.startsWith(`${name}__`));
  if (identity) {
    throw new Error(
      `${where}: connection "${name}" is identity-based (${identity}); the local runtime needs a connection string in ${name}`,
    );
  }
  throw new Error(`${where}: connection setting "${name}" is not set (expected a storage connection string)`);
}

/** The subset of host.json the runtime reads. */
export interface HostJsonSettings {
  routePrefix?: string;
  hubName?: string;
  maxConcurrentActivityFunctions?: number;
  maxConcurrentOrchestratorFunctions?: number;
  blobMaxDegreeOfParallelism?: number;
}

export function readHostJson(path: string, env: Env): HostJsonSettings {
  if (!existsSync(path)) return {};
  const json = JSON.parse(readFileSync(path, 'utf8')) as {
    extensions?: {
      http?: { routePrefix?: string };
      durableTask?: {
        hubName?: string;
        maxConcurrentActivityFunctions?: number;
        maxConcurrentOrchestratorFunctions?: number;
      };
      blobs?: { maxDegreeOfParallelism?: number };
    };
  };
  const ext = json.extensions ?? {};
  const out: HostJsonSettings = {};
  if (typeof ext.http?.routePrefix === 'string') out.routePrefix = ext.http.routePrefix;
  const hub = ext.durableTask?.hubName;
  if (typeof hub === 'string' && hub) {
    // An unresolvable %SETTING% leaves the hub to the caller's default, like a missing hubName would.
    try {
      out.hubName = resolveAppSettings(hub, env, 'host.json durableTask.hubName');
    } catch {
      /* not set */
    }
  }
  if (typeof ext.durableTask?.maxConcurrentActivityFunctions === 'number') {
    out.maxConcurrentActivityFunctions = ext.durableTask.maxConcurrentActivityFunctions;
  }
  if (typeof ext.durableTask?.maxConcurrentOrchestratorFunctions === 'number') {
    out.maxConcurrentOrchestratorFunctions = ext.durableTask.maxConcurrentOrchestratorFunctions;
  }
  if (typeof ext.blobs?.maxDegreeOfParallelism === 'number') {
    out.blobMaxDegreeOfParallelism = ext.blobs.maxDegreeOfParallelism;
  }
  return out;
}

/** Task hub names follow the Durable extension's rule (Azure Storage provider): 3-45 alphanumerics, letter first. */
export function validateTaskHub(name: string): string {
  if (!/^[A-Za-z][A-Za-z0-9]{2,44}$/.test(name)) {
    throw new Error(
      `Task hub name "${name}" is invalid: use 3-45 letters and digits, starting with a letter`,
    );
  }
  return name;
}
