/**
 * Time as the runtime sees it: orchestration timestamps (`context.df.currentUtcDateTime`), durable timers and retry
 * delays. The real clock is the default; a scaled clock runs time faster (benchmarks, long poll loops), a manual clock
 * only moves when told to (in-process experiments).
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once when `now() >= at`. Returns a function that cancels it. */
  at(at: number, fn: () => void): () => void;
}

const MAX_TIMEOUT = 2 ** 31 - 1;

/** setTimeout-based scheduling for a clock whose time advances with real time at `scale` x. */
function realTimeAt(clock: { now(): number }, scale: number, at: number, fn: () => void): () => void {
  let handle: NodeJS.Timeout | undefined;
  let cancelled = false;
  const arm = (): void => {
    if (cancelled) return;
    const remaining = at - clock.now();
    if (remaining <= 0) {
      handle = undefined;
      fn();
      return;
    }
    // +1 ms: Node may fire a timeout a fraction of a millisecond early; never run a durable timer before its time.
    handle = setTimeout(arm, Math.min(MAX_TIMEOUT, Math.ceil(remaining / scale) + 1));
  };
  arm();
  return () => {
    cancelled = true;
    if (handle) clearTimeout(handle);
  };
}

export function realClock(): Clock {
  const clock: Clock = {
    now: () => Date.now(),
    at: (at, fn) => realTimeAt(clock, 1, at, fn),
  };
  return clock;
}

/**
 * Time runs `scale` times faster than real time, starting from the real time at creation. Timestamps persisted by a
 * scaled run are ahead of real time, so restarting against the same task hub with a different clock is not meaningful.
 */
export function scaledClock(scale: number, origin: number = Date.now()): Clock {
  if (!(scale > 0)) throw new Error(`time scale must be > 0 (got ${scale})`);
  const clock: Clock = {
    now: () => origin + (Date.now() - origin) * scale,
    at: (at, fn) => realTimeAt(clock, scale, at, fn),
  };
  return clock;
}

/** A clock that only moves through `advance`/`set`. */
export class ManualClock implements Clock {
  #now: number;
  #timers = new Set<{ at: number; fn: () => void }>();

  constructor(start: number = Date.now()) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  at(at: number, fn: () => void): () => void {
    const t = { at, fn };
    this.#timers.add(t);
    queueMicrotask(() => this.#fireDue());
    return () => {
      this.#timers.delete(t);
    };
  }

  advance(ms: number): void {
    this.set(this.#now + ms);
  }

  set(time: number): void {
    if (time < this.#now) throw new Error('ManualClock cannot go backwards');
    this.#now = time;
    this.#fireDue();
  }

  #fireDue(): void {
    const due = [...this.#timers].filter((t) => t.at <= this.#now).sort((a, b) => a.at - b.at);
    for (const t of due) {
      this.#timers.delete(t);
      t.fn();
    }
  }
}

export type ClockOption = Clock | { timeScale: number };

export function makeClock(option: ClockOption | undefined): Clock {
  if (!option) return realClock();
  if ('timeScale' in option) return option.timeScale === 1 ? realClock() : scaledClock(option.timeScale);
  return option;
}
