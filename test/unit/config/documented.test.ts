import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSettings, SETTING_NAMES } from '../../../src/config/settings';

const root = join(__dirname, '..', '..', '..');
const sample = JSON.parse(readFileSync(join(root, 'local.settings.sample.json'), 'utf8')) as {
  Values: Record<string, string>;
};
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const all = [...SETTING_NAMES.required, ...SETTING_NAMES.optional];

test.each(all)('%s is in local.settings.sample.json and the README', (name) => {
  expect(Object.keys(sample.Values)).toContain(name);
  expect(readme).toContain(`\`${name}`);
});

test('the sample settings load as they are (with Azurite standing in for storage)', () => {
  const s = loadSettings(sample.Values);
  expect(s.inboxTriggerSource).toBe('LogsAndContainerScan');
  expect(s.aml.auth.kind).toBe('emulator');
});

test('the config module reads no setting it does not declare', () => {
  const source = ['settings.ts'].map((f) => readFileSync(join(root, 'src', 'config', f), 'utf8')).join('\n');
  const read = new Set(
    [...source.matchAll(/\b(?:str|optional|num|url|container|positiveSeconds)\(env, '([A-Z_a-z]+)'/g)].map(
      (m) => m[1]!,
    ),
  );
  for (const name of read) expect(all).toContain(name);
  expect(read.size).toBeGreaterThan(15);
});
