import { randomBytes, randomUUID } from 'node:crypto';
import Module, { createRequire } from 'node:module';
import { resolve } from 'node:path';

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
export interface BindingInfo {
  type?: string;
  direction?: string;
  properties?: Record<string, string>;
  [key: string]: unknown;
}
export interface FunctionMetadata {
  name: string;
  bindings: Record<string, BindingInfo>;
  retryOptions?: unknown;
}
export type LineLog = (line: string) => void;
type Callback = (...args: unknown[]) => unknown;
interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], callback: Callback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<{ returnValue?: TypedData | null }>;
}
interface ProgrammingModel {
  getInvocationModel(coreContext: Record<string, unknown>): InvocationModel | Promise<InvocationModel>;
  getCapabilities(c: Record<string, string>): Promise<Record<string, string>>;
}

/** JSON-compatible value of what a function returned (the host's conversion of RpcTypedData). */
export function fromTyped(data: TypedData | null | undefined): unknown {
  if (data?.json != null) return JSON.parse(data.json);
  if (data?.string != null) return data.string;
  if (data?.int != null || data?.double != null) return Number(data.int ?? data.double);
  return data?.bytes ? Buffer.from(data.bytes) : undefined;
}

const traceContext = () => {
  const traceParent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
  return { traceParent, traceState: '', attributes: {} };
};
const LEVEL_TAG: Record<string, string> = { warning: 'WARN ', error: 'ERROR ', critical: 'CRITICAL ' };
const localRequire = createRequire(__filename);

/** The app as the worker holds it: its registrations and programming model. */
export class WorkerApp {
  readonly functions: { metadata: FunctionMetadata; callback: Callback }[] = [];
  /** Hooks (`app.hook.*`) the app registered: the app uses none, so the registry refuses them. */
  readonly hooks: string[] = [];
  private model: ProgrammingModel | undefined;
  private started = false;
  /** Set when the app enabled HTTP streaming: the library's proxy the host forwards requests to. */
  httpStreamUri: string | undefined;

  constructor(private readonly log: LineLog) {}

  /** Injects the core module, requires the entry, asks for capabilities (startApp.ts). */
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
    app.started = true;
    if (!app.model)
      throw new Error('The app registered no programming model (is @azure/functions v4 loaded?)');
    app.httpStreamUri = (await app.model.getCapabilities({})).HttpUri;
    return app;
  }

  /** What `@azure/functions` calls (registrations, programming model, system log); the rest is left out. */
  private coreApi(): Record<string, unknown> {
    return {
      registerHook: (name: string) => void this.hooks.push(name),
      setProgrammingModel: (model: ProgrammingModel) => (this.model = model),
      registerFunction: (metadata: FunctionMetadata, callback: Callback) => {
        if (this.started) throw new Error('A function can only be registered during app startup.');
        if (this.functions.some((f) => f.metadata.name === metadata.name))
          throw new Error(`A function named "${metadata.name}" is already registered.`);
        this.functions.push({ metadata, callback });
      },
      log: (level: string, _category: string, message: string) => {
        if (LEVEL_TAG[level]) this.log(`worker ${level}: ${message}`);
      },
    };
  }

  /**
   * InvocationHandler: `getInvocationModel` → `getArguments` → `invokeFunction` → `getResponse` (no hooks: see
   * `hooks`). Returns the handler's raw result too (the HTTP streaming path needs it).
   */
  async invoke(
    fn: { name: string; metadata: FunctionMetadata; callback: Callback },
    inputData: { name: string; data?: TypedData }[],
    triggerMetadata: Record<string, TypedData> = {},
    invocationId: string = randomUUID(),
  ): Promise<{ returnValue: unknown; result: unknown }> {
    const model = await this.model!.getInvocationModel({
      invocationId,
      // Every request carries the function id and a W3C trace context (host `ScriptInvocationContextExtensions.cs`).
      request: {
        invocationId,
        functionId: fn.name,
        inputData,
        triggerMetadata,
        traceContext: traceContext(),
      },
      metadata: fn.metadata,
      log: (level: string, category: string, message: string) => {
        if (level === 'none' || (category === 'system' && !LEVEL_TAG[level])) return;
        this.log(
          `[${fn.name}] ${category === 'system' ? 'system: ' : ''}${LEVEL_TAG[level] ?? ''}${message}`,
        );
      },
    });
    const { context, inputs } = await model.getArguments();
    const result = await model.invokeFunction(context, inputs, fn.callback).catch((err: unknown) => {
      throw err instanceof Error ? err : new Error(String(err));
    });
    const response = await model.getResponse(context, result);
    return { returnValue: fromTyped(response.returnValue), result };
  }
}
