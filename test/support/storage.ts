import { randomBytes } from 'node:crypto';

/** The Azurite started by globalSetup. */
export function testConnectionString(): string {
  const cs = process.env.TEST_STORAGE_CONNECTION;
  if (!cs)
    throw new Error(
      'TEST_STORAGE_CONNECTION is not set: run the tests through jest (globalSetup starts Azurite)',
    );
  return cs;
}

/** Container and table names unique per test, so tests sharing one Azurite never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}
