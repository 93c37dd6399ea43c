/**
 * Per-deployment behaviour of the emulated endpoint. `errorThreshold` is the batch deployment's
 * `error_threshold` (Learn, "Batch endpoints YAML schema" / "Deploy MLflow models in batch
 * deployments": the number of failures ignored for the whole input; -1, the default, ignores all; a
 * job whose failures go above it is terminated and fails). A failed mini-batch's rows are simply
 * absent from the MLflow output (`row,prediction,file_name`, no header), so a job under the threshold
 * Completes with fewer lines than rows.
 */
export interface DeploymentSettings {
  /** Which trained model scores it. */
  model: 'diamond-v1' | 'diamond-v2';
  /** `error_threshold`: failed mini-batches ignored before the job fails; -1 = any number. */
  errorThreshold: number;
  /** Share (0..1) of mini-batches that fail: mini-batch i fails when ⌊(i+1)·rate⌋ > ⌊i·rate⌋ (exact, deterministic). */
  failMiniBatchRate: number;
  /**
   * Not an AML setting: 0 (default) makes each input file one mini-batch, as AML does for an MLflow
   * deployment. n > 0 cuts each file into mini-batches of n rows, standing in for the parts of a
   * split file (or a scoring script that works in chunks), so that a single file can lose some rows.
   */
  rowsPerMiniBatch: number;
}

export const MODELS = ['diamond-v1', 'diamond-v2'] as const;

export function defaultDeploymentSettings(model: DeploymentSettings['model']): DeploymentSettings {
  return { model, errorThreshold: -1, failMiniBatchRate: 0, rowsPerMiniBatch: 0 };
}

/** Checks one deployment's settings over the defaults of `base`; throws naming the bad field. */
export function checkDeployment(
  name: string,
  raw: Partial<DeploymentSettings>,
  base?: DeploymentSettings,
): DeploymentSettings {
  const known = new Set(['model', 'errorThreshold', 'failMiniBatchRate', 'rowsPerMiniBatch']);
  for (const k of Object.keys(raw))
    if (!known.has(k)) throw new Error(`deployment ${name}: unknown setting "${k}"`);
  const model =
    raw.model ??
    base?.model ??
    (MODELS.includes(name as never) ? (name as DeploymentSettings['model']) : undefined);
  if (!model || !MODELS.includes(model))
    throw new Error(`deployment ${name}: model must be one of ${MODELS.join(', ')}`);
  const s = { ...(base ?? defaultDeploymentSettings(model)), ...raw, model };
  if (!Number.isInteger(s.errorThreshold) || s.errorThreshold < -1)
    throw new Error(`deployment ${name}: errorThreshold must be an integer ≥ -1`);
  if (typeof s.failMiniBatchRate !== 'number' || !(s.failMiniBatchRate >= 0 && s.failMiniBatchRate <= 1))
    throw new Error(`deployment ${name}: failMiniBatchRate must be a number from 0 to 1`);
  if (!Number.isInteger(s.rowsPerMiniBatch) || s.rowsPerMiniBatch < 0)
    throw new Error(`deployment ${name}: rowsPerMiniBatch must be an integer ≥ 0`);
  return s;
}

/** Whether mini-batch `i` (0-based, counted over the job) fails under `rate`. */
export function miniBatchFails(i: number, rate: number): boolean {
  return Math.floor((i + 1) * rate + 1e-9) > Math.floor(i * rate + 1e-9);
}
