import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isLoopbackUri } from '../src/config/settings';
import { devConnectionString } from './azurite';

type Env = Record<string, string | undefined>;

/**
 * Sample values that describe the local AML emulator. They follow the endpoint: with an AML_SCORING_URI
 * off this machine they are left out, so a real endpoint never inherits the emulator's auth mode, token or
 * workspace coordinates (cancels would go to a workspace that does not exist). The management URI is
 * not among them: the sample leaves it empty and src/config derives it from the scoring URI.
 */
export const EMULATOR_SAMPLE_SETTINGS = [
  'AML_AUTH',
  'AML_EMULATOR_TOKEN',
  'AML_SUBSCRIPTION_ID',
  'AML_RESOURCE_GROUP',
  'AML_WORKSPACE_NAME',
] as const;

function onLoopback(uri: string | undefined): boolean {
  try {
    return !!uri && isLoopbackUri(uri);
  } catch {
    return false; // not a URL: src/config reports it, naming the setting
  }
}

/**
 * The app's settings for local runs: local.settings.json's Values when the user has one (as func start
 * reads it), else the committed sample; `overrides` replace file values; anything in `env` wins.
 */
export function localAppSettings(
  root: string,
  overrides: Record<string, string> = {},
  env: Env = process.env,
): Record<string, string> {
  const file = ['local.settings.json', 'local.settings.sample.json']
    .map((f) => join(root, f))
    .find((f) => existsSync(f));
  const values = file
    ? ((JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, string> }).Values ?? {})
    : {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...values, ...overrides })) out[k] = env[k] ?? v;
  if (file?.endsWith('sample.json') && !onLoopback(out.AML_SCORING_URI)) {
    for (const k of EMULATOR_SAMPLE_SETTINGS) if (env[k] === undefined && !(k in overrides)) delete out[k];
  }
  return out;
}

/** The local stack's ports: the same variables and defaults for `npm start` and `npm run drop`. */
export function localPorts(env: Env = process.env): {
  blob: number;
  queue: number;
  table: number;
  aml: number;
  http: number;
} {
  const num = (name: string, fallback: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new Error(`${name} must be a port number (got "${raw}")`);
    return n;
  };
  return {
    blob: num('AZURITE_BLOB_PORT', 10000),
    queue: num('AZURITE_QUEUE_PORT', 10001),
    table: num('AZURITE_TABLE_PORT', 10002),
    aml: num('AML_EMULATOR_PORT', 7072),
    http: num('FUNCTIONS_HTTP_PORT', 7071),
  };
}

/** The storage the local stack uses: STORAGE_CONNECTION_STRING, else Azurite on the local ports. */
export function localStorageConnection(env: Env = process.env): string {
  const p = localPorts(env);
  return (
    env.STORAGE_CONNECTION_STRING?.trim() ||
    devConnectionString({ blobPort: p.blob, queuePort: p.queue, tablePort: p.table })
  );
}
