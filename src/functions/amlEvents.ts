import { app, type EventGridEvent, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { AmlJobIndex } from '../adapters/amlJobIndex';
import { settings } from '../config/settings';
import { endpointNameOf, onAmlEvent } from '../handlers/amlEvents';
import { AML_STATUS_EVENT } from '../orchestration/names';

const s = settings();
let index: AmlJobIndex | undefined;

/**
 * AML run events from the workspace's Event Grid system topic (infra `amlEventsEnabled`), delivered to
 * `/runtime/webhooks/eventgrid?functionName=amlEventsTrigger`: one event per invocation.
 */
app.eventGrid('amlEventsTrigger', {
  extraInputs: [df.input.durableClient()],
  handler: async (event: EventGridEvent, context: InvocationContext): Promise<void> => {
    const client = df.getClient(context);
    const r = await onAmlEvent(event, {
      endpointName: endpointNameOf(s.aml.scoringUri),
      instanceFor: (name) => (index ??= AmlJobIndex.fromConnection(s.dataStorage, s.jobsTable)).get(name),
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
