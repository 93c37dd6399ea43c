import type { ErrorCode, ErrorInfo } from '../domain/errors';

/**
 * What an activity that threw (and ran out of retries) looks like to the orchestrator, decoded into the
 * ErrorInfo the activity threw. The registration (functions/activities.ts) registers an exception
 * properties provider, so durable-functions (`app.wrapActivityHandler`, v3.5) replaces the thrown
 * message with a TaskFailureDetails JSON payload: `{errorType, errorMessage, properties: {code,
 * retryable}, stackTrace}`. The host then hands it back in one of two shapes:
 * - current extension bundles (>= 4.37.1, azure-functions-durable-extension PR #3451) put it in the
 *   TaskFailed event's `FailureDetails`; the library throws a `TaskFailedError` carrying `failureDetails`;
 * - older ones only have `Reason` = "Activity function '<name>' failed: <the worker's message>" and
 *   `Details` = the serialized RpcException (TaskActivityShim.cs, OutOfProcExceptionHelpers.cs); the
 *   library throws `new Error(`${Reason} \n ${Details}`)` (TaskOrchestrationExecutor.js). The payload is
 *   the first JSON object in that text that has an `errorType`.
 * Either way only `code`, `retryable` and `errorMessage` reach the record: never the stack or the RPC text.
 */
interface Payload {
  errorMessage?: unknown;
  properties?: { code?: unknown; retryable?: unknown };
}

export function activityError(err: unknown, activity: string): ErrorInfo {
  const details = (err as { failureDetails?: { errorMessage?: unknown; properties?: unknown } })
    ?.failureDetails;
  const payload: Payload | undefined = details
    ? { errorMessage: details.errorMessage, properties: details.properties as Payload['properties'] }
    : payloadIn(err instanceof Error ? err.message : String(err));
  const code = payload?.properties?.code;
  if (payload && typeof code === 'string' && typeof payload.errorMessage === 'string') {
    return {
      code: code as ErrorCode,
      message: payload.errorMessage,
      retryable: payload.properties?.retryable === true,
    };
  }
  // An exception the registration did not type (it converts every one it sees, so this is the host's).
  return {
    code: 'Internal',
    message: `${activity} kept failing and its error could not be read; the app's logs have the details.`,
    retryable: true,
  };
}

const MARK = '{"errorType"';

/** The first complete JSON object starting at MARK, found by matching braces outside strings. */
function payloadIn(text: string): Payload | undefined {
  const start = text.indexOf(MARK);
  if (start < 0) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      try {
        return JSON.parse(text.slice(start, i + 1)) as Payload;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
