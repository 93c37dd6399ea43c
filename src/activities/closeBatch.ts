import { BatchHeads } from '../adapters/batchHeads';
import { inputFolder, datastoreUri, folderOutput } from '../domain/amlUris';
import { closed, memberFileName } from '../domain/batch';
import { PipelineError } from '../domain/errors';
import type { JobRecord } from '../domain/jobRecord';
import type { CloseBatchInput, CloseBatchResult, StagedFile } from '../orchestration/contracts';
import type { Deps } from '../app/deps';
import { ensureBatchRecord } from './batchRecord';
import { inParallel } from './inParallel';

/**
 * Closes the batch (if its head is still open: the window has passed), then stages it: each member's
 * staged file is copied, server-side, into the batch's folder as `<jobId>.csv`, so that files with the
 * same name from different inbox folders never collide and AML's `file_name` names the member. The
 * folder holds exactly the members: a file that lost the race to join is never in it. Repeatable.
 */
export async function closeBatch(input: CloseBatchInput, d: Deps): Promise<CloseBatchResult> {
  const s = d.settings;
  const heads = new BatchHeads(d.jobs.client);
  let rec: JobRecord | undefined;
  for (let attempt = 0; attempt < 20 && !rec; attempt++) {
    const { head, etag } = await heads.read(input.deployment);
    if (head?.batchId !== input.batchId) {
      // Already replaced by a newer batch, which happens only after this one's record was written.
      rec = await d.jobs.get(input.batchId);
      if (!rec) throw new PipelineError('Internal', `batch ${input.batchId} has neither a head nor a record`);
      break;
    }
    const frozen = closed(head, d.now());
    if (head.state === 'open' && !(await heads.write(frozen, etag))) continue;
    rec = await ensureBatchRecord(d, frozen);
  }
  if (!rec?.files)
    throw new PipelineError(
      'StorageConflict',
      `batch ${input.batchId} could not be closed under contention`,
      {
        retryable: true,
      },
    );

  const container = s.aml.datastoreContainer;
  const folder = inputFolder(s.aml.datastorePathPrefix, input.batchId);
  await inParallel(rec.files, 8, async (f) => {
    // A member's staged file is written once and never changed: no version to pin, no HEAD first.
    await d.datastore.copyFrom(
      d.datastore,
      { container, name: f.input },
      { container, name: `${folder}/${memberFileName(f.jobId)}` },
    );
  });
  const output = folderOutput(s.aml.datastorePathPrefix, input.batchId);
  const staged: StagedFile = {
    rows: rec.rowCount ?? 0,
    bytes: rec.byteCount ?? 0,
    inputPath: `${folder}/`,
    outputPath: output,
    inputUri: datastoreUri(s.aml.datastoreName, `${folder}/`, s.aml.workspace),
    outputUri: datastoreUri(s.aml.datastoreName, output, s.aml.workspace),
    folder: true,
    members: rec.files.map((f) => f.jobId),
  };
  await d.jobs.transition(
    input.batchId,
    'Validating',
    {
      stagedInputUri: staged.inputUri,
      outputUri: staged.outputUri,
      closedAt: rec.closedAt ?? d.now().toISOString(),
    },
    d.now(),
  );
  return { ok: true, staged };
}
