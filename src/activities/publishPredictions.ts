import type { Readable } from 'node:stream';
import { errorsName, outboxName } from '../domain/amlUris';
import { memberFileName } from '../domain/batch';
import { joinParts, type JoinPart } from '../domain/csv';
import { PipelineError } from '../domain/errors';
import type { PublishInput, PublishResult, StagedFile } from '../orchestration/contracts';
import type { Deps } from '../app/deps';
import { BlobSink } from './blobSink';
import { partName } from './validateAndStage';
import { readRuns, regroup } from './regroup';

/**
 * Writes `outbox/<input without .csv>_predictions.csv`: every input column plus `prediction`,
 * row-aligned by AML's `row` index, streamed from the staged input and the predictions (both in the
 * datastore, so an expired inbox file does not matter). Rows AML gave no prediction for go to
 * `outbox/<name>_errors.csv` (written only when there are some; a stale one from an earlier version of
 * the file is deleted). With no row scored the predictions file is removed: the job fails.
 * Overwrites, so a retry lands the same files. The orchestrator records the outcome from the answer.
 *
 * Where the predictions come from:
 * - a plain job: AML's output file;
 * - a split file: AML's output regrouped per part, then joined part after part into one file in input
 *   order (header once, error lines numbered as in the input);
 * - a batch member: its runs of the batch's regrouped output;
 * - a batch itself publishes nothing to the outbox: it regroups its output per member (each member's
 *   orchestration then publishes its own file).
 * `PUBLISH_MODE=raw` copies AML's file unchanged, for scoring scripts with another output format.
 */
export async function publishPredictions(input: PublishInput, d: Deps): Promise<PublishResult> {
  const s = d.settings;
  const { jobId, staged } = input;
  const container = s.aml.datastoreContainer;
  await d.jobs.transition(jobId, 'Publishing', {}, d.now());
  // A plain job's predictions are read in one Get Blob below; the other paths pin AML's file by ETag.
  const plain = !staged.members && !staged.parts && !staged.predictionRuns && s.publishMode === 'join';
  const outputEtag = staged.predictionRuns || plain ? undefined : await predictionsEtag(d, staged);

  if (staged.members) {
    const { rowsByFile } = await regroup(
      d,
      staged.outputPath,
      outputEtag!,
      new Set(staged.members.map(memberFileName)),
    );
    const rows = [...rowsByFile.values()].reduce((a, b) => a + b, 0);
    return { ok: true, rows, rowsFailed: Math.max(0, staged.rows - rows) };
  }

  const outName = outboxName(input.source.name);
  const errName = errorsName(input.source.name);
  let rows = staged.rows;
  let rowsFailed = 0;
  if (s.publishMode === 'raw') {
    await d.data.copyFrom(
      d.datastore,
      { container, name: staged.outputPath, etag: outputEtag! },
      { container: s.outboxContainer, name: outName },
    );
  } else {
    const read = (name: string) => (): Promise<Readable> => d.datastore.openRead(container, name);
    let pieces: JoinPart[];
    if (staged.parts) {
      const names = staged.parts.map((_, k) => partName(k));
      const { runs } = await regroup(d, staged.outputPath, outputEtag!, new Set(names));
      pieces = staged.parts.map((p, k) => ({
        input: read(`${staged.inputPath}${names[k]}`),
        predictions: readRuns(d, runs[names[k]!] ?? []),
        firstLine: p.firstLine,
      }));
    } else {
      const predictions = staged.predictionRuns
        ? readRuns(d, staged.predictionRuns)
        : (
            await d.datastore
              .openReadWithInfo(container, staged.outputPath)
              .catch((err: unknown) => noPredictions(err, container, staged))
          ).body;
      pieces = [{ input: read(staged.inputPath), predictions }];
    }
    const out = new BlobSink(d.data, s.outboxContainer, outName, { jobid: jobId });
    const errors = new BlobSink(d.data, s.outboxContainer, errName, { jobid: jobId });
    try {
      const res = await joinParts(pieces, (c) => out.write(c), { errors: (c) => errors.write(c) });
      rows = res.rows;
      rowsFailed = res.failed;
      await Promise.all([out.end(), errors.end()]);
    } catch (err) {
      await Promise.all([out.abort(err), errors.abort(err)]);
      throw err;
    }
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

/** The version of AML's output file to read. */
async function predictionsEtag(d: Deps, staged: StagedFile): Promise<string> {
  const container = d.settings.aml.datastoreContainer;
  const info = await d.datastore
    .info(container, staged.outputPath)
    .catch((err: unknown) => noPredictions(err, container, staged));
  return info.etag;
}

/** A Completed job without its output file is AML's fault: said so. */
function noPredictions(err: unknown, container: string, staged: StagedFile): never {
  if (!(err instanceof PipelineError && err.code === 'InputNotFound')) throw err;
  throw new PipelineError(
    'PredictionsInvalid',
    `AML reported the job Completed but wrote no predictions at ${container}/${staged.outputPath}.`,
    { cause: err },
  );
}
