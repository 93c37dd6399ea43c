import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { CoreState, installFunctionsCore } from './functionsCore';

/**
 * Loads the app the way the worker does with worker indexing: the core module is injected first, the entry file is
 * required (its module-level `app.*` calls register functions), `appStart` hooks run, then the programming model is
 * asked for its worker capabilities (which is when `@azure/functions` starts its HTTP-streaming proxy if the app
 * called `app.setup({ enableHttpStream: true })`).
 */

export interface LoadedApp {
  core: CoreState;
  /** Set when the app enabled HTTP streaming: the worker-side proxy the host forwards HTTP requests to. */
  httpStreamUri: string | undefined;
}

const localRequire = createRequire(__filename);

function ensureTypeScriptLoader(entry: string): void {
  if (!/\.[cm]?tsx?$/.test(entry)) return;
  if (require.extensions['.ts']) return;
  const api = localRequire('tsx/cjs/api') as { register: () => unknown };
  api.register();
}

export async function loadApp(entry: string, systemLog: CoreState['systemLog']): Promise<LoadedApp> {
  if (process.env.JEST_WORKER_ID !== undefined) {
    throw new Error(
      'The local runtime must run in its own Node process (jest replaces require); spawn dev/runtime/main.ts',
    );
  }
  const core = new CoreState();
  core.systemLog = systemLog;
  installFunctionsCore(core);

  const file = resolve(entry);
  ensureTypeScriptLoader(file);
  localRequire(file);
  if (core.functions.size === 0) throw new Error(`The app entry ${entry} registered no functions`);

  const ctx: Record<string, unknown> = {
    hookData: core.appLevelOnlyHookData,
    appHookData: core.appHookData,
    functionAppDirectory: dirname(file),
  };
  for (const hook of core.getHooks('appStart')) await hook(ctx);
  core.startupFinished = true;

  const model = core.programmingModel;
  if (!model)
    throw new Error('The app registered functions but no programming model (is @azure/functions v4 loaded?)');
  const caps = model.getCapabilities ? await model.getCapabilities({}) : {};
  return { core, httpStreamUri: caps.HttpUri };
}

export async function runAppTerminateHooks(core: CoreState): Promise<void> {
  const ctx: Record<string, unknown> = { hookData: core.appLevelOnlyHookData, appHookData: core.appHookData };
  for (const hook of core.getHooks('appTerminate')) await hook(ctx);
}
