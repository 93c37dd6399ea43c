import { HttpError } from './errors';

export interface AuthSettings {
  /** When set, only this bearer token is accepted (any other → 401). */
  requiredToken?: string;
  /** A token that authenticates but lacks the role (→ 403), for testing role errors. */
  forbiddenToken?: string;
}

export const NEEDED_ROLE = 'AzureML Data Scientist';

const challenge = (error?: string, description?: string): Record<string, string> => ({
  'WWW-Authenticate':
    'Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", resource_id="https://ml.azure.com"' +
    (error ? `, error="${error}", error_description="${description}"` : ''),
});

/** Checks `Authorization: Bearer <token>` the way the service's gateway answers: 401 for the token, 403 for the role. */
export function checkAuth(
  header: string | undefined,
  settings: AuthSettings,
  action: string,
  scope: string,
): void {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
  if (!token) {
    throw new HttpError(
      401,
      'InvalidAuthenticationToken',
      'Authentication failed: the request has no bearer token (Authorization: Bearer <token> for https://ml.azure.com).',
      challenge(),
    );
  }
  if (settings.forbiddenToken !== undefined && token === settings.forbiddenToken) {
    throw new HttpError(
      403,
      'AuthorizationFailed',
      `The client does not have authorization to perform action '${action}' over scope '${scope}'. ` +
        `Assign the ${NEEDED_ROLE} role (or Contributor / Owner) on the workspace.`,
    );
  }
  if (settings.requiredToken !== undefined && token !== settings.requiredToken) {
    const why =
      'The access token is invalid or expired (it is not the token this emulator was configured to accept).';
    throw new HttpError(401, 'InvalidAuthenticationToken', why, challenge('invalid_token', why));
  }
}
