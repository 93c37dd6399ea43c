import { estimateDuration, MAX_SAMPLES, MIN_SAMPLES } from '../../../src/domain/durationEstimate';

const jobs = (rows: number, seconds: number[]) => seconds.map((s) => ({ rows, seconds: s }));

test('the median of similar-size jobs, with a robust spread', () => {
  const e = estimateDuration(jobs(1000, [600, 640, 660, 700, 3000]), 1200);
  // Median 660; deviations 60, 20, 0, 40, 2340 → MAD 40 → spread 1.4826 × 40. The 3000 s outlier barely counts.
  expect(e).toEqual({ seconds: 660, spreadSeconds: 1.4826 * 40, samples: 5 });
});

test('only jobs within a factor 2 of the size count; too few and there is no estimate', () => {
  const history = [...jobs(100, [60, 60, 60]), ...jobs(5000, [900, 900]), ...jobs(10_000, [1500])];
  expect(estimateDuration(history, 100)?.seconds).toBe(60);
  expect(estimateDuration(history, 7000)).toEqual({ seconds: 900, spreadSeconds: 45, samples: 3 });
  expect(estimateDuration(history, 1000)).toBeUndefined();
  expect(estimateDuration([], 1000)).toBeUndefined();
  expect(MIN_SAMPLES).toBe(3);
});

test('the newest jobs win: at most MAX_SAMPLES, in the order given (newest first)', () => {
  const history = [...jobs(1000, Array(MAX_SAMPLES).fill(300)), ...jobs(1000, Array(50).fill(9000))];
  expect(estimateDuration(history, 1000)?.seconds).toBe(300);
});

test('jobs without a size or a duration are ignored', () => {
  expect(estimateDuration([...jobs(0, [5, 5, 5]), ...jobs(10, [0, -1, 0])], 10)).toBeUndefined();
});
