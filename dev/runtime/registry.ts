import { existsSync, readFileSync } from 'node:fs';
import { compileRoute, type CompiledRoute } from './httpServer';
import { parseCron } from './timer';
import type { BindingInfo, FunctionMetadata, TypedData, WorkerApp } from './worker';

/**
 * The app's registrations, classified and validated, and the settings they refer to. Anything the runtime cannot
 * emulate fails here, at start-up, naming the function and binding, instead of being silently ignored.
 */

type Env = Record<string, string | undefined>;
export type TriggerKind = 'http' | 'blob' | 'timer' | 'orchestration' | 'activity' | 'eventgrid'; // eventgrid: eventGrid.ts
export interface BindingRef {
  name: string;
  type: string;
  info: BindingInfo;
}
export interface RegisteredFunction {
  name: string;
  metadata: FunctionMetadata;
  callback: (...args: unknown[]) => unknown;
  kind: TriggerKind;
  trigger: BindingRef;
  extraInputs: BindingRef[];
  outputs: BindingRef[];
  http?: { route: CompiledRoute; methods: string[] | undefined };
  blob?: { path: string; connection: string; source: string | undefined; sdkBinding: boolean };
  timer?: { schedule: string; useMonitor: boolean };
}

/** Invokes a function with its trigger data; the host binds the function's other inputs (a durable client). */
export type Invoke = (
  fn: RegisteredFunction,
  data: TypedData | undefined,
  triggerMetadata?: Record<string, TypedData>,
  invocationId?: string,
) => Promise<{ returnValue: unknown; result: unknown }>;

