import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV_NAMES } from '../../../dev/aml-emulator/settings';

test('every emulator setting is documented in its README', () => {
  const readme = readFileSync(join(__dirname, '../../../dev/aml-emulator/README.md'), 'utf8');
  const missing = ENV_NAMES.filter((name) => !readme.includes(`\`${name}\``));
  expect(missing).toEqual([]);
});
