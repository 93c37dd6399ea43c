import { readFileSync } from 'node:fs';
import defaultSchema from '../domain/schemas/diamonds.json';
import { parseSchema, type InputSchema } from '../domain/schema';
import type { PollSchedule } from '../domain/pollSchedule';
import { PipelineError } from '../domain/errors';
import type { WorkspaceCoordinates } from '../domain/amlUris';

export type { WorkspaceCoordinates };

/**
 * Every setting the app reads, read and validated once. A wrong or missing setting fails at start-up
 * with a message that names it, instead of deep inside the first job.
 */

/** A storage account reached either by a connection string (local) or by identity (Azure). */
export type StorageConnection =
  | { kind: 'connectionString'; connectionString: string }
  | {
      kind: 'identity';
      blobServiceUri: string;
      queueServiceUri?: string;
      tableServiceUri?: string;
      /** Client id of a user-assigned managed identity; absent means DefaultAzureCredential's choice. */
      clientId?: string;
    };

export type AmlAuth =
  | { kind: 'azure'; clientId?: string }
  /** Local emulator only: a fixed bearer token, refused unless the scoring URI is on loopback. */
  | { kind: 'emulator'; token: string };

export interface Settings {
  dataStorage: StorageConnection;
  /** Name of the connection setting the blob trigger binding uses. */
  dataStorageSettingName: string;
  inboxContainer: string;
  outboxContainer: string;
  quarantineContainer: string;
  jobsTable: string;
  inboxTriggerSource: 'EventGrid' | 'LogsAndContainerScan';
  aml: {
    scoringUri: string;
    deploymentName?: string;
    auth: AmlAuth;
    managementUri: string;
    workspace?: WorkspaceCoordinates;
    datastoreName: string;
    datastoreStorage: StorageConnection;
    datastoreContainer: string;
    datastorePathPrefix: string;
    requestTimeoutMs: number;
  };
  schema: InputSchema;
  maxInputBytes: number;
  maxReportedProblems: number;
  poll: PollSchedule;
  jobDeadlineSeconds: number;
  publishMode: 'join' | 'raw';
  shaping: Shaping;
  api: ApiSettings;
}

/** How files are shaped for AML (README, "Shaping the input"): coalesced when small, split when large. */
export interface Shaping {
  /** 0 = no coalescing: one AML job per file. */
  batchWindowSeconds: number;
  batchMaxFiles: number;
  batchMaxBytes: number;
  /** 0 = never split. */
  splitRows: number;
}

/** The HTTP API's limits and the reconciler's bounds. */
export interface ApiSettings {
  /** The host's request body cap (`FUNCTIONS_REQUEST_BODY_SIZE_LIMIT`, default 100 MB): bigger files go through /api/uploads. */
  requestBodyLimitBytes: number;
  /** How long an upload URL from POST /api/uploads stays valid. */
  uploadUrlMinutes: number;
  /** NCRONTAB, 6 fields; the timer binding names it as %RECONCILE_SCHEDULE%. */
  reconcileSchedule: string;
  /** How far back the reconciler looks for inbox blobs without a job. */
  reconcileLookbackHours: number;
  /** What the reconciler leaves alone because it may still be in flight (an Event Grid event, a start). */
  reconcileGraceSeconds: number;
  /** Blobs and records the reconciler examines per run, at most. */
  reconcileMaxItems: number;
}

type Env = Record<string, string | undefined>;

/**
 * Every setting the app reads, one row each: `required` has no default; otherwise `default` is what an
 * unset or empty value means (the README's settings table says the same). Readers below take names of
 * this table only, so a setting cannot be read without being declared here. Keep one row per line.
 */
