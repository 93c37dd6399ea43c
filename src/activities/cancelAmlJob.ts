import type { CancelInput, CancelResult } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

/**
 * Asks AML to cancel (management plane), then reads the job's status once so the record shows what
 * AML says now. A refusal is thrown with AML's answer; the orchestrator records it either way.
 */
export async function cancelAmlJob(input: CancelInput, d: Deps): Promise<CancelResult> {
  const { requested, answer } = await d.aml.cancel(input.amlJobName);
  // The cancel's answer stands even if AML cannot be read right after it.
  const after = await d.aml.get(input.amlJobName).catch(() => undefined);
  return {
    ok: true,
    confirmed: requested,
    amlAnswer: answer,
    ...(after ? { amlStatus: after.status } : {}),
  };
}
