import type { OutcomeInput } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

/** Writes a terminal state decided by the orchestrator (AML failed, timed out, canceled). */
export async function recordOutcome(input: OutcomeInput, d: Deps): Promise<void> {
  await d.jobs.transition(
    input.jobId,
    input.status,
    { error: input.error, ...(input.amlStatus ? { amlStatus: input.amlStatus } : {}) },
    d.now(),
  );
}
