/**
 * The emulator's cost model of one Azure ML batch job: pure and deterministic, so the emulator's status
 * timeline, its reported node-seconds and the bench's figures all come from the same numbers.
 *
 * What it models, from Learn ("Deploy MLflow models in batch deployments", "Batch endpoints YAML schema",
 * "Troubleshooting batch endpoints"): a job first pays a start-up (the cluster scales up from its minimum,
 * often 0, and the environment is prepared) while it is Queued/Preparing; then the input's files are cut, in
 * input order, into mini-batches of `mini_batch_size` files, and each mini-batch goes to the instance that is
 * free first; the job's instances are held (and billed) for the whole job, start-up included.
 */
export interface CostSettings {
  /** Submit → Running: compute scale-up plus environment preparation. */
  startupSeconds: number;
  /** Rows one instance scores per second. */
  rowsPerSecondPerInstance: number;
  /** Files per mini-batch (`mini_batch_size`; AML's default is 10). */
  miniBatchSize: number;
  /** Instances of the job (`instance_count`; AML's default is 1). */
  instanceCount: number;
  /** Fixed cost of one mini-batch (dispatch, reading the files, loading them); default 0. */
  perMiniBatchSeconds?: number;
  /** Part of `startupSeconds` spent Queued before Preparing; default 0 (all of it is Preparing). */
  queuedSeconds?: number;
  /** Running → Completed: the output is gathered (append_row); default 0. */
  finalizingSeconds?: number;
}

export interface ModelledJob {
  startupSeconds: number;
  /** Submit → Completed. */
  wallSeconds: number;
  /** instanceCount × wallSeconds. */
  nodeSeconds: number;
  miniBatches: number;
  /**
   * Per mini-batch, in mini-batch order: its files (indexes into the input), the instance that scores it,
   * and its start/end in seconds from the job's start of Running.
   */
  schedule: { files: number[]; instance: number; startSeconds: number; endSeconds: number }[];
  /** AML status timeline, seconds from submit. */
  timeline: { status: string; atSeconds: number }[];
}

function check(name: string, v: number | undefined, min: number, integer = false): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v)))
    throw new RangeError(`${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${v}`);
}

export function checkCostSettings(s: CostSettings): void {
  check('startupSeconds', s.startupSeconds, 0);
  check('rowsPerSecondPerInstance', s.rowsPerSecondPerInstance, Number.MIN_VALUE);
  check('miniBatchSize', s.miniBatchSize, 1, true);
  check('instanceCount', s.instanceCount, 1, true);
  check('perMiniBatchSeconds', s.perMiniBatchSeconds, 0);
  check('queuedSeconds', s.queuedSeconds, 0);
  check('finalizingSeconds', s.finalizingSeconds, 0);
}

export function modelJob(files: { rows: number }[], s: CostSettings): ModelledJob {
  checkCostSettings(s);
  files.forEach((f, i) => check(`files[${i}].rows`, f.rows, 0, true));
  const perMiniBatch = s.perMiniBatchSeconds ?? 0;
  const freeAt = new Array<number>(s.instanceCount).fill(0);
  const schedule: ModelledJob['schedule'] = [];
  for (let first = 0; first < files.length; first += s.miniBatchSize) {
    const indexes: number[] = [];
    let rows = 0;
    for (let i = first; i < Math.min(first + s.miniBatchSize, files.length); i++) {
      indexes.push(i);
      rows += files[i]!.rows;
    }
    // The instance that frees up first; ties go to the lowest index, so the schedule is repeatable.
    let instance = 0;
    for (let k = 1; k < freeAt.length; k++) if (freeAt[k]! < freeAt[instance]!) instance = k;
    const startSeconds = freeAt[instance]!;
    const endSeconds = startSeconds + perMiniBatch + rows / s.rowsPerSecondPerInstance;
    freeAt[instance] = endSeconds;
    schedule.push({ files: indexes, instance, startSeconds, endSeconds });
  }
  const runningSeconds = schedule.reduce((m, b) => Math.max(m, b.endSeconds), 0);
  const queued = Math.min(s.queuedSeconds ?? 0, s.startupSeconds);
  const finalizing = s.finalizingSeconds ?? 0;
  const running = s.startupSeconds;
  const finalizingAt = running + runningSeconds;
  const wallSeconds = finalizingAt + finalizing;
  return {
    startupSeconds: s.startupSeconds,
    wallSeconds,
    nodeSeconds: s.instanceCount * wallSeconds,
    miniBatches: schedule.length,
    schedule,
    timeline: [
      { status: 'NotStarted', atSeconds: 0 },
      { status: 'Queued', atSeconds: 0 },
      { status: 'Preparing', atSeconds: queued },
      { status: 'Running', atSeconds: running },
      { status: 'Finalizing', atSeconds: finalizingAt },
      { status: 'Completed', atSeconds: wallSeconds },
    ],
  };
}

/** Mini-batch indexes in the order they complete (ties: mini-batch order): AML's output order. */
export function completionOrder(job: Pick<ModelledJob, 'schedule'>): number[] {
  return job.schedule
    .map((b, i) => ({ i, end: b.endSeconds }))
    .sort((a, b) => a.end - b.end || a.i - b.i)
    .map((x) => x.i);
}
