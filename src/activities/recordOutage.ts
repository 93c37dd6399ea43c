import type { OutageInput } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

/** Puts on the record that AML (or storage, while publishing) cannot be reached, while the job waits. */
export async function recordOutage(input: OutageInput, d: Deps): Promise<{ ok: true }> {
  await d.jobs.mark(input.jobId, { outage: input.outage }, d.now());
  return { ok: true };
}
