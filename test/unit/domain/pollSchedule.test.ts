import { nextPollAt, pollDelaySeconds } from '../../../src/domain/pollSchedule';

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
