import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { deps } from '../app/deps';
import { durableOrchestrations } from '../adapters/orchestrations';
import { settings } from '../config/settings';
import { onInboxBlob } from '../handlers/inbox';
import { registerBlobReferenceFactory, type BlobReference } from './blobReference';

registerBlobReferenceFactory();
const s = settings();

app.storageBlob('inboxTrigger', {
  path: `${s.inboxContainer}/{name}`,
  connection: s.dataStorageSettingName,
  // EventGrid in Azure (the only source Flex Consumption supports); LogsAndContainerScan for local func start.
  source: s.inboxTriggerSource,
  // Deferred binding: the host passes a reference, never the bytes, so files of any size are fine.
  sdkBinding: true,
  extraInputs: [df.input.durableClient()],
  handler: async (blob: unknown, context: InvocationContext): Promise<void> => {
    const started = await onInboxBlob(
      deps(),
      durableOrchestrations(df.getClient(context)),
      blob as BlobReference,
      context.triggerMetadata as never,
    );
    context.log(
      started.started
        ? `job ${started.jobId} received for ${(blob as BlobReference).blobName}`
        : `job ${started.jobId} already exists (${started.record.status}); nothing to start`,
    );
  },
});
