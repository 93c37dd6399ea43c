import { inputFolder, datastoreUri, stagingPaths } from '../domain/amlUris';
import { isBatchable } from '../domain/batch';
import { validateCsvStream, type ValidationReport } from '../domain/csv';
import { DEPLOYMENT_METADATA, deploymentNameProblem } from '../domain/deployment';
import { PipelineError, type ErrorInfo } from '../domain/errors';
import { normalizeEtag } from '../domain/jobId';
import type { StagedFile, ValidateInput, ValidateResult } from '../orchestration/contracts';
import type { Deps } from '../app/deps';
import { BlobSink } from './blobSink';
import { inParallel } from './inParallel';
import { quarantine } from './quarantine';

/** Files over this size take long enough to validate that the record says Validating while it runs. */
const SHOW_VALIDATING_BYTES = 8 * 1024 * 1024;

/** `part-00000.csv`, ...: a split file's parts, in order, in its input folder. */
export function partName(index: number): string {
  return `part-${String(index).padStart(5, '0')}.csv`;
}

/**
 * Reads the file once, streaming, to check it against the schema; then copies that same version
 * (pinned by ETag) into the AML datastore under a folder of its own. With SPLIT_ROWS on, the same pass
 * writes the file into that folder as parts of at most SPLIT_ROWS rows (each with the header): one
 * part is simply the staged file; more are scored as one folder job, spread over AML's instances. A fault of the user's file is
 * answered as a rejection (the file copied to quarantine with a report; the orchestrator records
 * `Rejected`). Every other failure is thrown: ours (configuration) or transient, never the file's.
 */
