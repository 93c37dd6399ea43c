import type { OrchestrationContext, Task } from 'durable-functions';
import type { AmlStatus } from '../domain/amlStatus';
import type { CancelRecord } from '../domain/jobRecord';
import { ACTIVITY } from './names';
import type { CancelInput, CancelResult } from './contracts';
import { run } from './steps';

export interface CancelOutcome {
  cancel: CancelRecord;
  /** What AML reported right after the request, so the record's AML status stays current. */
  amlStatus?: AmlStatus;
  warnings?: string[];
}

/**
 * Asks AML to cancel a job our side is giving up on, and says truthfully what came of it: a refused or
 * failed request is recorded with AML's answer and a warning that the AML job may still be running.
 */
export function* cancelAml(
  context: OrchestrationContext,
  input: CancelInput,
): Generator<Task, CancelOutcome, unknown> {
  const requestedAt = context.df.currentUtcDateTime.toISOString();
  context.df.setCustomStatus({ phase: 'Canceling', amlJobName: input.amlJobName });
  const r = yield* run<CancelResult>(context, ACTIVITY.cancelAmlJob, input);
  const confirmed = r.ok && r.confirmed;
  const amlAnswer = r.ok ? r.amlAnswer : r.error.message;
  return {
    cancel: { requestedAt, confirmed, amlAnswer },
    ...(r.ok && r.amlStatus ? { amlStatus: r.amlStatus } : {}),
    ...(confirmed
      ? {}
      : {
          warnings: [
            `AML did not confirm the cancel of job ${input.amlJobName}; it may still be running. Cancel it in AML Studio if it is.`,
          ],
        }),
  };
}
