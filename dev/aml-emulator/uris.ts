/** Input/output URIs of a job request, resolved to a blob container and path. */

export type ParsedUri =
  | { kind: 'datastore'; datastore: string; path: string }
  /** A plain blob URL inside the emulator's own storage account. */
  | { kind: 'blobUrl'; container: string; path: string }
  | { kind: 'invalid'; code: string; message: string };

const LONG =
  /^azureml:\/\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/workspaces\/[^/]+\/datastores\/([^/]+)\/paths\/(.*)$/i;
const SHORT = /^azureml:\/\/datastores\/([^/]+)\/paths\/(.*)$/i;
const FORMS =
  'azureml://subscriptions/<sub>/resourcegroups/<rg>/workspaces/<ws>/datastores/<datastore>/paths/<path> or azureml://datastores/<datastore>/paths/<path>';

function decodePath(raw: string): string | undefined {
  try {
    return raw.split('/').map(decodeURIComponent).join('/').replace(/^\/+/, '');
  } catch {
    return undefined;
  }
}

function located(datastoreOrContainer: string, rawPath: string, kind: 'datastore' | 'blobUrl'): ParsedUri {
  const path = decodePath(rawPath);
  if (path === undefined)
    return {
      kind: 'invalid',
      code: 'InvalidUri',
      message: `The path "${rawPath}" is not validly percent-encoded.`,
    };
  if (path === '' || path === '/')
    return { kind: 'invalid', code: 'InvalidUri', message: 'The URI has an empty path.' };
  return kind === 'datastore'
    ? { kind, datastore: datastoreOrContainer, path }
    : { kind, container: datastoreOrContainer, path };
}

/**
 * Accepts the two azureml:// datastore forms the contract lists (sub/rg/ws of the long form are not checked:
 * the emulator has one workspace) and blob URLs under `accountUrl`. The single-slash `azureml:/subscriptions/...`
 * form from an old doc page does not work in Azure ML, so it is refused here too.
 */
export function parseJobUri(uri: string, accountUrl: string): ParsedUri {
  const m = LONG.exec(uri) ?? SHORT.exec(uri);
  if (m) return located(m[1]!, m[2]!, 'datastore');
  if (/^azureml:\/[^/]/i.test(uri)) {
    return {
      kind: 'invalid',
      code: 'InvalidUri',
      message: `The URI "${uri}" uses the unsupported form azureml:/subscriptions/.../providers/Microsoft.MachineLearningServices/...; use ${FORMS}.`,
    };
  }
  if (/^azureml:\/\//i.test(uri)) {
    return {
      kind: 'invalid',
      code: 'InvalidUri',
      message: `The URI "${uri}" is not a datastore URI; use ${FORMS}.`,
    };
  }
  if (/^azureml:/i.test(uri)) {
    return {
      kind: 'invalid',
      code: 'UnsupportedByEmulator',
      message: `Data asset inputs ("${uri}") are not supported by the emulator; use ${FORMS}.`,
    };
  }
  if (/^https?:\/\//i.test(uri)) {
    const base = accountUrl.replace(/\/*$/, '/');
    if (uri.startsWith(base)) {
      const rest = uri.slice(base.length).split('?')[0]!;
      const slash = rest.indexOf('/');
      if (slash > 0) return located(rest.slice(0, slash), rest.slice(slash + 1), 'blobUrl');
    }
    return {
      kind: 'invalid',
      code: 'UnsupportedByEmulator',
      message: `The emulator reads URLs only under its own storage account (${base}<container>/<path>); got "${uri}".`,
    };
  }
  return {
    kind: 'invalid',
    code: 'InvalidUri',
    message: `The URI "${uri}" is not a supported input or output URI; use ${FORMS}.`,
  };
}

/** The lower-case extension of a path's last segment, without the dot ('' when none). */
export function extensionOf(path: string): string {
  const last = path.split('/').pop() ?? '';
  const dot = last.lastIndexOf('.');
  return dot > 0 ? last.slice(dot + 1).toLowerCase() : '';
}

export function baseName(path: string): string {
  return path.replace(/\/+$/, '').split('/').pop() ?? path;
}
