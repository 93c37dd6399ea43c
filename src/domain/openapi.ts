import { JOB_STATES } from './jobRecord';

/**
 * The HTTP API as an OpenAPI 3.1 document, served at GET /api/openapi.json. Tests keep it honest:
 * it validates as OpenAPI 3.1, it lists exactly the registered HTTP functions' routes and methods (the
 * per-route 405 functions are not operations and are described in `info.description` instead), and
 * real responses validate against its schemas.
 */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonOf = (schema: object) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: jsonOf(ref('Error')) });
const jobId = { name: 'id', in: 'path', required: true, schema: ref('JobId') } as const;
const failure = { default: error('Unexpected failure: 500, or 503 with Retry-After for a transient one.') };

const iso = { type: 'string', format: 'date-time' } as const;

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'AML batch-scoring pipeline',
    version: '1.0.0',
    description:
      'Drop a CSV, get predictions. Every error is `{"error": {"code", "message"}}`. A known route called ' +
      'with a method it does not serve answers 405 with an `Allow` header. In Azure every route needs a ' +
      'function key (`x-functions-key` header or `code` query parameter); locally the API is anonymous.',
  },
  servers: [{ url: '/api' }],
  security: [{ functionKey: [] }, { functionKeyQuery: [] }, {}],
  paths: {
    '/jobs': {
      post: {
        operationId: 'submitJob',
        summary:
          'Upload a CSV (up to the 100 MB request cap) and start its job, or start the job for a blob already in the inbox.',
        parameters: [
          {
            name: 'name',
            in: 'query',
            description: 'File name for a text/csv body (folders allowed); `.csv` is added if missing.',
            schema: { type: 'string', maxLength: 200 },
          },
          {
            name: 'deployment',
            in: 'query',
            description:
              'The AML deployment to score this file with (sent as `azureml-model-deployment`); default: the `deployment` metadata of the blob, else AML_DEPLOYMENT_NAME.',
            schema: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9-]{2,31}$' },
          },
        ],
        requestBody: {
          required: true,
          content: {
            'text/csv': { schema: { type: 'string', contentMediaType: 'text/csv' } },
            'application/json': { schema: ref('BlobRequest') },
          },
        },
        responses: {
          '202': {
            description: 'The job exists and runs (or had already run) for this file.',
            headers: { Location: { description: 'The job', schema: { type: 'string', format: 'uri' } } },
            content: jsonOf(ref('Accepted')),
          },
          '400': error('Bad JSON, blob name, file name or deployment name, or an empty body.'),
          '404': error('No such blob in the inbox.'),
          '413': error('The body is over the request cap; use POST /api/uploads.'),
          '415': error('Neither text/csv nor application/json.'),
          ...failure,
        },
      },
      get: {
        operationId: 'listJobs',
        summary: 'Jobs, newest first, one page at a time.',
        parameters: [
          {
            name: 'status',
            in: 'query',
            description: `One of ${JOB_STATES.join(', ')} (any letter case).`,
            schema: { type: 'string' },
          },
          { name: 'top', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } },
          {
            name: 'continuationToken',
            in: 'query',
            description: 'From the previous page; follow `nextLink` rather than building it.',
            schema: { type: 'string' },
          },
        ],
        responses: {
          '200': { description: 'One page.', content: jsonOf(ref('JobList')) },
          '400': error('Unknown status, bad top or a malformed continuation token.'),
          ...failure,
        },
      },
    },
    '/jobs/{id}': {
      get: {
        operationId: 'getJob',
        summary: 'One job record.',
        parameters: [jobId],
        responses: {
          '200': { description: 'The record.', content: jsonOf(ref('Job')) },
          '404': error('No such job.'),
          ...failure,
        },
      },
    },
    '/jobs/{id}/cancel': {
      post: {
        operationId: 'cancelJob',
        summary: 'Ask a running job to stop; its AML job is cancelled.',
        parameters: [jobId],
        responses: {
          '202': { description: 'Cancel requested.', content: jsonOf(ref('CancelAccepted')) },
          '404': error('No such job.'),
          '409': error('The job has already ended.'),
          ...failure,
        },
      },
    },
    '/jobs/{id}/retry': {
      post: {
        operationId: 'retryJob',
        summary:
          'Run a Failed, TimedOut or Canceled job again on the same file version, as a new linked job.',
        parameters: [jobId],
        responses: {
          '202': {
            description: 'The retry job (the same one for a repeated request).',
            headers: { Location: { description: 'The new job', schema: { type: 'string', format: 'uri' } } },
            content: jsonOf(ref('RetryAccepted')),
          },
          '404': error('No such job.'),
          '409': error('The job is not Failed, TimedOut or Canceled, or its file is gone or replaced.'),
          ...failure,
        },
      },
    },
    '/jobs/{id}/predictions': {
      get: {
        operationId: 'getPredictions',
        summary: 'The predictions CSV of a Succeeded job.',
        parameters: [jobId],
        responses: {
          '200': {
            description: 'The input columns plus `prediction`.',
            content: { 'text/csv': { schema: { type: 'string', contentMediaType: 'text/csv' } } },
          },
          '404': error('No such job.'),
          '409': error('The job has not Succeeded.'),
          '410': error('The predictions file was deleted.'),
          ...failure,
        },
      },
    },
    '/jobs/{id}/errors': {
      get: {
        operationId: 'getErrors',
        summary: 'The rows of a job that got no prediction, when there were any (see `errorsBlob`).',
        parameters: [jobId],
        responses: {
          '200': {
            description: '`input_line`, `reason`, then the input row as it was.',
            content: { 'text/csv': { schema: { type: 'string', contentMediaType: 'text/csv' } } },
          },
          '404': error('No such job, or it has no errors file.'),
          '410': error('The errors file was deleted.'),
          ...failure,
        },
      },
    },
    '/ui': {
      get: {
        operationId: 'ui',
        summary: 'The dashboard: one self-contained HTML page over this API.',
        responses: {
          '200': { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } },
          '404': error('The dashboard was not built (npm run build:web).'),
        },
      },
    },
    '/ui/{path}': {
      get: {
        operationId: 'uiAsset',
        summary: 'Another built file of the dashboard.',
        parameters: [{ name: 'path', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'The file, with its content type.' },
          '404': error('No such file.'),
        },
      },
    },
    '/batches/{id}': {
      get: {
        operationId: 'getBatch',
        summary:
          'A batch of small files that share one AML job (a job record names it as `batchId`), with each file’s own status.',
        parameters: [{ name: 'id', in: 'path', required: true, schema: ref('BatchId') }],
        responses: {
          '200': { description: 'The batch.', content: jsonOf(ref('Batch')) },
          '404': error('No such batch.'),
          ...failure,
        },
      },
    },
    '/uploads': {
      post: {
        operationId: 'createUpload',
        summary:
          'An upload URL for a file of any size: PUT the file to `uploadUrl` with `x-ms-blob-type: BlockBlob` (or Put Block and Put Block List); its job starts by itself.',
        parameters: [
          {
            name: 'name',
            in: 'query',
            description: 'File name (folders allowed); `.csv` is added if missing.',
            schema: { type: 'string', maxLength: 200 },
          },
          {
            name: 'deployment',
            in: 'query',
            description:
              'The AML deployment for this file: `uploadHeaders` in the answer carry it as `x-ms-meta-deployment`, which the PUT must send.',
            schema: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9-]{2,31}$' },
          },
        ],
        responses: {
          '201': { description: 'A create/write-only, short-lived URL.', content: jsonOf(ref('Upload')) },
          '400': error('Bad file name or deployment name.'),
          ...failure,
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'getOpenApi',
        summary: 'This document.',
        responses: { '200': { description: 'OpenAPI 3.1', content: jsonOf({ type: 'object' }) } },
      },
    },
  },
  components: {
    securitySchemes: {
      functionKey: { type: 'apiKey', in: 'header', name: 'x-functions-key' },
      functionKeyQuery: { type: 'apiKey', in: 'query', name: 'code' },
    },
    schemas: {
      JobId: { type: 'string', pattern: '^j\\d{13}-[0-9a-f]{20}$' },
      JobState: { type: 'string', enum: [...JOB_STATES] },
      BatchId: { type: 'string', pattern: '^b\\d{13}-[0-9a-f]{20}$' },
      Batch: {
        type: 'object',
        required: ['batchId', 'status', 'openedAt', 'files'],
        properties: {
          batchId: ref('BatchId'),
          status: {
            type: 'string',
            description:
              '`Open` (taking files), `Closed`, `Staging`, then as a job: Submitted … Succeeded/Failed/TimedOut/Canceled.',
          },
          deployment: { type: 'string' },
          openedAt: iso,
          closesAt: iso,
          closedAt: iso,
          amlJobName: { type: 'string' },
          amlStatus: { type: 'string' },
          amlStudioUrl: { type: 'string', format: 'uri' },
          rowCount: { type: 'integer' },
          byteCount: { type: 'integer' },
          rowsScored: { type: 'integer' },
          rowsFailed: { type: 'integer' },
          error: ref('JobError'),
          files: {
            type: 'array',
            items: {
              type: 'object',
              required: ['jobId', 'rows', 'bytes'],
              properties: {
                jobId: ref('JobId'),
                rows: { type: 'integer' },
                bytes: { type: 'integer' },
                status: ref('JobState'),
                sourceBlob: { type: 'string' },
                outputBlob: { type: 'string' },
                rowsScored: { type: 'integer' },
                rowsFailed: { type: 'integer' },
              },
            },
          },
        },
      },
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: { code: { type: 'string' }, message: { type: 'string' } },
          },
        },
      },
      BlobRequest: {
        type: 'object',
        required: ['blob'],
        properties: { blob: { type: 'string', description: 'A blob name in the inbox container.' } },
      },
      Accepted: {
        type: 'object',
        required: ['jobId', 'status', 'started', 'blob', 'statusUrl', 'predictionsUrl'],
        properties: {
          jobId: ref('JobId'),
          status: ref('JobState'),
          started: { type: 'boolean', description: 'False when the job already existed.' },
          blob: { type: 'string' },
          statusUrl: { type: 'string', format: 'uri' },
          predictionsUrl: { type: 'string', format: 'uri' },
        },
      },
      RetryAccepted: {
        allOf: [
          ref('Accepted'),
          { type: 'object', required: ['retryOf'], properties: { retryOf: ref('JobId') } },
        ],
      },
      CancelAccepted: {
        type: 'object',
        required: ['jobId', 'status', 'cancelRequested'],
        properties: { jobId: ref('JobId'), status: ref('JobState'), cancelRequested: { const: true } },
      },
      Upload: {
        type: 'object',
        required: ['uploadUrl', 'blob', 'expiresAt'],
        properties: {
          uploadUrl: { type: 'string', format: 'uri', description: 'SAS URL: create and write only.' },
          blob: { type: 'string', description: 'Where the file lands in the inbox.' },
          expiresAt: iso,
          uploadHeaders: {
            type: 'object',
            additionalProperties: { type: 'string' },
            description:
              'Headers the PUT must send: `x-ms-blob-type`, and `x-ms-meta-deployment` when one was asked for.',
          },
        },
      },
      JobList: {
        type: 'object',
        required: ['jobs'],
        properties: {
          jobs: { type: 'array', items: ref('Job') },
          nextLink: { type: 'string', format: 'uri', description: 'The next page, when there is one.' },
        },
      },
      JobError: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string' },
          message: { type: 'string' },
          retryable: { type: 'boolean' },
          at: iso,
          problems: {
            type: 'array',
            items: { type: 'object', properties: { line: { type: 'integer' }, column: { type: 'string' } } },
          },
          problemCount: { type: 'integer' },
        },
      },
      Job: {
        type: 'object',
        required: ['jobId', 'status', 'sourceContainer', 'sourceBlob', 'sourceEtag', 'receivedAt', 'phases'],
        properties: {
          jobId: ref('JobId'),
          status: ref('JobState'),
          sourceContainer: { type: 'string' },
          sourceBlob: { type: 'string' },
          sourceEtag: { type: 'string' },
          receivedAt: iso,
          createdAt: iso,
          updatedAt: iso,
          phases: { type: 'object', propertyNames: ref('JobState'), additionalProperties: iso },
          attempt: { type: 'integer', minimum: 0, description: '0 for the first job of a file version.' },
          retryOf: ref('JobId'),
          retriedBy: ref('JobId'),
          batchId: {
            ...ref('BatchId'),
            description: 'The batch whose AML job scored this file with others.',
          },
          parts: { type: 'integer', description: 'A file split into this many parts (SPLIT_ROWS).' },
          rowCount: { type: 'integer' },
          byteCount: { type: 'integer' },
          stagedInputUri: { type: 'string' },
          outputUri: { type: 'string' },
          stagedBy: { type: 'string', enum: ['server-side', 'streamed'] },
          amlJobName: { type: 'string' },
          amlStatus: { type: 'string' },
          amlStudioUrl: { type: 'string', format: 'uri' },
          amlPolls: { type: 'integer' },
          amlStatusHistory: {
            type: 'array',
            description: 'Each AML status once, with when it was first seen.',
            items: {
              type: 'object',
              required: ['status', 'since'],
              properties: { status: { type: 'string' }, since: iso },
            },
          },
          outage: {
            type: 'object',
            description: 'Set while AML or storage cannot be reached; cleared by the next answer.',
            required: ['since', 'lastError', 'missedChecks'],
            properties: { since: iso, lastError: ref('JobError'), missedChecks: { type: 'integer' } },
          },
          cancel: {
            type: 'object',
            description: 'What happened when our side asked AML to cancel its job.',
            required: ['requestedAt', 'confirmed'],
            properties: {
              requestedAt: iso,
              confirmed: { type: 'boolean' },
              amlAnswer: { type: 'string' },
            },
          },
          outputBlob: { type: 'string' },
          rowsScored: { type: 'integer', description: 'Rows written with a prediction.' },
          rowsFailed: { type: 'integer', description: 'Rows without a prediction, listed in `errorsBlob`.' },
          errorsBlob: { type: 'string', description: '`outbox/<name>_errors.csv`, when some row failed.' },
          deployment: {
            type: 'string',
            description: 'The AML deployment asked for; absent: the endpoint default.',
          },
          quarantineBlob: { type: 'string' },
          cancelRequested: { type: 'boolean' },
          warnings: { type: 'array', items: { type: 'string' } },
          error: ref('JobError'),
        },
      },
    },
  },
} as const;
