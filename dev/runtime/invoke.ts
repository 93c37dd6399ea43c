import { randomBytes, randomUUID } from 'node:crypto';
import type {
  CoreInvocationContext,
  CoreState,
  InvocationState,
  RpcFunctionMetadata,
  RpcInvocationRequest,
  RpcInvocationResponse,
  RpcLogCategory,
  RpcLogLevel,
  RpcParameterBinding,
  RpcTypedData,
} from './functionsCore';
import type { RegisteredFunction } from './registry';

/**
 * Invokes a registered function the way the Node.js worker's InvocationHandler does: build an RPC-shaped
 * invocation request, then `getInvocationModel` → `getArguments` → preInvocation hooks → `invokeFunction` →
 * postInvocation hooks → `getResponse`, all through the programming model the app's `@azure/functions` registered.
 */

export interface InvokeRequest {
  inputData: RpcParameterBinding[];
  triggerMetadata?: Record<string, RpcTypedData>;
  invocationId?: string;
}

export type LineLog = (line: string) => void;

const LEVEL_TAG: Partial<Record<RpcLogLevel, string>> = {
  warning: 'WARN ',
  error: 'ERROR ',
  critical: 'CRITICAL ',
};

/** Reads an RpcTypedData the way the host would turn it into a value (JSON-compatible where possible). */
export function fromTyped(data: RpcTypedData | null | undefined): unknown {
  if (!data) return undefined;
  if (data.json !== undefined && data.json !== null) return JSON.parse(data.json);
  if (data.string !== undefined && data.string !== null) return data.string;
  if (data.int !== undefined && data.int !== null) return Number(data.int);
  if (data.double !== undefined && data.double !== null) return data.double;
  if (data.bytes) return Buffer.from(data.bytes);
  if (data.stream) return Buffer.from(data.stream);
  return undefined;
}

function traceParent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

function readOnly(obj: Record<string, unknown>, key: string, get: () => unknown): void {
  Object.defineProperty(obj, key, {
    enumerable: true,
    get,
    set() {
      throw new Error(`Cannot assign to read only property "${key}"`);
    },
  });
}

export class Invoker {
  constructor(
    private readonly core: CoreState,
    private readonly log: LineLog,
  ) {}

  async invoke(fn: RegisteredFunction, req: InvokeRequest): Promise<RpcInvocationResponse> {
    return (await this.invokeWithResult(fn, req)).response;
  }

  /** Also returns the handler's raw result (after postInvocation hooks), which the HTTP streaming path needs. */
  async invokeWithResult(
    fn: RegisteredFunction,
    req: InvokeRequest,
  ): Promise<{ response: RpcInvocationResponse; result: unknown }> {
    const model = this.core.programmingModel;
    if (!model) throw new Error('No programming model registered: did the app load @azure/functions?');
    const invocationId = req.invocationId ?? randomUUID();
    const request: RpcInvocationRequest = {
      invocationId,
      functionId: fn.metadata.functionId ?? fn.name,
      inputData: req.inputData,
      triggerMetadata: req.triggerMetadata ?? {},
      traceContext: { traceParent: traceParent(), traceState: '', attributes: {} },
      retryContext: null,
    };
    const metadata: RpcFunctionMetadata = {
      name: fn.name,
      functionId: fn.metadata.functionId ?? fn.name,
      bindings: fn.metadata.bindings,
      rawBindings: Object.entries(fn.metadata.bindings).map(([name, b]) => JSON.stringify({ ...b, name })),
      scriptFile: 'n/a',
      retryOptions: fn.metadata.retryOptions,
    };

    // Log hooks are refused at start-up (index.ts); user and system lines go to the runtime's log.
    const emit = (level: RpcLogLevel, category: RpcLogCategory, message: string): void => {
      if (level === 'none' || (category === 'system' && !['warning', 'error', 'critical'].includes(level)))
        return;
      this.log(`[${fn.name}] ${category === 'system' ? 'system: ' : ''}${LEVEL_TAG[level] ?? ''}${message}`);
    };
    const coreCtx: CoreInvocationContext = {
      invocationId,
      request,
      metadata,
      state: undefined as InvocationState | undefined,
      log: emit,
    };

    const invocationModel = await model.getInvocationModel(coreCtx);
    const hookData: Record<string, unknown> = {};
    const args = await invocationModel.getArguments();
    const context = args.context;

    const pre: Record<string, unknown> = { functionCallback: fn.callback, inputs: args.inputs };
    readOnly(pre, 'hookData', () => hookData);
    readOnly(pre, 'appHookData', () => this.core.appHookData);
    readOnly(pre, 'invocationContext', () => context);
    coreCtx.state = 'preInvocationHooks';
    try {
      for (const hook of this.core.getHooks('preInvocation')) await hook(pre);
    } finally {
      coreCtx.state = undefined;
    }

    const inputs = pre.inputs as unknown[];
    const callback = pre.functionCallback as typeof fn.callback;
    const post: Record<string, unknown> = { inputs, result: null, error: null };
    readOnly(post, 'hookData', () => hookData);
    readOnly(post, 'appHookData', () => this.core.appHookData);
    readOnly(post, 'invocationContext', () => context);

    coreCtx.state = 'invocation';
    try {
      post.result = await invocationModel.invokeFunction(context, inputs, callback);
    } catch (err) {
      post.error = err;
    } finally {
      coreCtx.state = undefined;
    }

    coreCtx.state = 'postInvocationHooks';
    try {
      for (const hook of this.core.getHooks('postInvocation')) await hook(post);
    } finally {
      coreCtx.state = undefined;
    }

    if (post.error !== null && post.error !== undefined) {
      throw post.error instanceof Error ? post.error : new Error(String(post.error));
    }
    return { response: await invocationModel.getResponse(context, post.result), result: post.result };
  }
}
