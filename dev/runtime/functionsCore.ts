import Module from 'node:module';

/**
 * A stand-in for `@azure/functions-core`, the module the real Functions Node.js worker injects into the app's
 * `require` (it is not on npm). `@azure/functions` calls `setProgrammingModel` and `registerFunction` on it while
 * the app entry is loaded; the runtime then invokes functions through the registered programming model, exactly
 * like the worker does. Types follow `types-core/index.d.ts` of azure-functions-nodejs-library (only the parts the
 * library uses).
 */

export type RpcLogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';
export type RpcLogCategory = 'user' | 'system' | 'customMetric';

export interface RpcBindingInfo {
  type?: string | null;
  direction?: 'in' | 'out' | 'inout' | null;
  dataType?: string | null;
  properties?: Record<string, string> | null;
  [key: string]: unknown;
}

export interface FunctionMetadata {
  name: string;
  functionId?: string;
  bindings: Record<string, RpcBindingInfo>;
  retryOptions?: unknown;
}

export type FunctionCallback = (...args: unknown[]) => unknown;

export interface ModelBindingData {
  content?: Buffer | null;
  contentType?: string | null;
  source?: string | null;
  version?: string | null;
}

export interface RpcHttpData {
  method?: string | null;
  url?: string | null;
  headers?: Record<string, string> | null;
  body?: RpcTypedData | null;
  params?: Record<string, string> | null;
  query?: Record<string, string> | null;
}

export interface RpcTypedData {
  string?: string | null;
  json?: string | null;
  bytes?: Uint8Array | null;
  stream?: Uint8Array | null;
  http?: RpcHttpData | null;
  int?: number | null;
  double?: number | null;
  modelBindingData?: ModelBindingData | null;
}

export interface RpcParameterBinding {
  name?: string | null;
  data?: RpcTypedData | null;
}

export interface RpcInvocationRequest {
  invocationId?: string | null;
  functionId?: string | null;
  inputData?: RpcParameterBinding[] | null;
  triggerMetadata?: Record<string, RpcTypedData> | null;
  traceContext?: {
    traceParent?: string | null;
    traceState?: string | null;
    attributes?: Record<string, string> | null;
  };
  retryContext?: { retryCount?: number | null; maxRetryCount?: number | null } | null;
}

export interface RpcInvocationResponse {
  invocationId?: string | null;
  outputData?: RpcParameterBinding[] | null;
  returnValue?: RpcTypedData | null;
}

export interface RpcFunctionMetadata {
  name?: string | null;
  functionId?: string | null;
  bindings?: Record<string, RpcBindingInfo> | null;
  rawBindings?: string[] | null;
  scriptFile?: string | null;
  retryOptions?: unknown;
}

export type InvocationState = 'preInvocationHooks' | 'postInvocationHooks' | 'invocation';

export interface CoreInvocationContext {
  invocationId: string;
  request: RpcInvocationRequest;
  metadata: RpcFunctionMetadata;
  state?: InvocationState;
  log(level: RpcLogLevel, category: RpcLogCategory, message: string): void;
}

export interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], callback: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<RpcInvocationResponse>;
}

export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreContext: CoreInvocationContext): InvocationModel | Promise<InvocationModel>;
  getCapabilities?(
    capabilities: Record<string, string>,
  ): Record<string, string> | Promise<Record<string, string>>;
}

export type HookCallback = (context: Record<string, unknown>) => unknown;

export class Disposable {
  static from(...items: { dispose: () => unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  #callOnDispose: (() => unknown) | undefined;
  constructor(callOnDispose: () => unknown) {
    this.#callOnDispose = callOnDispose;
  }
  dispose(): unknown {
    const cb = this.#callOnDispose;
    this.#callOnDispose = undefined;
    return cb?.();
  }
}

export interface RegisteredCallback {
  metadata: FunctionMetadata;
  callback: FunctionCallback;
}

/** Everything the app registered through the core API, plus where system logs go. */
export class CoreState {
  readonly functions = new Map<string, RegisteredCallback>();
  readonly hooks = new Map<string, HookCallback[]>();
  readonly appHookData: Record<string, unknown> = {};
  readonly appLevelOnlyHookData: Record<string, unknown> = {};
  programmingModel: ProgrammingModel | undefined;
  startupFinished = false;
  /** Where system logs (worker/library messages outside user code) go. */
  systemLog: (level: RpcLogLevel, message: string) => void = () => undefined;

  getHooks(name: string): HookCallback[] {
    return this.hooks.get(name) ?? [];
  }
}

const CORE_MODULE = '@azure/functions-core';
const WORKER_VERSION = '3.10.1-local-runtime';
const HOST_VERSION = '4.1040.0-local-runtime';

let installed: CoreState | undefined;

/**
 * Makes `require('@azure/functions-core')` return the core API backed by `state`, the way the worker's
 * `setupCoreModule` does (a Proxy on `Module.prototype.require`). Once per process: the app's registrations are
 * module-level, so a second app needs a second process.
 */
export function installFunctionsCore(state: CoreState): void {
  if (installed)
    throw new Error('@azure/functions-core is already installed in this process (one app per process)');
  installed = state;

  const coreApi = {
    version: WORKER_VERSION,
    hostVersion: HOST_VERSION,
    registerHook(hookName: string, callback: HookCallback): Disposable {
      const list = state.hooks.get(hookName) ?? [];
      list.push(callback);
      state.hooks.set(hookName, list);
      return new Disposable(() => {
        const i = list.indexOf(callback);
        if (i >= 0) list.splice(i, 1);
      });
    },
    setProgrammingModel(model: ProgrammingModel): void {
      state.programmingModel = model;
    },
    getProgrammingModel(): ProgrammingModel | undefined {
      return state.programmingModel;
    },
    registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
      if (state.startupFinished) throw new Error('A function can only be registered during app startup.');
      const id = metadata.functionId ?? metadata.name;
      if (state.functions.has(id))
        throw new Error(`A function named "${metadata.name}" is already registered.`);
      state.functions.set(id, { metadata, callback });
      return new Disposable(() => {
        if (state.startupFinished) throw new Error('A function can only be disposed during app startup.');
        state.functions.delete(id);
      });
    },
    log(level: RpcLogLevel, _category: RpcLogCategory, message: string): void {
      state.systemLog(level, message);
    },
    Disposable,
  };

  const proto = Module.prototype as unknown as { require: (id: string) => unknown };
  proto.require = new Proxy(proto.require, {
    apply(target, thisArg, args: unknown[]) {
      if (args[0] === CORE_MODULE) return coreApi;
      return Reflect.apply(target, thisArg, args);
    },
  });
}
