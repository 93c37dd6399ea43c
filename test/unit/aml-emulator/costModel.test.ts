import { completionOrder, modelJob, type CostSettings } from '../../../dev/aml-emulator/costModel';

const base: CostSettings = {
  startupSeconds: 300,
  rowsPerSecondPerInstance: 1000,
  miniBatchSize: 10,
  instanceCount: 1,
};
const files = (...rows: number[]) => rows.map((r) => ({ rows: r }));

describe('modelJob', () => {
  it('one file on one instance: start-up, then rows / rate; node-seconds = wall', () => {
    const job = modelJob(files(60_000), base);
    expect(job.miniBatches).toBe(1);
    expect(job.schedule).toEqual([{ files: [0], instance: 0, startSeconds: 0, endSeconds: 60 }]);
    expect(job.wallSeconds).toBe(360);
    expect(job.nodeSeconds).toBe(360);
    expect(job.startupSeconds).toBe(300);
  });

  it('cuts files into mini-batches of miniBatchSize files, in input order', () => {
    const job = modelJob(files(1, 2, 3, 4, 5), { ...base, miniBatchSize: 2 });
    expect(job.schedule.map((b) => b.files)).toEqual([[0, 1], [2, 3], [4]]);
    expect(job.miniBatches).toBe(3);
  });

  it('gives each mini-batch to the instance that frees up first (ties: lowest index)', () => {
    // Mini-batches of 1 file: 4000, 1000, 1000, 1000 rows at 1000 rows/s on 2 instances.
    const job = modelJob(files(4000, 1000, 1000, 1000), {
      ...base,
      miniBatchSize: 1,
      instanceCount: 2,
      perMiniBatchSeconds: 1,
    });
    expect(job.schedule).toEqual([
      { files: [0], instance: 0, startSeconds: 0, endSeconds: 5 },
      { files: [1], instance: 1, startSeconds: 0, endSeconds: 2 },
      { files: [2], instance: 1, startSeconds: 2, endSeconds: 4 },
      { files: [3], instance: 1, startSeconds: 4, endSeconds: 6 },
    ]);
    expect(job.wallSeconds).toBe(306);
    // AML holds every instance of the job for its whole run, start-up included.
    expect(job.nodeSeconds).toBe(612);
    expect(completionOrder(job)).toEqual([1, 2, 0, 3]);
  });

  it('a split file spreads over instances: 4 equal parts on 4 instances take a quarter of the time', () => {
    const whole = modelJob(files(2_000_000), { ...base, instanceCount: 4 });
    const split = modelJob(files(500_000, 500_000, 500_000, 500_000), {
      ...base,
      instanceCount: 4,
      miniBatchSize: 1,
    });
    expect(whole.wallSeconds - base.startupSeconds).toBe(2000);
    expect(split.wallSeconds - base.startupSeconds).toBe(500);
    expect(new Set(split.schedule.map((b) => b.instance))).toEqual(new Set([0, 1, 2, 3]));
  });

  it('timeline: NotStarted, Queued, Preparing, Running after start-up, Finalizing, Completed', () => {
    const job = modelJob(files(10_000), { ...base, queuedSeconds: 120, finalizingSeconds: 15 });
    expect(job.timeline).toEqual([
      { status: 'NotStarted', atSeconds: 0 },
      { status: 'Queued', atSeconds: 0 },
      { status: 'Preparing', atSeconds: 120 },
      { status: 'Running', atSeconds: 300 },
      { status: 'Finalizing', atSeconds: 310 },
      { status: 'Completed', atSeconds: 325 },
    ]);
    expect(job.wallSeconds).toBe(325);
  });

  it('is deterministic and leaves its input alone', () => {
    const input = files(5, 50, 500, 5000, 7, 9);
    const s = { ...base, miniBatchSize: 2, instanceCount: 3, perMiniBatchSeconds: 0.5 };
    expect(modelJob(input, s)).toEqual(modelJob(input, s));
    expect(input).toEqual(files(5, 50, 500, 5000, 7, 9));
  });

  it('empty input: no mini-batches, start-up only', () => {
    const job = modelJob([], base);
    expect(job.miniBatches).toBe(0);
    expect(job.wallSeconds).toBe(300);
  });

  it.each([
    [{ rowsPerSecondPerInstance: 0 }, /rowsPerSecondPerInstance/],
    [{ miniBatchSize: 0 }, /miniBatchSize/],
    [{ instanceCount: 1.5 }, /instanceCount/],
    [{ startupSeconds: -1 }, /startupSeconds/],
    [{ perMiniBatchSeconds: Number.NaN }, /perMiniBatchSeconds/],
  ])('rejects bad settings %p', (bad, message) => {
    expect(() => modelJob(files(1), { ...base, ...bad })).toThrow(message);
  });
});
