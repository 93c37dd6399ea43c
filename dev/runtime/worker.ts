import { randomBytes, randomUUID } from 'node:crypto';
import Module, { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';

/**
 * The Node.js worker's part: the `@azure/functions-core` module it injects into the app's `require` (worker
 * `src/setupCoreModule.ts`), loading the app (`src/startApp.ts`) and invoking a function through the programming
 * model `@azure/functions` registers (`src/eventHandlers/InvocationHandler.ts`). Shapes follow
 * azure-functions-nodejs-library `types-core/index.d.ts`, as far as the library reads them.
 */

export interface TypedData {
  string?: string;
  json?: string;
  bytes?: Uint8Array;
  int?: number;
  double?: number;
  http?: Record<string, unknown>;
  modelBindingData?: Record<string, unknown>;
}
export interface ParameterBinding {
  name: string;
  data?: TypedData;
}
export interface BindingInfo {
  type?: string;
  direction?: string;
  properties?: Record<string, string>;
  [key: string]: unknown;
}
export interface FunctionMetadata {
  name: string;
  functionId?: string;
  bindings: Record<string, BindingInfo>;
  retryOptions?: unknown;
}
export type LineLog = (line: string) => void;
type Callback = (...args: unknown[]) => unknown;
type Hook = (context: Record<string, unknown>) => unknown;
interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], callback: Callback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<{ returnValue?: TypedData | null }>;
}
interface ProgrammingModel {
  getInvocationModel(coreContext: Record<string, unknown>): InvocationModel | Promise<InvocationModel>;
  getCapabilities?(c: Record<string, string>): Record<string, string> | Promise<Record<string, string>>;
}

class Disposable {
  constructor(private callOnDispose?: () => unknown) {}
  dispose(): unknown {
    const cb = this.callOnDispose;
    this.callOnDispose = undefined;
    return cb?.();
  }
}

/** JSON-compatible value of what a function returned (the host's conversion of RpcTypedData). */
export function fromTyped(data: TypedData | null | undefined): unknown {
  if (data?.json != null) return JSON.parse(data.json);
  if (data?.string != null) return data.string;
  if (data?.int != null || data?.double != null) return Number(data.int ?? data.double);
  return data?.bytes ? Buffer.from(data.bytes) : undefined;
}

const LEVEL_TAG: Record<string, string> = { warning: 'WARN ', error: 'ERROR ', critical: 'CRITICAL ' };
const localRequire = createRequire(__filename);

/** The app as the worker holds it: its registrations, hooks and programming model. */
export class WorkerApp {
  readonly functions: { metadata: FunctionMetadata; callback: Callback }[] = [];
  private readonly hooks: Record<string, Hook[]> = {};
  private readonly appHookData: Record<string, unknown> = {};
  private readonly appLevelOnlyHookData: Record<string, unknown> = {};
  private model: ProgrammingModel | undefined;
  private started = false;
  /** Set when the app enabled HTTP streaming: the library's proxy the host forwards requests to. */
  httpStreamUri: string | undefined;

  constructor(private readonly log: LineLog) {}

  /** Injects the core module, requires the entry, runs appStart hooks, asks for capabilities (startApp.ts). */
  static async load(entry: string, log: LineLog): Promise<WorkerApp> {
    if (process.env.JEST_WORKER_ID !== undefined)
      throw new Error('The local runtime must run in its own Node process; spawn dev/runtime/main.ts');
    const app = new WorkerApp(log);
    const core = app.coreApi();
    const proto = Module.prototype as unknown as { require: (id: string) => unknown };
    proto.require = new Proxy(proto.require, {
      apply: (target, self, args: unknown[]) =>
        args[0] === '@azure/functions-core' ? core : Reflect.apply(target, self, args),
    });
    const file = resolve(entry);
    if (/\.[cm]?tsx?$/.test(file) && !require.extensions['.ts'])
      (localRequire('tsx/cjs/api') as { register: () => unknown }).register();
    localRequire(file);
    if (app.functions.length === 0) throw new Error(`The app entry ${entry} registered no functions`);
    if (app.hooksOf('log').length > 0)
      throw new Error('The local runtime cannot host this app: log hooks are not supported');
    const ctx = {
      hookData: app.appLevelOnlyHookData,
      appHookData: app.appHookData,
      functionAppDirectory: dirname(file),
    };
    for (const hook of app.hooksOf('appStart')) await hook(ctx);
    app.started = true;
    if (!app.model)
      throw new Error('The app registered no programming model (is @azure/functions v4 loaded?)');
    app.httpStreamUri = (await app.model.getCapabilities?.({}))?.HttpUri;
    return app;
  }

