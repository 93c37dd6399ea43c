/**
 * When to look at an AML job again. AML jobs take minutes (compute spins up per job), so checking
 * early and then backing off catches quick jobs quickly without paying for hundreds of status calls
 * on slow ones. With an estimate of the job's duration (learned from the deployment's recent jobs of
 * similar size), checks are sparse early and dense around the expected end instead.
 */
export interface PollSchedule {
  firstDelaySeconds: number;
  factor: number;
  maxDelaySeconds: number;
  /** Ask for a duration estimate and poll around it (POLL_LEARNED_TIMING). Absent on jobs started before it existed. */
  learned?: boolean;
  /** AML status events are subscribed (AML_EVENTS_ENABLED): polling is only the safety net, so it can be sparser. */
  events?: boolean;
}

/** A job's expected duration from submit to completion, seconds, and its spread (about one standard deviation). */
export interface DurationEstimate {
  seconds: number;
  spreadSeconds: number;
  /** How many finished jobs it is based on. */
  samples: number;
}

/** Delay before poll number `n` (0-based). */
export function pollDelaySeconds(schedule: PollSchedule, n: number): number {
  const d = schedule.firstDelaySeconds * Math.pow(schedule.factor, n);
  return Math.min(d, schedule.maxDelaySeconds);
}

/** The dense window around the expected end, seconds after submit, and the step between checks in it. */
export function learnedWindow(
  schedule: PollSchedule,
  e: DurationEstimate,
): { from: number; to: number; step: number } {
  const spread = Math.max(e.spreadSeconds, 0.05 * e.seconds);
  // Without events the step is the detection delay (half of it on average): half the spread. With events a
  // check there only catches a lost event: twice the spread. Tuned with bench `polling`.
  const min = Math.min(WINDOW_MIN_STEP, schedule.firstDelaySeconds);
  const step = schedule.events
    ? clamp(2 * spread, min, 2 * WINDOW_MAX_STEP)
    : clamp(spread / 2, min, WINDOW_MAX_STEP);
  return { from: e.seconds - 1.5 * spread, to: e.seconds + 2 * spread, step };
}
const WINDOW_MIN_STEP = 10;
const WINDOW_MAX_STEP = 60;

/**
 * Seconds until poll number `n` (0-based), `elapsed` seconds after submit, with an estimate:
 * - the first check at `firstDelaySeconds` still catches a job that fails at once;
 * - before the window: one check halfway to it (none with events: they report the end), then its start;
 *   never more than 4× the cap apart, so a failure nobody reported is still seen on a long job;
 * - in the window: every `step`;
 * - past it (the estimate was wrong): back off in proportion to the overrun, up to the cap.
 */
export function learnedDelaySeconds(
  schedule: PollSchedule,
  n: number,
  elapsed: number,
  e: DurationEstimate,
): number {
  if (n === 0) return schedule.firstDelaySeconds;
  const w = learnedWindow(schedule, e);
  if (elapsed < w.from) {
    const target = !schedule.events && elapsed < w.from / 2 - w.step ? w.from / 2 : w.from;
    return Math.min(target - elapsed, 4 * schedule.maxDelaySeconds);
  }
  if (elapsed < w.to) return w.step;
  return clamp((elapsed - e.seconds) * (schedule.factor - 1), w.step, schedule.maxDelaySeconds);
}

/**
 * When to poll next: `now + delay(n)`, never past the deadline, so the deadline itself is always checked.
 * Pure and clock-free: the orchestrator passes `context.df.currentUtcDateTime`. With `learned`, the
 * delay follows the estimate (`learnedDelaySeconds`), counted from the job's submit time.
 */
export function nextPollAt(
  schedule: PollSchedule,
  n: number,
  now: Date,
  deadline: Date,
  learned?: { startedAt: Date; estimate: DurationEstimate },
): Date {
  // A learned delay is a distance to a target that can be reached already: at least a second then. The
  // plain schedule is the user's setting, sub-second included.
  const delay = learned
    ? Math.max(
        1,
        learnedDelaySeconds(
          schedule,
          n,
          (now.getTime() - learned.startedAt.getTime()) / 1000,
          learned.estimate,
        ),
      )
    : pollDelaySeconds(schedule, n);
  const at = now.getTime() + delay * 1000;
  return new Date(Math.min(at, deadline.getTime()));
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}
