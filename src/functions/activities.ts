import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { cancelAmlJob } from '../activities/cancelAmlJob';
import { checkAmlJob } from '../activities/checkAmlJob';
import { deps, type Deps } from '../app/deps';
import { publishPredictions } from '../activities/publishPredictions';
import { recordOutcome } from '../activities/recordOutcome';
import { submitAmlJob } from '../activities/submitAmlJob';
import { validateAndStage } from '../activities/validateAndStage';
import { PipelineError } from '../domain/errors';
import { ACTIVITY } from '../orchestration/names';

/** Registers each activity; a thrown error keeps its code in the message (`<Code>: ...`) for the orchestrator. */
function register<I, O>(name: string, fn: (input: I, d: Deps) => Promise<O>): void {
  df.app.activity(name, {
    handler: async (input: unknown, context: InvocationContext): Promise<O> => {
      try {
        return await fn(input as I, deps());
      } catch (err) {
        const e = err instanceof PipelineError ? err : undefined;
        context.warn(`${name} failed${e?.retryable ? ' (will retry)' : ''}: ${(err as Error).message}`);
        throw e ? new Error(`${e.code}: ${e.message}`, { cause: e }) : err;
      }
    },
  });
}

register(ACTIVITY.validateAndStage, validateAndStage);
register(ACTIVITY.submitAmlJob, submitAmlJob);
register(ACTIVITY.checkAmlJob, checkAmlJob);
register(ACTIVITY.cancelAmlJob, cancelAmlJob);
register(ACTIVITY.publishPredictions, publishPredictions);
register(ACTIVITY.recordOutcome, recordOutcome);
