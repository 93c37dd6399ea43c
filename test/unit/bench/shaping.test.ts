import {
  jobInputs,
  planJobs,
  runOnCluster,
  simulate,
  smallFiles,
  type ArrivingFile,
  type BatchPolicy,
  type ClusterModel,
  type DeploymentModel,
} from '../../../bench/figures/shaping';

const file = (id: number, at: number, o: Partial<ArrivingFile> = {}): ArrivingFile => ({
  id,
  at,
  rows: 100,
  bytes: 1000,
  deployment: 'd',
  ...o,
});
const policy = (o: Partial<BatchPolicy> = {}): BatchPolicy => ({
  windowSeconds: 60,
  maxFiles: 100,
  maxBytes: 1e9,
  splitRows: 0,
  ...o,
});
const ids = (jobs: { files: ArrivingFile[] }[]): number[][] => jobs.map((j) => j.files.map((f) => f.id));

describe('planJobs: the round-3 batching policy', () => {
  it('with the window off, submits one job per file at its arrival', () => {
    const jobs = planJobs([file(0, 5), file(1, 7)], policy({ windowSeconds: 0 }));
    expect(ids(jobs)).toEqual([[0], [1]]);
    expect(jobs.map((j) => j.submitAt)).toEqual([5, 7]);
  });

  it('opens a batch at the first arrival and closes it at open + window; a file at exactly that moment opens the next', () => {
    const jobs = planJobs([file(0, 10), file(1, 69.9), file(2, 70), file(3, 100)], policy());
    expect(ids(jobs)).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(jobs.map((j) => j.submitAt)).toEqual([70, 130]);
  });

  it('closes early at max files, at the arrival of the file that fills it', () => {
    const jobs = planJobs([file(0, 0), file(1, 1), file(2, 2)], policy({ maxFiles: 2 }));
    expect(ids(jobs)).toEqual([[0, 1], [2]]);
    expect(jobs.map((j) => j.submitAt)).toEqual([1, 62]);
  });

  it('closes before a file that would exceed max bytes; that file opens the next batch', () => {
    const jobs = planJobs(
      [file(0, 0, { bytes: 600 }), file(1, 1, { bytes: 600 }), file(2, 2, { bytes: 300 })],
      policy({ maxBytes: 1000 }),
    );
    expect(ids(jobs)).toEqual([[0], [1, 2]]);
    expect(jobs.map((j) => j.submitAt)).toEqual([1, 61]);
  });

  it('never mixes deployments, and never batches a file over the split threshold', () => {
    const jobs = planJobs(
      [file(0, 0), file(1, 1, { deployment: 'e' }), file(2, 2, { rows: 5000 }), file(3, 3)],
      policy({ splitRows: 1000 }),
    );
    expect(ids(jobs).sort()).toEqual([[0, 3], [1], [2]].sort());
    expect(jobs.find((j) => j.files[0]!.id === 2)!.submitAt).toBe(2);
  });

  it('puts every file in exactly one job, whatever the settings', () => {
    const files = smallFiles(300, 3600, 7);
    for (const p of [policy(), policy({ maxFiles: 3 }), policy({ maxBytes: 50_000, windowSeconds: 600 })]) {
      const seen = planJobs(files, p).flatMap((j) => j.files.map((f) => f.id));
      expect(seen.sort((a, b) => a - b)).toEqual(files.map((f) => f.id));
    }
  });
});

describe('jobInputs', () => {
  it('splits a large file into parts of at most splitRows rows, and leaves batches alone', () => {
    expect(jobInputs({ files: [file(0, 0, { rows: 250 })], submitAt: 0 }, 100)).toEqual([
      { rows: 100 },
      { rows: 100 },
      { rows: 50 },
    ]);
    expect(jobInputs({ files: [file(0, 0, { rows: 250 })], submitAt: 0 }, 0)).toEqual([{ rows: 250 }]);
    expect(jobInputs({ files: [file(0, 0), file(1, 0)], submitAt: 0 }, 50)).toEqual([
      { rows: 100 },
      { rows: 100 },
    ]);
  });
});

const cluster: ClusterModel = {
  maxNodes: 2,
  coldStartSeconds: 300,
  warmStartSeconds: 60,
  idleBeforeScaleDownSeconds: 120,
  finalizingSeconds: 0,
};
const dep: DeploymentModel = {
  rowsPerSecondPerInstance: 10,
  miniBatchSize: 10,
  instanceCount: 1,
  perMiniBatchSeconds: 0,
};

describe('runOnCluster: an AmlCompute cluster, first come first served', () => {
  it('pays the cold start on a new node, the warm start within the idle window, and cold again after scale-down', () => {
    const r = runOnCluster(
      [
        { submitAt: 0, inputs: [{ rows: 100 }] }, // cold: 300 + 10 → ends 310
        { submitAt: 400, inputs: [{ rows: 100 }] }, // node idle 90 s < 120: warm → ends 470
        { submitAt: 1000, inputs: [{ rows: 100 }] }, // idle 530 s: scaled down, cold → ends 1310
      ],
      { ...cluster, maxNodes: 1 },
      dep,
    );
    expect(r.jobs.map((j) => [j.startAt, j.endAt, j.cold])).toEqual([
      [0, 310, true],
      [400, 470, false],
      [1000, 1310, true],
    ]);
    expect(r.jobNodeSeconds).toBe(310 + 70 + 310);
    // Billed: the jobs, 90 s of warm idle, one 120 s tail before the scale-down, and the final tail.
    expect(r.billedNodeSeconds).toBe(310 + 70 + 310 + 90 + 120 + 120);
  });

  it('queues a job until enough nodes are free, and the queued time holds no node', () => {
    const r = runOnCluster(
      [
        { submitAt: 0, inputs: [{ rows: 100 }] },
        { submitAt: 0, inputs: [{ rows: 100 }] },
        { submitAt: 0, inputs: [{ rows: 100 }] },
      ],
      cluster,
      dep,
    );
    expect(r.jobs.map((j) => j.startAt)).toEqual([0, 0, 310]);
    expect(r.jobs[2]!.cold).toBe(false);
    expect(r.jobNodeSeconds).toBe(310 + 310 + 70);
  });

  it('holds instanceCount nodes for the whole job and reports jobs in their input order', () => {
    const r = runOnCluster(
      [
        { submitAt: 50, inputs: Array.from({ length: 20 }, () => ({ rows: 10 })) },
        { submitAt: 0, inputs: [{ rows: 10 }] },
      ],
      cluster,
      { ...dep, instanceCount: 2 },
    );
    expect(r.jobs[1]!.startAt).toBe(0);
    expect(r.jobs[0]!.startAt).toBe(301); // waits for both nodes of the first job
    expect(r.jobs[0]!.nodeSeconds).toBe(2 * (r.jobs[0]!.endAt - r.jobs[0]!.startAt));
  });
});

describe('simulate', () => {
  it('coalescing a burst cuts jobs and node-minutes and brings the last result sooner', () => {
    const files = smallFiles(200, 0);
    const fast = { ...dep, rowsPerSecondPerInstance: 20_000 };
    const one = simulate(files, policy({ windowSeconds: 0 }), cluster, fast);
    const batched = simulate(files, policy({ windowSeconds: 300 }), cluster, fast);
    expect(one.amlJobs).toBe(200);
    expect(batched.amlJobs).toBe(2);
    expect(batched.jobNodeMinutes * 10).toBeLessThan(one.jobNodeMinutes);
    expect(batched.lastResultSeconds).toBeLessThan(one.lastResultSeconds);
  });
});
