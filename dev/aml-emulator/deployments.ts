import { checkCostSettings, type CostSettings } from './costModel';

/**
 * Per-deployment behaviour of the emulated endpoint.
 *
 * `errorThreshold` is the deployment's `error_threshold`. What it counts, per source:
 * - Learn, "Batch endpoints YAML schema" (reference-yaml-deployment-batch): "the number of file failures
 *   that should be ignored"; -1, the default, ignores all.
 * - azure-sdk-for-net, MachineLearningBatchDeploymentProperties.ErrorThreshold (and the JS
 *   @azure/arm-machinelearning BatchDeploymentProperties): "For FileDataset, this value is the count of file
 *   failures. For TabularDataset, this value is the count of record failures."
 * A uri_folder / uri_file input is file data, so the emulator counts failed FILES: a failed mini-batch of
 * k files adds k. (The brief said "failed mini-batches"; the sources say files. With `miniBatchSize: 1`
 * the two agree.) The legacy `rowsPerMiniBatch` mode, not an AML setting, counts its row chunks.
 *
 * A failed mini-batch's rows are simply absent from the MLflow output (`row,prediction,file_name`, no
 * header), so a job at or under the threshold Completes with fewer lines than rows.
 */
export interface DeploymentSettings extends Required<CostSettings> {
  /** Which trained model scores it. */
  model: 'diamond-v1' | 'diamond-v2';
  /** `error_threshold`: failed files ignored before the job fails; -1 = any number. */
  errorThreshold: number;
  /** Share (0..1) of mini-batches that fail: mini-batch i fails when ⌊(i+1)·rate⌋ > ⌊i·rate⌋ (exact, deterministic). */
  failMiniBatchRate: number;
  /**
   * Not an AML setting: 0 (default) makes mini-batches of `miniBatchSize` files, as AML does for an
   * MLflow deployment. n > 0 cuts each file into failure units of n rows instead, standing in for a
   * scoring script that works in chunks, so that a single file can lose some rows. The cost model
   * still counts files.
   */
  rowsPerMiniBatch: number;
}

export const MODELS = ['diamond-v1', 'diamond-v2'] as const;

/**
 * Cost-model defaults. `miniBatchSize` 10 and `instanceCount` 1 are AML's documented defaults
 * (azure-ai-ml ModelBatchDeploymentSettings; Learn "Batch endpoints YAML schema"). The time figures are
 * illustrative (a cluster scaling from 0 takes minutes: Learn "Create an Azure Machine Learning compute
 * cluster", "Troubleshooting batch endpoints"); the bench states the figures it uses.
 */
export const DEFAULT_COST: Required<CostSettings> = {
  miniBatchSize: 10,
  instanceCount: 1,
  startupSeconds: 300,
  queuedSeconds: 60,
  rowsPerSecondPerInstance: 5000,
  perMiniBatchSeconds: 5,
  finalizingSeconds: 30,
};

export function defaultDeploymentSettings(model: DeploymentSettings['model']): DeploymentSettings {
  return { model, errorThreshold: -1, failMiniBatchRate: 0, rowsPerMiniBatch: 0, ...DEFAULT_COST };
}

const KNOWN = new Set(Object.keys(defaultDeploymentSettings('diamond-v1')));

/** Checks one deployment's settings over the defaults of `base`; throws naming the bad field. */
export function checkDeployment(
  name: string,
  raw: Partial<DeploymentSettings>,
  base?: DeploymentSettings,
): DeploymentSettings {
  for (const k of Object.keys(raw))
    if (!KNOWN.has(k)) throw new Error(`deployment ${name}: unknown setting "${k}"`);
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
  try {
    checkCostSettings(s);
  } catch (err) {
    throw new Error(`deployment ${name}: ${(err as Error).message}`);
  }
  return s;
}

/** Whether mini-batch `i` (0-based, counted over the job) fails under `rate`. */
export function miniBatchFails(i: number, rate: number): boolean {
  return Math.floor((i + 1) * rate + 1e-9) > Math.floor(i * rate + 1e-9);
}
