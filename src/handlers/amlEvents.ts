import { AML_STATUSES, isAmlTerminal } from '../domain/amlStatus';
import type { AmlStatusEvent } from '../orchestration/contracts';

/** The two AML event types that carry a run's status (aml-batch-contract notes; Learn `event-schema-machine-learning`). */
export const RUN_STATUS_CHANGED = 'Microsoft.MachineLearningServices.RunStatusChanged';
export const RUN_COMPLETED = 'Microsoft.MachineLearningServices.RunCompleted';

/** An Event Grid event as the trigger binds it (Event Grid schema); only what is read here. */
export interface AmlRunEvent {
  id?: string;
  eventType?: string;
  eventTime?: string;
  subject?: string;
  data?: { experimentName?: string; runId?: string; runStatus?: string };
}

export interface AmlEventDeps {
  /** The batch endpoint's name (the runs' experiment); undefined = not known, the index alone decides. */
  endpointName: string | undefined;
  /** The orchestration instance waiting on an AML job, if it is one of ours. */
  instanceFor(amlJobName: string): Promise<string | undefined>;
  /** Raises the event; 'gone' when no such instance exists (a finished one takes it silently). */
  raise(instanceId: string, event: AmlStatusEvent): Promise<'raised' | 'gone'>;
}

export type AmlEventOutcome =
  | { action: 'ignored'; reason: string }
  | { action: 'raised' | 'gone'; instanceId: string; event: AmlStatusEvent };

/**
 * One AML run event → at most one external event on the orchestration that owns the AML job. Only the ends
 * (Completed, Failed, Canceled) are passed on: every raise wakes the orchestration, and for the other statuses
 * polling is enough. A hint only, so anything unexpected is ignored rather than failed: a failure would make
 * Event Grid redeliver the event for a day to no purpose. Lookup and raise errors do fail (and are redelivered).
 */
export async function onAmlEvent(event: AmlRunEvent, d: AmlEventDeps): Promise<AmlEventOutcome> {
  const ignore = (reason: string): AmlEventOutcome => ({ action: 'ignored', reason });
  const data = event.data ?? {};
  if (event.eventType !== RUN_STATUS_CHANGED && event.eventType !== RUN_COMPLETED)
    return ignore(`event type ${String(event.eventType)}`);
  if (d.endpointName && data.experimentName?.toLowerCase() !== d.endpointName.toLowerCase())
    return ignore(`experiment ${String(data.experimentName)} is not endpoint ${d.endpointName}`);
  // Learn's RunStatusChanged example writes "failed": statuses are matched without regard to case.
  const reported = event.eventType === RUN_COMPLETED ? 'Completed' : String(data.runStatus);
  const amlStatus = AML_STATUSES.find((s) => s.toLowerCase() === reported.toLowerCase());
  if (!amlStatus || !isAmlTerminal(amlStatus)) return ignore(`status ${reported} is not an end`);
  if (!data.runId) return ignore('no runId');
  const instanceId = await d.instanceFor(data.runId);
  if (!instanceId) return ignore(`AML job ${data.runId} is not one of ours`);
  const raised: AmlStatusEvent = {
    amlJobName: data.runId,
    amlStatus,
    ...(event.eventTime ? { at: event.eventTime } : {}),
  };
  return { action: await d.raise(instanceId, raised), instanceId, event: raised };
}

/** `https://<endpoint>.<region>.inference.ml.azure.com/jobs` → `<endpoint>`; other URIs (the emulator) → undefined. */
export function endpointNameOf(scoringUri: string): string | undefined {
  const host = new URL(scoringUri).hostname;
  return /\.inference\.ml\.azure\.com$/i.test(host) ? host.split('.')[0] : undefined;
}
