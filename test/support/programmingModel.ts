import { randomUUID } from 'node:crypto';

/**
 * The Node worker's side of `@azure/functions-core`, for jest: a test file mocks the module with
 * `jest.mock('@azure/functions-core', () => require('<this file>').core, { virtual: true })`, loads the app
 * entry, and then finds what the app registered and invokes it the way the worker does
 * (azure-functions-nodejs-worker `InvocationHandler`: getInvocationModel → getArguments → invokeFunction →
 * getResponse), so trigger data is converted by the real @azure/functions library.
 */

interface Binding {
  type: string;
  direction: string;
  [k: string]: unknown;
}
export interface Registered {
  name: string;
  bindings: Record<string, Binding>;
  callback: (...args: unknown[]) => unknown;
}
type TypedData = Record<string, unknown>;
interface Model {
  getInvocationModel(ctx: unknown): Promise<{
    getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
    invokeFunction(context: unknown, inputs: unknown[], cb: unknown): Promise<unknown>;
    getResponse(context: unknown, result: unknown): Promise<unknown>;
  }>;
}

export const registered = new Map<string, Registered>();
export const logs: string[] = [];
let model: Model | undefined;

export const core = {
  version: '3.10.1-jest',
  hostVersion: '4.1040.0-jest',
  setProgrammingModel(m: Model) {
    model = m;
  },
  getProgrammingModel: () => model,
  registerHook: () => ({ dispose: () => undefined }),
  registerFunction(
    metadata: { name: string; bindings: Record<string, Binding> },
    callback: Registered['callback'],
  ) {
    registered.set(metadata.name, { name: metadata.name, bindings: metadata.bindings, callback });
    return { dispose: () => registered.delete(metadata.name) };
  },
  log: (_level: string, _category: string, message: string) => void logs.push(message),
  Disposable: class {
    constructor(private readonly fn: () => unknown) {}
    dispose(): unknown {
      return this.fn();
    }
  },
};

/** The registered HTTP functions: name, route and methods as the host would read them from the metadata. */
export function httpFunctions(): { name: string; route: string; methods: string[] }[] {
  return [...registered.values()].flatMap((f) => {
    const t = Object.values(f.bindings).find((b) => b.type === 'httpTrigger');
    return t
      ? [
          {
            name: f.name,
            route: String(t.route),
            methods: (t.methods as string[]).map((m) => m.toUpperCase()),
          },
        ]
      : [];
  });
}

/**
 * Invokes a registered function with the host's RPC data: `trigger` is the trigger binding's typed data,
 * `inputs` the other input bindings' typed data by binding type (e.g. `durableClient`).
 */
export async function invoke(
  name: string,
  data: {
    trigger: TypedData;
    triggerMetadata?: Record<string, TypedData>;
    inputs?: Record<string, TypedData>;
  },
): Promise<unknown> {
  const fn = registered.get(name);
  if (!fn || !model) throw new Error(`no function ${name} registered`);
  const inputData = Object.entries(fn.bindings)
    .filter(([, b]) => b.direction === 'in')
    .map(([bindingName, b]) => ({
      name: bindingName,
      data: /Trigger$/.test(b.type) ? data.trigger : data.inputs?.[b.type],
    }));
  const invocationId = randomUUID();
  const coreCtx = {
    invocationId,
    request: { invocationId, functionId: name, inputData, triggerMetadata: data.triggerMetadata ?? {} },
    metadata: { name, functionId: name, bindings: fn.bindings },
    log: (_l: string, _c: string, m: string) => void logs.push(`[${name}] ${m}`),
  };
  const im = await model.getInvocationModel(coreCtx);
  const args = await im.getArguments();
  const result = await im.invokeFunction(args.context, args.inputs, fn.callback);
  return im.getResponse(args.context, result);
}
