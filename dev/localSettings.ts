import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The app's settings for local runs: local.settings.json's Values when the user has one (as func start
 * reads it), else the committed sample; anything already in the environment wins.
 */
export function localAppSettings(
  root: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  const file = ['local.settings.json', 'local.settings.sample.json']
    .map((f) => join(root, f))
    .find((f) => existsSync(f));
  const values = file
    ? ((JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, string> }).Values ?? {})
    : {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...values, ...overrides })) out[k] = process.env[k] ?? v;
  return out;
}
