import type { AzuriteInstance } from './azurite';

export default async function globalTeardown(): Promise<void> {
  const azurite = (globalThis as { __AZURITE__?: AzuriteInstance }).__AZURITE__;
  await azurite?.stop();
}
