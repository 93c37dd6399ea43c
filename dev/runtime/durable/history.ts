/**
 * Orchestration history events in the shape the Durable extension hands to out-of-proc SDKs: DTFx `HistoryEvent`
 * serialized with Newtonsoft (PascalCase, numeric `EventType`, ISO `Timestamp`). `EventType` numbers follow
 * durable-functions' `HistoryEventType`. Completion events carry `EventId: -1` and point at the scheduling event
 * through `TaskScheduledId` / `TimerId`, as in DTFx.
 */

export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
  GenericEvent: 17,
  HistoryState: 18,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

export type EventTypeName = keyof typeof EventType;
export const EventTypeNames: string[] = Object.keys(EventType);

export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [field: string]: unknown;
}

export interface FailureDetailsPayload {
  ErrorType: string;
  ErrorMessage: string;
  StackTrace?: string;
  IsNonRetriable: boolean;
  Properties?: Record<string, unknown>;
  InnerFailure?: FailureDetailsPayload;
}

/** What an activity failure looks like in `TaskFailed`. */
export interface TaskFailure {
  Reason: string;
  Details: string;
  FailureDetails?: FailureDetailsPayload;
}

function base(type: number, at: number, eventId = -1): HistoryEvent {
  return { EventType: type, EventId: eventId, IsPlayed: false, Timestamp: new Date(at).toISOString() };
}

export const events = {
  orchestratorStarted: (at: number): HistoryEvent => base(EventType.OrchestratorStarted, at),
  orchestratorCompleted: (at: number): HistoryEvent => base(EventType.OrchestratorCompleted, at),
  executionStarted: (
    at: number,
    o: { instanceId: string; executionId: string; name: string; input: string | null },
  ): HistoryEvent => ({
    ...base(EventType.ExecutionStarted, at),
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
  executionCompleted: (
    at: number,
    status: 'Completed' | 'Failed',
    result: string | null,
    failure?: FailureDetailsPayload,
  ): HistoryEvent => ({
    ...base(EventType.ExecutionCompleted, at),
    OrchestrationStatus: status,
    Result: result,
    ...(failure ? { FailureDetails: failure } : {}),
  }),
  executionTerminated: (at: number, reason: string | null): HistoryEvent => ({
    ...base(EventType.ExecutionTerminated, at),
    Input: reason,
  }),
  continueAsNew: (at: number, input: string | null): HistoryEvent => ({
    ...base(EventType.ContinueAsNew, at),
    Result: input,
  }),
  taskScheduled: (at: number, id: number, name: string, input: string | null): HistoryEvent => ({
    ...base(EventType.TaskScheduled, at, id),
    Name: name,
    Version: '',
    Input: input,
  }),
  taskCompleted: (at: number, taskScheduledId: number, result: string): HistoryEvent => ({
    ...base(EventType.TaskCompleted, at),
    TaskScheduledId: taskScheduledId,
    Result: result,
  }),
  taskFailed: (at: number, taskScheduledId: number, failure: TaskFailure): HistoryEvent => ({
    ...base(EventType.TaskFailed, at),
    TaskScheduledId: taskScheduledId,
    Reason: failure.Reason,
    Details: failure.Details,
    ...(failure.FailureDetails ? { FailureDetails: failure.FailureDetails } : {}),
  }),
  timerCreated: (at: number, id: number, fireAt: number): HistoryEvent => ({
    ...base(EventType.TimerCreated, at, id),
    FireAt: new Date(fireAt).toISOString(),
  }),
  timerFired: (at: number, timerId: number, fireAt: string): HistoryEvent => ({
    ...base(EventType.TimerFired, at),
    TimerId: timerId,
    FireAt: fireAt,
  }),
  eventRaised: (at: number, name: string, input: string | null): HistoryEvent => ({
    ...base(EventType.EventRaised, at),
    Name: name,
    Input: input,
  }),
};

/**
 * The failure an activity's exception becomes, as the extension's TaskActivityShim reports it: the worker's
 * RpcException message (`Result: Failure\nException: <message>\nStack: <stack>`) prefixed with
 * "Activity function '<name>' failed: ", details = the serialized exception. When the message is the JSON
 * `TaskFailureDetails` payload that durable-functions' `wrapActivityHandler` produces (a registered
 * ExceptionPropertiesProvider, which the app does not register), current extensions add structured
 * `FailureDetails`; the runtime does not.
 */
export function activityFailure(activityName: string, err: unknown): TaskFailure {
  const e = err instanceof Error ? err : new Error(String(err));
  const stack = e.stack ?? '';
  const rpcMessage = `Result: Failure\nException: ${e.message}\nStack: ${stack}`;
  return {
    Reason: `Activity function '${activityName}' failed: ${rpcMessage}`,
    Details: JSON.stringify({
      $type: 'Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException, Microsoft.Azure.WebJobs.Script',
      ClassName: 'Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException',
      Message: rpcMessage,
      Data: null,
      InnerException: null,
      HelpURL: null,
      StackTraceString: null,
      RemoteStackTraceString: stack,
      RemoteStackIndex: 0,
      HResult: -2146233088,
      Source: null,
      IsUserException: true,
      RemoteTypeName: e.name,
    }),
  };
}

/** Serializes a value the way completion payloads are stored (`Result`, `Input`): JSON text, never undefined. */
export function toJsonText(value: unknown): string {
  return value === undefined ? 'null' : JSON.stringify(value);
}