const TABLE = {
  AML_SCORING_URI: { required: true },
  DataStorage: { required: true },
  AmlDatastoreStorage: { required: true },
  INBOX_CONTAINER: { default: 'inbox' },
  OUTBOX_CONTAINER: { default: 'outbox' },
  QUARANTINE_CONTAINER: { default: 'quarantine' },
  JOBS_TABLE: { default: 'jobs' },
  INBOX_TRIGGER_SOURCE: { default: 'EventGrid' },
  AML_DEPLOYMENT_NAME: {},
  AML_AUTH: { default: 'azure' },
  AML_CLIENT_ID: {},
  AML_EMULATOR_TOKEN: { default: 'local-dev-token' },
  /** On a loopback scoring URI the default is that URI's origin (the emulator serves both planes). */
  AML_MANAGEMENT_URI: { default: 'https://management.azure.com' },
  AML_SUBSCRIPTION_ID: {},
  AML_RESOURCE_GROUP: {},
  AML_WORKSPACE_NAME: {},
  AML_DATASTORE_NAME: { default: 'workspaceblobstore' },
  AML_DATASTORE_CONTAINER: { default: 'azureml-blobstore-local' },
  AML_DATASTORE_PATH_PREFIX: { default: 'batch-scoring' },
  AML_REQUEST_TIMEOUT_SECONDS: { default: 60 },
  INPUT_SCHEMA: {},
  MAX_INPUT_BYTES: { default: 10 * 1024 ** 3 },
  MAX_REPORTED_PROBLEMS: { default: 20 },
  POLL_FIRST_DELAY_SECONDS: { default: 30 },
  POLL_BACKOFF_FACTOR: { default: 1.5 },
  POLL_MAX_DELAY_SECONDS: { default: 300 },
  /** Poll around a duration learned from the deployment's recent jobs of similar size. */
  POLL_LEARNED_TIMING: { default: 'true' },
  /** An Event Grid subscription delivers AML run events to amlEventsTrigger (infra `amlEventsEnabled`). */
  AML_EVENTS_ENABLED: { default: 'false' },
  JOB_DEADLINE_SECONDS: { default: 24 * 3600 },
  PUBLISH_MODE: { default: 'join' },
  BATCH_WINDOW_SECONDS: { default: 300 },
  BATCH_MAX_FILES: { default: 100 },
  BATCH_MAX_BYTES: { default: 256 * 1024 ** 2 },
  SPLIT_ROWS: { default: 50_000 },
  /** Read by host.json (the Durable task hub), not by this module. */
  DURABLE_TASK_HUB: {},
  /** azure-functions-host ScriptConstants.DefaultMaxRequestBodySize; the host reads the same variable. */
  FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: { default: 104_857_600 },
  UPLOAD_URL_MINUTES: { default: 60 },
  /** The host resolves %RECONCILE_SCHEDULE% in the timer binding; read here only to fail early on a bad value. */
  RECONCILE_SCHEDULE: { default: '0 */5 * * * *' },
  RECONCILE_LOOKBACK_HOURS: { default: 48 },
  RECONCILE_GRACE_SECONDS: { default: 300 },
  RECONCILE_MAX_ITEMS: { default: 200 },
} as const satisfies Record<string, { required?: true; default?: string | number }>;

type Name = keyof typeof TABLE;
type WithDefault<T> = { [K in Name]: (typeof TABLE)[K] extends { default: T } ? K : never }[Name];

const ALL = Object.keys(TABLE) as Name[];
const isRequired = (n: Name): boolean => 'required' in TABLE[n];

/** Every setting name the app reads; the infra drift test checks that the Bicep sets the required ones. */
export const SETTING_NAMES = {
  required: ALL.filter(isRequired),
  optional: ALL.filter((n) => !isRequired(n)),
};

const DATA_STORAGE = 'DataStorage' satisfies Name;
const AML_DATASTORE_STORAGE = 'AmlDatastoreStorage' satisfies Name;

function fail(name: string, problem: string): never {
  throw new PipelineError('ConfigInvalid', `Setting ${name} ${problem}`);
}

/** The value, else the table's default; a required setting without a value fails. */
function str(env: Env, name: Name, fallback?: string): string {
  const v = env[name]?.trim();
  if (v) return v;
  const d = fallback ?? (TABLE[name] as { default?: string | number }).default;
  if (d !== undefined) return String(d);
  return fail(name, 'is required but not set');
}

function optional(env: Env, name: Name | `${Name}__${string}`): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

function num(env: Env, name: WithDefault<number>, check: (n: number) => boolean, rule: string): number {
  const raw = optional(env, name);
  if (raw === undefined) return TABLE[name].default;
  const n = Number(raw);
  if (!Number.isFinite(n) || !check(n)) fail(name, `must be ${rule} (got "${raw}")`);
  return n;
}

function bool(env: Env, name: WithDefault<string>): boolean {
  const v = str(env, name).toLowerCase();
  if (v !== 'true' && v !== 'false') fail(name, `must be "true" or "false" (got "${v}")`);
  return v === 'true';
}

const positiveSeconds = (env: Env, name: WithDefault<number>): number =>
  num(env, name, (n) => n > 0, 'a positive number of seconds');

/** Whether a URI points at this machine (where only a local emulator can be). */
export function isLoopbackUri(uri: string): boolean {
  return ['localhost', '127.0.0.1', '[::1]', '::1'].includes(new URL(uri).hostname);
}

function url(env: Env, name: Name, fallback?: string): string {
  const v = str(env, name, fallback);
  try {
    const u = new URL(v);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    fail(name, `must be an absolute http(s) URL (got "${v}")`);
  }
  return v.replace(/\/+$/, '');
}

