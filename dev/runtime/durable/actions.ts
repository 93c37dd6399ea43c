/**
 * What an orchestrator invocation returns: durable-functions' `OrchestratorState` (`{ isDone, actions, output, error,
 * customStatus, schemaVersion }`), either as the function's return value or, when the orchestrator threw, embedded in
 * the error message after `$OutOfProcData$:` (OrchestrationFailureError), which is how the extension reads it too.
 */

export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  ScheduledSignalEntity: 10,
  WhenAny: 11,
  WhenAll: 12,
  LockEntities: 13,
  ReleaseEntities: 14,
} as const;

const ACTION_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ActionType).map(([k, v]) => [v, k]),
);

export function actionName(type: number): string {
  return ACTION_NAMES[type] ?? `unknown(${type})`;
}

export interface RetryOptionsJson {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

export interface RawAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  retryOptions?: RetryOptionsJson;
  fireAt?: string;
  isCanceled?: boolean;
  externalEventName?: string;
  compoundActions?: RawAction[];
  [field: string]: unknown;
}

export interface OrchestratorState {
  isDone: boolean;
  actions: RawAction[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  schemaVersion?: number;
}

export const OUT_OF_PROC_DATA = '$OutOfProcData$:';

/** Extracts the orchestrator state from a failed orchestrator invocation, if the SDK embedded one. */
export function stateFromFailure(err: Error): OrchestratorState | undefined {
  const i = err.message.indexOf(OUT_OF_PROC_DATA);
  if (i < 0) return undefined;
  try {
    return JSON.parse(err.message.slice(i + OUT_OF_PROC_DATA.length)) as OrchestratorState;
  } catch {
    return undefined;
  }
}

export function parseState(value: unknown): OrchestratorState {
  const state = (typeof value === 'string' ? JSON.parse(value) : value) as OrchestratorState | undefined;
  if (!state || typeof state !== 'object' || !Array.isArray(state.actions)) {
    throw new Error(
      'Out of proc orchestrators must return a valid JSON schema (no OrchestratorState in the response)',
    );
  }
  return state;
}

/**
 * The atomic actions in scheduling order, the order in which the extension's shim replays them into DTFx (each
 * replay returns every action since the execution started). Compound actions (Task.all / Task.any) contribute
 * their children in order. With replay schema >= V2 the outer array must have exactly one element.
 */
export function flattenActions(state: OrchestratorState): RawAction[] {
  const schema = state.schemaVersion ?? 0;
  if (schema < 1) {
    throw new Error(
      `Replay schema V1 is not supported by the local runtime (the orchestrator answered with schemaVersion ${schema})`,
    );
  }
  if (state.actions.length !== 1) {
    throw new Error(
      `With OOProc schema V${schema + 1}, expected actions array to be of length 1 in outer layer but got size: ${state.actions.length}`,
    );
  }
  const out: RawAction[] = [];
  const walk = (list: RawAction[]): void => {
    for (const a of list) {
      if (a.actionType === ActionType.WhenAll || a.actionType === ActionType.WhenAny)
        walk(a.compoundActions ?? []);
      else out.push(a);
    }
  };
  walk(state.actions[0] ?? []);
  return out;
}

/** A replay-stable description of an action, used to detect non-deterministic orchestrators. */
export function actionSignature(a: RawAction): string {
  switch (a.actionType) {
    case ActionType.CallActivity:
    case ActionType.CallActivityWithRetry:
      return `${actionName(a.actionType)}:${a.functionName ?? ''}`;
    case ActionType.WaitForExternalEvent:
      return `${actionName(a.actionType)}:${a.externalEventName ?? ''}`;
    default:
      return actionName(a.actionType);
  }
}

/**
 * Action inputs arrive as the SDK serialized them: `Utils.processInput` JSON-encodes strings (so the worker's
 * "parse the string if it is JSON" step gives the string back), other values are plain JSON. Returns the value the
 * orchestrator passed.
 */
export function decodeActionInput(input: unknown): unknown {
  if (typeof input !== 'string') return input;
  try {
    return JSON.parse(input);
  } catch {
    return input;
  }
}
