import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { deps } from '../app/deps';
import { durableOrchestrations } from '../adapters/orchestrations';
import { settings } from '../config/settings';
import { onInboxBlob } from '../handlers/inbox';
import { registerBlobReferenceFactory } from './blobReference';

registerBlobReferenceFactory();
const s = settings();

app.storageBlob('inboxTrigger', {
  path: `${s.inboxContainer}/{name}`,
  connection: s.dataStorageSettingName,
  // EventGrid in Azure (the only source Flex Consumption supports); LogsAndContainerScan for local func start.
  source: s.inboxTriggerSource,
  // Deferred binding: the host passes a reference, not the bytes (it may still fall back to the bytes; see onInboxBlob).
  sdkBinding: true,
  extraInputs: [df.input.durableClient()],
  handler: async (blob: unknown, context: InvocationContext): Promise<void> => {
    const job = await onInboxBlob(
      deps(),
      durableOrchestrations(df.getClient(context)),
      blob,
      context.triggerMetadata,
    );
    if (!job)
      context.log(`blob ${String(context.triggerMetadata?.blobTrigger)} no longer exists; nothing to start`);
    else if (job.started) context.log(`job ${job.jobId} received for ${job.record.sourceBlob}`);
    else context.log(`job ${job.jobId} already exists (${job.record.status}); nothing to start`);
  },
});
