import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';

const cache = new Map<string, TokenCredential>();

/**
 * Identity-based auth everywhere in Azure: a user-assigned managed identity when its client id is
 * configured (no guessing between identities), else DefaultAzureCredential (developer sign-in locally).
 */
export function azureCredential(clientId?: string): TokenCredential {
  const key = clientId ?? '';
  let cred = cache.get(key);
  if (!cred) {
    cred = clientId ? new ManagedIdentityCredential({ clientId }) : new DefaultAzureCredential();
    cache.set(key, cred);
  }
  return cred;
}
