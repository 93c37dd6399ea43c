import type { DurableClient } from 'durable-functions';
import { ORCHESTRATION, CANCEL_EVENT } from '../orchestration/names';
import type { BatchInput, ScoreJobInput } from '../orchestration/contracts';

/** What the Durable client reports about one instance, as far as the app cares. */
export interface InstanceView {
  /** durable-functions' OrchestrationRuntimeStatus: Pending, Running, ContinuedAsNew, Suspended, Completed, Failed, Terminated, Canceled. */
  runtimeStatus: string;
  output?: unknown;
}

/** The few things handlers ask of Durable Functions, over its client. */
export interface Orchestrations {
  /** `none` when no instance has this id. */
  state(instanceId: string): Promise<'none' | 'active' | 'ended'>;
  start(instanceId: string, input: ScoreJobInput): Promise<void>;
  startBatch(batchId: string, input: BatchInput): Promise<void>;
  requestCancel(instanceId: string): Promise<void>;
  raise(instanceId: string, event: string, data: unknown): Promise<void>;
}

/** What the reconciler needs besides: the instance's status, or undefined when no instance has this id. */
export interface InspectableOrchestrations extends Orchestrations {
  inspect(instanceId: string): Promise<InstanceView | undefined>;
}

export const ACTIVE_STATUSES: ReadonlySet<string> = new Set([
  'Pending',
  'Running',
  'ContinuedAsNew',
  'Suspended',
]);

export function durableOrchestrations(client: DurableClient): InspectableOrchestrations {
  const inspect = async (instanceId: string): Promise<InstanceView | undefined> => {
    const s = await client.getStatus(instanceId).catch((err: unknown) => {
      // durable-functions v3 rejects an unknown instance ("...replied with HTTP 404 response..."); older ones resolved undefined.
      if (/404|not found/i.test(String((err as Error)?.message ?? err))) return undefined;
      throw err;
    });
    if (!s || !s.runtimeStatus) return undefined;
    return { runtimeStatus: String(s.runtimeStatus), ...(s.output != null ? { output: s.output } : {}) };
  };
  return {
    inspect,
    async state(instanceId) {
      const s = await inspect(instanceId);
      if (!s) return 'none';
      return ACTIVE_STATUSES.has(s.runtimeStatus) ? 'active' : 'ended';
    },
    async start(instanceId, input) {
      await client.startNew(ORCHESTRATION.scoreJob, { instanceId, input });
    },
    async startBatch(batchId, input) {
      await client.startNew(ORCHESTRATION.batch, { instanceId: batchId, input });
    },
    async requestCancel(instanceId) {
      await client.raiseEvent(instanceId, CANCEL_EVENT, { at: 'api' });
    },
    async raise(instanceId, event, data) {
      await client.raiseEvent(instanceId, event, data);
    },
  };
}
