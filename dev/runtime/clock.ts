/**
 * Durable time: orchestration timestamps (`currentUtcDateTime`), durable timers and retry delays. `scale` > 1 runs it
 * faster than real time from the moment the runtime starts (LOCAL_RUNTIME_TIME_SCALE), for long poll loops in tests
 * and benchmarks; state written by a scaled run is ahead of real time.
 */
export type Clock = ReturnType<typeof scaledClock>;

export function scaledClock(scale = 1, origin: number = Date.now()) {
  if (!(scale > 0)) throw new Error(`time scale must be > 0 (got ${scale})`);
  const now = (): number => (scale === 1 ? Date.now() : origin + (Date.now() - origin) * scale);
  return {
    /** Milliseconds since the epoch. */
    now,
    /** Runs `fn` once when `now() >= at`; returns a cancel function. */
    at(at: number, fn: () => void): () => void {
      let handle: NodeJS.Timeout | undefined;
      const arm = (): void => {
        const remaining = at - now();
        // +1 ms: Node may fire a timeout a fraction early; a durable timer never fires before its time
        if (remaining <= 0) fn();
        else handle = setTimeout(arm, Math.min(2 ** 31 - 1, Math.ceil(remaining / scale) + 1));
      };
      arm();
      return () => clearTimeout(handle);
    },
  };
}

/** default(DateTime[Offset]) as Newtonsoft writes it: "never" in timer status, a missing date in blob properties. */
export const NEVER = '0001-01-01T00:00:00+00:00';

/** A DateTimeOffset (or a UTC host's local DateTime) as Newtonsoft writes it: ISO 8601 with the offset, trailing
 * zero fractions dropped. */
export const newtonsoftDate = (t: Date | number | undefined): string =>
  t === undefined ? NEVER : new Date(t).toISOString().replace(/\.?0*Z$/, '+00:00');

/** Waits for work to settle, at most `ms` (a graceful stop must not hang on a stuck invocation). */
export async function drain(work: Promise<unknown>, ms = 10_000): Promise<void> {
  await Promise.race([work, new Promise((r) => setTimeout(r, ms).unref())]);
}
