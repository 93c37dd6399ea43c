import { PassThrough } from 'node:stream';
import { outboxName } from '../domain/amlUris';
import { joinPredictions } from '../domain/csv';
import { PipelineError } from '../domain/errors';
import type { PublishInput, PublishResult } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

/**
 * Writes `outbox/<input without .csv>_predictions.csv`: every input column plus `prediction`,
 * row-aligned by AML's `row` index, streamed from the staged input and the predictions file (both in
 * the datastore, so an expired inbox file does not matter). Overwrites, so a retry lands the same file.
 * The orchestrator records `Succeeded` (or the failure) from the answer.
 * `PUBLISH_MODE=raw` copies AML's file unchanged, for scoring scripts with another output format.
 */
export async function publishPredictions(input: PublishInput, d: Deps): Promise<PublishResult> {
  const s = d.settings;
  const { jobId, staged } = input;
  const outName = outboxName(input.source.name);
  await d.jobs.transition(jobId, 'Publishing', {}, d.now());
  const predictionsInfo = await d.datastore
    .info(s.aml.datastoreContainer, staged.outputPath)
    .catch((err: unknown) => {
      if (!(err instanceof PipelineError && err.code === 'InputNotFound')) throw err;
      throw new PipelineError(
        'PredictionsInvalid',
        `AML reported the job Completed but wrote no predictions at ${s.aml.datastoreContainer}/${staged.outputPath}.`,
        { cause: err },
      );
    });
  let rows = staged.rows;
  if (s.publishMode === 'raw') {
    await d.data.copyFrom(
      d.datastore,
      { container: s.aml.datastoreContainer, name: staged.outputPath, etag: predictionsInfo.etag },
      { container: s.outboxContainer, name: outName },
    );
  } else {
    const [inputStream, predStream] = await Promise.all([
      d.datastore.openRead(s.aml.datastoreContainer, staged.inputPath),
      d.datastore.openRead(s.aml.datastoreContainer, staged.outputPath, predictionsInfo.etag),
    ]);
    const out = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
    const uploaded = d.data.upload(s.outboxContainer, outName, out, { metadata: { jobid: jobId } });
    const joined = joinPredictions(inputStream, predStream, async (chunk) => {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', r));
    }).then(
      (res) => {
        out.end();
        return res;
      },
      (err: unknown) => {
        out.destroy(err as Error);
        throw err;
      },
    );
    const [res] = await Promise.all([joined, uploaded]);
    rows = res.rows;
  }
  const outputBlob = `${s.outboxContainer}/${outName}`;
  return { ok: true, outputBlob, rows };
}