const CONTAINER_NAME = /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/;
function container(env: Env, name: WithDefault<string>): string {
  const v = str(env, name);
  if (!CONTAINER_NAME.test(v)) fail(name, `is not a valid blob container name (got "${v}")`);
  return v;
}

/**
 * Reads a connection the way the Functions host does: `<prefix>` as a connection string, or
 * `<prefix>__blobServiceUri` / `__accountName` (+ `__queueServiceUri`, `__tableServiceUri`, `__clientId`) for identity.
 */
export function readStorageConnection(env: Env, prefix: Name): StorageConnection {
  const cs = optional(env, prefix);
  if (cs) return { kind: 'connectionString', connectionString: cs };
  const account = optional(env, `${prefix}__accountName`);
  const blob =
    optional(env, `${prefix}__blobServiceUri`) ?? (account && `https://${account}.blob.core.windows.net`);
  if (!blob) {
    return fail(
      prefix,
      `is required: set ${prefix} to a connection string, or ${prefix}__accountName / ${prefix}__blobServiceUri for identity-based access`,
    );
  }
  const queue =
    optional(env, `${prefix}__queueServiceUri`) ?? (account && `https://${account}.queue.core.windows.net`);
  const table =
    optional(env, `${prefix}__tableServiceUri`) ?? (account && `https://${account}.table.core.windows.net`);
  const clientId = optional(env, `${prefix}__clientId`);
  return {
    kind: 'identity',
    blobServiceUri: blob,
    ...(queue ? { queueServiceUri: queue } : {}),
    ...(table ? { tableServiceUri: table } : {}),
    ...(clientId ? { clientId } : {}),
  };
}

function readSchema(env: Env): InputSchema {
  const raw = optional(env, 'INPUT_SCHEMA');
  if (!raw) return parseSchema(defaultSchema);
  let json: unknown;
  try {
    json = JSON.parse(raw.startsWith('{') ? raw : readFileSync(raw, 'utf8'));
  } catch (err) {
    fail('INPUT_SCHEMA', `must be schema JSON or the path of a JSON file (${(err as Error).message})`);
  }
  try {
    return parseSchema(json);
  } catch (err) {
    return fail('INPUT_SCHEMA', `is not a valid schema: ${(err as Error).message}`);
  }
}

function readWorkspace(env: Env): WorkspaceCoordinates | undefined {
  const names = ['AML_SUBSCRIPTION_ID', 'AML_RESOURCE_GROUP', 'AML_WORKSPACE_NAME'] as const;
  const values = names.map((n) => optional(env, n));
  if (values.every((v) => v === undefined)) return undefined;
  const missing = names.filter((_, i) => values[i] === undefined);
  if (missing.length) fail(missing.join(', '), 'must be set together with the other workspace coordinates');
  return { subscriptionId: values[0]!, resourceGroup: values[1]!, workspaceName: values[2]! };
}

function readAmlAuth(env: Env, scoringUri: string): AmlAuth {
  const mode = str(env, 'AML_AUTH');
  if (mode === 'azure') {
    const clientId = optional(env, 'AML_CLIENT_ID') ?? optional(env, `${DATA_STORAGE}__clientId`);
    return clientId ? { kind: 'azure', clientId } : { kind: 'azure' };
  }
  if (mode === 'emulator') {
    if (!isLoopbackUri(scoringUri)) {
      const host = new URL(scoringUri).hostname;
      fail(
        'AML_AUTH',
        `"emulator" sends a fixed token and is only allowed with a loopback AML_SCORING_URI (got host "${host}")`,
      );
    }
    return { kind: 'emulator', token: str(env, 'AML_EMULATOR_TOKEN') };
  }
  return fail('AML_AUTH', `must be "azure" or "emulator" (got "${mode}")`);
}