export async function validateAndStage(input: ValidateInput, d: Deps): Promise<ValidateResult> {
  const { jobId, source } = input;
  const s = d.settings;
  // One Validating write, at the end with the staged facts, timed from when validation began; a file
  // big enough to take a while is shown Validating at once as well.
  const started = d.now();

  const reject = async (error: ErrorInfo, report?: ValidationReport): Promise<ValidateResult> => {
    const detail = report ? { problems: report.problems, problemCount: report.problemCount } : {};
    const quarantined = await quarantine(d, jobId, source, error, report);
    return { ok: false, error, rejected: { ...detail, ...quarantined } };
  };

  try {
    // One Get Blob, pinned to this version (a metadata change is a new ETag, hence a new job): its
    // properties and metadata are this version's.
    const { info, body } = await d.data.openReadWithInfo(source.container, source.name, source.etag);
    if (normalizeEtag(info.etag) !== normalizeEtag(source.etag)) {
      body.destroy();
      throw new PipelineError('InputChanged', `${source.name} was replaced after it arrived.`);
    }
    if (info.size > SHOW_VALIDATING_BYTES) await d.jobs.transition(jobId, 'Validating', {}, started);
    // The API's ?deployment= wins over the blob's metadata; without either, AML_DEPLOYMENT_NAME.
    const asked = input.deployment ?? info.metadata?.[DEPLOYMENT_METADATA]?.trim();
    const badName = asked === undefined ? undefined : deploymentNameProblem(asked);
    if (badName) {
      body.destroy();
      const from =
        input.deployment !== undefined ? 'The requested deployment' : "The blob's metadata `deployment`";
      return await reject({ code: 'DeploymentInvalid', message: `${from} ${badName}`, retryable: false });
    }
    const deployment = asked || s.aml.deploymentName;
    if (info.size > s.maxInputBytes) {
      body.destroy();
      return await reject({
        code: 'InputTooLarge',
        message: `The file is ${info.size} bytes, over the limit of ${s.maxInputBytes} bytes (MAX_INPUT_BYTES).`,
        retryable: false,
      });
    }
    const container = s.aml.datastoreContainer;
    const paths = stagingPaths(s.aml.datastorePathPrefix, jobId, source.name);
    const folder = inputFolder(s.aml.datastorePathPrefix, jobId);
    const splitRows = s.publishMode === 'join' ? s.shaping.splitRows : 0;
    const parts: BlobSink[] = [];
    const report = await validateCsvStream(body, {
      schema: s.schema,
      maxBytes: s.maxInputBytes,
      maxProblems: s.maxReportedProblems,
      ...(splitRows > 0
        ? {
            split: {
              rows: splitRows,
              open: (index: number) => {
                const part = new BlobSink(d.datastore, container, `${folder}/${partName(index)}`);
                const previous = parts.at(-1);
                parts.push(part);
                // A part is committed once the next one gets its first bytes (all of its own came
                // before): one upload buffer at a time, whatever the file's size.
                let first = true;
                return {
                  write: (chunk: Buffer) => {
                    if (first) void previous?.end(true).catch(() => undefined); // surfaces at the final end()
                    first = false;
                    return part.write(chunk);
                  },
                  end: () => part.end(true),
                  abort: (err: unknown) => part.abort(err),
                };
              },
            },
          }
        : {}),
    }).catch((err: unknown) => datastoreMissing(err, container));
    if (!report.ok) {
      // Parts already committed are not the user's file: remove them (best effort; nothing reads them).
      await inParallel(parts, 8, (p) => d.datastore.delete(container, p.name).catch(() => undefined));
      return await reject(
        {
          code: report.errorCode ?? 'InputInvalidValues',
          message: report.summary ?? 'The file is not valid.',
          retryable: false,
        },
        report,
      );
    }

    let method: string;
    let staged: StagedFile;
    const outputUri = datastoreUri(s.aml.datastoreName, paths.output, s.aml.workspace);
    if (splitRows > 0) {
      await Promise.all(parts.map((p) => p.end(true)));
      method = 'streamed';
      const many = report.parts.length > 1;
      const inputPath = many ? `${folder}/` : `${folder}/${partName(0)}`;
      staged = {
        rows: report.rows,
        bytes: report.bytes,
        inputPath,
        outputPath: paths.output,
        inputUri: datastoreUri(s.aml.datastoreName, inputPath, s.aml.workspace),
        outputUri,
        ...(many
          ? { folder: true, parts: report.parts.map((p) => ({ rows: p.rows, firstLine: p.firstLine })) }
          : {}),
      };
    } else {
      method = await d.datastore
        .copyFrom(d.data, source, { container, name: paths.input })
        .catch((err: unknown) => datastoreMissing(err, container));
      staged = {
        rows: report.rows,
        bytes: report.bytes,
        inputPath: paths.input,
        outputPath: paths.output,
        inputUri: datastoreUri(s.aml.datastoreName, paths.input, s.aml.workspace),
        outputUri,
      };
    }
    await d.jobs.transition(
      jobId,
      'Validating',
      {
        rowCount: staged.rows,
        byteCount: staged.bytes,
        stagedInputUri: staged.inputUri,
        outputUri: staged.outputUri,
        stagedBy: method,
        ...(staged.parts ? { parts: staged.parts.length } : {}),
        ...(deployment ? { deployment } : {}),
      },
      started,
    );
    const batchable =
      s.publishMode === 'join' &&
      !staged.parts &&
      isBatchable(staged.rows, staged.bytes, limitsOf(s.shaping), s.shaping.splitRows);
    return { ok: true, staged, ...(deployment ? { deployment } : {}), ...(batchable ? { batchable } : {}) };
  } catch (err) {
    // The version this job is for is gone (overwritten or deleted): nothing to quarantine, and a newer
    // upload is a job of its own, so nothing is lost.
    if (err instanceof PipelineError && (err.code === 'InputChanged' || err.code === 'InputNotFound'))
      return { ok: false, error: err.toJSON(), rejected: {} };
    throw err;
  }
}

function limitsOf(x: Deps['settings']['shaping']): {
  windowSeconds: number;
  maxFiles: number;
  maxBytes: number;
} {
  return { windowSeconds: x.batchWindowSeconds, maxFiles: x.batchMaxFiles, maxBytes: x.batchMaxBytes };
}

/** The datastore container missing is our configuration: say which setting, never blame the file. */
function datastoreMissing(err: unknown, container: string): never {
  if (!(err instanceof PipelineError && err.code === 'StorageContainerMissing')) throw err;
  throw new PipelineError(
    'StorageContainerMissing',
    `The AML datastore container "${container}" does not exist in the account of ` +
      'AmlDatastoreStorage. Check AML_DATASTORE_CONTAINER (a real workspace names it azureml-blobstore-<guid>).',
    { cause: err },
  );
}
