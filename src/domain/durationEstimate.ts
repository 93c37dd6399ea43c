import type { DurationEstimate } from './pollSchedule';

/** One finished AML job of a deployment: its size and the seconds from submit to completion seen. */
export interface FinishedJob {
  rows: number;
  seconds: number;
}

/** Jobs within this factor of the new job's row count count as "of similar size". */
export const SIMILAR_SIZE_FACTOR = 2;
/** Fewer similar jobs than this and there is no estimate (the plain backoff schedule applies). */
export const MIN_SAMPLES = 3;
/** The most recent similar jobs used: the deployment (and its cluster) may change over time. */
export const MAX_SAMPLES = 20;

/**
 * The expected duration of a job of `rows` rows, from the deployment's recent finished jobs (newest
 * first): the median of the similar-size ones, and as spread the median absolute deviation scaled to a
 * standard deviation (robust to the odd job that waited for quota or a cold cluster).
 */
export function estimateDuration(
  history: readonly FinishedJob[],
  rows: number,
): DurationEstimate | undefined {
  const similar = history
    .filter((h) => h.seconds > 0 && h.rows > 0 && rows > 0)
    .filter((h) => Math.max(h.rows / rows, rows / h.rows) <= SIMILAR_SIZE_FACTOR)
    .slice(0, MAX_SAMPLES)
    .map((h) => h.seconds);
  if (similar.length < MIN_SAMPLES) return undefined;
  const seconds = median(similar);
  const mad = median(similar.map((s) => Math.abs(s - seconds)));
  return { seconds, spreadSeconds: Math.max(1.4826 * mad, 0.05 * seconds), samples: similar.length };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