export function loadSettings(env: Env = process.env): Settings {
  const scoringUri = url(env, 'AML_SCORING_URI');
  const source = str(env, 'INBOX_TRIGGER_SOURCE');
  if (source !== 'EventGrid' && source !== 'LogsAndContainerScan') {
    fail('INBOX_TRIGGER_SOURCE', `must be "EventGrid" or "LogsAndContainerScan" (got "${source}")`);
  }
  const publishMode = str(env, 'PUBLISH_MODE');
  if (publishMode !== 'join' && publishMode !== 'raw')
    fail('PUBLISH_MODE', `must be "join" or "raw" (got "${publishMode}")`);
  const prefix = str(env, 'AML_DATASTORE_PATH_PREFIX').replace(/^\/+|\/+$/g, '');
  const deploymentName = optional(env, 'AML_DEPLOYMENT_NAME');
  const workspace = readWorkspace(env);
  const tableName = str(env, 'JOBS_TABLE');
  if (!/^[A-Za-z][A-Za-z0-9]{2,62}$/.test(tableName))
    fail('JOBS_TABLE', `is not a valid table name (got "${tableName}")`);

  return {
    dataStorage: readStorageConnection(env, DATA_STORAGE),
    dataStorageSettingName: DATA_STORAGE,
    inboxContainer: container(env, 'INBOX_CONTAINER'),
    outboxContainer: container(env, 'OUTBOX_CONTAINER'),
    quarantineContainer: container(env, 'QUARANTINE_CONTAINER'),
    jobsTable: tableName,
    inboxTriggerSource: source,
    aml: {
      scoringUri,
      ...(deploymentName ? { deploymentName } : {}),
      auth: readAmlAuth(env, scoringUri),
      managementUri: url(
        env,
        'AML_MANAGEMENT_URI',
        isLoopbackUri(scoringUri) ? new URL(scoringUri).origin : undefined,
      ),
      ...(workspace ? { workspace } : {}),
      datastoreName: str(env, 'AML_DATASTORE_NAME'),
      datastoreStorage: readStorageConnection(env, AML_DATASTORE_STORAGE),
      datastoreContainer: container(env, 'AML_DATASTORE_CONTAINER'),
      datastorePathPrefix: prefix,
      requestTimeoutMs: positiveSeconds(env, 'AML_REQUEST_TIMEOUT_SECONDS') * 1000,
    },
    schema: readSchema(env),
    maxInputBytes: num(env, 'MAX_INPUT_BYTES', (n) => n > 0, 'a positive number of bytes'),
    maxReportedProblems: num(
      env,
      'MAX_REPORTED_PROBLEMS',
      (n) => Number.isInteger(n) && n > 0,
      'a positive integer',
    ),
    poll: {
      firstDelaySeconds: positiveSeconds(env, 'POLL_FIRST_DELAY_SECONDS'),
      factor: num(env, 'POLL_BACKOFF_FACTOR', (n) => n >= 1, 'a number >= 1'),
      maxDelaySeconds: positiveSeconds(env, 'POLL_MAX_DELAY_SECONDS'),
      learned: bool(env, 'POLL_LEARNED_TIMING'),
      events: bool(env, 'AML_EVENTS_ENABLED'),
    },
    jobDeadlineSeconds: positiveSeconds(env, 'JOB_DEADLINE_SECONDS'),
    publishMode,
    shaping: {
      batchWindowSeconds: num(
        env,
        'BATCH_WINDOW_SECONDS',
        (n) => n >= 0 && n <= 3600,
        'seconds from 0 to 3600',
      ),
      // The member list is one table property (at most 32k characters): 100 members fit with room to spare.
      batchMaxFiles: num(
        env,
        'BATCH_MAX_FILES',
        (n) => Number.isInteger(n) && n >= 1 && n <= 100,
        'an integer from 1 to 100',
      ),
      batchMaxBytes: num(env, 'BATCH_MAX_BYTES', (n) => n > 0, 'a positive number of bytes'),
      splitRows: num(env, 'SPLIT_ROWS', (n) => Number.isInteger(n) && n >= 0, 'an integer >= 0'),
    },
    api: readApiSettings(env),
  };
}

function readApiSettings(env: Env): ApiSettings {
  const schedule = str(env, 'RECONCILE_SCHEDULE');
  if (schedule.split(/\s+/).length !== 6)
    fail('RECONCILE_SCHEDULE', `must be an NCRONTAB expression with 6 fields (got "${schedule}")`);
  return {
    requestBodyLimitBytes: num(
      env,
      'FUNCTIONS_REQUEST_BODY_SIZE_LIMIT',
      (n) => n > 0,
      'a positive number of bytes',
    ),
    uploadUrlMinutes: num(
      env,
      'UPLOAD_URL_MINUTES',
      (n) => n > 0 && n <= 7 * 24 * 60,
      'minutes from 1 to 10080',
    ),
    reconcileSchedule: schedule,
    reconcileLookbackHours: num(env, 'RECONCILE_LOOKBACK_HOURS', (n) => n > 0, 'a positive number of hours'),
    reconcileGraceSeconds: num(env, 'RECONCILE_GRACE_SECONDS', (n) => n >= 0, 'a number of seconds >= 0'),
    reconcileMaxItems: num(
      env,
      'RECONCILE_MAX_ITEMS',
      (n) => Number.isInteger(n) && n > 0,
      'a positive integer',
    ),
  };
}

let cached: Settings | undefined;

/** The settings of this process, read on first use. */
export function settings(): Settings {
  cached ??= loadSettings();
  return cached;
}
