import { withAmlStatus, type JobPatch, type JobRecord } from '../domain/jobRecord';
import type { OutcomeInput } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

/** Writes the terminal state the orchestrator decided; the only writer of one. Safe to repeat. */
export async function recordOutcome(input: OutcomeInput, d: Deps): Promise<{ ok: true }> {
  const { jobId, status, error, problems, problemCount, amlStatus, ...facts } = input;
  const now = d.now();
  // A function of the record as stored: no read before the write (the job table's ETag cache).
  const patch = (rec: JobRecord): JobPatch => ({
    ...facts,
    // An outage the job outlived is over; one it ended in (a deadline) stays, as the reason.
    ...(status === 'Succeeded' ? { outage: undefined } : {}),
    ...(error
      ? {
          error: {
            ...error,
            at: now.toISOString(),
            ...(problems ? { problems } : {}),
            ...(problemCount !== undefined ? { problemCount } : {}),
          },
        }
      : {}),
    ...(amlStatus
      ? { amlStatus, amlStatusHistory: withAmlStatus(rec.amlStatusHistory, amlStatus, now) }
      : {}),
  });
  await d.jobs.transition(jobId, status, patch, now);
  return { ok: true };
}
