import { mulberry32 as prng } from '../random';
/** Fault injection: settings a test can change at run time through PUT /_emulator/faults. */

export interface EmulatorFaults {
  /** false, or the message with which every job fails once it reaches Running. */
  failJobs: false | string;
  /** Share (0..1) of API requests answered 429 with Retry-After: 1. */
  throttleRate: number;
  /** Share (0..1) of API requests answered 503. */
  unavailableRate: number;
  /** Jobs that reach Queued stay there while this is true. */
  hangInQueued: boolean;
  /** Extra wait per scored row, to make Running long enough to cancel or observe. */
  scoringDelayMsPerRow: number;
  /** Error answers as plain text instead of JSON (the contract warns some real ones are not JSON). */
  plainTextErrors: boolean;
  /** Every API request's connection is dropped unanswered, as when AML cannot be reached at all. */
  unreachable: boolean;
  /** The management-plane cancel answers 404 (AML's "job not found") and cancels nothing. */
  refuseCancel: boolean;
  /** Seed of the random source behind the rates; setting it restarts the sequence. */
  seed: number;
}

export const DEFAULT_FAULTS: EmulatorFaults = {
  failJobs: false,
  throttleRate: 0,
  unavailableRate: 0,
  hangInQueued: false,
  scoringDelayMsPerRow: 0,
  plainTextErrors: false,
  unreachable: false,
  refuseCancel: false,
  seed: 1,
};

export const DEFAULT_FAIL_MESSAGE = 'Injected failure: the job failed (failJobs fault is on).';

/** Checks a partial faults object (from JSON or env); throws a message naming the bad field. */
export function checkFaults(input: unknown): Partial<EmulatorFaults> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new Error('faults must be a JSON object');
  const src = input as Record<string, unknown>;
  const out: Partial<EmulatorFaults> = {};
  for (const [k, v] of Object.entries(src)) {
    switch (k) {
      case 'failJobs':
        if (v === false || v === null) out.failJobs = false;
        else if (v === true) out.failJobs = DEFAULT_FAIL_MESSAGE;
        else if (typeof v === 'string' && v.trim()) out.failJobs = v;
        else throw new Error('failJobs must be false, true or a non-empty message');
        break;
      case 'throttleRate':
      case 'unavailableRate':
        if (typeof v !== 'number' || !(v >= 0 && v <= 1))
          throw new Error(`${k} must be a number from 0 to 1`);
        out[k] = v;
        break;
      case 'hangInQueued':
      case 'plainTextErrors':
      case 'unreachable':
      case 'refuseCancel':
        if (typeof v !== 'boolean') throw new Error(`${k} must be true or false`);
        out[k] = v;
        break;
      case 'scoringDelayMsPerRow':
        if (typeof v !== 'number' || !(v >= 0 && v <= 60_000))
          throw new Error(`${k} must be a number of ms from 0 to 60000`);
        out[k] = v;
        break;
      case 'seed':
        if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error('seed must be an integer');
        out.seed = v;
        break;
      default:
        throw new Error(`unknown fault "${k}" (known: ${Object.keys(DEFAULT_FAULTS).join(', ')})`);
    }
  }
  return out;
}

export class Faults {
  private current: EmulatorFaults;
  private random: () => number;

  constructor(initial: Partial<EmulatorFaults> = {}) {
    this.current = { ...DEFAULT_FAULTS, ...checkFaults(initial) };
    this.random = prng(this.current.seed);
  }

  get(): EmulatorFaults {
    return { ...this.current };
  }

  set(partial: Partial<EmulatorFaults>): EmulatorFaults {
    const next = checkFaults(partial);
    this.current = { ...this.current, ...next };
    if (next.seed !== undefined) this.random = prng(next.seed);
    return this.get();
  }

  /**
   * One draw per API request: unreachable drops every one; else the first `unavailableRate` of [0,1)
   * is 503, the next `throttleRate` is 429.
   */
  draw(): 'unreachable' | 'unavailable' | 'throttle' | undefined {
    if (this.current.unreachable) return 'unreachable';
    const { unavailableRate, throttleRate } = this.current;
    if (unavailableRate === 0 && throttleRate === 0) return undefined;
    const r = this.random();
    if (r < unavailableRate) return 'unavailable';
    if (r < unavailableRate + throttleRate) return 'throttle';
    return undefined;
  }
}
