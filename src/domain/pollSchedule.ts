/**
 * When to look at an AML job again. AML jobs take minutes (compute spins up per job), so checking
 * early and then backing off catches quick jobs quickly without paying for hundreds of status calls
 * on slow ones.
 */
export interface PollSchedule {
  firstDelaySeconds: number;
  factor: number;
  maxDelaySeconds: number;
}

/** Delay before poll number `n` (0-based). */
export function pollDelaySeconds(schedule: PollSchedule, n: number): number {
  const d = schedule.firstDelaySeconds * Math.pow(schedule.factor, n);
  return Math.min(d, schedule.maxDelaySeconds);
}

/**
 * When to poll next: `now + delay(n)`, never past the deadline, so the deadline itself is always checked.
 * Pure and clock-free: the orchestrator passes `context.df.currentUtcDateTime`.
 */
export function nextPollAt(schedule: PollSchedule, n: number, now: Date, deadline: Date): Date {
  const at = now.getTime() + pollDelaySeconds(schedule, n) * 1000;
  return new Date(Math.min(at, deadline.getTime()));
}