export const isDurableClient = (type: string): boolean => /^(durable|orchestration)client$/i.test(type);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * `%SETTING%` in a binding property, resolved from app settings as the host does for binding attributes. A setting
 * that is not set fails start-up, naming `where`; without `where` (host.json's hubName) it counts as empty.
 */
export function resolveAppSettings(value: string, env: Env, where?: string): string {
  return value.replace(/%([^%]+)%/g, (_m, name: string) => {
    if (!env[name] && where === undefined) return '';
    if (!env[name])
      throw new Error(
        `${where}: binding expression %${name}% refers to app setting ${name}, which is not set`,
      );
    return env[name];
  });
}

export function buildRegistry(app: WorkerApp, env: Env, log: (line: string) => void): RegisteredFunction[] {
  const problems: string[] = [];
  const out: RegisteredFunction[] = [];
  for (const { metadata, callback } of app.functions) {
    const { name } = metadata;
    const where = `function "${name}"`;
    const refs = Object.entries(metadata.bindings).map(([key, info]) => ({
      name: key,
      type: String(info.type ?? ''),
      info,
    }));
    const triggers = refs.filter((r) => /trigger$/i.test(r.type));
    const trigger = triggers[0];
    if (!trigger || triggers.length > 1) {
      problems.push(`${where}: expected exactly one trigger binding, found ${triggers.length}`);
      continue;
    }
    const kind = /^(http|blob|timer|orchestration|activity|eventGrid)trigger$/i
      .exec(trigger.type)?.[1]
      ?.toLowerCase() as TriggerKind | undefined;
    if (!kind) {
      problems.push(
        `${where}: trigger type "${trigger.type}" is not supported (supported: httpTrigger, blobTrigger, timerTrigger, orchestrationTrigger, activityTrigger, eventGridTrigger)`,
      );
      continue;
    }
    const extraInputs = refs.filter((r) => r !== trigger && r.info.direction === 'in');
    const outputs = refs.filter((r) => r.info.direction === 'out' || r.info.direction === 'inout');
    for (const i of extraInputs.filter((r) => !isDurableClient(r.type)))
      problems.push(
        `${where}: input binding "${i.name}" of type "${i.type}" is not supported (supported: durableClient)`,
      );
    // app.http answers through `$return`; a named http output is app.generic's, which the app does not use.
    for (const o of outputs.filter(
      (r) => !(kind === 'http' && r.type.toLowerCase() === 'http' && r.name === '$return'),
    ))
      problems.push(
        `${where}: output binding "${o.name}" of type "${o.type}" is not supported (only the "$return" http output on HTTP triggers)`,
      );
    if (metadata.retryOptions) log(`WARNING ${where}: retry policies are not emulated by the local runtime`);
    const fn: RegisteredFunction = { name, kind, metadata, callback, trigger, extraInputs, outputs };
    const info = trigger.info;
    try {
      if (kind === 'http') {
        const route = str(info.route);
        const methods = Array.isArray(info.methods) ? info.methods.map((m) => String(m).toUpperCase()) : [];
        fn.http = {
          route: compileRoute(route ? resolveAppSettings(route, env, where) : name),
          methods: methods.length > 0 ? methods : undefined,
        };
        if (!app.httpStreamUri)
          throw new Error(`${where}: HTTP functions need app.setup({ enableHttpStream: true })`);
      } else if (kind === 'timer') {
        if (!str(info.schedule)) throw new Error(`${where}: timer trigger has no "schedule"`);
        if (info.runOnStartup)
          throw new Error(`${where}: runOnStartup is not supported (the app does not use it)`);
        const schedule = resolveAppSettings(String(info.schedule), env, where);
        parseCron(schedule); // a bad schedule fails start-up, like the host's indexing
        fn.timer = { schedule, useMonitor: info.useMonitor !== false };
      } else if (kind === 'blob') {
        if (!str(info.path)) throw new Error(`${where}: blob trigger has no "path"`);
        fn.blob = {
          path: resolveAppSettings(String(info.path), env, where),
          connection: resolveAppSettings(str(info.connection) ?? 'AzureWebJobsStorage', env, where),
          source: str(info.source),
          sdkBinding: info.properties?.supportsDeferredBinding === 'true' || info.sdkBinding === true,
        };
      }
    } catch (err) {
      problems.push((err as Error).message);
      continue;
    }
    out.push(fn);
  }
  // Programming-model hooks (worker `src/hooks`): the app registers none, so none are imitated.
  if (app.hooks.length > 0)
    problems.push(`hooks (app.hook.${[...new Set(app.hooks)].join(', app.hook.')}) are not supported`);
  if (problems.length > 0)
    throw new Error(`The local runtime cannot host this app:\n  - ${problems.join('\n  - ')}`);
  return out;
}

/**
 * A storage connection string, passed on as it is: the SDKs' `fromConnectionString` expand `UseDevelopmentStorage=true`
 * to Azurite's default endpoints. They read `DevelopmentStorageProxyUri` as an HTTP proxy (blobs, queues) or not at all
 * (tables), where .NET (`StorageConnectionString.GetDevelopmentStorageAccount`) makes it the endpoints' host: refused.
 */
export function storageConnection(cs: string): string {
  if (/DevelopmentStorageProxyUri=/i.test(cs))
    throw new Error(
      'DevelopmentStorageProxyUri is not supported by the local runtime: give the endpoints instead',
    );
  return cs;
}

/**
 * The connection string a binding's `connection` names, looked up like the host: `<name>`, then
 * `AzureWebJobs<name>`. Identity-based connections (`<name>__blobServiceUri` ...) cannot reach Azurite: refused.
 */
export function resolveConnection(connection: string, env: Env, where: string): string {
  const value = (env[connection] ?? env[`AzureWebJobs${connection}`])?.trim();
  if (value) return storageConnection(value);
  throw new Error(
    `${where}: connection setting "${connection}" is not set (the local runtime needs a storage connection string: identity-based connections, ${connection}__*, cannot reach Azurite)`,
  );
}

/** The host.json `extensions` values the runtime honours (README, "How it differs"). */
export interface HostExtensions {
  http?: { routePrefix?: string };
  durableTask?: { hubName?: string; maxConcurrentActivityFunctions?: number };
  blobs?: { maxDegreeOfParallelism?: number };
}

export function readHostJson(path: string): HostExtensions {
  if (!existsSync(path)) return {};
  return (JSON.parse(readFileSync(path, 'utf8')) as { extensions?: HostExtensions }).extensions ?? {};
}
