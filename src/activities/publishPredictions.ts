import { PassThrough } from 'node:stream';
import { errorsName, outboxName } from '../domain/amlUris';
import { joinPredictions } from '../domain/csv';
import { PipelineError } from '../domain/errors';
import type { PublishInput, PublishResult } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

/**
 * Writes `outbox/<input without .csv>_predictions.csv`: every input column plus `prediction`,
 * row-aligned by AML's `row` index, streamed from the staged input and the predictions file (both in
 * the datastore, so an expired inbox file does not matter). Rows AML gave no prediction for go to
 * `outbox/<name>_errors.csv` (written only when there are some; a stale one from an earlier version of
 * the file is deleted). With no row scored the predictions file is removed: the job fails.
 * Overwrites, so a retry lands the same files.
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
  let rowsFailed = 0;
  const errName = errorsName(input.source.name);
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
    const out = new Upload(d, outName, jobId);
    const errors = new Upload(d, errName, jobId);
    const res = await joinPredictions(inputStream, predStream, (c) => out.write(c), {
      errors: (c) => errors.write(c),
    }).then(
      async (r) => {
        await Promise.all([out.end(), errors.end()]);
        return r;
      },
      async (err: unknown) => {
        await Promise.all([out.abort(err), errors.abort(err)]);
        throw err;
      },
    );
    rows = res.rows;
    rowsFailed = res.failed;
  }
  if (rowsFailed === 0) await d.data.delete(s.outboxContainer, errName);
  if (rows === 0) await d.data.delete(s.outboxContainer, outName);
  return {
    ok: true,
    rows,
    rowsFailed,
    ...(rows > 0 ? { outputBlob: `${s.outboxContainer}/${outName}` } : {}),
    ...(rowsFailed > 0 ? { errorsBlob: `${s.outboxContainer}/${errName}` } : {}),
  };
}

/** An outbox blob streamed as chunks arrive (with backpressure); nothing is written until the first chunk. */
class Upload {
  private stream: PassThrough | undefined;
  private done: Promise<unknown> | undefined;

  constructor(
    private readonly d: Deps,
    private readonly name: string,
    private readonly jobId: string,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    if (!this.stream) {
      const stream = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
      this.stream = stream;
      const s = this.d.settings;
      this.done = this.d.data.upload(s.outboxContainer, this.name, stream, {
        metadata: { jobid: this.jobId },
      });
      // Surfaces through end()/abort(); without this an early upload failure would be unhandled.
      this.done.catch(() => undefined);
    }
    const stream = this.stream;
    if (stream.write(chunk)) return;
    // An upload that fails stops reading: its error, not a drain that never comes, ends the wait.
    await Promise.race([
      new Promise<void>((r) => stream.once('drain', r)),
      this.done!.then(() => {
        throw new Error(`The upload of ${this.name} ended before its data did`);
      }),
    ]);
  }

  async end(): Promise<void> {
    this.stream?.end();
    await this.done;
  }

  async abort(err: unknown): Promise<void> {
    this.stream?.destroy(err as Error);
    await this.done?.catch(() => undefined);
  }
}
