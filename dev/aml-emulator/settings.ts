import { checkEventGrid, type EventGridSettings } from './eventGrid';
import { checkFaults, DEFAULT_FAULTS, type EmulatorFaults } from './faults';
import { DEFAULT_TIMINGS, INSTANT_TIMINGS, checkTimings, type EmulatorTimings } from './jobs';
import type { AmlEmulatorOptions } from './options';

/** Every environment setting the emulator reads; README.md documents them. */
export const ENV = {
  port: 'AML_EMULATOR_PORT',
  host: 'AML_EMULATOR_HOST',
  storage: 'AML_EMULATOR_STORAGE',
  stateContainer: 'AML_EMULATOR_STATE_CONTAINER',
  datastores: 'AML_EMULATOR_DATASTORES',
  requiredToken: 'AML_EMULATOR_REQUIRED_TOKEN',
  forbiddenToken: 'AML_EMULATOR_FORBIDDEN_TOKEN',
  defaultDeployment: 'AML_EMULATOR_DEFAULT_DEPLOYMENT',
  deployments: 'AML_EMULATOR_DEPLOYMENTS',
  subscriptionId: 'AML_EMULATOR_SUBSCRIPTION_ID',
  resourceGroup: 'AML_EMULATOR_RESOURCE_GROUP',
  workspaceName: 'AML_EMULATOR_WORKSPACE',
  endpointName: 'AML_EMULATOR_ENDPOINT',
  timings: 'AML_EMULATOR_TIMINGS',
  modelTimeScale: 'AML_EMULATOR_MODEL_TIME_SCALE',
} as const;

const TIMING_ENV: Record<keyof EmulatorTimings, string> = {
  notStartedMs: 'AML_EMULATOR_NOT_STARTED_MS',
  queuedMs: 'AML_EMULATOR_QUEUED_MS',
  preparingMs: 'AML_EMULATOR_PREPARING_MS',
  runningMs: 'AML_EMULATOR_RUNNING_MS',
  finalizingMs: 'AML_EMULATOR_FINALIZING_MS',
  cancelMs: 'AML_EMULATOR_CANCEL_MS',
};

const FAULT_ENV: Record<keyof EmulatorFaults, string> = {
  failJobs: 'AML_EMULATOR_FAIL_JOBS',
  throttleRate: 'AML_EMULATOR_THROTTLE_RATE',
  unavailableRate: 'AML_EMULATOR_UNAVAILABLE_RATE',
  hangInQueued: 'AML_EMULATOR_HANG_IN_QUEUED',
  scoringDelayMsPerRow: 'AML_EMULATOR_SCORING_DELAY_MS_PER_ROW',
  plainTextErrors: 'AML_EMULATOR_PLAIN_TEXT_ERRORS',
  unreachable: 'AML_EMULATOR_UNREACHABLE',
  refuseCancel: 'AML_EMULATOR_REFUSE_CANCEL',
  seed: 'AML_EMULATOR_SEED',
};

const EVENT_GRID_ENV: Record<keyof EventGridSettings, string> = {
  url: 'AML_EMULATOR_EVENT_GRID_URL',
  subscriptionName: 'AML_EMULATOR_EVENT_GRID_SUBSCRIPTION',
  statuses: 'AML_EMULATOR_EVENT_GRID_STATUSES',
  failureEvents: 'AML_EMULATOR_EVENT_GRID_FAILURE_EVENTS',
  dropRate: 'AML_EMULATOR_EVENT_GRID_DROP_RATE',
  duplicateRate: 'AML_EMULATOR_EVENT_GRID_DUPLICATE_RATE',
  delayMs: 'AML_EMULATOR_EVENT_GRID_DELAY_MS',
  retryScale: 'AML_EMULATOR_EVENT_GRID_RETRY_SCALE',
  maxDeliveryAttempts: 'AML_EMULATOR_EVENT_GRID_MAX_DELIVERY_ATTEMPTS',
};

export const ENV_NAMES = [
  ...Object.values(ENV),
  ...Object.values(TIMING_ENV),
  ...Object.values(FAULT_ENV),
  ...Object.values(EVENT_GRID_ENV),
];

function number(name: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n))
    throw new Error(`Setting ${name} must be a number (got "${raw}")`);
  return n;
}

function boolean(name: string, raw: string): boolean {
  if (/^(true|1|yes)$/i.test(raw)) return true;
  if (/^(false|0|no)$/i.test(raw)) return false;
  throw new Error(`Setting ${name} must be true or false (got "${raw}")`);
}

/** `name=container,name2=container2` */
function datastores(raw: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const pair of raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [name, container, ...rest] = pair.split('=').map((s) => s.trim());
    if (!name || !container || rest.length)
      throw new Error(
        `Setting ${ENV.datastores} must look like "workspaceblobstore=azureml-blobstore-local,other=container" (got "${raw}")`,
      );
    map[name] = container;
  }
  return map;
}

