import { startAzurite } from './azurite';

/** One Azurite for the whole run; workers inherit the connection string through the environment. */
export default async function globalSetup(): Promise<void> {
  const azurite = await startAzurite();
  process.env.TEST_STORAGE_CONNECTION = azurite.connectionString;
  (globalThis as { __AZURITE__?: unknown }).__AZURITE__ = azurite;
}
