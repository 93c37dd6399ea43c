import type { CoreState, FunctionCallback, FunctionMetadata, RpcBindingInfo } from './functionsCore';
import { resolveAppSettings } from './settings';
import { compileRoute } from './routes';
import { parseCron } from './timer';

/**
 * The app's registrations, classified and validated. Anything the runtime cannot emulate fails here, at start-up,
 * with the function and binding named, instead of being silently ignored.
 */

export type TriggerKind = 'http' | 'blob' | 'timer' | 'orchestration' | 'activity';

export interface BindingRef {
  name: string;
  type: string;
  info: RpcBindingInfo;
}

export interface RegisteredFunction {
  name: string;
  kind: TriggerKind;
  metadata: FunctionMetadata;
  callback: FunctionCallback;
  trigger: BindingRef;
  extraInputs: BindingRef[];
  outputs: BindingRef[];
  http?: { route: string; methods: string[] | undefined; authLevel: string | undefined };
  blob?: { path: string; connection: string; source: string | undefined; sdkBinding: boolean };
  timer?: { schedule: string; runOnStartup: boolean; useMonitor: boolean | undefined };
}

const TRIGGERS: Record<string, TriggerKind> = {
  httptrigger: 'http',
  blobtrigger: 'blob',
  timertrigger: 'timer',
  orchestrationtrigger: 'orchestration',
  activitytrigger: 'activity',
};
const SUPPORTED_INPUTS = new Set(['durableclient', 'orchestrationclient']);

function isTriggerType(type: string): boolean {
  return /trigger$/i.test(type);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function buildRegistry(
  core: CoreState,
  env: Record<string, string | undefined>,
  log: (line: string) => void,
  httpStreaming: boolean,
): RegisteredFunction[] {
  const problems: string[] = [];
  const out: RegisteredFunction[] = [];
  for (const { metadata, callback } of core.functions.values()) {
    const where = `function "${metadata.name}"`;
    const refs = Object.entries(metadata.bindings).map(([name, info]) => ({
      name,
      type: String(info.type ?? ''),
      info,
    }));
    const triggers = refs.filter((r) => isTriggerType(r.type));
    if (triggers.length !== 1) {
      problems.push(`${where}: expected exactly one trigger binding, found ${triggers.length}`);
      continue;
    }
    const trigger = triggers[0]!;
    const kind = TRIGGERS[trigger.type.toLowerCase()];
    if (!kind) {
      problems.push(
        `${where}: trigger type "${trigger.type}" is not supported (supported: httpTrigger, blobTrigger, timerTrigger, orchestrationTrigger, activityTrigger)`,
      );
      continue;
    }
    const extraInputs = refs.filter((r) => r !== trigger && r.info.direction === 'in');
    const outputs = refs.filter((r) => r.info.direction === 'out' || r.info.direction === 'inout');
    for (const input of extraInputs) {
      if (!SUPPORTED_INPUTS.has(input.type.toLowerCase())) {
        problems.push(
          `${where}: input binding "${input.name}" of type "${input.type}" is not supported (supported: durableClient)`,
        );
      }
    }
    for (const output of outputs) {
      if (!(kind === 'http' && output.type.toLowerCase() === 'http')) {
        problems.push(
          `${where}: output binding "${output.name}" of type "${output.type}" is not supported (only "http" outputs on HTTP triggers)`,
        );
      }
    }
    if (metadata.retryOptions) {
      log(
        `WARNING ${where}: retry policies are not emulated by the local runtime (the host ignores them for this trigger too)`,
      );
    }
    const fn: RegisteredFunction = {
      name: metadata.name,
      kind,
      metadata,
      callback,
      trigger,
      extraInputs,
      outputs,
    };
    try {
      if (kind === 'http') {
        const route = str(trigger.info.route);
        const methods = Array.isArray(trigger.info.methods)
          ? (trigger.info.methods as unknown[]).map((m) => String(m).toUpperCase())
          : undefined;
        fn.http = {
          route: compileRoute(route ? resolveAppSettings(route, env, where) : metadata.name).template,
          methods: methods && methods.length > 0 ? methods : undefined,
          authLevel: str(trigger.info.authLevel),
        };
        // the app streams HTTP; the runtime serves HTTP only through the library's proxy
        if (!httpStreaming)
          throw new Error(`${where}: HTTP functions need app.setup({ enableHttpStream: true })`);
      } else if (kind === 'timer') {
        const schedule = str(trigger.info.schedule);
        if (!schedule) throw new Error(`${where}: timer trigger has no "schedule"`);
        fn.timer = {
          schedule: resolveAppSettings(schedule, env, where),
          runOnStartup: trigger.info.runOnStartup === true,
          useMonitor: typeof trigger.info.useMonitor === 'boolean' ? trigger.info.useMonitor : undefined,
        };
        parseCron(fn.timer.schedule); // a bad schedule fails start-up, like the host's indexing
      } else if (kind === 'blob') {
        const path = str(trigger.info.path);
        if (!path) throw new Error(`${where}: blob trigger has no "path"`);
        fn.blob = {
          path: resolveAppSettings(path, env, where),
          connection: resolveAppSettings(str(trigger.info.connection) ?? 'AzureWebJobsStorage', env, where),
          source: str(trigger.info.source),
          sdkBinding:
            trigger.info.properties?.supportsDeferredBinding === 'true' || trigger.info.sdkBinding === true,
        };
      }
    } catch (err) {
      problems.push((err as Error).message);
      continue;
    }
    out.push(fn);
  }
  if (problems.length > 0) {
    throw new Error(`The local runtime cannot host this app:\n  - ${problems.join('\n  - ')}`);
  }
  return out;
}