/** Reads the emulator's options from environment settings (unset or empty = default). */
export function emulatorOptionsFromEnv(env: NodeJS.ProcessEnv): AmlEmulatorOptions {
  const get = (name: string): string | undefined => (env[name]?.trim() ? env[name]!.trim() : undefined);
  const opts: AmlEmulatorOptions = {
    storageConnectionString: get(ENV.storage) ?? 'UseDevelopmentStorage=true',
  };

  const port = get(ENV.port);
  if (port !== undefined) {
    const n = number(ENV.port, port);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new Error(`Setting ${ENV.port} must be a port number 0-65535 (got "${port}")`);
    opts.port = n;
  }
  const stateContainer = get(ENV.stateContainer);
  if (stateContainer) opts.stateContainer = stateContainer;
  const host = get(ENV.host);
  if (host) opts.host = host;
  const ds = get(ENV.datastores);
  if (ds) opts.datastores = datastores(ds);
  const required = get(ENV.requiredToken);
  if (required) opts.requiredToken = required;
  const forbidden = get(ENV.forbiddenToken);
  if (forbidden) opts.forbiddenToken = forbidden;
  const deployment = get(ENV.defaultDeployment);
  if (deployment) opts.defaultDeployment = deployment === 'none' ? null : deployment;
  const deployments = get(ENV.deployments);
  if (deployments) {
    opts.deployments = named(ENV.deployments, () => {
      const v: unknown = JSON.parse(deployments);
      if (!v || typeof v !== 'object' || Array.isArray(v))
        throw new Error(
          'must be a JSON object: {"<name>": {"model", "miniBatchSize", "instanceCount", "errorThreshold", ...}} (see the emulator README)',
        );
      return v as NonNullable<AmlEmulatorOptions['deployments']>;
    });
  }
  const sub = get(ENV.subscriptionId);
  const rg = get(ENV.resourceGroup);
  const ws = get(ENV.workspaceName);
  const ep = get(ENV.endpointName);
  if (sub || rg || ws || ep) {
    opts.workspace = {
      ...(sub ? { subscriptionId: sub } : {}),
      ...(rg ? { resourceGroup: rg } : {}),
      ...(ws ? { workspaceName: ws } : {}),
      ...(ep ? { endpointName: ep } : {}),
    };
  }

  const scale = get(ENV.modelTimeScale);
  if (scale !== undefined) {
    const n = number(ENV.modelTimeScale, scale);
    if (!(n > 0)) throw new Error(`Setting ${ENV.modelTimeScale} must be a number > 0 (got "${scale}")`);
    opts.modelTimeScale = n;
  }

  const preset = get(ENV.timings) ?? 'default';
  if (preset !== 'default' && preset !== 'instant') {
    throw new Error(`Setting ${ENV.timings} must be "default" or "instant" (got "${preset}")`);
  }
  const timings: Partial<EmulatorTimings> = { ...(preset === 'instant' ? INSTANT_TIMINGS : DEFAULT_TIMINGS) };
  for (const [key, name] of Object.entries(TIMING_ENV) as [keyof EmulatorTimings, string][]) {
    const raw = get(name);
    if (raw !== undefined)
      Object.assign(
        timings,
        named(name, () => checkTimings({ [key]: number(name, raw) })),
      );
  }
  opts.timings = timings;

  const faults: Partial<EmulatorFaults> = {};
  for (const [key, name] of Object.entries(FAULT_ENV) as [keyof EmulatorFaults, string][]) {
    const raw = get(name);
    if (raw === undefined) continue;
    let value: unknown;
    if (key === 'failJobs')
      value = /^(false|0|no)$/i.test(raw) ? false : /^(true|1|yes)$/i.test(raw) ? true : raw;
    else if (typeof DEFAULT_FAULTS[key] === 'boolean') value = boolean(name, raw);
    else value = number(name, raw);
    Object.assign(
      faults,
      named(name, () => checkFaults({ [key]: value })),
    );
  }
  opts.faults = faults;

  const eventGrid: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(EVENT_GRID_ENV) as [keyof EventGridSettings, string][]) {
    const raw = get(name);
    if (raw === undefined) continue;
    eventGrid[key] =
      key === 'url' || key === 'subscriptionName'
        ? raw
        : key === 'statuses'
          ? raw === 'all'
            ? 'all'
            : raw.split(',').map((x) => x.trim())
          : key === 'failureEvents'
            ? boolean(name, raw)
            : number(name, raw);
    named(name, () => checkEventGrid({ [key]: eventGrid[key] }));
  }
  if (Object.keys(eventGrid).length) opts.eventGrid = eventGrid as Partial<EventGridSettings>;
  return opts;
}

/** Re-throws a check's message under the name of the setting it came from. */
function named<T>(name: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new Error(`Setting ${name}: ${(err as Error).message}`);
  }
}
