import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { cancelAmlJob } from '../activities/cancelAmlJob';
import { checkAmlJob } from '../activities/checkAmlJob';
import { closeBatch } from '../activities/closeBatch';
import { joinBatch } from '../activities/joinBatch';
import { notifyMembers } from '../activities/notifyMembers';
import { durableOrchestrations, type Orchestrations } from '../adapters/orchestrations';
import { estimateDuration } from '../activities/estimateDuration';
import { deps, type Deps } from '../app/deps';
import { publishPredictions } from '../activities/publishPredictions';
import { recordOutage } from '../activities/recordOutage';
import { recordOutcome } from '../activities/recordOutcome';
import { submitAmlJob } from '../activities/submitAmlJob';
import { validateAndStage } from '../activities/validateAndStage';
import { errorProperties, PipelineError, toErrorInfo, type ErrorInfo } from '../domain/errors';
import { ACTIVITY } from '../orchestration/names';

/**
 * The activity boundary, in one place. An activity answers, or throws a PipelineError:
 * - permanent (`retryable: false`, or any error we did not type) → answered as `{ok: false, error}`,
 *   so the retry policy wastes no attempts on it;
 * - transient → thrown again for Durable's retry policy. Its code and retryable travel as structured
 *   exception properties (`FailureDetails.Properties`, durable-functions 3.5); the orchestrator decodes
 *   them in orchestration/activityError.ts.
 * The full error, with its stack and cause, goes to the log only.
 */
df.app.setExceptionPropertiesProvider({ getExceptionProperties: errorProperties });

const client = df.input.durableClient();

/** `withClient`: the activity starts or signals orchestrations (batches), through a durable client binding. */
/** What an activity registered without the client binding gets: a clear error if it ever uses it. */
const noClient = (): Promise<never> =>
  Promise.reject(new Error('this activity has no durable client binding'));
const withoutClient: Orchestrations = {
  state: noClient,
  start: noClient,
  startBatch: noClient,
  requestCancel: noClient,
  raise: noClient,
};

function register<I, O extends { ok: boolean }>(
  name: string,
  fn: (input: I, d: Deps, orch: Orchestrations) => Promise<O>,
  withClient = false,
): void {
  df.app.activity(name, {
    ...(withClient ? { extraInputs: [client] } : {}),
    handler: async (
      input: unknown,
      context: InvocationContext,
    ): Promise<O | { ok: false; error: ErrorInfo }> => {
      try {
        const orch = withClient ? durableOrchestrations(df.getClient(context)) : withoutClient;
        return await fn(input as I, deps(), orch);
      } catch (err) {
        if (err instanceof PipelineError && err.retryable) {
          context.warn(`${name}: ${err.code}: ${err.message} (the retry policy tries again)`);
          throw err;
        }
        context.error(`${name} failed:`, err);
        return { ok: false, error: toErrorInfo(err) };
      }
    },
  });
}

register(ACTIVITY.validateAndStage, validateAndStage);
register(ACTIVITY.submitAmlJob, submitAmlJob);
register(ACTIVITY.checkAmlJob, checkAmlJob);
register(ACTIVITY.recordOutage, recordOutage);
register(ACTIVITY.cancelAmlJob, cancelAmlJob);
register(ACTIVITY.publishPredictions, publishPredictions);
register(ACTIVITY.recordOutcome, recordOutcome);
register(ACTIVITY.joinBatch, joinBatch, true);
register(ACTIVITY.closeBatch, closeBatch);
register(ACTIVITY.notifyMembers, notifyMembers, true);
register(ACTIVITY.estimateDuration, estimateDuration);
