import {
  learnedDelaySeconds,
  learnedWindow,
  nextPollAt,
  pollDelaySeconds,
  type DurationEstimate,
} from '../../../src/domain/pollSchedule';

const azure = { firstDelaySeconds: 30, factor: 1.5, maxDelaySeconds: 300 };

test('delays grow by the factor and stop at the cap', () => {
  expect([0, 1, 2, 3].map((n) => pollDelaySeconds(azure, n))).toEqual([30, 45, 67.5, 101.25]);
  expect(pollDelaySeconds(azure, 6)).toBe(300);
  expect(pollDelaySeconds(azure, 60)).toBe(300);
});

test('a factor of 1 is fixed-interval polling', () => {
  expect(pollDelaySeconds({ firstDelaySeconds: 10, factor: 1, maxDelaySeconds: 300 }, 50)).toBe(10);
});

test('the next poll never lands past the deadline', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const deadline = new Date('2026-01-01T00:01:00Z');
  expect(nextPollAt(azure, 0, now, deadline).toISOString()).toBe('2026-01-01T00:00:30.000Z');
  expect(nextPollAt(azure, 5, now, deadline).toISOString()).toBe(deadline.toISOString());
});

test('a sub-second schedule is kept as set (local stacks and tests poll every 0.1 s)', () => {
  const fast = { firstDelaySeconds: 0.1, factor: 1.5, maxDelaySeconds: 1 };
  const now = new Date('2026-01-01T00:00:00Z');
  const far = new Date('2026-01-02T00:00:00Z');
  expect(nextPollAt(fast, 0, now, far).toISOString()).toBe('2026-01-01T00:00:00.100Z');
  expect(nextPollAt(fast, 1, now, far).toISOString()).toBe('2026-01-01T00:00:00.150Z');
});

describe('learned timing', () => {
  const e: DurationEstimate = { seconds: 900, spreadSeconds: 100, samples: 10 };
  /** Check times after submit, following the schedule until `until`. */
  const walk = (s: typeof azure & { events?: boolean }, until: number): number[] => {
    const at: number[] = [];
    for (let t = 0, n = 0; t < until; n++) at.push((t += learnedDelaySeconds(s, n, t, e)));
    return at;
  };

  test('sparse early, dense around the expected end, backing off past it', () => {
    expect(learnedWindow(azure, e)).toEqual({ from: 750, to: 1100, step: 50 });
    // First check at 30 s (a job failing at once), halfway, the window's start, then every 50 s.
    expect(walk(azure, 1100)).toEqual([30, 375, 750, 800, 850, 900, 950, 1000, 1050, 1100]);
    // Past the window the gap grows with the overrun (factor - 1 of it), from the step to the cap.
    expect(learnedDelaySeconds(azure, 12, 1100, e)).toBe(100);
    expect(learnedDelaySeconds(azure, 12, 3000, e)).toBe(300);
  });

  test('with events, polling is a sparser safety net: no halfway check, a wider step', () => {
    const s = { ...azure, events: true };
    expect(learnedWindow(s, e).step).toBe(120);
    expect(walk(s, 1100)).toEqual([30, 750, 870, 990, 1110]);
  });

  test('a long expected job is still looked at every 4× the cap before its window', () => {
    const long: DurationEstimate = { seconds: 4 * 3600, spreadSeconds: 600, samples: 5 };
    const gaps = [1, 2, 3].map((n) =>
      learnedDelaySeconds({ ...azure, events: true }, n, 30 + (n - 1) * 1200, long),
    );
    expect(gaps).toEqual([1200, 1200, 1200]);
  });

  test('a tiny spread is widened to 5% of the duration; the step never drops below 10 s', () => {
    expect(learnedWindow(azure, { seconds: 1000, spreadSeconds: 0, samples: 3 })).toEqual({
      from: 925,
      to: 1100,
      step: 25,
    });
    expect(learnedWindow(azure, { seconds: 60, spreadSeconds: 1, samples: 3 }).step).toBe(10);
  });

  test('nextPollAt counts the learned delay from the submit time, and still stops at the deadline', () => {
    const startedAt = new Date('2026-01-01T00:00:00Z');
    const now = new Date('2026-01-01T00:00:30Z');
    const far = new Date('2026-01-02T00:00:00Z');
    expect(nextPollAt(azure, 1, now, far, { startedAt, estimate: e }).toISOString()).toBe(
      '2026-01-01T00:06:15.000Z',
    );
    const soon = new Date('2026-01-01T00:01:00Z');
    expect(nextPollAt(azure, 1, now, soon, { startedAt, estimate: e })).toEqual(soon);
  });
});
