/**
 * The wire shapes between the Durable extension and durable-functions: history events as DTFx `HistoryEvent`
 * serialized by Newtonsoft (PascalCase, numeric `EventType` as in durable-functions' `HistoryEventType`; completion
 * events carry `EventId: -1` and point at their scheduling event through `TaskScheduledId` / `TimerId`), and the
 * `OrchestratorState` an orchestrator invocation answers with (its `actions`, numbered as in `ActionType`).
 */

/** The DTFx event types the runtime records and reads (the numbering skips the ones it never writes). */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventRaised: 15,
  ContinueAsNew: 16,
} as const;

export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [field: string]: unknown;
}

const event = (type: number, at: number, fields: object = {}, eventId = -1): HistoryEvent => ({
  EventType: type,
  EventId: eventId,
  IsPlayed: false,
  Timestamp: new Date(at).toISOString(),
  ...fields,
});

export const events = {
  orchestratorStarted: (at: number) => event(EventType.OrchestratorStarted, at),
  orchestratorCompleted: (at: number) => event(EventType.OrchestratorCompleted, at),
  executionStarted: (
    at: number,
    o: { instanceId: string; executionId: string; name: string; input: string | null },
  ) =>
    event(EventType.ExecutionStarted, at, {
      OrchestrationInstance: { InstanceId: o.instanceId, ExecutionId: o.executionId },
      ParentInstance: null,
      Name: o.name,
      Version: '',
      Input: o.input,
      Tags: null,
      Correlation: null,
      ScheduledStartTime: null,
      Generation: 0,
    }),
  executionCompleted: (at: number, status: 'Completed' | 'Failed', result: string | null) =>
    event(EventType.ExecutionCompleted, at, { OrchestrationStatus: status, Result: result }),
  continueAsNew: (at: number, input: string | null) => event(EventType.ContinueAsNew, at, { Result: input }),
  taskScheduled: (at: number, id: number, name: string, input: string | null) =>
    event(EventType.TaskScheduled, at, { Name: name, Version: '', Input: input }, id),
  taskCompleted: (at: number, taskScheduledId: number, result: string) =>
    event(EventType.TaskCompleted, at, { TaskScheduledId: taskScheduledId, Result: result }),
  taskFailed: (at: number, taskScheduledId: number, failure: { Reason: string; Details: string }) =>
    event(EventType.TaskFailed, at, { TaskScheduledId: taskScheduledId, ...failure }),
  timerCreated: (at: number, id: number, fireAt: number) =>
    event(EventType.TimerCreated, at, { FireAt: new Date(fireAt).toISOString() }, id),
  timerFired: (at: number, timerId: number, fireAt: string) =>
    event(EventType.TimerFired, at, { TimerId: timerId, FireAt: fireAt }),
  eventRaised: (at: number, name: string, input: string | null) =>
    event(EventType.EventRaised, at, { Name: name, Input: input }),
};

/**
 * An activity's exception as the extension's TaskActivityShim reports it: the worker's RpcException message
 * (`Result: Failure\nException: <message>\nStack: <stack>`) after "Activity function '<name>' failed: ", details =
 * the serialized RpcException. Structured `FailureDetails` (newer extensions, with an exception properties
 * provider) are not emulated.
 */
export function activityFailure(activityName: string, err: unknown) {
  const e = err instanceof Error ? err : new Error(String(err));
  const rpcMessage = `Result: Failure\nException: ${e.message}\nStack: ${e.stack ?? ''}`;
  const rpcException = 'Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException';
  return {
    Reason: `Activity function '${activityName}' failed: ${rpcMessage}`,
    Details: JSON.stringify({
      $type: `${rpcException}, Microsoft.Azure.WebJobs.Script`,
      ClassName: rpcException,
      Message: rpcMessage,
      Data: null,
      InnerException: null,
      HelpURL: null,
      StackTraceString: null,
      RemoteStackTraceString: e.stack ?? '',
      RemoteStackIndex: 0,
      HResult: -2146233088,
      Source: null,
      IsUserException: true,
      RemoteTypeName: e.name,
    }),
  };
}

/** A completion payload (`Result`, `Input`): JSON text, never undefined. */
export const toJsonText = (value: unknown): string => (value === undefined ? 'null' : JSON.stringify(value));

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
export const actionName = (type: number): string => Object.keys(ActionType)[type] ?? `unknown(${type})`;

export interface RetryOptions {
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
  retryOptions?: RetryOptions;
  fireAt?: string;
  isCanceled?: boolean;
  externalEventName?: string;
  compoundActions?: RawAction[];
}

export interface OrchestratorState {
  isDone: boolean;
  actions: RawAction[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  schemaVersion?: number;
}
