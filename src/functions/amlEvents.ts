import { app, type EventGridEvent, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { deps } from '../app/deps';
import { endpointNameOf, onAmlEvent } from '../handlers/amlEvents';
import { AML_STATUS_EVENT } from '../orchestration/names';

/**
 * AML run events from the workspace's Event Grid system topic (infra `amlEventsEnabled`), delivered to
 * `/runtime/webhooks/eventgrid?functionName=amlEventsTrigger`: one event per invocation.
 */
app.eventGrid('amlEventsTrigger', {
  extraInputs: [df.input.durableClient()],
  handler: async (event: EventGridEvent, context: InvocationContext): Promise<void> => {
    const client = df.getClient(context);
    const d = deps();
    const r = await onAmlEvent(event, {
      endpointName: endpointNameOf(d.settings.aml.scoringUri),
      instanceFor: (name) => d.amlJobs.get(name),
      raise: async (instanceId, data) => {
        try {
          await client.raiseEvent(instanceId, AML_STATUS_EVENT, data);
          return 'raised';
        } catch (err) {
          if (/No instance with ID/i.test((err as Error).message)) return 'gone';
          throw err;
        }
      },
    });
    context.log(
      r.action === 'ignored'
        ? `AML event ${String(event.id)} ignored: ${r.reason}`
        : `AML event ${String(event.id)}: ${r.event.amlJobName} ${r.event.amlStatus} -> ${r.instanceId} (${r.action})`,
    );
  },
});
