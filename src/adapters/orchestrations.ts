import type { DurableClient } from 'durable-functions';
import { ORCHESTRATION, CANCEL_EVENT } from '../orchestration/names';
import type { ScoreJobInput } from '../orchestration/contracts';

/** The few things handlers ask of Durable Functions, over its client. */
export interface Orchestrations {
  /** `none` when no instance has this id. */
  state(instanceId: string): Promise<'none' | 'active' | 'ended'>;
  start(instanceId: string, input: ScoreJobInput): Promise<void>;
  requestCancel(instanceId: string): Promise<void>;
}

const ACTIVE = new Set(['Pending', 'Running', 'ContinuedAsNew', 'Suspended']);

export function durableOrchestrations(client: DurableClient): Orchestrations {
  return {
    async state(instanceId) {
      const s = await client.getStatus(instanceId).catch((err: unknown) => {
        // The client reports an unknown instance as an error (404) in some versions, as undefined in others.
        if (/404|not found/i.test(String((err as Error)?.message ?? err))) return undefined;
        throw err;
      });
      if (!s || !s.runtimeStatus) return 'none';
      return ACTIVE.has(String(s.runtimeStatus)) ? 'active' : 'ended';
    },
    async start(instanceId, input) {
      await client.startNew(ORCHESTRATION.scoreJob, { instanceId, input });
    },
    async requestCancel(instanceId) {
      await client.raiseEvent(instanceId, CANCEL_EVENT, { at: 'api' });
    },
  };
}