  private hooksOf(name: string): Hook[] {
    return this.hooks[name] ?? [];
  }

  private coreApi(): Record<string, unknown> {
    return {
      version: '3.10.1-local-runtime',
      hostVersion: '4.1040.0-local-runtime',
      Disposable,
      registerHook: (name: string, callback: Hook) => {
        const list = (this.hooks[name] ??= []);
        list.push(callback);
        return new Disposable(() => list.splice(list.indexOf(callback) >>> 0, 1));
      },
      setProgrammingModel: (model: ProgrammingModel) => (this.model = model),
      getProgrammingModel: () => this.model,
      registerFunction: (metadata: FunctionMetadata, callback: Callback) => {
        if (this.started) throw new Error('A function can only be registered during app startup.');
        if (this.functions.some((f) => f.metadata.name === metadata.name))
          throw new Error(`A function named "${metadata.name}" is already registered.`);
        const entry = { metadata, callback };
        this.functions.push(entry);
        return new Disposable(() => this.functions.splice(this.functions.indexOf(entry), 1));
      },
      log: (level: string, _category: string, message: string) => {
        if (LEVEL_TAG[level]) this.log(`worker ${level}: ${message}`);
      },
    };
  }

  async runTerminateHooks(): Promise<void> {
    const ctx = { hookData: this.appLevelOnlyHookData, appHookData: this.appHookData };
    for (const hook of this.hooksOf('appTerminate')) await hook(ctx);
  }

  /**
   * InvocationHandler: `getInvocationModel` → `getArguments` → preInvocation hooks → `invokeFunction` →
   * postInvocation hooks → `getResponse`. Returns the handler's raw result too (the HTTP streaming path needs it).
   */
  async invoke(
    fn: { name: string; metadata: FunctionMetadata; callback: Callback },
    inputData: ParameterBinding[],
    triggerMetadata: Record<string, TypedData> = {},
    invocationId: string = randomUUID(),
  ): Promise<{ returnValue: unknown; result: unknown }> {
    const functionId = fn.metadata.functionId ?? fn.name;
    const traceParent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    const model = await this.model!.getInvocationModel({
      invocationId,
      request: {
        invocationId,
        functionId,
        inputData,
        triggerMetadata,
        traceContext: { traceParent, traceState: '', attributes: {} },
        retryContext: null,
      },
      metadata: {
        name: fn.name,
        functionId,
        bindings: fn.metadata.bindings,
        retryOptions: fn.metadata.retryOptions,
      },
      log: (level: string, category: string, message: string) => {
        if (level === 'none' || (category === 'system' && !LEVEL_TAG[level])) return;
        this.log(
          `[${fn.name}] ${category === 'system' ? 'system: ' : ''}${LEVEL_TAG[level] ?? ''}${message}`,
        );
      },
    });
    const { context, inputs } = await model.getArguments();
    const hookData: Record<string, unknown> = {};
    const common = { hookData, appHookData: this.appHookData, invocationContext: context };
    const pre: Record<string, unknown> = { ...common, functionCallback: fn.callback, inputs };
    for (const hook of this.hooksOf('preInvocation')) await hook(pre);
    const post: Record<string, unknown> = { ...common, inputs: pre.inputs, result: null, error: null };
    try {
      post.result = await model.invokeFunction(
        context,
        pre.inputs as unknown[],
        pre.functionCallback as Callback,
      );
    } catch (err) {
      post.error = err;
    }
    for (const hook of this.hooksOf('postInvocation')) await hook(post);
    if (post.error != null) throw post.error instanceof Error ? post.error : new Error(String(post.error));
    const response = await model.getResponse(context, post.result);
    return { returnValue: fromTyped(response.returnValue), result: post.result };
  }
}
