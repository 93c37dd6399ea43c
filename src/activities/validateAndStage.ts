import { datastoreUri, stagingPaths } from '../domain/amlUris';
import { validateCsvStream, type ValidationReport } from '../domain/csv';
import { DEPLOYMENT_METADATA, deploymentNameProblem } from '../domain/deployment';
import { PipelineError, type ErrorInfo } from '../domain/errors';
import { normalizeEtag } from '../domain/jobId';
import type { ValidateInput, ValidateResult } from '../orchestration/contracts';
import type { Deps } from '../app/deps';
import { quarantine } from './quarantine';

/**
 * Reads the file once, streaming, to check it against the schema; then copies that same version
 * (pinned by ETag) into the AML datastore under a folder of its own. A fault of the user's file is
 * answered as a rejection (the file copied to quarantine with a report; the orchestrator records
 * `Rejected`). Every other failure is thrown: ours (configuration) or transient, never the file's.
 */
export async function validateAndStage(input: ValidateInput, d: Deps): Promise<ValidateResult> {
  const { jobId, source } = input;
  const s = d.settings;
  await d.jobs.transition(jobId, 'Validating', {}, d.now());

  const reject = async (error: ErrorInfo, report?: ValidationReport): Promise<ValidateResult> => {
    const detail = report ? { problems: report.problems, problemCount: report.problemCount } : {};
    const quarantined = await quarantine(d, jobId, source, error, report);
    return { ok: false, error, rejected: { ...detail, ...quarantined } };
  };

  try {
    const info = await d.data.info(source.container, source.name);
    // The metadata read must be this version's (a metadata change is a new ETag, hence a new job).
    if (normalizeEtag(info.etag) !== normalizeEtag(source.etag))
      throw new PipelineError('InputChanged', `${source.name} was replaced after it arrived.`);
    // The API's ?deployment= wins over the blob's metadata; without either, AML_DEPLOYMENT_NAME.
    const asked = input.deployment ?? info.metadata?.[DEPLOYMENT_METADATA]?.trim();
    const badName = asked === undefined ? undefined : deploymentNameProblem(asked);
    if (badName) {
      const from =
        input.deployment !== undefined ? 'The requested deployment' : "The blob's metadata `deployment`";
      return await reject({ code: 'DeploymentInvalid', message: `${from} ${badName}`, retryable: false });
    }
    const deployment = asked || s.aml.deploymentName;
    if (info.size > s.maxInputBytes) {
      return await reject({
        code: 'InputTooLarge',
        message: `The file is ${info.size} bytes, over the limit of ${s.maxInputBytes} bytes (MAX_INPUT_BYTES).`,
        retryable: false,
      });
    }
    const body = await d.data.openRead(source.container, source.name, source.etag);
    const report = await validateCsvStream(body, {
      schema: s.schema,
      maxBytes: s.maxInputBytes,
      maxProblems: s.maxReportedProblems,
    });
    if (!report.ok) {
      return await reject(
        {
          code: report.errorCode ?? 'InputInvalidValues',
          message: report.summary ?? 'The file is not valid.',
          retryable: false,
        },
        report,
      );
    }

    const paths = stagingPaths(s.aml.datastorePathPrefix, jobId, source.name);
    const method = await d.datastore
      .copyFrom(d.data, source, { container: s.aml.datastoreContainer, name: paths.input })
      .catch((err: unknown) => {
        if (!(err instanceof PipelineError && err.code === 'StorageContainerMissing')) throw err;
        throw new PipelineError(
          'StorageContainerMissing',
          `The AML datastore container "${s.aml.datastoreContainer}" does not exist in the account of ` +
            'AmlDatastoreStorage. Check AML_DATASTORE_CONTAINER (a real workspace names it azureml-blobstore-<guid>).',
          { cause: err },
        );
      });
    const staged = {
      rows: report.rows,
      bytes: report.bytes,
      inputPath: paths.input,
      outputPath: paths.output,
      inputUri: datastoreUri(s.aml.datastoreName, paths.input, s.aml.workspace),
      outputUri: datastoreUri(s.aml.datastoreName, paths.output, s.aml.workspace),
    };
    await d.jobs.transition(
      jobId,
      'Validating',
      {
        rowCount: staged.rows,
        byteCount: staged.bytes,
        stagedInputUri: staged.inputUri,
        outputUri: staged.outputUri,
        stagedBy: method,
        ...(deployment ? { deployment } : {}),
      },
      d.now(),
    );
    return { ok: true, staged, ...(deployment ? { deployment } : {}) };
  } catch (err) {
    // The version this job is for is gone (overwritten or deleted): nothing to quarantine, and a newer
    // upload is a job of its own, so nothing is lost.
    if (err instanceof PipelineError && (err.code === 'InputChanged' || err.code === 'InputNotFound'))
      return { ok: false, error: err.toJSON(), rejected: {} };
    throw err;
  }
}
