import { validationError, type ValidationIssue } from './errors';
import { extensionOf, parseJobUri } from './uris';

/** A blob in the emulator's storage account. */
export interface BlobLocation {
  container: string;
  /** Blob name (UriFile) or folder prefix without trailing slash (UriFolder input). */
  path: string;
}

/** A validated job request. */
export interface JobSpec {
  input: { name: string; type: 'UriFile' | 'UriFolder'; uri: string; location: BlobLocation };
  /** The output file: a UriFolder output gets `predictions.csv` inside it, as in Azure ML. */
  output: { name: string; type: 'UriFile' | 'UriFolder'; uri: string; location: BlobLocation };
  /** The request's InputData/OutputData as sent, echoed in the job resource. */
  inputData: Record<string, unknown>;
  outputData: Record<string, unknown>;
}

export interface RequestContext {
  /** Datastore name → container. */
  datastores: Readonly<Record<string, string>>;
  accountUrl: string;
  workspaceName: string;
  /** Where a job without OutputData writes, given its name. */
  defaultOutputUri: (jobName: string) => string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Exactly one entry; an empty or missing map is reported by the caller, which knows whether it is required. */
function single(
  map: Record<string, unknown>,
  property: 'InputData' | 'OutputData',
  issues: ValidationIssue[],
): [string, Record<string, unknown>] | undefined {
  const entries = Object.entries(map);
  if (entries.length > 1) {
    issues.push({
      PropertyName: property,
      ErrorMessage: `Model deployments take ${property === 'InputData' ? 'exactly one input' : 'at most one output'}; got ${entries.length} (${entries.map(([k]) => k).join(', ')}).`,
      ErrorCode: property === 'InputData' ? 'TooManyInputs' : 'TooManyOutputs',
    });
    return undefined;
  }
  const [name, value] = entries[0]!;
  if (!isObject(value)) {
    issues.push({
      PropertyName: `${property}.${name}`,
      ErrorMessage: 'must be an object with a type and a Uri.',
      ErrorCode: 'InvalidValue',
    });
    return undefined;
  }
  return [name, value];
}

function resolve(
  uri: unknown,
  property: string,
  isOutput: boolean,
  ctx: RequestContext,
  issues: ValidationIssue[],
): { uri: string; location: BlobLocation } | undefined {
  if (typeof uri !== 'string' || !uri.trim()) {
    issues.push({
      PropertyName: `${property}.Uri`,
      ErrorMessage: 'The Uri field is required.',
      ErrorCode: 'Required',
    });
    return undefined;
  }
  const parsed = parseJobUri(uri.trim(), ctx.accountUrl);
  if (parsed.kind === 'invalid') {
    issues.push({ PropertyName: `${property}.Uri`, ErrorMessage: parsed.message, ErrorCode: parsed.code });
    return undefined;
  }
  if (parsed.kind === 'blobUrl') {
    if (isOutput) {
      issues.push({
        PropertyName: `${property}.Uri`,
        ErrorMessage:
          'Outputs can only go to a blob datastore (azureml://datastores/<datastore>/paths/<path>).',
        ErrorCode: 'InvalidOutputUri',
      });
      return undefined;
    }
    return { uri, location: { container: parsed.container, path: parsed.path } };
  }
  const container = ctx.datastores[parsed.datastore];
  if (container === undefined) {
    issues.push({
      PropertyName: `${property}.Uri`,
      ErrorMessage: `Datastore '${parsed.datastore}' was not found in workspace '${ctx.workspaceName}'. Known datastores: ${Object.keys(ctx.datastores).join(', ')}.`,
      ErrorCode: 'DatastoreNotFound',
    });
    return undefined;
  }
  return { uri, location: { container, path: parsed.path } };
}

function type(
  value: unknown,
  property: string,
  issues: ValidationIssue[],
): 'UriFile' | 'UriFolder' | undefined {
  if (value === 'UriFile' || value === 'UriFolder') return value;
  const literal = value === 'Literal';
  issues.push({
    PropertyName: property,
    ErrorMessage:
      value === undefined
        ? `The ${property.split('.').pop()} field is required (UriFile or UriFolder).`
        : literal
          ? 'Literal inputs are only supported by pipeline deployments; model deployments take UriFile or UriFolder.'
          : `${JSON.stringify(value)} is not supported; use UriFile or UriFolder.`,
    ErrorCode: value === undefined ? 'Required' : 'InvalidValue',
  });
  return undefined;
}

/** Validates a POST /jobs body as Azure ML does for a model deployment; throws a 400 listing every problem. */
export function parseJobRequest(rawBody: string, jobName: string, ctx: RequestContext): JobSpec {
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch (err) {
    throw validationError([
      {
        PropertyName: '',
        ErrorMessage: `The request body is not valid JSON: ${(err as Error).message}`,
        ErrorCode: 'InvalidRequestBody',
      },
    ]);
  }
  if (!isObject(body) || !isObject(body.properties)) {
    throw validationError([
      {
        PropertyName: 'properties',
        ErrorMessage: 'The properties field is required.',
        ErrorCode: 'Required',
      },
    ]);
  }
  const props = body.properties;
  const issues: ValidationIssue[] = [];

  let input: JobSpec['input'] | undefined;
  const inputData = props.InputData;
  if (!isObject(inputData) || Object.keys(inputData).length === 0) {
    issues.push({
      PropertyName: 'InputData',
      ErrorMessage: 'The InputData field is required: give exactly one input.',
      ErrorCode: 'Required',
    });
  } else {
    const one = single(inputData, 'InputData', issues);
    if (one) {
      const [name, value] = one;
      const at = `InputData.${name}`;
      const t = type(value.JobInputType, `${at}.JobInputType`, issues);
      const r = resolve(value.Uri, at, false, ctx, issues);
      if (t && r) {
        const path = r.location.path.replace(/\/+$/, '');
        const ext = extensionOf(path);
        if (t === 'UriFile' && ext === 'parquet') {
          issues.push({
            PropertyName: `${at}.Uri`,
            ErrorMessage: 'Parquet input is supported by Azure ML but not by this emulator; use a .csv file.',
            ErrorCode: 'UnsupportedByEmulator',
          });
        } else if (t === 'UriFile' && ext !== 'csv') {
          issues.push({
            PropertyName: `${at}.Uri`,
            ErrorMessage: `The file type "${ext || '(none)'}" is not supported: input files must be .csv or .parquet.`,
            ErrorCode: 'UnsupportedFileType',
          });
        } else {
          input = { name, type: t, uri: r.uri, location: { ...r.location, path } };
        }
      }
    }
  }

  let output: JobSpec['output'] | undefined;
  const outputData = props.OutputData ?? {};
  if (!isObject(outputData)) {
    issues.push({
      PropertyName: 'OutputData',
      ErrorMessage: 'OutputData must be an object.',
      ErrorCode: 'InvalidValue',
    });
  } else if (Object.keys(outputData).length === 0) {
    const uri = ctx.defaultOutputUri(jobName);
    const r = resolve(uri, 'OutputData.score', true, ctx, issues);
    if (r) output = { name: 'score', type: 'UriFile', ...r };
  } else {
    const one = single(outputData, 'OutputData', issues);
    if (one) {
      const [name, value] = one;
      const at = `OutputData.${name}`;
      const t = type(value.JobOutputType, `${at}.JobOutputType`, issues);
      const r = resolve(value.Uri, at, true, ctx, issues);
      if (t && r) {
        const trimmed = r.location.path.replace(/\/+$/, '');
        if (t === 'UriFile' && trimmed !== r.location.path) {
          issues.push({
            PropertyName: `${at}.Uri`,
            ErrorMessage: 'A UriFile output must name a file, not a folder.',
            ErrorCode: 'InvalidValue',
          });
        } else {
          const path = t === 'UriFolder' ? `${trimmed}/predictions.csv` : trimmed;
          output = { name, type: t, uri: r.uri, location: { ...r.location, path } };
        }
      }
    }
  }

  if (issues.length || !input || !output) throw validationError(issues);
  const echoedOutput =
    isObject(props.OutputData) && Object.keys(props.OutputData).length
      ? props.OutputData
      : { score: { JobOutputType: 'UriFile', Uri: output.uri } };
  return { input, output, inputData: inputData as Record<string, unknown>, outputData: echoedOutput };
}
