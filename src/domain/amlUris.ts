/** Where the AML workspace lives: the long `azureml://` form and the management plane need it. */
export interface WorkspaceCoordinates {
  subscriptionId: string;
  resourceGroup: string;
  workspaceName: string;
}

/**
 * Datastore URIs for batch endpoint inputs and outputs. Only two forms work: the long
 * `azureml://subscriptions/.../datastores/<ds>/paths/<path>` and the short `azureml://datastores/<ds>/paths/<path>`.
 * The `azureml:/subscriptions/.../providers/...` form printed in an older doc page is rejected by the service,
 * so nothing here can produce it.
 */
export function datastoreUri(datastore: string, path: string, workspace?: WorkspaceCoordinates): string {
  if (!/^[A-Za-z0-9_]+$/.test(datastore)) throw new Error(`Invalid datastore name "${datastore}"`);
  const encodedPath = path
    .replace(/^\/+/, '')
    .split('/')
    .map((seg) => encodeURIComponent(seg))
    .join('/');
  const base = workspace
    ? `azureml://subscriptions/${workspace.subscriptionId}/resourcegroups/${workspace.resourceGroup}/workspaces/${workspace.workspaceName}/datastores/${datastore}`
    : `azureml://datastores/${datastore}`;
  return `${base}/paths/${encodedPath}`;
}

/** Where a job's files live in the datastore: one folder per job, so outputs never collide. */
export function stagingPaths(
  prefix: string,
  jobId: string,
  inputName: string,
): { input: string; output: string } {
  const base = inputName.split('/').pop() || 'input.csv';
  // The datastore copy only needs a recognisable, safe name: AML reads `.csv` files, any characters
  // can break a URI, and blob paths are limited to 1024 characters.
  const safe = base
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/\.csv$/i, '')
    .slice(0, 100);
  const file = `${safe || 'input'}.csv`;
  return { input: `${inputFolder(prefix, jobId)}/${file}`, output: folderOutput(prefix, jobId) };
}

/** `<prefix>/<id>/input`: a job's input folder (its staged file, a split file's parts, a batch's files). */
export function inputFolder(prefix: string, id: string): string {
  return `${prefix ? `${prefix}/` : ''}${id}/input`;
}

/** `<prefix>/<id>/output/predictions.csv`: where AML writes a folder job's one output file. */
export function folderOutput(prefix: string, id: string): string {
  return `${prefix ? `${prefix}/` : ''}${id}/output/predictions.csv`;
}

/** `outbox/<input path without .csv>_predictions.csv`, keeping the inbox folder structure. */
export function outboxName(inputName: string): string {
  return `${inputName.replace(/\.csv$/i, '')}_predictions.csv`;
}

/** `<name>_errors.csv` beside the predictions: the rows that got no prediction. */
export function errorsName(inputName: string): string {
  return `${inputName.replace(/\.csv$/i, '')}_errors.csv`;
}
